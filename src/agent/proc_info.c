/* proc_info.c - service name, executable and container id of a process, from /proc */
#include "agent/proc_info.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Largest environ/cgroup file read. */
#define PROC_READ_MAX (256u << 10)

/* Reads up to max bytes of a file into a new NUL-terminated buffer; NULL if unreadable. */
static char *read_small(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap + 1);
    while (b) {
        if (n == cap) {
            if (cap >= max)
                break;
            cap *= 2;
            char *nb = realloc(b, cap + 1);
            if (!nb) {
                free(b);
                b = NULL;
                break;
            }
            b = nb;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (!b)
        return NULL;
    b[n] = 0;
    *len = n;
    return b;
}

const char *proc_environ_get(const char *env, size_t len, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        const char *e = env + i;
        size_t el = strnlen(e, len - i);
        if (el > nl && !memcmp(e, name, nl) && e[nl] == '=')
            return e + nl + 1;
        i += el + 1;
    }
    return NULL;
}

static int is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

int proc_container_id(const char *cg, size_t len, char *out, size_t n)
{
    out[0] = 0;
    int found = 0;
    /* scan every run of hex digits bounded by non-alphanumerics; keep the last 64-digit one */
    for (size_t i = 0; i < len;) {
        if (!isxdigit((unsigned char)cg[i]) || (i > 0 && isalnum((unsigned char)cg[i - 1]))) {
            i++;
            continue;
        }
        size_t j = i;
        while (j < len && isxdigit((unsigned char)cg[j]))
            j++;
        if (is_hex64(cg + i, j - i) && (j == len || !isalnum((unsigned char)cg[j]))) {
            snprintf(out, n, "%.*s", (int)(j - i), cg + i);
            found = 1;
        }
        i = j;
    }
    return found;
}

void proc_sanitize(char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._/-", *s))
            *s = '_';
}

int proc_info_read(const char *root, pid_t pid, struct proc_info *info)
{
    char path[256];
    size_t len = 0;
    memset(info, 0, sizeof(*info));
    if (!root || !*root)
        root = "/proc";
    snprintf(path, sizeof(path), "%s/%d/comm", root, (int)pid);
    char *comm = read_small(path, 64, &len);
    if (!comm)
        return -ENOENT;
    comm[strcspn(comm, "\n")] = 0;
    snprintf(info->comm, sizeof(info->comm), "%s", comm);
    free(comm);
    snprintf(path, sizeof(path), "%s/%d/exe", root, (int)pid);
    ssize_t n = readlink(path, info->exe, sizeof(info->exe) - 1);
    info->exe[n > 0 ? n : 0] = 0;

    snprintf(path, sizeof(path), "%s/%d/environ", root, (int)pid);
    char *env = read_small(path, PROC_READ_MAX, &len);
    const char *svc = NULL;
    if (env) {
        svc = proc_environ_get(env, len, "EMBER_SERVICE_NAME");
        if (!svc || !*svc)
            svc = proc_environ_get(env, len, "OTEL_SERVICE_NAME");
    }
    if (svc && *svc) {
        snprintf(info->service, sizeof(info->service), "%.127s", svc);
    } else if (info->exe[0]) {
        const char *b = strrchr(info->exe, '/');
        snprintf(info->service, sizeof(info->service), "%.127s", b ? b + 1 : info->exe);
        char *del = strstr(info->service, " (deleted)");
        if (del)
            *del = 0;
    } else {
        snprintf(info->service, sizeof(info->service), "%s", info->comm);
    }
    free(env);
    proc_sanitize(info->service);
    if (!info->service[0])
        snprintf(info->service, sizeof(info->service), "unknown");

    snprintf(path, sizeof(path), "%s/%d/cgroup", root, (int)pid);
    char *cg = read_small(path, PROC_READ_MAX, &len);
    if (cg)
        proc_container_id(cg, len, info->container_id, sizeof(info->container_id));
    free(cg);
    return 0;
}

int proc_alive(pid_t pid)
{
    char path[64];
    size_t len = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *st = read_small(path, 4096, &len);
    if (!st)
        return 0;
    const char *rp = strrchr(st, ')'); /* comm may hold spaces and parentheses */
    int alive = rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
    free(st);
    return alive;
}
