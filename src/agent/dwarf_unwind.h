/* dwarf_unwind.h - x86-64 CFI unwinding of a copied user stack (.eh_frame/.debug_frame of the
 * mapped files, shared across processes through host_syms) */
#ifndef EMBER_AGENT_DWARF_UNWIND_H
#define EMBER_AGENT_DWARF_UNWIND_H

#include <stddef.h>
#include <stdint.h>

struct host_syms;
struct hsym_proc;

/* The registers and stack bytes of one sample. */
struct dwarf_regs {
    uint64_t ip, sp, bp;
    uint64_t stack_base; /* user address of the first byte of the stack copy (<= sp) */
};

struct dwarf_unwinder;

/* Returns a new unwinder (aborts on OOM). */
struct dwarf_unwinder *dwarf_unwinder_new(void);

/*
 * Unwinds from regs through the stack bytes copied from regs->stack_base
 * (stack, len bytes; reads outside the copy fail, so a stale stack cannot
 * mislead the walk) with the CFI of the files mapped in process p (each
 * file's CFI is read once for every process, by h). Writes up to max pcs
 * leaf first ([0] = ip, later ones return addresses) and returns their
 * number (at least 1); *complete is set when the walk ended at the
 * outermost frame (CFI says "return address undefined", as in _start and
 * thread entry points) rather than failing.
 */
size_t dwarf_unwind(struct dwarf_unwinder *u, struct host_syms *h, struct hsym_proc *p,
                    const struct dwarf_regs *regs, const void *stack, size_t len, uint64_t *pcs,
                    size_t max, int *complete);

void dwarf_unwinder_free(struct dwarf_unwinder *u);

#endif
