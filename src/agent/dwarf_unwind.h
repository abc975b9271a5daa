/* dwarf_unwind.h - user-space DWARF CFI unwinding of a copied user stack (libdwfl,
 * .eh_frame/.debug_frame) */
#ifndef EMBER_AGENT_DWARF_UNWIND_H
#define EMBER_AGENT_DWARF_UNWIND_H

#include <stddef.h>
#include <stdint.h>

/* The registers and stack bytes of one sample of thread tid of process pid. */
struct dwarf_regs {
    uint64_t ip, sp, bp;
    uint64_t stack_base; /* user address of the first byte of the stack copy (<= sp) */
};

struct dwarf_unwinder;

/* Returns a new unwinder (one libdwfl session per process, created on first use). */
struct dwarf_unwinder *dwarf_unwinder_new(void);

/*
 * Unwinds from regs through the stack bytes copied from regs->stack_base (stack,
 * len bytes; reads outside the copy fail, so a stale stack cannot mislead
 * the walk) with the CFI of the modules mapped in pid (.eh_frame, or
 * .debug_frame from separate debug files). Writes up to max pcs leaf first
 * ([0] = ip, later ones return addresses) and returns their number (at
 * least 1); *complete is set when the walk ended at the outermost frame
 * (no CFI says "undefined return address") rather than failing.
 */
size_t dwarf_unwind(struct dwarf_unwinder *u, uint32_t pid, uint32_t tid,
                    const struct dwarf_regs *regs, const void *stack, size_t len, uint64_t *pcs,
                    size_t max, int *complete);

/* Forgets the session of pid (call when it exits or execs); cheap if none. */
void dwarf_unwinder_forget(struct dwarf_unwinder *u, uint32_t pid);

void dwarf_unwinder_free(struct dwarf_unwinder *u);

#endif
