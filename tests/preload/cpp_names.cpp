// cpp_names.cpp - C++ workload for libember.so's demangling: CPU burnt in a class template's member
// and a namespaced overload, allocations through operator new
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

namespace ember_cpp {

static volatile unsigned long sink;

static double cpu_now()
{
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

template <typename T> struct Worker {
    __attribute__((noinline)) void burn(T seconds)
    {
        double end = cpu_now() + (double)seconds;
        unsigned long x = sink;
        while (cpu_now() < end)
            for (int i = 0; i < 20000; i++)
                x = x * 6364136223846793005ul + 1442695040888963407ul;
        sink = x;
    }
};

__attribute__((noinline)) std::vector<int> *make_vectors(int n)
{
    std::vector<int> *keep = nullptr;
    for (int i = 0; i < n; i++) {
        delete keep;
        keep = new std::vector<int>(4096, i);
    }
    return keep;
}

} // namespace ember_cpp

int main(int argc, char **argv)
{
    double s = argc > 1 ? atof(argv[1]) : 1.0;
    ember_cpp::Worker<double> w;
    w.burn(s);
    delete ember_cpp::make_vectors(4000);
    printf("done 0 0\n");
    return 0;
}
