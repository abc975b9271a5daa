/* rust_names.c - a C program (no C++ runtime) whose functions carry a Rust legacy mangled name and a
 * C++ mangled name, for libember.so's own demangler */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

__attribute__((always_inline)) static inline void spin(double s)
{
    double end = cpu_now() + s;
    unsigned long x = sink;
    while (cpu_now() < end)
        for (int i = 0; i < 20000; i++)
            x = x * 6364136223846793005ul + 1442695040888963407ul;
    sink = x;
}

/* Rust: ember_rust::worker::spin<u8>, ember_rust::Point as core::fmt::Debug>::fmt-like escapes */
__attribute__((noinline)) void rust_spin(double s) __asm__("_ZN10ember_rust6worker14spin$LT$u8$GT$17h0123456789abcdefE");
__attribute__((noinline)) void rust_spin(double s)
{
    spin(s);
}

/* C++: ember_cpp::nolib::burn(double) */
__attribute__((noinline)) void cpp_burn(double s) __asm__("_ZN9ember_cpp5nolib4burnEd");
__attribute__((noinline)) void cpp_burn(double s)
{
    spin(s);
}

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 1.0;
    rust_spin(s / 2);
    cpp_burn(s / 2);
    printf("done 0 0\n");
    return 0;
}
