/* module.c - the _ember CPython extension: start/stop, tags, allocation sampling hooks, fork
 * handling */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pyagent.h"

static struct pa_config g_cfg;
static int g_running;
static int g_alloc_hooked;
static PyMemAllocatorEx g_orig_mem, g_orig_obj;

/* ---- allocation sampling: a Poisson process over allocated bytes ---- */

static __thread int64_t t_until_sample __attribute__((tls_model("initial-exec")));
static __thread uint64_t t_rng __attribute__((tls_model("initial-exec")));
static __thread int t_in_hook __attribute__((tls_model("initial-exec")));

static double rand_unit(void)
{
    if (!t_rng)
        t_rng = (uint64_t)syscall(SYS_gettid) * 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&t_rng;
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return ((double)(t_rng >> 11) + 0.5) / 9007199254740992.0; /* (0, 1) */
}

/* Bytes until the next sample: exponential with mean alloc_interval. */
static int64_t next_gap(void)
{
    double g = -log(rand_unit()) * (double)g_cfg.alloc_interval;
    return g < 1 ? 1 : (int64_t)g;
}

/*
 * Called after each successful allocation. A sample falls in an allocation
 * of n bytes with probability 1 - exp(-n / mean); weighting it by the
 * inverse of that probability keeps the totals unbiased.
 */
static void account(void *p, size_t n)
{
    if (t_until_sample <= 0 && !t_rng)
        t_until_sample = next_gap();
    t_until_sample -= (int64_t)n;
    if (t_until_sample > 0 || t_in_hook)
        return;
    t_until_sample = next_gap();
    t_in_hook = 1;
    struct pa_rec *r = malloc(sizeof *r);
    if (r) {
        pa_capture_self(r);
        r->kind = PA_ALLOC;
        r->tag = pa_thread_tag_get();
        r->weight = 1;
        double prob = 1.0 - exp(-(double)n / (double)g_cfg.alloc_interval);
        if (prob <= 0)
            prob = 1e-12;
        pa_report_alloc(r, p, n, 1.0 / prob, (double)n / prob);
        free(r);
    }
    t_in_hook = 0;
}

static void *hook_malloc(void *ctx, size_t n)
{
    PyMemAllocatorEx *o = ctx;
    void *p = o->malloc(o->ctx, n);
    if (p)
        account(p, n);
    return p;
}

static void *hook_calloc(void *ctx, size_t nelem, size_t elsize)
{
    PyMemAllocatorEx *o = ctx;
    void *p = o->calloc(o->ctx, nelem, elsize);
    if (p)
        account(p, nelem * elsize);
    return p;
}

static void *hook_realloc(void *ctx, void *ptr, size_t n)
{
    PyMemAllocatorEx *o = ctx;
    void *p = o->realloc(o->ctx, ptr, n);
    if (p) {
        if (ptr)
            pa_report_free(ptr);
        account(p, n);
    }
    return p;
}

static void hook_free(void *ctx, void *ptr)
{
    PyMemAllocatorEx *o = ctx;
    if (ptr)
        pa_report_free(ptr);
    o->free(o->ctx, ptr);
}

static void alloc_hook(int on)
{
    if (on == g_alloc_hooked)
        return;
    if (on) {
        PyMem_GetAllocator(PYMEM_DOMAIN_MEM, &g_orig_mem);
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &g_orig_obj);
        PyMemAllocatorEx mem = {&g_orig_mem, hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMemAllocatorEx obj = {&g_orig_obj, hook_malloc, hook_calloc, hook_realloc, hook_free};
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &obj);
    } else {
        PyMem_SetAllocator(PYMEM_DOMAIN_MEM, &g_orig_mem);
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &g_orig_obj);
    }
    g_alloc_hooked = on;
}

/* ---- configuration ---- */

static void cfg_release(struct pa_config *c)
{
    free(c->app_name);
    free(c->server);
    free(c->tenant);
    free(c->auth_token);
    for (size_t i = 0; i < c->nglobal_tags; i++)
        free(c->global_tags[i]);
    free(c->global_tags);
    for (size_t i = 0; i < c->nsys_path; i++)
        free(c->sys_path[i]);
    free(c->sys_path);
    memset(c, 0, sizeof *c);
}

/* A malloc'ed UTF-8 copy of str o (NULL for None); sets a Python error and *bad on failure. */
static char *dup_str(PyObject *o, const char *what, int *bad)
{
    if (!o || o == Py_None)
        return NULL;
    const char *s = PyUnicode_AsUTF8(o);
    if (!s) {
        PyErr_Format(PyExc_TypeError, "ember: %s must be a str", what);
        *bad = 1;
        return NULL;
    }
    char *d = strdup(s);
    if (!d) {
        PyErr_NoMemory();
        *bad = 1;
    }
    return d;
}

/* Fills kv[] (malloc'ed copies, k0, v0, ...) from a dict of str -> str. */
static int dict_pairs(PyObject *d, char ***kv, size_t *n, const char *what)
{
    *kv = NULL;
    *n = 0;
    if (!d || d == Py_None)
        return 0;
    if (!PyDict_Check(d)) {
        PyErr_Format(PyExc_TypeError, "ember: %s must be a dict", what);
        return -1;
    }
    Py_ssize_t pos = 0, cnt = PyDict_Size(d);
    PyObject *k, *v;
    *kv = calloc((size_t)cnt * 2 + 1, sizeof **kv);
    if (!*kv) {
        PyErr_NoMemory();
        return -1;
    }
    int bad = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        char *ks = dup_str(k, "a tag name", &bad);
        if (bad)
            return -1;
        (*kv)[(*n)++] = ks;
        PyObject *vs = PyObject_Str(v);
        if (!vs)
            return -1;
        (*kv)[(*n)++] = dup_str(vs, "a tag value", &bad);
        Py_DECREF(vs);
        if (bad)
            return -1;
    }
    return 0;
}

static void stop_all(int flush_ms)
{
    if (!g_running)
        return;
    alloc_hook(0);
    Py_BEGIN_ALLOW_THREADS;
    pa_sampler_stop();
    pa_report_stop(flush_ms);
    Py_END_ALLOW_THREADS;
    g_running = 0;
}

static int start_all(void)
{
    int err = pa_report_start(&g_cfg);
    if (err)
        return err;
    err = pa_sampler_start(&g_cfg);
    if (err) {
        pa_report_stop(0);
        return err;
    }
    if (g_cfg.alloc)
        alloc_hook(1);
    g_running = 1;
    return 0;
}

static PyObject *py_start(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    /* CPython's kwlist is char *[] for historical reasons; the strings are never written */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
    static char *kwlist[] = {"application_name",
                             "server_address",
                             "sample_rate",
                             "tags",
                             "oncpu",
                             "wall",
                             "enable_alloc",
                             "alloc_interval",
                             "tenant_id",
                             "auth_token",
                             "upload_interval",
                             "sys_path",
                             "max_pending_bytes",
                             NULL};
#pragma GCC diagnostic pop
    PyObject *app, *server, *tags = Py_None, *tenant = Py_None, *token = Py_None,
                            *sys_path = Py_None;
    int rate = 100, cpu = 1, wall = 1, alloc = 1;
    unsigned long long alloc_interval = 512 * 1024, max_pending = 8u << 20;
    double upload = 10.0;
    struct pa_config c = {0};
    int bad = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kw, "UU|iOpppKOOdOK:start", kwlist, &app, &server, &rate,
                                     &tags, &cpu, &wall, &alloc, &alloc_interval, &tenant, &token,
                                     &upload, &sys_path, &max_pending))
        return NULL;
    if (g_running) {
        PyErr_SetString(PyExc_RuntimeError, "ember: already started (call shutdown() first)");
        return NULL;
    }
    if (rate < 1 || rate > 1000) {
        PyErr_Format(PyExc_ValueError, "ember: sample_rate %d out of range 1..1000", rate);
        return NULL;
    }
    if (upload < 0.05 || upload > 3600) {
        PyErr_Format(PyExc_ValueError, "ember: upload_interval %g s out of range 0.05..3600",
                     upload);
        return NULL;
    }
    if (alloc_interval < 1) {
        PyErr_SetString(PyExc_ValueError, "ember: alloc_interval must be >= 1 byte");
        return NULL;
    }
    c.app_name = dup_str(app, "application_name", &bad);
    if (!bad)
        c.server = dup_str(server, "server_address", &bad);
    if (!bad)
        c.tenant = dup_str(tenant, "tenant_id", &bad);
    if (!bad)
        c.auth_token = dup_str(token, "auth_token", &bad);
    if (bad || dict_pairs(tags, &c.global_tags, &c.nglobal_tags, "tags") < 0)
        goto fail;
    if (sys_path != Py_None) {
        PyObject *seq = PySequence_Fast(sys_path, "ember: sys_path must be a sequence");
        if (!seq)
            goto fail;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        c.sys_path = calloc((size_t)n + 1, sizeof *c.sys_path);
        for (Py_ssize_t i = 0; c.sys_path && i < n; i++) {
            PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
            if (!PyUnicode_Check(it))
                continue;
            char *s = dup_str(it, "sys_path entry", &bad);
            if (bad)
                break;
            if (s && *s)
                c.sys_path[c.nsys_path++] = s;
            else
                free(s);
        }
        Py_DECREF(seq);
        if (bad || !c.sys_path) {
            if (!bad)
                PyErr_NoMemory();
            goto fail;
        }
    }
    size_t sl = strlen(c.server);
    while (sl && c.server[sl - 1] == '/')
        c.server[--sl] = 0;
    c.sample_rate = rate;
    c.cpu = cpu;
    c.wall = wall;
    c.alloc = alloc;
    c.alloc_interval = alloc_interval;
    c.upload_interval_ms = (int)(upload * 1000);
    c.max_pending_bytes = (size_t)max_pending;
    cfg_release(&g_cfg);
    g_cfg = c;
    int err = start_all();
    if (err) {
        errno = -err;
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    Py_RETURN_NONE;
fail:
    cfg_release(&c);
    return NULL;
}

static PyObject *py_stop(PyObject *self, PyObject *args)
{
    (void)self;
    double flush = 2.0;
    if (!PyArg_ParseTuple(args, "|d:stop", &flush))
        return NULL;
    if (flush < 0)
        flush = 0;
    if (flush > 60)
        flush = 60;
    stop_all((int)(flush * 1000));
    Py_RETURN_NONE;
}

static PyObject *py_tag_id(PyObject *self, PyObject *arg)
{
    (void)self;
    char **kv;
    size_t n;
    if (dict_pairs(arg, &kv, &n, "tags") < 0) {
        for (size_t i = 0; kv && i < n; i++)
            free(kv[i]);
        free(kv);
        return NULL;
    }
    int id = 0;
    if (n) {
        /* sorted by name so that {a,b} and {b,a} are one tag set */
        for (size_t i = 2; i < n; i += 2)
            for (size_t j = i; j >= 2 && strcmp(kv[j - 2], kv[j]) > 0; j -= 2) {
                char *t0 = kv[j - 2], *t1 = kv[j - 1];
                kv[j - 2] = kv[j];
                kv[j - 1] = kv[j + 1];
                kv[j] = t0;
                kv[j + 1] = t1;
            }
        id = pa_tags_intern((const char *const *)kv, n);
    }
    for (size_t i = 0; i < n; i++)
        free(kv[i]);
    free(kv);
    if (id == -ENOSPC) {
        /* too many distinct tag sets: samples go untagged rather than failing the app */
        id = 0;
    } else if (id < 0) {
        PyErr_Format(PyExc_ValueError, "ember: cannot intern tags (%s)", strerror(-id));
        return NULL;
    }
    return PyLong_FromLong(id);
}

static PyObject *py_set_tag(PyObject *self, PyObject *arg)
{
    (void)self;
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred())
        return NULL;
    int prev = pa_thread_tag_get();
    pa_thread_tag_set((int)id);
    return PyLong_FromLong(prev);
}

static PyObject *py_get_tag(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(pa_thread_tag_get());
}

static PyObject *py_register_thread(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(pa_register_self());
}

static PyObject *py_stats(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    uint64_t samples, dropped, threads, uploads, failures, dropped_payloads, pending, stacks;
    pa_sampler_stats(&samples, &dropped, &threads);
    pa_report_stats(&uploads, &failures, &dropped_payloads, &pending, &stacks);
    uint64_t misdirected;
    const char *mode = pa_sampler_cpu_mode(&misdirected);
    return Py_BuildValue(
        "{s:s,s:K,s:O,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "cpu_sampler", mode, "misdirected_signals",
        misdirected, "running", g_running ? Py_True : Py_False, "samples", samples,
        "dropped_samples", dropped, "threads", threads, "uploads", uploads, "upload_failures",
        failures, "dropped_payloads", dropped_payloads, "pending_bytes", pending, "stacks", stacks);
}

static PyObject *py_after_fork_child(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    if (!g_running)
        Py_RETURN_NONE;
    /* pthread_atfork already reset the state; the hooks stay installed */
    g_running = 0;
    int hooked = g_alloc_hooked;
    g_alloc_hooked = 0;
    int err = pa_report_start(&g_cfg);
    if (!err)
        err = pa_sampler_start(&g_cfg);
    if (err) {
        g_alloc_hooked = hooked;
        alloc_hook(0);
        Py_RETURN_NONE; /* never raise into the application's child */
    }
    g_alloc_hooked = hooked;
    g_running = 1;
    Py_RETURN_NONE;
}

static void atfork_prepare(void)
{
    pa_report_prefork();
}

static void atfork_parent(void)
{
    pa_report_postfork_parent();
}

static void atfork_child(void)
{
    pa_report_postfork_child();
    pa_sampler_after_fork();
}

static PyMethodDef methods[] = {
    {"start", (PyCFunction)(void (*)(void))py_start, METH_VARARGS | METH_KEYWORDS,
     "start(application_name, server_address, ...) starts profiling and uploads."},
    {"stop", py_stop, METH_VARARGS,
     "stop(flush_timeout=2.0) stops profiling; the last interval is sent within the timeout."},
    {"tag_id", py_tag_id, METH_O, "tag_id(dict) -> int id of the tag set (0 for empty)."},
    {"set_tag", py_set_tag, METH_O, "set_tag(id) -> previous id: tags the calling thread."},
    {"get_tag", py_get_tag, METH_NOARGS, "get_tag() -> tag-set id of the calling thread."},
    {"register_thread", py_register_thread, METH_NOARGS,
     "register_thread() -> 1 if the calling thread's CPU timer was created now."},
    {"stats", py_stats, METH_NOARGS, "stats() -> dict of counters."},
    {"_after_fork_child", py_after_fork_child, METH_NOARGS, "restarts profiling in a child."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT,
                                    "_ember",
                                    "Ember's native profiler core",
                                    -1,
                                    methods,
                                    NULL,
                                    NULL,
                                    NULL,
                                    NULL};

PyMODINIT_FUNC PyInit__ember(void);

PyMODINIT_FUNC PyInit__ember(void)
{
    static int once;
    if (!once) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            PyErr_SetString(PyExc_ImportError, "ember: curl_global_init failed");
            return NULL;
        }
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        once = 1;
    }
    return PyModule_Create(&moddef);
}
