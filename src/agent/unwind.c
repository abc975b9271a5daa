/* unwind.c - frame-pointer stack walking that is safe inside a signal handler */
#include "agent/unwind.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* A frame is at most this far above the stack pointer (the default thread stack size). */
#define UNWIND_STACK_SPAN (8u << 20)
#define UNWIND_PAGE       4096u

/*
 * Frame records are read with plain loads after the page was probed, so
 * AddressSanitizer must not instrument them: a saved frame pointer may sit
 * next to a redzone of a caller's locals.
 */
#if defined(__clang__) || defined(__GNUC__)
#    define NO_SANITIZE __attribute__((no_sanitize_address, no_sanitize("undefined")))
#else
#    define NO_SANITIZE
#endif

int unwind_regs_from_ucontext(const void *uctx, struct unwind_regs *regs)
{
    const ucontext_t *uc = uctx;
#if defined(__x86_64__)
    regs->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    regs->fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    regs->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    return 0;
#elif defined(__aarch64__)
    regs->pc = (uintptr_t)uc->uc_mcontext.pc;
    regs->fp = (uintptr_t)uc->uc_mcontext.regs[29];
    regs->sp = (uintptr_t)uc->uc_mcontext.sp;
    return 0;
#else
    (void)uc;
    regs->pc = regs->fp = regs->sp = 0;
    return -1;
#endif
}

/*
 * The kernel copies the new signal mask from user memory before it looks
 * at `how`, so an invalid `how` turns rt_sigprocmask into a harmless probe:
 * EFAULT means unreadable, EINVAL means readable, and the mask is never
 * changed. Unlike process_vm_readv it is allowed under every seccomp policy.
 */
static int page_readable(uintptr_t page)
{
    int saved = errno;
    long r = syscall(SYS_rt_sigprocmask, ~0, (void *)page, (void *)0, (size_t)8);
    int ok = r < 0 && errno == EINVAL;
    errno = saved;
    return ok;
}

int unwind_readable(uintptr_t addr, size_t n)
{
    if (n == 0)
        return 1;
    if (addr + n < addr)
        return 0;
    uintptr_t first = addr & ~(uintptr_t)(UNWIND_PAGE - 1);
    uintptr_t last = (addr + n - 1) & ~(uintptr_t)(UNWIND_PAGE - 1);
    for (uintptr_t p = first;; p += UNWIND_PAGE) {
        if (!page_readable(p))
            return 0;
        if (p == last)
            break;
    }
    return 1;
}

/* Collects return addresses (minus one) from the chain starting at fp; fp must be >= sp. */
NO_SANITIZE static size_t walk(uintptr_t fp, uintptr_t sp, uint64_t *pcs, size_t max)
{
    size_t n = 0;
    uintptr_t ok_page = 0; /* the last page found readable (0 = none) */
    uintptr_t prev = sp;
    while (n < max) {
        if (fp < prev || fp - sp >= UNWIND_STACK_SPAN || (fp & (sizeof(uintptr_t) - 1)))
            break;
        uintptr_t p0 = fp & ~(uintptr_t)(UNWIND_PAGE - 1);
        uintptr_t p1 = (fp + 2 * sizeof(uintptr_t) - 1) & ~(uintptr_t)(UNWIND_PAGE - 1);
        if (p0 != ok_page && !page_readable(p0))
            break;
        if (p1 != p0 && !page_readable(p1))
            break;
        ok_page = p1;
        const uintptr_t *rec = (const uintptr_t *)fp;
        uintptr_t next = rec[0], ret = rec[1];
        if (ret < UNWIND_PAGE)
            break; /* the outermost frame (or garbage) */
        pcs[n++] = (uint64_t)(ret - 1);
        if (next <= fp)
            break;
        prev = fp + 2 * sizeof(uintptr_t);
        fp = next;
    }
    return n;
}

/*
 * Code that keeps no frame (a leaf GCC compiled without a frame despite
 * -mno-omit-leaf-frame-pointer, or any function in its prologue or
 * epilogue) leaves the frame pointer at its caller's frame, so the walk
 * would skip the caller. Its return address then sits at the top of the
 * stack: take the word at sp when the instruction before it is a call, and
 * for a direct call, one whose target is at most 1 MiB below pc (the start
 * of the interrupted function). Returns the return address, or 0.
 */
NO_SANITIZE static uintptr_t frameless_return(const struct unwind_regs *regs)
{
#if defined(__x86_64__)
    uintptr_t sp = regs->sp;
    if ((sp & 7) || !unwind_readable(sp, sizeof(uintptr_t)))
        return 0;
    uintptr_t ret = *(const uintptr_t *)sp;
    if (ret < UNWIND_PAGE || ret - 7 > ret || !unwind_readable(ret - 7, 7))
        return 0;
    const unsigned char *c = (const unsigned char *)ret;
    if (c[-5] == 0xe8) { /* call rel32 */
        int32_t rel;
        __builtin_memcpy(&rel, c - 4, sizeof(rel));
        uintptr_t target = ret + (uintptr_t)(intptr_t)rel;
        return target <= regs->pc && regs->pc - target < (1u << 20) ? ret : 0;
    }
    /* call *r/m: FF /2 with modrm reg field 2, ending right before ret */
    if (c[-2] == 0xff && (c[-1] & 0xf8) == 0xd0) /* call *%reg */
        return ret;
    if (c[-3] == 0xff && (c[-2] & 0xf8) == 0x50) /* call *disp8(%reg) */
        return ret;
    if (c[-6] == 0xff && ((c[-5] & 0xf8) == 0x90 || c[-5] == 0x15)) /* disp32(%reg), (%rip) */
        return ret;
    return 0;
#else
    (void)regs;
    return 0;
#endif
}

size_t unwind_fp(const struct unwind_regs *regs, uint64_t *pcs, size_t max)
{
    if (max == 0)
        return 0;
    size_t n = 0;
    pcs[n++] = regs->pc;
    if (regs->sp == 0)
        return n;
    uintptr_t leaf_ret = frameless_return(regs);
    if (leaf_ret && n < max)
        pcs[n++] = (uint64_t)(leaf_ret - 1);
    size_t m = walk(regs->fp, regs->sp, pcs + n, max - n);
    /* the caller found at sp is also the first frame of the chain when pc was in an epilogue */
    if (leaf_ret && m > 0 && pcs[n] == pcs[n - 1]) {
        for (size_t i = 0; i + 1 < m; i++)
            pcs[n + i] = pcs[n + i + 1];
        m--;
    }
    return n + m;
}

__attribute__((noinline)) size_t unwind_self(uint64_t *pcs, size_t max)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    return walk(fp, fp, pcs, max);
}
