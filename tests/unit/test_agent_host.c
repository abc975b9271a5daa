/* test_agent_host.c - the host agent's parsers: container ids, environ, kallsyms, perf maps */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/host_ksyms.h"
#include "agent/perf_map.h"
#include "agent/proc_info.h"
#include "base/err.h"
#include "test.h"

#define ID64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int cid(const char *cg, char *out, size_t n)
{
    return proc_container_id(cg, strlen(cg), out, n);
}

TEST(agent_container_id_forms)
{
    char out[80];
    ASSERT(cid("0::/system.slice/docker-" ID64 ".scope\n", out, sizeof(out)) == 1);
    ASSERT(!strcmp(out, ID64));
    ASSERT(cid("12:cpu:/docker/" ID64 "\n", out, sizeof(out)) == 1 && !strcmp(out, ID64));
    ASSERT(cid("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-" ID64 ".scope", out,
               sizeof(out)) == 1 &&
           !strcmp(out, ID64));
    ASSERT(cid("0::/user.slice/user-0.slice/session-3.scope\n", out, sizeof(out)) == 0);
    ASSERT(out[0] == 0);
    /* 63 or 65 hex digits are not an id */
    ASSERT(cid("0::/docker/" ID64 "0\n", out, sizeof(out)) == 0);
    ASSERT(cid("0::/docker/x" ID64 "\n", out, sizeof(out)) == 0);
}

TEST(agent_environ_and_sanitize)
{
    static const char env[] = "PATH=/bin\0OTEL_SERVICE_NAME=\0EMBER_SERVICE_NAME=shop cart\0X=1";
    const char *v = proc_environ_get(env, sizeof(env) - 1, "EMBER_SERVICE_NAME");
    ASSERT(v && !strcmp(v, "shop cart"));
    v = proc_environ_get(env, sizeof(env) - 1, "OTEL_SERVICE_NAME");
    ASSERT(v && !*v);
    ASSERT(!proc_environ_get(env, sizeof(env) - 1, "PAT"));
    v = proc_environ_get(env, sizeof(env) - 1, "X");
    ASSERT(v && !strcmp(v, "1"));
    char s[] = "shop cart{a=b},\"x\"";
    proc_sanitize(s);
    ASSERT(!strcmp(s, "shop_cart_a_b___x_"));
}

TEST(agent_proc_info_self)
{
    struct proc_info pi;
    ASSERT(proc_info_read(NULL, getpid(), &pi) == 0);
    ASSERT(pi.exe[0] == '/');
    ASSERT(pi.service[0]);
    ASSERT(proc_alive(getpid()));
    ASSERT(proc_info_read(NULL, 0x7ffffff0, &pi) == -ENOENT);
    ASSERT(!proc_alive(0x7ffffff0));
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/ember-test-agent-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? path : NULL;
}

TEST(agent_ksyms_lookup)
{
    char *p = write_tmp("ffffffff81000000 T _stext\n"
                        "ffffffff81000100 t helper\n"
                        "ffffffff81000200 D some_data\n"
                        "ffffffff81000300 T do_sys_open\n"
                        "ffffffffc0001000 t ext4_read\t[ext4]\n"
                        "garbage line\n");
    ASSERT(p);
    struct host_ksyms *k = NULL;
    ASSERT_OK(host_ksyms_load(&k, p));
    ASSERT(host_ksyms_count(k) == 4); /* the data symbol is skipped */
    const char *mod = NULL;
    ASSERT(!host_ksyms_lookup(k, 0xffffffff80ffffff, &mod));
    ASSERT(!strcmp(host_ksyms_lookup(k, 0xffffffff81000150, &mod), "helper") && !*mod);
    ASSERT(!strcmp(host_ksyms_lookup(k, 0xffffffff81000250, &mod), "helper"));
    ASSERT(!strcmp(host_ksyms_lookup(k, 0xffffffff81000300, &mod), "do_sys_open"));
    ASSERT(!strcmp(host_ksyms_lookup(k, 0xffffffffc0001010, &mod), "ext4_read"));
    ASSERT(!strcmp(mod, "ext4"));
    host_ksyms_free(k);
    unlink(p);
    free(p);
    /* every address zero: kptr_restrict hides them */
    p = write_tmp("0000000000000000 T _stext\n0000000000000000 T do_sys_open\n");
    ASSERT(host_ksyms_load(&k, p) == -EMBER_ENOTFOUND);
    unlink(p);
    free(p);
}

TEST(agent_perf_map_lookup)
{
    char *p = write_tmp("7f0000001000 100 LazyCompile:~handler app.js:10\n"
                        "7f0000001100 80 Function:fast\n"
                        "bad line\n"
                        "7f0000001000 40 Rejitted\n");
    ASSERT(p);
    struct perf_map *m = NULL;
    ASSERT_OK(perf_map_load(&m, p));
    ASSERT(!perf_map_lookup(m, 0x7f0000000fff));
    ASSERT(!strcmp(perf_map_lookup(m, 0x7f0000001010), "Rejitted"));
    ASSERT(!strcmp(perf_map_lookup(m, 0x7f0000001050), "LazyCompile:~handler app.js:10"));
    ASSERT(!strcmp(perf_map_lookup(m, 0x7f0000001120), "Function:fast"));
    ASSERT(!perf_map_lookup(m, 0x7f0000001180));
    perf_map_free(m);
    unlink(p);
    free(p);
    ASSERT(perf_map_load(&m, "/nonexistent/perf-1.map") == -ENOENT);
}
