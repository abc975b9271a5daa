/* dwarf_unwind.c - libdwfl unwinding over a stack snapshot: one Dwfl per process, state from the
 * sample */
#include "agent/dwarf_unwind.h"

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hmap.h"
#include "base/log.h"
#include "base/xalloc.h"

/* Sessions kept at once; the least recently created is dropped past this. */
#define DU_MAX_SESSIONS 256

/* The sample being unwound (the Dwfl callbacks read it through their arg). */
struct du_sample {
    uint32_t tid;
    const struct dwarf_regs *regs;
    const unsigned char *stack;
    size_t len;
};

struct du_session {
    uint32_t pid;
    Dwfl *dwfl;
    int attached;
    struct du_sample cur;
};

struct dwarf_unwinder {
    struct hmap by_pid; /* pid -> index in sessions */
    VEC(struct du_session *) sessions;
};

struct du_walk {
    uint64_t *pcs;
    size_t n, max;
};

static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

static pid_t cb_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
    (void)dwfl;
    struct du_session *s = arg;
    if (*thread_argp)
        return 0;
    *thread_argp = s;
    return (pid_t)s->cur.tid;
}

static bool cb_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
    (void)dwfl;
    (void)tid;
    *thread_argp = arg;
    return true;
}

static bool cb_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
    (void)dwfl;
    struct du_session *s = arg;
    uint64_t base = s->cur.regs->stack_base;
    if (addr < base || addr - base + sizeof(Dwarf_Word) > s->cur.len)
        return false;
    memcpy(result, s->cur.stack + (addr - base), sizeof(*result));
    return true;
}

static bool cb_set_initial_registers(Dwfl_Thread *thread, void *arg)
{
    struct du_session *s = arg;
    /* DWARF register numbers on x86-64: 6 = rbp, 7 = rsp */
    Dwarf_Word regs[2] = {s->cur.regs->bp, s->cur.regs->sp};
    if (!dwfl_thread_state_registers(thread, 6, 2, regs))
        return false;
    dwfl_thread_state_register_pc(thread, s->cur.regs->ip);
    return true;
}

static const Dwfl_Thread_Callbacks thread_callbacks = {
    .next_thread = cb_next_thread,
    .get_thread = cb_get_thread,
    .memory_read = cb_memory_read,
    .set_initial_registers = cb_set_initial_registers,
};

static int on_frame(Dwfl_Frame *state, void *arg)
{
    struct du_walk *w = arg;
    Dwarf_Addr pc;
    bool activation = false;
    if (!dwfl_frame_pc(state, &pc, &activation))
        return DWARF_CB_ABORT;
    if (w->n >= w->max)
        return DWARF_CB_ABORT;
    w->pcs[w->n++] = pc; /* return addresses as they are: the caller subtracts 1 */
    return DWARF_CB_OK;
}

struct dwarf_unwinder *dwarf_unwinder_new(void)
{
    struct dwarf_unwinder *u = xcalloc(1, sizeof(*u));
    hmap_init(&u->by_pid);
    return u;
}

static void session_free(struct du_session *s)
{
    if (!s)
        return;
    if (s->dwfl)
        dwfl_end(s->dwfl);
    free(s);
}

static void reindex(struct dwarf_unwinder *u)
{
    hmap_clear(&u->by_pid);
    for (size_t i = 0; i < u->sessions.len; i++) {
        int created;
        *hmap_put(&u->by_pid, u->sessions.data[i]->pid, &created) = i;
    }
}

void dwarf_unwinder_forget(struct dwarf_unwinder *u, uint32_t pid)
{
    uint64_t *slot = hmap_get(&u->by_pid, pid);
    if (!slot)
        return;
    size_t i = (size_t)*slot;
    session_free(u->sessions.data[i]);
    memmove(u->sessions.data + i, u->sessions.data + i + 1,
            (u->sessions.len - i - 1) * sizeof(*u->sessions.data));
    u->sessions.len--;
    reindex(u);
}

static struct du_session *session_get(struct dwarf_unwinder *u, uint32_t pid)
{
    uint64_t *slot = hmap_get(&u->by_pid, pid);
    if (slot)
        return u->sessions.data[*slot];
    if (u->sessions.len >= DU_MAX_SESSIONS)
        dwarf_unwinder_forget(u, u->sessions.data[0]->pid);
    struct du_session *s = xcalloc(1, sizeof(*s));
    s->pid = pid;
    s->dwfl = dwfl_begin(&proc_callbacks);
    if (s->dwfl) {
        dwfl_report_begin(s->dwfl);
        int r = dwfl_linux_proc_report(s->dwfl, (pid_t)pid);
        dwfl_report_end(s->dwfl, NULL, NULL);
        if (r == 0 && dwfl_attach_state(s->dwfl, NULL, (pid_t)pid, &thread_callbacks, s))
            s->attached = 1;
        else
            log_debug("dwarf unwind: cannot prepare pid %u: %s", pid, dwfl_errmsg(-1));
    }
    int created;
    *hmap_put(&u->by_pid, pid, &created) = u->sessions.len;
    VEC_PUSH(u->sessions, s);
    return s;
}

size_t dwarf_unwind(struct dwarf_unwinder *u, uint32_t pid, uint32_t tid,
                    const struct dwarf_regs *regs, const void *stack, size_t len, uint64_t *pcs,
                    size_t max, int *complete)
{
    *complete = 0;
    if (max == 0)
        return 0;
    struct du_session *s = session_get(u, pid);
    if (!s->attached) {
        pcs[0] = regs->ip;
        return 1;
    }
    s->cur = (struct du_sample){tid, regs, stack, len};
    struct du_walk w = {pcs, 0, max};
    int r = dwfl_getthread_frames(s->dwfl, (pid_t)tid, on_frame, &w);
    /* 0 = the walk reached a frame whose CFI marks the return address undefined (_start) */
    *complete = r == 0;
    if (w.n == 0) {
        pcs[0] = regs->ip;
        w.n = 1;
    }
    return w.n;
}

void dwarf_unwinder_free(struct dwarf_unwinder *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->sessions.len; i++)
        session_free(u->sessions.data[i]);
    free(u->sessions.data);
    hmap_release(&u->by_pid);
    free(u);
}
