/* alloc_known.c - known-truth allocation workload for libember.so: keep_objects() allocates and keeps
 * KEEP objects, churn_objects() allocates and frees CHURN objects (sizes fixed), through malloc,
 * calloc, realloc and posix_memalign; prints the truth as "fn objects bytes" lines */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEEP       16384
#define KEEP_SIZE  4096
#define CHURN      65536
#define CHURN_SIZE 2048

static void *kept[KEEP];
static volatile unsigned long sink;

__attribute__((noinline)) void keep_objects(void)
{
    for (int i = 0; i < KEEP; i++) {
        if (i % 2)
            kept[i] = malloc(KEEP_SIZE);
        else
            kept[i] = calloc(1, KEEP_SIZE);
        if (!kept[i])
            exit(1);
        ((char *)kept[i])[0] = (char)i;
    }
}

__attribute__((noinline)) void churn_objects(void)
{
    for (int i = 0; i < CHURN; i++) {
        void *p = NULL;
        if (i % 4 == 3) {
            if (posix_memalign(&p, 64, CHURN_SIZE))
                exit(1);
        } else {
            p = malloc(CHURN_SIZE);
        }
        if (!p)
            exit(1);
        memset(p, i, 16);
        sink += ((unsigned char *)p)[3];
        free(p);
    }
}

int main(void)
{
    keep_objects();
    churn_objects();
    printf("keep_objects %d %ld\n", KEEP, (long)KEEP * KEEP_SIZE);
    printf("churn_objects %d %ld\n", CHURN, (long)CHURN * CHURN_SIZE);
    fflush(stdout);
    /* the kept objects stay live until the final upload at exit */
    return 0;
}
