/* inflate.c - benchmark anchor: zlib inflate-only rate over the same gzip files that the
 * ingest benchmark posts (round-robin, for SECONDS on one core).
 *
 *   inflate SECONDS FILE...
 *
 * Prints "files N in_bytes N out_bytes N seconds S". Exit 1 if a file does not inflate. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Inflates one gzip member into out (cap bytes); returns the output size or -1. */
static long gunzip(const unsigned char *in, size_t n, unsigned char *out, size_t cap)
{
    z_stream z = {0};
    long r = -1;
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (inflate(&z, Z_FINISH) == Z_STREAM_END)
        r = (long)z.total_out;
    inflateEnd(&z);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: inflate SECONDS FILE...\n");
        return 2;
    }
    double seconds = atof(argv[1]), t0, el;
    int nf = argc - 2, rc = 1;
    unsigned char **data = calloc((size_t)nf, sizeof(*data));
    size_t *len = calloc((size_t)nf, sizeof(*len));
    size_t cap = 64u << 20;
    unsigned char *out = malloc(cap);
    uint64_t files = 0, inb = 0, outb = 0;

    for (int i = 0; i < nf; i++) {
        FILE *fp = fopen(argv[2 + i], "rb");
        long n;
        if (!fp || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET)) {
            fprintf(stderr, "inflate: cannot read '%s'\n", argv[2 + i]);
            if (fp)
                fclose(fp);
            goto out;
        }
        len[i] = (size_t)n;
        data[i] = malloc(len[i] ? len[i] : 1);
        if (fread(data[i], 1, len[i], fp) != len[i]) {
            fprintf(stderr, "inflate: short read of '%s'\n", argv[2 + i]);
            fclose(fp);
            goto out;
        }
        fclose(fp);
    }
    t0 = now();
    do {
        for (int i = 0; i < nf; i++) {
            long r = gunzip(data[i], len[i], out, cap);
            if (r < 0) {
                fprintf(stderr, "inflate: '%s' is not a gzip stream\n", argv[2 + i]);
                goto out;
            }
            files++;
            inb += len[i];
            outb += (uint64_t)r;
        }
    } while ((el = now() - t0) < seconds);
    printf("files %" PRIu64 " in_bytes %" PRIu64 " out_bytes %" PRIu64 " seconds %.6f\n", files, inb, outb, el);
    rc = 0;
out:
    for (int i = 0; i < nf; i++)
        free(data[i]);
    free(data);
    free(len);
    free(out);
    return rc;
}
