/* ingest.c - benchmark driver: posts real pprof files to an Ember server over keep-alive
 * connections (libcurl multi) and reports profiles/s.
 *
 *   ingest URL SECONDS PARALLEL FROM_START FROM_STEP NAME FILE...
 *
 * Posts FILE bodies round-robin as POST URL/ingest?name=NAME&format=pprof&from=T with
 * T = FROM_START + i*FROM_STEP for the i-th request (unix seconds), keeping PARALLEL
 * requests in flight. SECONDS > 0: run that long; SECONDS = 0: post each file once, in order.
 * Prints "requests N ok N failed N bytes N seconds S" and per-file counts "file I N". Exit 1
 * on a setup error or if any request failed. */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct file {
    char *data;
    size_t len;
    uint64_t posted;
};

struct slot {
    CURL *h;
    struct curl_slist *hdrs;
    size_t file;
    char url[1024];
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_file(const char *path, struct file *f)
{
    FILE *fp = fopen(path, "rb");
    int err = -1;
    long n;
    if (!fp) {
        fprintf(stderr, "ingest: cannot open '%s'\n", path);
        return -1;
    }
    if (fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET))
        goto out;
    f->len = (size_t)n;
    f->data = malloc(f->len ? f->len : 1);
    if (!f->data || fread(f->data, 1, f->len, fp) != f->len)
        goto out;
    err = 0;
out:
    if (err)
        fprintf(stderr, "ingest: cannot read '%s'\n", path);
    fclose(fp);
    return err;
}

static size_t discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

static void start(CURLM *m, struct slot *s, struct file *files, size_t fi, const char *base,
                  const char *name, long long from)
{
    s->file = fi;
    snprintf(s->url, sizeof(s->url), "%s/ingest?name=%s&format=pprof&from=%lld&until=%lld", base, name, from,
             from + 10);
    curl_easy_setopt(s->h, CURLOPT_URL, s->url);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDS, files[fi].data);
    curl_easy_setopt(s->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)files[fi].len);
    curl_multi_add_handle(m, s->h);
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: ingest URL SECONDS PARALLEL FROM_START FROM_STEP NAME FILE...\n");
        return 2;
    }
    const char *base = argv[1], *name = argv[6];
    double seconds = atof(argv[2]);
    int par = atoi(argv[3]);
    long long from0 = atoll(argv[4]), step = atoll(argv[5]);
    size_t nfiles = (size_t)(argc - 7), next = 0;
    uint64_t reqs = 0, ok = 0, failed = 0, bytes = 0;
    struct file *files = calloc(nfiles, sizeof(*files));
    struct slot *slots = NULL;
    CURLM *m = NULL;
    int rc = 1, running = 0, i;
    double t0, elapsed;

    if (par < 1)
        par = 1;
    for (size_t k = 0; k < nfiles; k++)
        if (read_file(argv[7 + k], &files[k]))
            goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    m = curl_multi_init();
    slots = calloc((size_t)par, sizeof(*slots));
    for (i = 0; i < par; i++) {
        slots[i].h = curl_easy_init();
        slots[i].hdrs = curl_slist_append(NULL, "Content-Type: application/octet-stream");
        slots[i].hdrs = curl_slist_append(slots[i].hdrs, "Expect:");
        curl_easy_setopt(slots[i].h, CURLOPT_HTTPHEADER, slots[i].hdrs);
        curl_easy_setopt(slots[i].h, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(slots[i].h, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(slots[i].h, CURLOPT_TCP_NODELAY, 1L);
    }
    t0 = now();
    for (i = 0; i < par; i++) {
        if (seconds <= 0 && next >= nfiles)
            break;
        start(m, &slots[i], files, next % nfiles, base, name, from0 + (long long)next * step);
        next++;
        running++;
    }
    while (running > 0) {
        int still, msgs;
        CURLMsg *msg;
        curl_multi_perform(m, &still);
        while ((msg = curl_multi_info_read(m, &msgs))) {
            struct slot *s;
            long code = 0;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
            reqs++;
            if (msg->data.result == CURLE_OK && code == 200) {
                ok++;
                bytes += files[s->file].len;
                files[s->file].posted++;
            } else {
                failed++;
                if (failed <= 5)
                    fprintf(stderr, "ingest: request for file %zu failed: curl %d, status %ld\n", s->file,
                            (int)msg->data.result, code);
            }
            curl_multi_remove_handle(m, s->h);
            running--;
            if (seconds > 0 ? now() - t0 < seconds : next < nfiles) {
                start(m, s, files, next % nfiles, base, name, from0 + (long long)next * step);
                next++;
                running++;
            }
        }
        if (running > 0)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    elapsed = now() - t0;
    printf("requests %" PRIu64 " ok %" PRIu64 " failed %" PRIu64 " bytes %" PRIu64 " seconds %.6f\n", reqs, ok,
           failed, bytes, elapsed);
    for (size_t k = 0; k < nfiles && seconds > 0; k++)
        printf("file %zu %" PRIu64 "\n", k, files[k].posted);
    rc = failed ? 1 : 0;
out:
    for (i = 0; slots && i < par; i++) {
        curl_easy_cleanup(slots[i].h);
        curl_slist_free_all(slots[i].hdrs);
    }
    free(slots);
    if (m)
        curl_multi_cleanup(m);
    for (size_t k = 0; k < nfiles; k++)
        free(files[k].data);
    free(files);
    return rc;
}
