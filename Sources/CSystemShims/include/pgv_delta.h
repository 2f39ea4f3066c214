#ifndef PGV_DELTA_H
#define PGV_DELTA_H
#include <stddef.h>
#include <stdint.h>
/* Codec 4 ("op delta", vault/FORMAT.md): a chunk as a list of copy operations over its
   reference (the plaintexts of its bases, concatenated) and its own earlier output, plus
   literals. Unlike a zstd frame, such lists compose: the chunk at the top of a delta chain
   is resolved down the chain as a list of segments that point into the full chunk at the
   root and the literals of each link, so a restore copies its bytes once instead of once per
   link. Everything here is pure memory work: zstd (de)compresses the op and literal streams
   in Swift.

   The op stream (decompressed):  varint n, then n varints litLen, n varints matchLen, n
   varints zigzag(delta). Sequence i: litLen literal bytes (next from the literal stream), then
   matchLen bytes copied from source position src = next + litLen + delta in the coordinates
   [0, R) = reference, [R, R + L) = this chunk's output, where next starts at 0 and becomes
   src + matchLen after each match (a plain continuation costs delta 0). A match must start
   before the current output position (it may overlap it, run-length style) and stay inside
   the chunk. All n sequences and exactly all literals make the chunk's L bytes. */

typedef struct pgv_sl pgv_sl;   /* a segment list: a chunk's bytes as pieces of buffers */

/* Error codes (negative): the op stream is damaged or does not fit the reference. */
enum { PGV_DELTA_BAD_VARINT = -1, PGV_DELTA_OUT_OF_RANGE = -2, PGV_DELTA_LENGTH = -3,
       PGV_DELTA_LITERALS = -4, PGV_DELTA_NOMEM = -5, PGV_DELTA_DIFFERS = -6 };
const char *pgv_delta_error(int code);

/* Encoder: turns zstd's sequences (ZSTD_Sequence: offset, litLength, matchLength, rep; four
   uint32 each, block delimiters allowed) of src against a reference of ref_len bytes into an
   op stream and the literal bytes. Only copies of at least PGV_DELTA_MIN_COPY bytes that lie
   wholly in the reference are kept: shorter ones and copies of the chunk's own earlier bytes
   become literals, which the literal frame's zstd compresses as well (on the uniform-churn
   dumps the two frames came to 0.92 of a zstd delta with 128, against 0.99 keeping every
   match), and a chain then composes in a quarter of the pieces. ops needs room for
   3 * 5 * (nseq + 1) + 10 bytes, lits for src_len. Returns the op stream's length, or a
   negative error when the sequences do not describe src (the caller then keeps another
   encoding). Bytes of src after the last copy become trailing literals. */
#define PGV_DELTA_MIN_COPY 128
long pgv_delta_build(const uint32_t *seqs, size_t nseq, const uint8_t *src, size_t src_len,
                     uint64_t ref_len, uint8_t *ops, size_t ops_cap, uint8_t *lits, size_t *lits_len);

/* Decoder over a materialized reference: writes the chunk's out_len bytes to out. 0 or an
   error code. */
int pgv_delta_apply(const uint8_t *ref, uint64_t ref_len, const uint8_t *ops, size_t ops_len,
                    const uint8_t *lits, size_t lits_len, uint8_t *out, uint64_t out_len);

/* Whether applying the delta over ref makes exactly want (0), without an output buffer: the
   encoder's check before it stores a delta. PGV_DELTA_DIFFERS or another error code if not. */
int pgv_delta_matches(const uint8_t *ref, uint64_t ref_len, const uint8_t *ops, size_t ops_len,
                      const uint8_t *lits, size_t lits_len, const uint8_t *want, uint64_t want_len);

/* Segment lists. A leaf is one buffer (with take, the list frees it, malloc'd). concat
   joins several lists (the bases of a multi-base delta) and keeps them alive. */
pgv_sl *pgv_sl_leaf(const void *p, uint64_t len, int take);
pgv_sl *pgv_sl_concat(pgv_sl *const *parts, int n);
/* The chunk that ops + lits make over ref, as segments into ref's buffers and lits (which the
   new list takes: malloc'd). Keeps ref alive. NULL with *err set on damage; when composing
   would make too many small segments it materializes instead (same bytes). */
pgv_sl *pgv_sl_compose(pgv_sl *ref, const uint8_t *ops, size_t ops_len, uint8_t *lits, size_t lits_len,
                       uint64_t out_len, int *err);
uint64_t pgv_sl_length(const pgv_sl *l);
size_t pgv_sl_segments(const pgv_sl *l);
void pgv_sl_materialize(const pgv_sl *l, void *dst);
void pgv_sl_release(pgv_sl *l);
#endif
