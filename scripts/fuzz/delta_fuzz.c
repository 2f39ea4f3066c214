/* libFuzzer harness for the op-delta engine (Sources/CSystemShims/delta.c): arbitrary
   references, op streams and literals must never crash or read out of bounds (ASan/UBSan),
   composing over a two-part reference (then again over the result) must give exactly what
   applying gives, or the same error, and pgv_delta_matches must agree with applying. Run: scripts/fuzz-delta.sh [seconds]. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pgv_delta.h"
/* input: [u16 reflen][u16 outlen][u16 opslen][ref][ops][lits...] */
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 6) return 0;
    size_t rl = (d[0] | d[1] << 8) % 2048, ol = (d[2] | d[3] << 8) % 4096, opl = (d[4] | d[5] << 8) % 1024;
    d += 6; n -= 6;
    if (rl + opl > n) return 0;
    const uint8_t *ref = d, *ops = d + rl, *lits = d + rl + opl; size_t ll = n - rl - opl;
    uint8_t *out = malloc(ol + 1);
    int rc = pgv_delta_apply(ref, rl, ops, opl, lits, ll, out, ol);
    /* the encoder's check agrees with apply, and notices one byte off */
    if (rc == 0 && pgv_delta_matches(ref, rl, ops, opl, lits, ll, out, ol) != 0) abort();
    if (rc == 0 && ol > 0) {
        out[ol / 2] ^= 1;
        if (pgv_delta_matches(ref, rl, ops, opl, lits, ll, out, ol) == 0) abort();
        out[ol / 2] ^= 1;
    }
    /* compose over a two-part reference, compare with apply */
    pgv_sl *a = pgv_sl_leaf(ref, rl / 2, 0), *b = pgv_sl_leaf(ref + rl / 2, rl - rl / 2, 0);
    pgv_sl *parts[2] = {a, b};
    pgv_sl *r = pgv_sl_concat(parts, 2);
    uint8_t *lc = malloc(ll + 1); memcpy(lc, lits, ll);
    int err = 0;
    pgv_sl *l = pgv_sl_compose(r, ops, opl, lc, ll, ol, &err);
    if ((rc == 0) != (l != NULL)) abort();
    if (l) {
        if (pgv_sl_length(l) != ol) abort();
        uint8_t *m = malloc(ol + 1); pgv_sl_materialize(l, m);
        if (memcmp(m, out, ol)) abort();
        /* compose again on top of the composed list */
        uint8_t *lc2 = malloc(ll + 1); memcpy(lc2, lits, ll);
        pgv_sl *l2 = pgv_sl_compose(l, ops, opl, lc2, ll, ol, &err);
        if (l2) { uint8_t *m2 = malloc(ol + 1); pgv_sl_materialize(l2, m2); free(m2); pgv_sl_release(l2); }
        free(m); pgv_sl_release(l);
    } else if (err != rc) abort();
    pgv_sl_release(r); pgv_sl_release(a); pgv_sl_release(b);
    free(out);
    return 0;
}
