/* pbwire.h - minimal protobuf wire-format reader and writer (no code generation) */
#ifndef EMBER_PROFILE_PBWIRE_H
#define EMBER_PROFILE_PBWIRE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

enum pb_wire { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* A read cursor over p[0..end). pos counts from base, for error messages. */
struct pb_reader {
    const uint8_t *p, *end, *base;
};

/* One field read by pb_next(). For PB_LEN, data/len point into the input (borrowed). */
struct pb_field {
    uint32_t num;
    enum pb_wire wire;
    uint64_t u64;          /* PB_VARINT, PB_I64, PB_I32 */
    const uint8_t *data;   /* PB_LEN */
    size_t len;            /* PB_LEN */
};

void pb_reader_init(struct pb_reader *r, const void *p, size_t n);
/* Sub-reader over a length-delimited field; offsets stay relative to the parent's base. */
void pb_reader_sub(struct pb_reader *sub, const struct pb_reader *parent, const struct pb_field *f);
/* Offset of the cursor from the start of the outermost message. */
size_t pb_offset(const struct pb_reader *r);

/*
 * Reads the next field. Returns 1 if a field was read, 0 at the end of the
 * message, or -EMBER_ETRUNC / -EMBER_ECORRUPT on a malformed field (bad
 * varint, unknown wire type, length past the end, field number 0).
 */
int pb_next(struct pb_reader *r, struct pb_field *f);
/* Reads one varint at the cursor. Returns 0 or -EMBER_ETRUNC/-EMBER_ECORRUPT. */
int pb_read_varint(struct pb_reader *r, uint64_t *v);

/*
 * Calls cb(v, arg) for each value of a repeated integer field, which may be
 * packed (PB_LEN) or not (PB_VARINT). Returns 0, the first non-zero cb
 * result, or a negative error for a malformed packed run.
 */
int pb_foreach_varint(const struct pb_field *f, int (*cb)(uint64_t v, void *arg), void *arg);

/* Writers append to a buf. */
void pb_put_varint(struct buf *b, uint64_t v);
void pb_put_tag(struct buf *b, uint32_t num, enum pb_wire wire);
void pb_put_uint(struct buf *b, uint32_t num, uint64_t v);       /* skipped when v == 0 */
void pb_put_int(struct buf *b, uint32_t num, int64_t v);         /* two's complement, skipped when 0 */
void pb_put_bytes(struct buf *b, uint32_t num, const void *p, size_t n); /* always written */
void pb_put_str(struct buf *b, uint32_t num, const char *s);     /* always written */
/* Packed repeated uint64 (written only when n > 0). */
void pb_put_packed_u64(struct buf *b, uint32_t num, const uint64_t *v, size_t n);
void pb_put_packed_i64(struct buf *b, uint32_t num, const int64_t *v, size_t n);
/*
 * Nested messages: pb_begin() reserves room for a length prefix and returns a
 * mark; pb_end() writes the length (moving the body if the varint is shorter).
 */
size_t pb_begin(struct buf *b, uint32_t num);
void pb_end(struct buf *b, size_t mark);

#endif
