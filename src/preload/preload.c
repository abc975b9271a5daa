/* preload.c - libember.so: configuration, constructor/destructor, threads, fork and the upload loop
 */
#include "preload/preload.h"

#include <alloca.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

struct pl_config pl_cfg;
volatile int pl_ready;
__thread int pl_guard __attribute__((tls_model("initial-exec")));

static int (*real_pthread_create)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
static pthread_t g_uploader;
static int g_uploader_running;
static volatile int g_stop;
static pid_t g_pid;
static uint64_t g_last_upload_real;

void pl_log(int level, const char *fmt, ...)
{
    if (level > pl_cfg.log_level)
        return;
    char line[512];
    int n = snprintf(line, sizeof(line), "ember[%d]: ", (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(2, line, len);
    (void)w;
}

uint64_t pl_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        pl_log(1, "%s=%s: not an integer in [%ld, %ld], using %ld", name, v, lo, hi, def);
        return def;
    }
    return x;
}

static void copy_env(char *dst, size_t n, const char *const *names, const char *def)
{
    for (const char *const *p = names; *p; p++) {
        const char *v = getenv(*p);
        if (v && *v) {
            snprintf(dst, n, "%s", v);
            return;
        }
    }
    snprintf(dst, n, "%s", def);
}

static void load_config(void)
{
    struct pl_config *c = &pl_cfg;
    c->log_level = (int)env_long("EMBER_LOG_LEVEL", 1, 0, 2);
    static const char *const server[] = {"EMBER_SERVER_ADDRESS", NULL};
    copy_env(c->server, sizeof(c->server), server, "http://127.0.0.1:4040");
    size_t sl = strlen(c->server);
    while (sl && c->server[sl - 1] == '/')
        c->server[--sl] = 0;
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = 0;
    const char *base = strrchr(exe, '/');
    base = base ? base + 1 : (*exe ? exe : "unknown");
    static const char *const svc[] = {"EMBER_APPLICATION_NAME", "EMBER_SERVICE_NAME",
                                      "OTEL_SERVICE_NAME", NULL};
    copy_env(c->service, sizeof(c->service), svc, base);
    static const char *const tags[] = {"EMBER_TAGS", NULL};
    copy_env(c->tags, sizeof(c->tags), tags, "");
    static const char *const dump[] = {"EMBER_DUMP_DIR", NULL};
    copy_env(c->dump_dir, sizeof(c->dump_dir), dump, "");
    c->hz = (int)env_long("EMBER_SAMPLE_RATE", 100, 1, 1000);
    c->alloc_mean = (uint64_t)env_long("EMBER_ALLOC_SAMPLE_BYTES", 512 * 1024, 1, 1L << 40);
    c->upload_interval_s = (int)env_long("EMBER_UPLOAD_INTERVAL", 10, 1, 3600);
    const char *prof = getenv("EMBER_PROFILES");
    if (!prof || !*prof)
        prof = "cpu,alloc,lock";
    static const char *const names[PL_NKINDS] = {"cpu", "wall", "alloc", "lock"};
    const char *p = prof;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int k = 0; k < PL_NKINDS; k++)
            if (strlen(names[k]) == len && !strncmp(p, names[k], len))
                c->kinds[k] = found = 1;
        if (!found && len)
            pl_log(1, "EMBER_PROFILES: unknown profile '%.*s' (known: cpu,wall,alloc,lock)",
                   (int)len, p);
        p += len;
        if (*p == ',')
            p++;
    }
}

/* ---- threads ---- */

struct start_arg {
    void *(*fn)(void *);
    void *arg;
};

static void thread_exit_cleanup(void *unused)
{
    (void)unused;
    pl_sample_thread_stop();
}

static void *ember_thread_start(void *p)
{
    struct start_arg sa = *(struct start_arg *)p;
    pl_real_free(p);
    pl_sample_thread_start();
    void *ret;
    pthread_cleanup_push(thread_exit_cleanup, NULL);
    ret = sa.fn(sa.arg);
    pthread_cleanup_pop(1);
    return ret;
}

static int resolve_create(void)
{
    if (!real_pthread_create)
        real_pthread_create = dlsym(RTLD_NEXT, "pthread_create");
    return real_pthread_create ? 0 : -1;
}

EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    if (resolve_create())
        return EAGAIN;
    if (!pl_ready || pl_guard || (!pl_cfg.kinds[PL_CPU] && !pl_cfg.kinds[PL_WALL]))
        return real_pthread_create(th, attr, fn, arg);
    struct start_arg *sa = pl_real_malloc(sizeof(*sa));
    if (!sa)
        return real_pthread_create(th, attr, fn, arg);
    sa->fn = fn;
    sa->arg = arg;
    int r = real_pthread_create(th, attr, ember_thread_start, sa);
    if (r)
        pl_real_free(sa);
    return r;
}

/* ---- exec ---- */

/*
 * The exec family: a thread sampled by a perf event closes it first (see
 * pl_sample_before_exec). glibc's execl* and execv* call its execve
 * internally, so each is hooked. Real functions are found by the
 * constructor (dlsym is not safe in a child forked from threads).
 */
static struct {
    int (*execv)(const char *, char *const[]);
    int (*execvp)(const char *, char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*execveat)(int, const char *, char *const[], char *const[], int);
    int (*execve)(const char *, char *const[], char *const[]); /* set last: all are resolved */
} g_exec;

static void resolve_exec(void)
{
    if (__atomic_load_n(&g_exec.execve, __ATOMIC_ACQUIRE))
        return;
    g_exec.execv = dlsym(RTLD_NEXT, "execv");
    g_exec.execvp = dlsym(RTLD_NEXT, "execvp");
    g_exec.execvpe = dlsym(RTLD_NEXT, "execvpe");
    g_exec.fexecve = dlsym(RTLD_NEXT, "fexecve");
    g_exec.execveat = dlsym(RTLD_NEXT, "execveat"); /* glibc 2.34+; else the system call */
    __atomic_store_n(&g_exec.execve, dlsym(RTLD_NEXT, "execve"), __ATOMIC_RELEASE);
}

/* Runs call (an int expression) with the calling thread's perf event closed around it. */
#define AROUND_EXEC(fn, call)                                                                      \
    do {                                                                                           \
        resolve_exec();                                                                            \
        if (!(fn)) {                                                                               \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        int guard_ = pl_guard;                                                                     \
        pl_guard = 1;                                                                              \
        int rearm_ = pl_sample_before_exec();                                                      \
        pl_guard = guard_;                                                                         \
        int r_ = (call);                                                                           \
        if (rearm_) {                                                                              \
            int e_ = errno;                                                                        \
            pl_guard = 1;                                                                          \
            pl_sample_exec_failed();                                                               \
            pl_guard = guard_;                                                                     \
            errno = e_;                                                                            \
        }                                                                                          \
        return r_;                                                                                 \
    } while (0)

static int do_execve(const char *path, char *const argv[], char *const envp[])
{
    AROUND_EXEC(g_exec.execve, g_exec.execve(path, argv, envp));
}

static int do_execvp(const char *file, char *const argv[])
{
    AROUND_EXEC(g_exec.execvp, g_exec.execvp(file, argv));
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return do_execve(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
    AROUND_EXEC(g_exec.execv, g_exec.execv(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
    return do_execvp(file, argv);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    AROUND_EXEC(g_exec.execvpe, g_exec.execvpe(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    AROUND_EXEC(g_exec.fexecve, g_exec.fexecve(fd, argv, envp));
}

static int sys_execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                        int flags)
{
    return (int)syscall(SYS_execveat, dirfd, path, argv, envp, flags);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    int (*fn)(int, const char *, char *const[], char *const[], int);
    resolve_exec();
    fn = g_exec.execveat ? g_exec.execveat : sys_execveat;
    AROUND_EXEC(fn, fn(dirfd, path, argv, envp, flags));
}

/* The arguments after arg up to the NULL, as an argv on the caller's stack; *envp gets the one
 * after the NULL when envp is not NULL (execle). */
#define COLLECT_ARGS(argv, arg, envp)                                                              \
    do {                                                                                           \
        va_list ap_;                                                                               \
        size_t n_ = 1;                                                                             \
        va_start(ap_, arg);                                                                        \
        while (va_arg(ap_, char *))                                                                \
            n_++;                                                                                  \
        va_end(ap_);                                                                               \
        argv = alloca((n_ + 1) * sizeof(char *));                                                  \
        argv[0] = (char *)(arg);                                                                   \
        va_start(ap_, arg);                                                                        \
        for (size_t i_ = 1; i_ <= n_; i_++)                                                        \
            argv[i_] = va_arg(ap_, char *);                                                        \
        char *const **envp_ = (envp);                                                              \
        if (envp_)                                                                                 \
            *envp_ = va_arg(ap_, char *const *);                                                   \
        va_end(ap_);                                                                               \
    } while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
    char **argv;
    COLLECT_ARGS(argv, arg, NULL);
    extern char **environ;
    return do_execve(path, argv, environ);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
    char **argv;
    char *const *envp = NULL;
    COLLECT_ARGS(argv, arg, &envp);
    return do_execve(path, argv, envp);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
    char **argv;
    COLLECT_ARGS(argv, arg, NULL);
    return do_execvp(file, argv);
}

/* ---- upload loop ---- */

static pthread_mutex_t g_tick_mu = PTHREAD_MUTEX_INITIALIZER;
static volatile int g_in_tick;

static void upload_tick(int final)
{
    pthread_mutex_lock(&g_tick_mu); /* pl_guard is set: not a profiled lock */
    g_in_tick = 1;
    uint64_t now = real_ns();
    pl_sample_drain();
    pl_upload_once(g_last_upload_real, now, final);
    g_last_upload_real = now;
    pl_stack_compact();
    g_in_tick = 0;
    pthread_mutex_unlock(&g_tick_mu);
}

static void *uploader(void *unused)
{
    (void)unused;
    pl_guard = 1;
    uint64_t next = pl_now_ns() + (uint64_t)pl_cfg.upload_interval_s * 1000000000ull;
    while (!g_stop) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        pl_sample_drain(); /* keep the ring empty */
        if (pl_now_ns() >= next && !g_stop) {
            upload_tick(0);
            next = pl_now_ns() + (uint64_t)pl_cfg.upload_interval_s * 1000000000ull;
        }
    }
    return NULL;
}

static void atfork_prepare(void)
{
    pl_lock();
}

static void atfork_parent(void)
{
    pl_unlock();
}

/*
 * A child forked without exec keeps profiling under its own pid: the
 * parent's unsent samples are dropped (the parent sends them), the live
 * allocations it inherited stay, and its only thread gets new timers and a
 * new upload thread.
 */
static void atfork_child(void)
{
    int guard = pl_guard;
    pl_guard = 1;
    pl_unlock();
    int was_ready = pl_ready;
    pl_ready = 0;
    g_uploader_running = 0;
    g_pid = getpid();
    pthread_mutex_init(&g_tick_mu, NULL);
    pl_upload_atfork_child(g_in_tick);
    g_in_tick = 0;
    if (!was_ready || g_stop)
        goto out;
    pl_stack_reset_interval();
    pl_sample_atfork_child();
    g_last_upload_real = real_ns();
    if (real_pthread_create(&g_uploader, NULL, uploader, NULL) == 0)
        g_uploader_running = 1;
    else
        pl_log(1, "forked child: cannot start the upload thread: profiles are sent at exit only");
    pl_ready = 1;
    pl_log(2, "forked child %d keeps profiling", (int)g_pid);
out:
    pl_guard = guard;
}

__attribute__((constructor)) static void pl_init(void)
{
    pl_guard = 1;
    load_config();
    g_pid = getpid();
    g_last_upload_real = real_ns();
    if (resolve_create()) {
        pl_log(1, "dlsym(pthread_create) failed: profiler off");
        goto out;
    }
    pl_unwind_init();
    pl_alloc_init();
    pl_lock_init();
    if (pl_upload_init() < 0) {
        pl_log(1, "upload setup failed: profiler off");
        goto out;
    }
    resolve_exec();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    pl_sample_start();
    if (real_pthread_create(&g_uploader, NULL, uploader, NULL) == 0)
        g_uploader_running = 1;
    else
        pl_log(1, "cannot start the upload thread: profiles are sent at exit only");
    pl_ready = 1;
    pl_log(2, "profiling %s (pid %d) to %s: cpu=%d wall=%d alloc=%d lock=%d", pl_cfg.service,
           (int)g_pid, pl_cfg.server, pl_cfg.kinds[PL_CPU], pl_cfg.kinds[PL_WALL],
           pl_cfg.kinds[PL_ALLOC], pl_cfg.kinds[PL_LOCK]);
out:
    pl_guard = 0;
}

__attribute__((destructor)) static void pl_fini(void)
{
    if (!pl_ready || getpid() != g_pid)
        return;
    pl_guard = 1;
    g_stop = 1;
    if (g_uploader_running) {
        pthread_join(g_uploader, NULL);
        g_uploader_running = 0;
    }
    pl_sample_stop();
    upload_tick(1);
    pl_ready = 0;
    pl_upload_shutdown();
    pl_guard = 0;
}

/* Flushes now (for programs and tests that want a profile before exit). */
EXPORT void ember_preload_flush(void);
EXPORT void ember_preload_flush(void)
{
    if (!pl_ready)
        return;
    int g = pl_guard;
    pl_guard = 1;
    upload_tick(0);
    pl_guard = g;
}
