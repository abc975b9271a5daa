/* dwarf_unwind.c - x86-64 CFI unwinding over a copied user stack, with the CFI of shared files */
#include "agent/dwarf_unwind.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "agent/host_syms.h"
#include "base/xalloc.h"

/* DWARF register numbers on x86-64: 0..15 general purpose, 16 the return address. */
#define NREGS   17
#define REG_RBP 6
#define REG_RSP 7
#define REG_RA  16
/* Registers whose caller values we recover: callee-saved ones and the return address. */
static const int tracked[] = {3, REG_RBP, 12, 13, 14, 15, REG_RA};

struct dwarf_unwinder {
    uint64_t frames, cfi_misses;
};

/* One frame's register state and the stack snapshot its memory reads come from. */
struct du_state {
    uint64_t r[NREGS];
    uint32_t known; /* bit per register */
    const unsigned char *stack;
    uint64_t base;
    size_t len;
};

static int read_word(const struct du_state *st, uint64_t addr, uint64_t *out)
{
    if (addr < st->base || addr - st->base > st->len || st->len - (addr - st->base) < 8)
        return -1;
    memcpy(out, st->stack + (addr - st->base), 8);
    return 0;
}

/*
 * Evaluates a CFI DWARF expression (the operations compilers and the PLT
 * emit: register+offset, the CFA, constants, arithmetic, dereference).
 * Sets *value and *is_value (1 when the expression ends in
 * DW_OP_stack_value). Returns 0, or -1 when an operation or register is
 * not available.
 */
static int eval(const struct du_state *st, const Dwarf_Op *ops, size_t nops, uint64_t cfa,
                int have_cfa, uint64_t *value, int *is_value)
{
    uint64_t s[16];
    size_t sp = 0;
    *is_value = 0;
    for (size_t i = 0; i < nops; i++) {
        uint8_t op = ops[i].atom;
        if (sp >= 15)
            return -1;
        if (op >= DW_OP_breg0 && op <= DW_OP_breg16) {
            int reg = op - DW_OP_breg0;
            if (!(st->known & (1u << reg)))
                return -1;
            s[sp++] = st->r[reg] + ops[i].number;
        } else if (op == DW_OP_bregx) {
            if (ops[i].number >= NREGS || !(st->known & (1u << ops[i].number)))
                return -1;
            s[sp++] = st->r[ops[i].number] + ops[i].number2;
        } else if ((op >= DW_OP_reg0 && op <= DW_OP_reg16) || op == DW_OP_regx) {
            /* the value is in a register (a location, not an address) */
            uint64_t reg = op == DW_OP_regx ? ops[i].number : (uint64_t)(op - DW_OP_reg0);
            if (reg >= NREGS || !(st->known & (1u << reg)))
                return -1;
            s[sp++] = st->r[reg];
            *is_value = 1;
            break;
        } else if (op >= DW_OP_lit0 && op <= DW_OP_lit31) {
            s[sp++] = (uint64_t)(op - DW_OP_lit0);
        } else if (op == DW_OP_call_frame_cfa) {
            if (!have_cfa)
                return -1;
            s[sp++] = cfa;
        } else if (op == DW_OP_const1u || op == DW_OP_const2u || op == DW_OP_const4u ||
                   op == DW_OP_const8u || op == DW_OP_const1s || op == DW_OP_const2s ||
                   op == DW_OP_const4s || op == DW_OP_const8s || op == DW_OP_constu ||
                   op == DW_OP_consts) {
            s[sp++] = ops[i].number;
        } else if (op == DW_OP_plus_uconst) {
            if (!sp)
                return -1;
            s[sp - 1] += ops[i].number;
        } else if (op == DW_OP_deref) {
            if (!sp || read_word(st, s[sp - 1], &s[sp - 1]))
                return -1;
        } else if (op == DW_OP_stack_value) {
            *is_value = 1;
            break;
        } else if (op == DW_OP_plus || op == DW_OP_minus || op == DW_OP_and || op == DW_OP_or ||
                   op == DW_OP_shl || op == DW_OP_shr || op == DW_OP_ge || op == DW_OP_gt ||
                   op == DW_OP_lt || op == DW_OP_le || op == DW_OP_eq || op == DW_OP_ne ||
                   op == DW_OP_mul) {
            if (sp < 2)
                return -1;
            uint64_t b = s[--sp], a = s[sp - 1], v;
            switch (op) {
            case DW_OP_plus:
                v = a + b;
                break;
            case DW_OP_minus:
                v = a - b;
                break;
            case DW_OP_and:
                v = a & b;
                break;
            case DW_OP_or:
                v = a | b;
                break;
            case DW_OP_shl:
                v = b < 64 ? a << b : 0;
                break;
            case DW_OP_shr:
                v = b < 64 ? a >> b : 0;
                break;
            case DW_OP_mul:
                v = a * b;
                break;
            case DW_OP_ge:
                v = (int64_t)a >= (int64_t)b;
                break;
            case DW_OP_gt:
                v = (int64_t)a > (int64_t)b;
                break;
            case DW_OP_lt:
                v = (int64_t)a < (int64_t)b;
                break;
            case DW_OP_le:
                v = (int64_t)a <= (int64_t)b;
                break;
            case DW_OP_eq:
                v = a == b;
                break;
            default:
                v = a != b;
                break;
            }
            s[sp - 1] = v;
        } else {
            return -1;
        }
    }
    if (!sp)
        return -1;
    *value = s[sp - 1];
    return 0;
}

struct dwarf_unwinder *dwarf_unwinder_new(void)
{
    return xcalloc(1, sizeof(struct dwarf_unwinder));
}

/*
 * One step: from the state of the frame executing at pc (lookup = pc, or
 * pc - 1 for return addresses) to its caller's. Returns 1 when the caller
 * is known (st updated), 0 at the outermost frame (return address
 * undefined), -1 when the walk cannot go on.
 */
static int step(struct host_syms *h, struct hsym_proc *p, uint64_t lookup, struct du_state *st)
{
    Dwarf_CFI *cfi;
    uint64_t delta;
    if (hsym_cfi(h, p, lookup, &cfi, &delta))
        return -1;
    Dwarf_Frame *fr = NULL;
    if (dwarf_cfi_addrframe(cfi, lookup - delta, &fr) || !fr)
        return -1;
    int rc = -1;
    Dwarf_Op *ops = NULL;
    size_t nops = 0;
    uint64_t cfa;
    int is_value;
    if (dwarf_frame_cfa(fr, &ops, &nops) || !nops || eval(st, ops, nops, 0, 0, &cfa, &is_value))
        goto out;
    struct du_state next = *st;
    for (size_t i = 0; i < sizeof(tracked) / sizeof(tracked[0]); i++) {
        int reg = tracked[i];
        Dwarf_Op mem[3];
        if (dwarf_frame_register(fr, reg, mem, &ops, &nops))
            goto out;
        if (nops == 0 && ops == mem) { /* undefined */
            if (reg == REG_RA) {
                rc = 0;
                goto out;
            }
            next.known &= ~(1u << reg);
            continue;
        }
        if (nops == 0) /* same value */
            continue;
        uint64_t v;
        if (eval(st, ops, nops, cfa, 1, &v, &is_value) || (!is_value && read_word(st, v, &v))) {
            if (reg == REG_RA)
                goto out;
            next.known &= ~(1u << reg);
            continue;
        }
        next.r[reg] = v;
        next.known |= 1u << reg;
    }
    if (!(next.known & (1u << REG_RA)) || cfa <= st->r[REG_RSP])
        goto out; /* no return address, or no progress up the stack */
    next.r[REG_RSP] = cfa;
    next.known |= 1u << REG_RSP;
    *st = next;
    rc = 1;
out:
    free(fr);
    return rc;
}

size_t dwarf_unwind(struct dwarf_unwinder *u, struct host_syms *h, struct hsym_proc *p,
                    const struct dwarf_regs *regs, const void *stack, size_t len, uint64_t *pcs,
                    size_t max, int *complete)
{
    *complete = 0;
    if (max == 0)
        return 0;
    struct du_state st = {.stack = stack, .base = regs->stack_base, .len = len};
    st.r[REG_RSP] = regs->sp;
    st.r[REG_RBP] = regs->bp;
    st.r[REG_RA] = regs->ip; /* the PLT's CFA expression reads the pc (DW_OP_breg16) */
    st.known = 1u << REG_RSP | 1u << REG_RBP | 1u << REG_RA;
    uint64_t pc = regs->ip;
    size_t n = 0;
    pcs[n++] = pc;
    while (n < max) {
        int r = step(h, p, n == 1 ? pc : pc - 1, &st);
        u->frames++;
        if (r == 0)
            *complete = 1;
        if (r <= 0) {
            u->cfi_misses += r < 0;
            break;
        }
        pc = st.r[REG_RA];
        if (pc == 0) /* some runtimes end their thread stacks with a zero return address */
            break;
        pcs[n++] = pc; /* return addresses as they are: the caller subtracts 1 */
    }
    return n;
}

void dwarf_unwinder_free(struct dwarf_unwinder *u)
{
    free(u);
}
