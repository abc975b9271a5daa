/* lock.c - libember.so's lock interposers: a failed try means contention, the blocking wait is timed */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "preload/preload.h"

#define EXPORT __attribute__((visibility("default")))

static int (*r_mutex_lock)(pthread_mutex_t *);
static int (*r_rdlock)(pthread_rwlock_t *);
static int (*r_wrlock)(pthread_rwlock_t *);
static int (*r_spin_lock)(pthread_spinlock_t *);
static int g_lock_on;

static void resolve(void)
{
    if (__atomic_load_n(&r_mutex_lock, __ATOMIC_ACQUIRE))
        return;
    r_rdlock = dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
    r_wrlock = dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
    r_spin_lock = dlsym(RTLD_NEXT, "pthread_spin_lock");
    __atomic_store_n(&r_mutex_lock, dlsym(RTLD_NEXT, "pthread_mutex_lock"), __ATOMIC_RELEASE);
}

void pl_lock_init(void)
{
    resolve();
    g_lock_on = pl_cfg.kinds[PL_LOCK] && r_mutex_lock && r_rdlock && r_wrlock && r_spin_lock;
}

__attribute__((noinline)) static void record(uint64_t delay_ns)
{
    pl_guard = 1;
    uint64_t pcs[PL_MAX_DEPTH];
    size_t depth = pl_unwind_here(pcs, PL_MAX_DEPTH, 3); /* ours: unwinder, this, the hook */
    const double d[4] = {1, (double)delay_ns, 0, 0};
    pl_lock();
    pl_stack_add(PL_LOCK, pcs, depth, d);
    pl_unlock();
    __atomic_add_fetch(&pl_stat_samples[PL_LOCK], 1, __ATOMIC_RELAXED);
    pl_guard = 0;
}

static inline int profiled(void)
{
    return g_lock_on && !pl_guard && pl_ready;
}

EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (__builtin_expect(!r_mutex_lock, 0)) {
        resolve();
        if (!r_mutex_lock)
            return EINVAL;
    }
    if (!profiled())
        return r_mutex_lock(m);
    int r = pthread_mutex_trylock(m);
    if (r != EBUSY)
        return r;
    uint64_t t0 = pl_now_ns();
    r = r_mutex_lock(m);
    if (r == 0)
        record(pl_now_ns() - t0);
    return r;
}

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    resolve();
    if (!r_rdlock)
        return EINVAL;
    if (!profiled())
        return r_rdlock(l);
    int r = pthread_rwlock_tryrdlock(l);
    if (r != EBUSY)
        return r;
    uint64_t t0 = pl_now_ns();
    r = r_rdlock(l);
    if (r == 0)
        record(pl_now_ns() - t0);
    return r;
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    resolve();
    if (!r_wrlock)
        return EINVAL;
    if (!profiled())
        return r_wrlock(l);
    int r = pthread_rwlock_trywrlock(l);
    if (r != EBUSY)
        return r;
    uint64_t t0 = pl_now_ns();
    r = r_wrlock(l);
    if (r == 0)
        record(pl_now_ns() - t0);
    return r;
}

EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
    resolve();
    if (!r_spin_lock)
        return EINVAL;
    if (!profiled())
        return r_spin_lock(l);
    int r = pthread_spin_trylock(l);
    if (r != EBUSY)
        return r;
    uint64_t t0 = pl_now_ns();
    r = r_spin_lock(l);
    if (r == 0)
        record(pl_now_ns() - t0);
    return r;
}
