/* record.h - the WAL payload of one appended batch: tenant, symbols, profiles (varint encoded) */
#ifndef EMBER_STORE_RECORD_H
#define EMBER_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct profile_batch;

/*
 * Payload layout, version 1 (all integers LEB128 varints, "z" = zigzag):
 *
 *   u8 kind = RECORD_BATCH
 *   tenant: len, bytes
 *   strings: n, then n x (len, bytes)             ids 1..n; id 0 is ""
 *   frames:  n, then n x (name, file, module, line, addr)   ids 1..n; 0 = unknown
 *   nodes:   n, then n x (parent, frame)           ids 1..n; 0 = root; parent < id
 *   profiles: n, then n x (
 *       labels: n, then n x (name len, name, value len, value)
 *       z time_ns, z duration_ns, z period
 *       samples: n, then n x (stack, z value))
 */
#define RECORD_BATCH       1u
#define RECORD_MAX_TENANT  1024u
#define RECORD_MAX_LABELS  1024u
#define RECORD_MAX_STR_LEN (1u << 20)

/*
 * Encodes b for tenant into out, after WAL_REC_HDR bytes of room for the
 * WAL record header (so wal_append() can write it without a copy).
 * Samples with value 0 are left out. Returns 0, or -EMBER_EINVAL_INPUT if a
 * profile lacks __profile_type__ or service_name, refers to a stack not in
 * b's symtab, or the tenant is empty or longer than RECORD_MAX_TENANT.
 */
int record_encode(struct buf *out, const char *tenant, const struct profile_batch *b);

/*
 * Checks a payload read back from disk: every length and id in range, no
 * trailing bytes. Returns 0 and sets the tenant (borrowed from p, not
 * NUL-terminated) or -EMBER_ECORRUPT with the offset and problem in
 * why[0..whylen).
 */
int record_validate(const uint8_t *p, size_t n, const char **tenant, size_t *tenant_len, char *why,
                    size_t whylen);

#endif
