/* io.c - the store's system-call table, with a fault injector for tests (sqlite test_syscall style)
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "base/err.h"
#include "base/xalloc.h"

static int sys_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

static const struct io_ops libc_ops = {
    .open = sys_open,
    .close = close,
    .pread = pread,
    .pwrite = pwrite,
    .fsync = fsync,
    .fdatasync = fdatasync,
    .ftruncate = ftruncate,
    .rename = rename,
    .unlink = unlink,
    .mkdir = mkdir,
    .fstat = fstat,
    .opendir = opendir,
    .flock = flock,
};

static const struct io_ops *ops = &libc_ops;

/* Fault state: armed is read without the lock on every call, the rest under it. */
static int armed;
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct io_fault fault;
static unsigned long fault_seen, fault_hits;
static unsigned long calls[IO_OP_MAX];

void io_set_ops(const struct io_ops *o)
{
    ops = o ? o : &libc_ops;
}

const struct io_ops *io_get_ops(void)
{
    return ops;
}

void io_fault_set(const struct io_fault *f)
{
    pthread_mutex_lock(&fault_mu);
    fault = *f;
    fault_seen = 0;
    fault_hits = 0;
    __atomic_store_n(&armed, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&fault_mu);
}

void io_fault_clear(void)
{
    pthread_mutex_lock(&fault_mu);
    __atomic_store_n(&armed, 0, __ATOMIC_RELEASE);
    memset(&fault, 0, sizeof(fault));
    pthread_mutex_unlock(&fault_mu);
}

unsigned long io_fault_hits(void)
{
    pthread_mutex_lock(&fault_mu);
    unsigned long h = fault_hits;
    pthread_mutex_unlock(&fault_mu);
    return h;
}

unsigned long io_calls(enum io_op op)
{
    return __atomic_load_n(&calls[op], __ATOMIC_RELAXED);
}

/*
 * Counts a call of op and decides whether it fails. Returns 0 to proceed,
 * or a positive errno to fail with; sets *short_write when a pwrite should
 * write half and stop.
 */
static int inject(enum io_op op, int *short_write)
{
    __atomic_fetch_add(&calls[op], 1, __ATOMIC_RELAXED);
    if (short_write)
        *short_write = 0;
    if (!__atomic_load_n(&armed, __ATOMIC_ACQUIRE))
        return 0;
    int err = 0;
    pthread_mutex_lock(&fault_mu);
    if (fault.mask & IO_MASK(op)) {
        fault_seen++;
        if (fault_seen == fault.nth || (fault.persist && fault_seen > fault.nth)) {
            fault_hits++;
            err = fault.err ? fault.err : EIO;
            if (short_write && fault.short_write && fault_seen == fault.nth)
                *short_write = 1;
        }
    }
    pthread_mutex_unlock(&fault_mu);
    return err;
}

#define INJECT(op)                                                                                 \
    do {                                                                                           \
        int e_ = inject(op, NULL);                                                                 \
        if (e_)                                                                                    \
            return -e_;                                                                            \
    } while (0)

int io_open(const char *path, int flags, mode_t mode)
{
    INJECT(IO_OPEN);
    int fd;
    do {
        fd = ops->open(path, flags | O_CLOEXEC, mode);
    } while (fd < 0 && errno == EINTR);
    return fd < 0 ? -errno : fd;
}

int io_close(int fd)
{
    if (fd < 0)
        return 0;
    int e = inject(IO_CLOSE, NULL);
    /* close even when failing it: a retried close could close someone else's fd */
    int r = ops->close(fd);
    if (e)
        return -e;
    return r < 0 && errno != EINTR ? -errno : 0;
}

ssize_t io_pread(int fd, void *p, size_t n, off_t off)
{
    INJECT(IO_PREAD);
    ssize_t r;
    do {
        r = ops->pread(fd, p, n, off);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int io_pread_full(int fd, void *p, size_t n, off_t off)
{
    char *c = p;
    while (n) {
        ssize_t r = io_pread(fd, c, n, off);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EMBER_ETRUNC;
        c += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

ssize_t io_pwrite(int fd, const void *p, size_t n, off_t off)
{
    int sw;
    int e = inject(IO_PWRITE, &sw);
    if (e && !(sw && n > 1))
        return -e;
    if (sw)
        n /= 2;
    ssize_t r;
    do {
        r = ops->pwrite(fd, p, n, off);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

int io_pwrite_full(int fd, const void *p, size_t n, off_t off)
{
    const char *c = p;
    while (n) {
        ssize_t r = io_pwrite(fd, c, n, off);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -EIO;
        c += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

int io_fsync(int fd)
{
    INJECT(IO_FSYNC);
    return ops->fsync(fd) < 0 ? -errno : 0;
}

int io_fdatasync(int fd)
{
    INJECT(IO_FSYNC);
    return ops->fdatasync(fd) < 0 ? -errno : 0;
}

int io_ftruncate(int fd, off_t len)
{
    INJECT(IO_FTRUNCATE);
    int r;
    do {
        r = ops->ftruncate(fd, len);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

int io_rename(const char *from, const char *to)
{
    INJECT(IO_RENAME);
    return ops->rename(from, to) < 0 ? -errno : 0;
}

int io_unlink(const char *path)
{
    INJECT(IO_UNLINK);
    return ops->unlink(path) < 0 ? -errno : 0;
}

int io_mkdir(const char *path, mode_t mode)
{
    INJECT(IO_MKDIR);
    if (ops->mkdir(path, mode) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int io_mkdir_p(const char *path, mode_t mode)
{
    char *p = xstrdup(path);
    int err = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        err = io_mkdir(p, mode);
        *s = '/';
        if (err)
            goto out;
    }
    err = io_mkdir(p, mode);
out:
    free(p);
    return err;
}

int io_fstat(int fd, struct stat *st)
{
    INJECT(IO_FSTAT);
    return ops->fstat(fd, st) < 0 ? -errno : 0;
}

int io_fsync_dir(const char *path)
{
    int fd = io_open(path, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return fd;
    int err = io_fsync(fd);
    io_close(fd);
    return err;
}

int io_lock(int fd)
{
    INJECT(IO_FLOCK);
    int r;
    do {
        r = ops->flock(fd, LOCK_EX | LOCK_NB);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int io_list(const char *path, const char *suffix, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    int e = inject(IO_OPENDIR, NULL);
    if (e)
        return -e;
    DIR *d = ops->opendir(path);
    if (!d)
        return -errno;
    size_t cap = 0, slen = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || len < slen || strcmp(de->d_name + len - slen, suffix))
            continue;
        *names = xgrow(*names, sizeof(char *), *n + 1, &cap);
        (*names)[(*n)++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(*names, *n, sizeof(char *), cmp_name);
    return 0;
}
