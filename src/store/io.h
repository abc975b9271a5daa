/* io.h - the store's system-call layer: every file operation of src/store goes through here */
#ifndef EMBER_STORE_IO_H
#define EMBER_STORE_IO_H

#include <dirent.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/*
 * The store never calls open(2), pwrite(2), fsync(2)... directly: it calls
 * the io_*() wrappers below, which go through a replaceable table of
 * functions (like sqlite's VFS) and through a fault injector that tests
 * arm to fail the Nth call of some operations with EIO, ENOSPC or a short
 * write (like sqlite's test_syscall.c).
 *
 * Every wrapper returns a negative errno on failure (never -1 + errno), and
 * retries EINTR itself.
 */

/* Operation classes, for fault masks and call counters. */
enum io_op {
    IO_OPEN,
    IO_CLOSE,
    IO_PREAD,
    IO_PWRITE,
    IO_FSYNC, /* fsync and fdatasync, of files and directories */
    IO_FTRUNCATE,
    IO_RENAME,
    IO_UNLINK,
    IO_MKDIR,
    IO_FSTAT,
    IO_OPENDIR, /* opendir; readdir/closedir are not failed */
    IO_FLOCK,
    IO_OP_MAX
};

#define IO_MASK(op) (1u << (op))
#define IO_MASK_ALL ((1u << IO_OP_MAX) - 1)

/* The system calls themselves; return -1 and set errno on failure, like libc. */
struct io_ops {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *p, size_t n, off_t off);
    ssize_t (*pwrite)(int fd, const void *p, size_t n, off_t off);
    int (*fsync)(int fd);
    int (*fdatasync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*fstat)(int fd, struct stat *st);
    DIR *(*opendir)(const char *path);
    int (*flock)(int fd, int op);
};

/* Replaces the table (NULL restores libc's). Not thread-safe: call before opening a store. */
void io_set_ops(const struct io_ops *ops);
/* The table in use (borrowed), e.g. to copy it and replace one function. */
const struct io_ops *io_get_ops(void);

/*
 * A fault plan: the nth call (1-based, counted from io_fault_set()) among
 * the operations in mask fails with err (a positive errno such as EIO or
 * ENOSPC). With persist, every later matching call fails too. With
 * short_write, a failing pwrite first writes half its bytes and returns
 * that count (the caller's retry of the rest then fails with err if
 * persist is set).
 */
struct io_fault {
    unsigned mask;
    unsigned long nth;
    int err;
    int persist;
    int short_write;
};

/* Arms a fault plan (replacing any previous one). Thread-safe. */
void io_fault_set(const struct io_fault *f);
/* Disarms fault injection. */
void io_fault_clear(void);
/* Number of faults injected since the last io_fault_set(). */
unsigned long io_fault_hits(void);
/* Number of calls of op made so far by this process (for "fail each call in turn" loops). */
unsigned long io_calls(enum io_op op);

/* Returns a file descriptor (O_CLOEXEC is added) or -errno. */
int io_open(const char *path, int flags, mode_t mode);
/* Closes fd (ignores fd < 0). Returns 0 or -errno (fd is closed either way). */
int io_close(int fd);
/* Reads up to n bytes at off. Returns the count (0 at EOF) or -errno. */
ssize_t io_pread(int fd, void *p, size_t n, off_t off);
/* Reads exactly n bytes at off. Returns 0, -EMBER_ETRUNC at early EOF, or -errno. */
int io_pread_full(int fd, void *p, size_t n, off_t off);
/* Writes up to n bytes at off. Returns the count written or -errno. */
ssize_t io_pwrite(int fd, const void *p, size_t n, off_t off);
/* Writes all n bytes at off, retrying short writes. Returns 0 or -errno (some bytes may be
 * written). */
int io_pwrite_full(int fd, const void *p, size_t n, off_t off);
int io_fsync(int fd);
int io_fdatasync(int fd);
int io_ftruncate(int fd, off_t len);
int io_rename(const char *from, const char *to);
int io_unlink(const char *path);
/* Creates path; an existing directory is not an error. Returns 0 or -errno. */
int io_mkdir(const char *path, mode_t mode);
/* Creates path and its missing parents (like mkdir -p). Returns 0 or -errno. */
int io_mkdir_p(const char *path, mode_t mode);
int io_fstat(int fd, struct stat *st);
/* Fsyncs the directory path (makes created, renamed or removed entries durable). */
int io_fsync_dir(const char *path);
/* Takes an exclusive, non-blocking flock; returns 0, -EWOULDBLOCK if held elsewhere, or -errno. */
int io_lock(int fd);

/*
 * Lists the names in directory path that end in suffix, sorted
 * (strcmp). On success returns 0 and sets *names (owned; free each and the
 * array) and *n. Returns -errno if the directory cannot be read.
 */
int io_list(const char *path, const char *suffix, char ***names, size_t *n);

#endif
