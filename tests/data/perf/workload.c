/* workload.c - a CPU burner with a known profile: work60/work30/work10 take 60/30/10 % of CPU */
/*
 * Build with clang -O1 -fno-omit-frame-pointer -mno-omit-leaf-frame-pointer -fno-inline so
 * each function keeps its own frame (see gen.sh). Every function runs the same loop body; only the iteration
 * counts differ (6:3:1), so their self CPU time splits 60/30/10. The rounds
 * interleave the three so that a short recording still sees the split.
 * The process renames itself "work load" (a comm with a space) so that
 * parsers meet that case in real perf output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>

static volatile unsigned long sink;

#define BURN(n)                                                                                    \
    do {                                                                                           \
        unsigned long acc_ = sink;                                                                 \
        for (unsigned long i_ = 0; i_ < (n); i_++) {                                               \
            acc_ = acc_ * 2862933555777941757UL + i_;                                              \
            __asm__ volatile("" : "+r"(acc_));                                                     \
        }                                                                                          \
        sink = acc_;                                                                               \
    } while (0)

__attribute__((noinline)) static void work60(unsigned long unit)
{
    BURN(6 * unit);
}

__attribute__((noinline)) static void work30(unsigned long unit)
{
    BURN(3 * unit);
}

__attribute__((noinline)) static void work10(unsigned long unit)
{
    BURN(unit);
}

__attribute__((noinline)) static void run_round(unsigned long unit)
{
    work60(unit);
    work30(unit);
    work10(unit);
}

int main(int argc, char **argv)
{
    unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 50;
    unsigned long unit = argc > 2 ? strtoul(argv[2], NULL, 10) : 200000;

    prctl(PR_SET_NAME, "work load", 0, 0, 0);
    for (unsigned long r = 0; r < rounds; r++)
        run_round(unit);
    printf("%lu\n", sink);
    return 0;
}
