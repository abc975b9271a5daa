/* test_agent_relabel.c - the agent's --config relabel rules: parsing, errors, first match wins */
#include <errno.h>
#include <string.h>

#include "agent/relabel.h"
#include "test.h"

static struct relabel_rules *parse(const char *text, char *err, size_t n, int *rc)
{
    struct relabel_rules *r = NULL;
    *rc = relabel_parse(text, strlen(text), &r, err, n);
    return r;
}

TEST(agent_relabel_rules_apply_first_match)
{
    char err[256], svc[128];
    int rc;
    struct relabel_rules *r = parse("# rules\n"
                                    "match cgroup=/system\\.slice/cron drop\n"
                                    "\n"
                                    "match exe=^/usr/bin/python3 service_name=py-batch  # batch\r\n"
                                    "match exe=/opt/([a-z]+)/bin/ service_name=opt-$1\n"
                                    "match comm=^kworker drop\n",
                                    err, sizeof(err), &rc);
    ASSERT_OK(rc);
    ASSERT(relabel_uses_cgroup(r));
    strcpy(svc, "python3");
    ASSERT_EQ(
        relabel_apply(r, "/usr/bin/python3.11", "0::/user.slice", "python3", svc, sizeof(svc)),
        RELABEL_KEEP);
    ASSERT_STREQ(svc, "py-batch");
    /* the cgroup rule comes first */
    ASSERT_EQ(relabel_apply(r, "/usr/bin/python3", "0::/system.slice/cron.service", "python3", svc,
                            sizeof(svc)),
              RELABEL_DROP);
    ASSERT_EQ(relabel_apply(r, "/opt/shop/bin/server", "", "server", svc, sizeof(svc)),
              RELABEL_KEEP);
    ASSERT_STREQ(svc, "opt-shop");
    ASSERT_EQ(relabel_apply(r, "", "", "kworker/0:1", svc, sizeof(svc)), RELABEL_DROP);
    strcpy(svc, "bash");
    ASSERT_EQ(relabel_apply(r, "/usr/bin/bash", "", "bash", svc, sizeof(svc)), RELABEL_NONE);
    ASSERT_STREQ(svc, "bash");
    relabel_free(r);
}

TEST(agent_relabel_errors_name_line_and_column)
{
    char err[256];
    int rc;
    ASSERT(!parse("match exe=a service_name=b\nrename exe=x\n", err, sizeof(err), &rc));
    ASSERT_EQ(rc, -EINVAL);
    ASSERT(strstr(err, "line 2, column 1") && strstr(err, "rename"));
    ASSERT(!parse("match exe=(unclosed service_name=x\n", err, sizeof(err), &rc));
    ASSERT(strstr(err, "line 1") && strstr(err, "bad regex"));
    ASSERT(!parse("match pid=1 drop\n", err, sizeof(err), &rc));
    ASSERT(strstr(err, "column 7") && strstr(err, "pid=1"));
    ASSERT(!parse("match exe=x keep\n", err, sizeof(err), &rc));
    ASSERT(strstr(err, "service_name=NAME or drop"));
    ASSERT(!parse("match exe=x drop extra\n", err, sizeof(err), &rc));
    ASSERT(strstr(err, "unexpected 'extra'"));
    ASSERT(!parse("match exe=x\n", err, sizeof(err), &rc));
    ASSERT(strstr(err, "line 1"));
    struct relabel_rules *r = NULL;
    ASSERT_EQ(relabel_parse("match exe=a\0b drop\n", 20, &r, err, sizeof(err)), -EINVAL);
    ASSERT(strstr(err, "NUL"));
    ASSERT_EQ(relabel_load("/nonexistent/ember.conf", &r, err, sizeof(err)), -ENOENT);
    ASSERT(strstr(err, "/nonexistent/ember.conf"));
}
