/* test_server_appname.c - ingest name parsing: app, type suffix and {k=v} labels */
#include "base/err.h"
#include "profile/labels.h"
#include "server/appname.h"
#include "test.h"

TEST(server_appname_plain)
{
    struct appname a;
    char err[256];

    ASSERT_OK(appname_parse(&a, "myapp", err, sizeof(err)));
    ASSERT_STREQ(a.app, "myapp");
    ASSERT_STREQ(a.type->name, "process_cpu");
    ASSERT_EQ(a.has_suffix, 0);
    ASSERT_EQ(a.labels.n, 0);
    appname_release(&a);
}

TEST(server_appname_suffix_and_labels)
{
    struct appname a;
    char err[256];

    ASSERT_OK(
        appname_parse(&a, " my.app.alloc_space{env = prod, region=eu-west-1,} ", err, sizeof(err)));
    ASSERT_STREQ(a.app, "my.app");
    ASSERT_STREQ(a.type->name, "memory");
    ASSERT_STREQ(a.type->sample_type, "alloc_space");
    ASSERT_STREQ(a.type->sample_unit, "bytes");
    ASSERT_EQ(a.labels.n, 2);
    ASSERT_STREQ(labels_get(&a.labels, "env"), "prod");
    ASSERT_STREQ(labels_get(&a.labels, "region"), "eu-west-1");
    appname_release(&a);
}

TEST(server_appname_unknown_suffix_is_part_of_the_name)
{
    struct appname a;
    char err[256];

    ASSERT_OK(appname_parse(&a, "com.example.shop{}", err, sizeof(err)));
    ASSERT_STREQ(a.app, "com.example.shop");
    ASSERT_STREQ(a.type->name, "process_cpu");
    appname_release(&a);
}

TEST(server_appname_types)
{
    const struct ingest_type *t = appname_type("wall");
    ASSERT(t && t->scaled);
    ASSERT_STREQ(t->name, "wall");
    ASSERT_STREQ(t->sample_type, "wall");
    t = appname_type("mutex_duration");
    ASSERT(t && !t->scaled);
    ASSERT_STREQ(t->name, "mutex");
    ASSERT_STREQ(t->sample_type, "delay");
    ASSERT_STREQ(t->sample_unit, "nanoseconds");
    t = appname_type("lock_count");
    ASSERT_STREQ(t->name, "block");
    ASSERT_STREQ(t->sample_type, "contentions");
    ASSERT(appname_type("itimer")->scaled);
    ASSERT(appname_type("nope") == NULL);
    ASSERT_STREQ(appname_type_from_units("objects", "average")->sample_type, "inuse_objects");
    ASSERT_STREQ(appname_type_from_units("bytes", "sum")->sample_type, "alloc_space");
    ASSERT(appname_type_from_units("samples", NULL) == NULL);
}

TEST(server_appname_reserved_labels_dropped)
{
    struct appname a;
    char err[256];

    ASSERT_OK(appname_parse(&a, "app{__name__=evil,__delta__=true,x=1}", err, sizeof(err)));
    ASSERT_EQ(a.labels.n, 1);
    ASSERT_STREQ(labels_get(&a.labels, "x"), "1");
    appname_release(&a);
}

TEST(server_appname_errors)
{
    struct appname a;
    char err[256];

    ASSERT_EQ(appname_parse(&a, "", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    appname_release(&a);
    ASSERT_EQ(appname_parse(&a, "  {a=b}", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    appname_release(&a);
    ASSERT_EQ(appname_parse(&a, "app{a=b", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "missing '}'"));
    appname_release(&a);
    ASSERT_EQ(appname_parse(&a, "app{1bad=b}", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "invalid label name '1bad'"));
    appname_release(&a);
    ASSERT_EQ(appname_parse(&a, "app{novalue}", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    appname_release(&a);
    ASSERT_EQ(appname_parse(&a, "app{a=b}junk", err, sizeof(err)), -EMBER_EINVAL_INPUT);
    ASSERT(strstr(err, "offset 8"));
    appname_release(&a);
}

TEST(server_appname_series_labels)
{
    struct appname a;
    struct labels l;
    char err[256];

    ASSERT_OK(appname_parse(&a, "svc.cpu{env=prod}", err, sizeof(err)));
    appname_series_labels(&a, a.type, "gospy", &l);
    ASSERT_STREQ(labels_get(&l, "__name__"), "process_cpu");
    ASSERT_STREQ(labels_get(&l, "__profile_type__"), "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
    ASSERT_STREQ(labels_get(&l, "service_name"), "svc");
    ASSERT_STREQ(labels_get(&l, "pyroscope_spy"), "gospy");
    ASSERT(labels_get(&l, "app_name") == NULL);
    labels_release(&l);
    appname_release(&a);

    /* service_name given by the client: the app name goes to app_name */
    ASSERT_OK(appname_parse(&a, "svc.wall{service_name=real}", err, sizeof(err)));
    appname_series_labels(&a, a.type, "", &l);
    ASSERT_STREQ(labels_get(&l, "service_name"), "real");
    ASSERT_STREQ(labels_get(&l, "app_name"), "svc");
    ASSERT_STREQ(labels_get(&l, "__profile_type__"), "wall:wall:nanoseconds:cpu:nanoseconds");
    ASSERT(labels_get(&l, "pyroscope_spy") == NULL);
    labels_release(&l);
    appname_release(&a);
}
