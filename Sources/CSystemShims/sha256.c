/* SHA-256 compression with the x86 SHA extensions (FIPS 180-4; the instruction sequence of
   Intel's "New Instructions Supporting the Secure Hash Algorithm on Intel Architecture
   Processors", 2013), one stream or two interleaved. See pgv_sha256.h. */
#include "pgv_sha256.h"
#include <string.h>

static const uint32_t IV[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

void pgv_sha256_init(pgv_sha256 *c) {
    memcpy(c->h, IV, sizeof IV);
    c->length = 0;
    c->buffered = 0;
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

int pgv_sha256_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1;
    if (__get_cpuid_max(0, 0) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int sha = (b >> 29) & 1;
    return ssse3 && sse41 && sha;
}

#define TARGET __attribute__((target("sha,ssse3,sse4.1")))

/* State words a..h <-> the (ABEF, CDGH) register pair the SHA instructions work on. */
TARGET static inline void load_state(const uint32_t h[8], __m128i *abef, __m128i *cdgh) {
    __m128i t = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);   /* CDAB */
    __m128i s = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);   /* EFGH */
    *abef = _mm_alignr_epi8(t, s, 8);
    *cdgh = _mm_blend_epi16(s, t, 0xF0);
}

TARGET static inline void store_state(uint32_t h[8], __m128i abef, __m128i cdgh) {
    __m128i t = _mm_shuffle_epi32(abef, 0x1B);   /* FEBA */
    __m128i s = _mm_shuffle_epi32(cdgh, 0xB1);   /* DCHG */
    _mm_storeu_si128((__m128i *)&h[0], _mm_blend_epi16(t, s, 0xF0));   /* DCBA */
    _mm_storeu_si128((__m128i *)&h[4], _mm_alignr_epi8(s, t, 8));      /* HGFE */
}

/* Four rounds with message words w (already byte-swapped) and constants K[4i..4i+3]. */
TARGET static inline void rounds4(__m128i *abef, __m128i *cdgh, __m128i w, int i) {
    __m128i m = _mm_add_epi32(w, _mm_loadu_si128((const __m128i *)&K[4 * i]));
    *cdgh = _mm_sha256rnds2_epu32(*cdgh, *abef, m);
    *abef = _mm_sha256rnds2_epu32(*abef, *cdgh, _mm_shuffle_epi32(m, 0x0E));
}

/* Message words 4i..4i+3 from the four groups before them; w[i % 4] holds group i - 4. */
TARGET static inline __m128i schedule(__m128i w[4], int i) {
    __m128i t = _mm_sha256msg1_epu32(w[i & 3], w[(i + 1) & 3]);
    t = _mm_add_epi32(t, _mm_alignr_epi8(w[(i + 3) & 3], w[(i + 2) & 3], 4));
    return w[i & 3] = _mm_sha256msg2_epu32(t, w[(i + 3) & 3]);
}

#define BSWAP_MASK _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL)

TARGET static void blocks1(uint32_t h[8], const uint8_t *p, size_t n) {
    __m128i abef, cdgh, w[4];
    load_state(h, &abef, &cdgh);
    for (; n > 0; n--, p += 64) {
        __m128i a0 = abef, c0 = cdgh;
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), BSWAP_MASK);
            rounds4(&abef, &cdgh, w[i], i);
        }
        for (int i = 4; i < 16; i++) rounds4(&abef, &cdgh, schedule(w, i), i);
        abef = _mm_add_epi32(abef, a0);
        cdgh = _mm_add_epi32(cdgh, c0);
    }
    store_state(h, abef, cdgh);
}

/* n blocks of two independent streams, their rounds interleaved. */
TARGET static void blocks2(uint32_t h[8], const uint8_t *p, uint32_t g[8], const uint8_t *q, size_t n) {
    __m128i abef, cdgh, w[4], xabef, xcdgh, x[4];
    load_state(h, &abef, &cdgh);
    load_state(g, &xabef, &xcdgh);
    for (; n > 0; n--, p += 64, q += 64) {
        __m128i a0 = abef, c0 = cdgh, xa0 = xabef, xc0 = xcdgh;
        for (int i = 0; i < 4; i++) {
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), BSWAP_MASK);
            x[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(q + 16 * i)), BSWAP_MASK);
            rounds4(&abef, &cdgh, w[i], i);
            rounds4(&xabef, &xcdgh, x[i], i);
        }
        for (int i = 4; i < 16; i++) {
            rounds4(&abef, &cdgh, schedule(w, i), i);
            rounds4(&xabef, &xcdgh, schedule(x, i), i);
        }
        abef = _mm_add_epi32(abef, a0);
        cdgh = _mm_add_epi32(cdgh, c0);
        xabef = _mm_add_epi32(xabef, xa0);
        xcdgh = _mm_add_epi32(xcdgh, xc0);
    }
    store_state(h, abef, cdgh);
    store_state(g, xabef, xcdgh);
}
#else
#include <stdlib.h>
/* No SHA extensions here: callers check pgv_sha256_available() and use swift-crypto; a call
   anyway stops the process rather than return a wrong hash. */
int pgv_sha256_available(void) { return 0; }
static void blocks1(uint32_t h[8], const uint8_t *p, size_t n) { (void)h; (void)p; if (n) abort(); }
static void blocks2(uint32_t h[8], const uint8_t *p, uint32_t g[8], const uint8_t *q, size_t n) {
    (void)h; (void)p; (void)g; (void)q; if (n) abort();
}
#endif

/* Tops up a partial block; returns the bytes of data it took. */
static size_t fill(pgv_sha256 *c, const uint8_t *data, size_t length) {
    if (c->buffered == 0) return 0;
    size_t take = 64 - c->buffered < length ? 64 - c->buffered : length;
    memcpy(c->buffer + c->buffered, data, take);
    c->buffered += (uint32_t)take;
    if (c->buffered == 64) { blocks1(c->h, c->buffer, 1); c->buffered = 0; }
    return take;
}

static void keep(pgv_sha256 *c, const uint8_t *data, size_t length) {
    memcpy(c->buffer, data, length);
    c->buffered = (uint32_t)length;
}

void pgv_sha256_update(pgv_sha256 *c, const uint8_t *data, size_t length) {
    if (length == 0) return;   /* data may be NULL then */
    c->length += length;
    size_t used = fill(c, data, length);
    data += used; length -= used;
    if (length == 0) return;
    blocks1(c->h, data, length / 64);
    keep(c, data + (length & ~(size_t)63), length & 63);
}

void pgv_sha256_final(pgv_sha256 *c, uint8_t out[32]) {
    uint64_t bits = c->length * 8;
    uint8_t pad[72] = { 0x80 };
    size_t padLength = (c->buffered < 56 ? 56 : 120) - c->buffered;
    for (int i = 0; i < 8; i++) pad[padLength + i] = (uint8_t)(bits >> (56 - 8 * i));
    uint64_t length = c->length;
    pgv_sha256_update(c, pad, padLength + 8);
    c->length = length;
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24); out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8); out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void pgv_sha256_file_and_chunk(pgv_sha256 *file, const uint8_t *data, size_t length, uint8_t chunk_out[32]) {
    pgv_sha256 chunk;
    pgv_sha256_init(&chunk);
    if (length == 0) { pgv_sha256_final(&chunk, chunk_out); return; }   /* data may be NULL */
    chunk.length = length;
    file->length += length;
    size_t a = fill(file, data, length);              /* the file's blocks start at data + a */
    size_t fileBlocks = (length - a) / 64, chunkBlocks = length / 64;
    size_t both = fileBlocks < chunkBlocks ? fileBlocks : chunkBlocks;
    blocks2(file->h, data + a, chunk.h, data, both);
    blocks1(file->h, data + a + 64 * both, fileBlocks - both);
    blocks1(chunk.h, data + 64 * both, chunkBlocks - both);
    if (length > a) keep(file, data + a + 64 * fileBlocks, (length - a) & 63);
    keep(&chunk, data + 64 * chunkBlocks, length & 63);
    pgv_sha256_final(&chunk, chunk_out);
}
