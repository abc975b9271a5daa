/* test_symbolize.c - pcs of functions in this binary resolve to their names and source lines */
#include <string.h>
#include <unistd.h>

#include "agent/symbolize.h"
#include "agent/unwind.h"
#include "base/err.h"
#include "test.h"

/* Static, so only .symtab names it (the test binary is not linked with -rdynamic). */
__attribute__((noinline)) static int symbolize_target_fn(int x)
{
    int r = x * 3 + 1;
    __asm__ volatile("" : "+r"(r));
    return r;
}

TEST(symbolize_static_function)
{
    struct symbolizer *s = NULL;
    ASSERT_OK(symbolizer_new(&s, 0));
    struct sym_info si;
    uint64_t pc = (uint64_t)(uintptr_t)&symbolize_target_fn;
    ASSERT_OK(symbolizer_lookup(s, pc + 1, &si));
    ASSERT_STREQ(si.name, "symbolize_target_fn");
    ASSERT_EQ(si.sym_start, pc);
    ASSERT(si.module != NULL);
    ASSERT(si.file != NULL);
    ASSERT(strstr(si.file, "test_symbolize.c") != NULL);
    ASSERT(si.line >= 10 && si.line <= 15);
    /* the second lookup is served from the cache and says the same */
    size_t cached = symbolizer_cache_size(s);
    ASSERT_OK(symbolizer_lookup(s, pc + 1, &si));
    ASSERT_EQ(symbolizer_cache_size(s), cached);
    ASSERT_STREQ(si.name, "symbolize_target_fn");
    ASSERT_EQ(symbolize_target_fn(1), 4);
    symbolizer_free(s);
}

TEST(symbolize_libc_and_unknown)
{
    struct symbolizer *s = NULL;
    ASSERT_OK(symbolizer_new(&s, 0));
    struct sym_info si;
    /* getpid: in libc and not intercepted by the sanitizers */
    ASSERT_OK(symbolizer_lookup(s, (uint64_t)(uintptr_t)&getpid, &si));
    ASSERT(si.name != NULL);
    ASSERT(strstr(si.name, "getpid") != NULL);
    ASSERT(si.module && strstr(si.module, "libc"));
    /* an address mapped by nothing */
    ASSERT_EQ(symbolizer_lookup(s, 0x10, &si), -EMBER_ENOTFOUND);
    ASSERT(si.name == NULL);
    ASSERT(si.module == NULL);
    symbolizer_free(s);
}

__attribute__((noinline)) static size_t unwind_inner(uint64_t *pcs, size_t max)
{
    size_t n = unwind_self(pcs, max);
    __asm__ volatile("" ::: "memory");
    return n;
}

__attribute__((noinline)) static size_t unwind_outer(uint64_t *pcs, size_t max)
{
    size_t n = unwind_inner(pcs, max);
    __asm__ volatile("" ::: "memory");
    return n;
}

TEST(unwind_self_names_callers)
{
    uint64_t pcs[64];
    size_t n = unwind_outer(pcs, 64);
    ASSERT(n >= 3);
    struct symbolizer *s = NULL;
    ASSERT_OK(symbolizer_new(&s, 0));
    struct sym_info si;
    ASSERT_OK(symbolizer_lookup(s, pcs[0], &si));
    ASSERT_STREQ(si.name, "unwind_inner");
    ASSERT_OK(symbolizer_lookup(s, pcs[1], &si));
    ASSERT_STREQ(si.name, "unwind_outer");
    ASSERT_OK(symbolizer_lookup(s, pcs[2], &si));
    ASSERT_STREQ(si.name, "test_unwind_self_names_callers");
    /* a bounded walk writes no more than asked */
    ASSERT_EQ(unwind_outer(pcs, 2), 2);
    symbolizer_free(s);
}

TEST(unwind_readable_probe)
{
    int x = 1;
    ASSERT(unwind_readable((uintptr_t)&x, sizeof(x)));
    ASSERT(!unwind_readable(0, 8));
    ASSERT(!unwind_readable(8, 8));
    ASSERT(!unwind_readable(UINTPTR_MAX - 3, 8));
}
