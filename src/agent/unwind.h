/* unwind.h - async-signal-safe stack unwinding from a signal context (frame pointers for now) */
#ifndef EMBER_AGENT_UNWIND_H
#define EMBER_AGENT_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* The registers an unwind starts from. */
struct unwind_regs {
    uintptr_t pc; /* instruction pointer of the interrupted code */
    uintptr_t fp; /* frame pointer (RBP on x86-64, X29 on arm64) */
    uintptr_t sp; /* stack pointer */
};

/*
 * Fills regs from a ucontext_t (the third argument of an SA_SIGINFO
 * handler). Returns 0, or -1 on an architecture we cannot unwind (then only
 * nothing is known).
 */
int unwind_regs_from_ucontext(const void *uctx, struct unwind_regs *regs);

/*
 * Walks the frame-pointer chain from regs and writes up to max program
 * counters into pcs, leaf first: pcs[0] is regs->pc, each later entry is a
 * return address minus one (so it falls inside the calling instruction,
 * which is what symbolizers want). Returns the number written (0 if max is
 * 0). Async-signal-safe: no allocation, no locks; every frame is checked
 * before it is read (8-byte aligned, above the previous one, within 8 MiB
 * of the stack pointer, and on a readable page, probed with a system call
 * that reads memory without faulting), so a garbage frame pointer (code
 * built without frame pointers, like most of libc) ends the walk early
 * rather than crashing.
 */
size_t unwind_fp(const struct unwind_regs *regs, uint64_t *pcs, size_t max);

/*
 * Unwinds the calling thread itself (for tests and for sampling without a
 * signal). Same contract as unwind_fp(); pcs[0] is a return address inside
 * the caller of unwind_self().
 */
size_t unwind_self(uint64_t *pcs, size_t max);

/* Async-signal-safe: 1 if the n bytes at addr can be read now, else 0. */
int unwind_readable(uintptr_t addr, size_t n);

#endif
