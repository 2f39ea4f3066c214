#ifndef PGV_SHA256_H
#define PGV_SHA256_H
#include <stddef.h>
#include <stdint.h>
/* SHA-256 with the x86 SHA extensions, for the one place that hashes every byte twice: a
   backup hashes each chunk (its id) and the whole file (the manifest's sha256) over the same
   bytes. pgv_sha256_file_and_chunk runs the two hashes interleaved, two independent SHA-NI
   round chains on one core, which the CPU overlaps. Only where pgv_sha256_available()
   says so (x86-64 with SHA-NI, SSSE3, SSE4.1); callers fall back to swift-crypto otherwise. */
typedef struct {
    uint32_t h[8];
    uint64_t length;      /* bytes fed so far */
    uint8_t buffer[64];   /* a partial block */
    uint32_t buffered;
} pgv_sha256;

int pgv_sha256_available(void);
void pgv_sha256_init(pgv_sha256 *c);
void pgv_sha256_update(pgv_sha256 *c, const uint8_t *data, size_t length);
void pgv_sha256_final(pgv_sha256 *c, uint8_t out[32]);
/* Feeds data to *file and writes SHA-256(data) to chunk_out. */
void pgv_sha256_file_and_chunk(pgv_sha256 *file, const uint8_t *data, size_t length, uint8_t chunk_out[32]);
#endif
