/* lock.c - libember.so's lock interposers: a failed try means contention, the blocking wait is timed */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "preload/preload.h"

#define EXPORT __attribute__((visibility("default")))

static int boot_mutex_lock(pthread_mutex_t *m);
static int boot_rdlock(pthread_rwlock_t *l);
static int boot_wrlock(pthread_rwlock_t *l);
static int boot_spin_lock(pthread_spinlock_t *l);
/* The real functions; boot_* resolve them first (no check on the fast path). */
static int (*r_mutex_lock)(pthread_mutex_t *) = boot_mutex_lock;
static int (*r_rdlock)(pthread_rwlock_t *) = boot_rdlock;
static int (*r_wrlock)(pthread_rwlock_t *) = boot_wrlock;
static int (*r_spin_lock)(pthread_spinlock_t *) = boot_spin_lock;
static int g_lock_on;

/* 0, or -1 when a real function is missing (the hooks then fail with EINVAL). */
static int resolve(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        return done > 0 ? 0 : -1;
    void *m = dlsym(RTLD_NEXT, "pthread_mutex_lock");
    void *rd = dlsym(RTLD_NEXT, "pthread_rwlock_rdlock");
    void *wr = dlsym(RTLD_NEXT, "pthread_rwlock_wrlock");
    void *sp = dlsym(RTLD_NEXT, "pthread_spin_lock");
    if (!m || !rd || !wr || !sp) {
        __atomic_store_n(&done, -1, __ATOMIC_RELEASE);
        return -1;
    }
    __atomic_store_n(&r_rdlock, rd, __ATOMIC_RELAXED);
    __atomic_store_n(&r_wrlock, wr, __ATOMIC_RELAXED);
    __atomic_store_n(&r_spin_lock, sp, __ATOMIC_RELAXED);
    __atomic_store_n(&r_mutex_lock, m, __ATOMIC_RELAXED);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    return 0;
}

static int boot_mutex_lock(pthread_mutex_t *m)
{
    return resolve() ? EINVAL : r_mutex_lock(m);
}

static int boot_rdlock(pthread_rwlock_t *l)
{
    return resolve() ? EINVAL : r_rdlock(l);
}

static int boot_wrlock(pthread_rwlock_t *l)
{
    return resolve() ? EINVAL : r_wrlock(l);
}

static int boot_spin_lock(pthread_spinlock_t *l)
{
    return resolve() ? EINVAL : r_spin_lock(l);
}

void pl_lock_init(void)
{
    g_lock_on = pl_cfg.kinds[PL_LOCK] && resolve() == 0;
}

/*
 * A contended acquisition: the stack is taken while the lock is still busy
 * (the wait would be spent anyway), then the real blocking call is timed
 * from the failed try to its return, and the sample is added holding the lock
 * only for the table insert.
 */
#define CONTENDED(real, l)                                                                         \
    do {                                                                                           \
        if (!g_lock_on || pl_guard || !pl_ready)                                                   \
            return real(l);                                                                        \
        pl_guard = 1;                                                                              \
        uint64_t t0 = pl_now_ns();                                                                 \
        uint64_t pcs[PL_MAX_DEPTH];                                                                \
        size_t depth = pl_unwind_here(pcs, PL_MAX_DEPTH, 0);                                       \
        pl_guard = 0;                                                                              \
        int r_ = real(l);                                                                          \
        if (r_ == 0)                                                                               \
            record(pcs, depth, pl_now_ns() - t0);                                                  \
        return r_;                                                                                 \
    } while (0)

static void record(const uint64_t *pcs, size_t depth, uint64_t delay_ns)
{
    const double d[4] = {1, (double)delay_ns, 0, 0};
    pl_lock();
    pl_stack_add(PL_LOCK, pcs, depth, d);
    pl_unlock();
    __atomic_add_fetch(&pl_stat_samples[PL_LOCK], 1, __ATOMIC_RELAXED);
}

__attribute__((noinline)) static int mutex_contended(pthread_mutex_t *m)
{
    int r = pthread_mutex_trylock(m);
    if (r != EBUSY)
        return r;
    CONTENDED(r_mutex_lock, m);
}

/*
 * Fast path: a free mutex (glibc's lock word is 0) goes straight to the real
 * lock, a tail call; a busy one is tried once more and then timed. A mutex
 * taken by another thread between the look and the real lock is a
 * contention not counted (a window of a few instructions).
 */
EXPORT int pthread_mutex_lock(pthread_mutex_t *m)
{
#ifdef __GLIBC__
    if (__builtin_expect(__atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0, 1))
        return r_mutex_lock(m);
#endif
    return mutex_contended(m);
}

__attribute__((noinline)) static int rdlock_contended(pthread_rwlock_t *l)
{
    CONTENDED(r_rdlock, l);
}

EXPORT int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    int r = pthread_rwlock_tryrdlock(l);
    if (__builtin_expect(r != EBUSY, 1))
        return r;
    return rdlock_contended(l);
}

__attribute__((noinline)) static int wrlock_contended(pthread_rwlock_t *l)
{
    CONTENDED(r_wrlock, l);
}

EXPORT int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    int r = pthread_rwlock_trywrlock(l);
    if (__builtin_expect(r != EBUSY, 1))
        return r;
    return wrlock_contended(l);
}

__attribute__((noinline)) static int spin_contended(pthread_spinlock_t *l)
{
    CONTENDED(r_spin_lock, l);
}

EXPORT int pthread_spin_lock(pthread_spinlock_t *l)
{
    int r = pthread_spin_trylock(l);
    if (__builtin_expect(r != EBUSY, 1))
        return r;
    return spin_contended(l);
}
