/* stress.c - libember.so stress: threads created and destroyed in waves, each malloc/realloc/free-heavy
 * and fighting over a mutex, while the main thread forks children that allocate and exec /bin/true */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long shared_count;

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg;
    void *keep[64] = {0};
    for (int i = 0; i < 20000; i++) {
        int k = (int)(rand_r(&seed) % 64);
        size_t n = 1 + rand_r(&seed) % 8192;
        if (keep[k] && (i & 1))
            keep[k] = realloc(keep[k], n);
        else {
            free(keep[k]);
            keep[k] = (i & 2) ? malloc(n) : calloc(1, n);
        }
        if (!keep[k])
            abort();
        memset(keep[k], 1, n < 64 ? n : 64);
        if (i % 16 == 0) {
            pthread_mutex_lock(&mu);
            shared_count++;
            pthread_mutex_unlock(&mu);
        }
    }
    for (int k = 0; k < 64; k++)
        free(keep[k]);
    if (seed & 1)
        pthread_exit(NULL);
    return NULL;
}

int main(void)
{
    for (int wave = 0; wave < 8; wave++) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++)
            if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(wave * 4 + i + 1)))
                abort();
        pid_t pid = fork();
        if (pid == 0) {
            char *p = malloc(100000);
            memset(p, 0, 100000);
            free(p);
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
            abort();
        for (int i = 0; i < 4; i++)
            pthread_join(t[i], NULL);
    }
    printf("count %lu %d\n", shared_count, 8 * 4 * 1250);
    return shared_count == 8 * 4 * 1250 ? 0 : 1;
}
