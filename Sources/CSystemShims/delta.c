#include <stdlib.h>
#include <string.h>
#include "pgv_delta.h"

const char *pgv_delta_error(int code) {
    switch (code) {
    case PGV_DELTA_BAD_VARINT: return "op stream cut short or malformed";
    case PGV_DELTA_OUT_OF_RANGE: return "a copy reaches outside its reference or ahead of its output";
    case PGV_DELTA_LENGTH: return "the operations do not make the chunk's length";
    case PGV_DELTA_LITERALS: return "the operations do not use exactly the literal bytes stored";
    case PGV_DELTA_NOMEM: return "out of memory";
    case PGV_DELTA_DIFFERS: return "the operations make other bytes";
    default: return "unknown error";
    }
}

/* ---- varints ---- */

static size_t put_varint(uint8_t *o, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) { o[n++] = (uint8_t)(v | 0x80); v >>= 7; }
    o[n++] = (uint8_t)v;
    return n;
}

typedef struct { const uint8_t *p, *end; int bad; } reader;

static inline __attribute__((always_inline)) uint64_t get_varint(reader *r) {
    if (r->p < r->end && *r->p < 0x80) return *r->p++;   /* most lengths and corrections */
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) { r->bad = 1; return 0; }
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

static uint64_t zigzag(int64_t v) { return v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1 : (uint64_t)v << 1; }
static int64_t unzigzag(uint64_t v) { return (v & 1) ? -(int64_t)(v >> 1) - 1 : (int64_t)(v >> 1); }

/* ---- encoder ---- */

long pgv_delta_build(const uint32_t *seqs, size_t nseq, const uint8_t *src, size_t src_len,
                     uint64_t ref_len, uint8_t *ops, size_t ops_cap, uint8_t *lits, size_t *lits_len) {
    if (ops_cap < 3 * 5 * (nseq + 1) + 10) return PGV_DELTA_NOMEM;
    /* The columns go to a scratch area first (their lengths are known only at the end). */
    uint8_t *tmp = malloc(3 * 5 * (nseq + 1));
    if (!tmp) return PGV_DELTA_NOMEM;
    uint8_t *col[3] = { tmp, tmp + 5 * (nseq + 1), tmp + 10 * (nseq + 1) };
    size_t used[3] = {0, 0, 0}, n = 0, lp = 0;
    uint64_t pos = 0;      /* bytes of src described so far */
    uint64_t pending = 0;  /* bytes from pos on that become literals */
    uint64_t next = 0;
    for (size_t i = 0; i < nseq; i++) {
        uint32_t off = seqs[4 * i], ll = seqs[4 * i + 1], ml = seqs[4 * i + 2];
        pending += ll;
        if (ml == 0) continue;   /* a block's last literals */
        uint64_t at = pos + pending;   /* where the match starts in src */
        if (off == 0 || (uint64_t)off > ref_len + at || at + ml > src_len) { free(tmp); return PGV_DELTA_OUT_OF_RANGE; }
        uint64_t from = ref_len + at - off;
        if (ml < PGV_DELTA_MIN_COPY || from + ml > ref_len) { pending += ml; continue; }
        memcpy(lits + lp, src + pos, pending);
        lp += pending;
        used[0] += put_varint(col[0] + used[0], pending);
        used[1] += put_varint(col[1] + used[1], ml);
        used[2] += put_varint(col[2] + used[2], zigzag((int64_t)from - (int64_t)(next + pending)));
        n++;
        next = from + ml;
        pos = at + ml;
        pending = 0;
    }
    if (pos + pending > src_len) { free(tmp); return PGV_DELTA_LENGTH; }
    if (pos < src_len) {   /* what no copy covers: trailing literals */
        memcpy(lits + lp, src + pos, src_len - pos);
        lp += src_len - pos;
        used[0] += put_varint(col[0] + used[0], src_len - pos);
        used[1] += put_varint(col[1] + used[1], 0);
        used[2] += put_varint(col[2] + used[2], 0);
        n++;
    }
    uint8_t *o = ops;
    o += put_varint(o, n);
    for (int c = 0; c < 3; c++) { memcpy(o, col[c], used[c]); o += used[c]; }
    free(tmp);
    *lits_len = lp;
    return (long)(o - ops);
}

/* ---- the op stream, read as sequences ---- */

typedef struct {
    reader ll, ml, dl;
    uint64_t n, i;
} op_iter;

/* Splits the stream into its three columns (each is read in step). */
static int op_open(op_iter *it, const uint8_t *ops, size_t ops_len) {
    reader r = { ops, ops + ops_len, 0 };
    it->n = get_varint(&r);
    if (r.bad || it->n > ops_len) return PGV_DELTA_BAD_VARINT;
    /* Find where each column ends by skipping n varints. */
    const uint8_t *starts[3];
    for (int c = 0; c < 3; c++) {
        starts[c] = r.p;
        for (uint64_t k = 0; k < it->n; k++) { get_varint(&r); if (r.bad) return PGV_DELTA_BAD_VARINT; }
    }
    if (r.p != r.end) return PGV_DELTA_BAD_VARINT;
    it->ll = (reader){ starts[0], starts[1], 0 };
    it->ml = (reader){ starts[1], starts[2], 0 };
    it->dl = (reader){ starts[2], r.end, 0 };
    it->i = 0;
    return 0;
}

typedef struct { uint64_t lit, match; int64_t delta; } op;

static inline __attribute__((always_inline)) int op_next(op_iter *it, op *o) {
    o->lit = get_varint(&it->ll);
    o->match = get_varint(&it->ml);
    o->delta = unzigzag(get_varint(&it->dl));
    it->i++;
    return (it->ll.bad || it->ml.bad || it->dl.bad) ? PGV_DELTA_BAD_VARINT : 0;
}

/* The next operation, checked against what the chunk can hold, before anything is done with
   it: its literals (lp of lits_len used, pos of len made) and, when it copies, its source
   (*src, in [0, ref_len) reference then [ref_len, ...) output), which must start before the
   copy's own position. *next follows the copies. Applying, checking and composing share it,
   so they refuse exactly the same streams with the same codes. */
static inline __attribute__((always_inline)) int step(op_iter *it, op *o, uint64_t pos, uint64_t lp, size_t lits_len,
                                                      uint64_t ref_len, uint64_t len, uint64_t *next, uint64_t *src) {
    int e = op_next(it, o);
    if (e) return e;
    if (o->lit > lits_len - lp) return PGV_DELTA_LITERALS;
    if (o->lit > len - pos) return PGV_DELTA_LENGTH;
    if (!o->match) return 0;
    pos += o->lit;
    int64_t s = (int64_t)(*next + o->lit) + o->delta;
    if (s < 0 || (uint64_t)s >= ref_len + pos) return PGV_DELTA_OUT_OF_RANGE;
    if (o->match > len - pos) return PGV_DELTA_LENGTH;
    *src = (uint64_t)s;
    *next = *src + o->match;
    return 0;
}

/* ---- decoder over a flat reference ---- */

/* Walks the operations over a flat reference. compare = 0: writes the chunk to buf. compare = 1:
   checks that buf already holds it (every byte before the current position then equals the
   chunk, so copies of earlier output read buf itself either way). */
static int walk(const uint8_t *ref, uint64_t ref_len, const uint8_t *ops, size_t ops_len,
                const uint8_t *lits, size_t lits_len, uint8_t *buf, uint64_t len, int compare) {
    op_iter it;
    int e = op_open(&it, ops, ops_len);
    if (e) return e;
    uint64_t pos = 0, next = 0, lp = 0;
    while (it.i < it.n) {
        op o;
        uint64_t src = 0;
        if ((e = step(&it, &o, pos, lp, lits_len, ref_len, len, &next, &src))) return e;
        if (!compare) memcpy(buf + pos, lits + lp, o.lit);
        else if (memcmp(buf + pos, lits + lp, o.lit)) return PGV_DELTA_DIFFERS;
        pos += o.lit; lp += o.lit;
        if (!o.match) continue;
        uint64_t n = o.match;
        if (src < ref_len) {
            uint64_t take = ref_len - src < n ? ref_len - src : n;
            if (!compare) memcpy(buf + pos, ref + src, take);
            else if (memcmp(buf + pos, ref + src, take)) return PGV_DELTA_DIFFERS;
            pos += take; src += take; n -= take;
        }
        if (n) {
            uint64_t from = src - ref_len;   /* < pos */
            if (compare) {
                for (uint64_t k = 0; k < n; k++) if (buf[pos + k] != buf[from + k]) return PGV_DELTA_DIFFERS;
            } else if (pos - from >= n) {
                memcpy(buf + pos, buf + from, n);
            } else {
                for (uint64_t k = 0; k < n; k++) buf[pos + k] = buf[from + k];   /* overlaps: a run */
            }
            pos += n;
        }
    }
    if (pos != len) return PGV_DELTA_LENGTH;
    if (lp != lits_len) return PGV_DELTA_LITERALS;
    return 0;
}

int pgv_delta_apply(const uint8_t *ref, uint64_t ref_len, const uint8_t *ops, size_t ops_len,
                    const uint8_t *lits, size_t lits_len, uint8_t *out, uint64_t out_len) {
    return walk(ref, ref_len, ops, ops_len, lits, lits_len, out, out_len, 0);
}

int pgv_delta_matches(const uint8_t *ref, uint64_t ref_len, const uint8_t *ops, size_t ops_len,
                      const uint8_t *lits, size_t lits_len, const uint8_t *want, uint64_t want_len) {
    return walk(ref, ref_len, ops, ops_len, lits, lits_len, (uint8_t *)want, want_len, 1);
}

/* ---- segment lists ---- */

/* 16 bytes: a chunk is at most 8 MiB and a reference at most four chunks, so offsets and
   lengths fit 32 bits (compose refuses longer ones). */
typedef struct { const uint8_t *p; uint32_t off, len; } seg;

struct pgv_sl {
    seg *s;
    size_t n, cap;
    uint64_t total;
    void **owned;          /* buffers freed with the list */
    size_t nowned, capowned;
    pgv_sl **deps;         /* lists whose buffers the segments point into */
    size_t ndeps;
    int refs;
};

static pgv_sl *sl_new(void) {
    pgv_sl *l = calloc(1, sizeof *l);
    if (l) l->refs = 1;
    return l;
}

static int sl_own(pgv_sl *l, void *p) {
    if (l->nowned == l->capowned) {
        size_t c = l->capowned ? 2 * l->capowned : 4;
        void **o = realloc(l->owned, c * sizeof *o);
        if (!o) return 0;
        l->owned = o; l->capowned = c;
    }
    l->owned[l->nowned++] = p;
    return 1;
}

static int sl_push(pgv_sl *l, const uint8_t *p, uint64_t len) {
    if (!len) return 1;
    if (l->total + len > UINT32_MAX) return 0;   /* see seg */
    if (l->n && l->s[l->n - 1].p + l->s[l->n - 1].len == p) {   /* continues the last piece */
        l->s[l->n - 1].len += (uint32_t)len;
        l->total += len;
        return 1;
    }
    if (l->n == l->cap) {
        size_t c = l->cap ? 2 * l->cap : 16;
        seg *s = realloc(l->s, c * sizeof *s);
        if (!s) return 0;
        l->s = s; l->cap = c;
    }
    l->s[l->n++] = (seg){ p, (uint32_t)l->total, (uint32_t)len };
    l->total += len;
    return 1;
}

/* The first segment of l covering offset at (< l->total). */
static size_t sl_find(const pgv_sl *l, uint64_t at) {
    size_t lo = 0, hi = l->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->s[mid].off <= at) lo = mid; else hi = mid;
    }
    return lo;
}

/* Appends bytes [from, from + len) of src (which may be dst itself, below dst's end) to dst.
   *cursor is a segment index to try first (matches mostly continue where the last one ended);
   it is left at the segment after the last one used. */
static int sl_slice(pgv_sl *dst, const pgv_sl *src, uint64_t from, uint64_t len, size_t *cursor) {
    size_t i = *cursor;
    if (src == dst) {
        /* A copy of earlier output is mostly of the last few pieces (the previous row). */
        i = src->n - 1;
        size_t stop = i > 16 ? i - 16 : 0;
        while (i > stop && src->s[i].off > from) i--;
        if (src->s[i].off > from) i = sl_find(src, from);
    } else if (i >= src->n || src->s[i].off > from) i = sl_find(src, from);
    else if (from >= src->s[i].off + src->s[i].len) {
        /* a few segments ahead (a match skipping a changed row), else a search */
        size_t stop = i + 8 < src->n ? i + 8 : src->n;
        do i++; while (i < stop && from >= src->s[i].off + src->s[i].len);
        if (i == stop) i = sl_find(src, from);
    }
    while (len) {
        seg g = src->s[i];   /* a copy: pushing may move src->s when src == dst */
        uint64_t skip = from - g.off, take = g.len - skip < len ? g.len - skip : len;
        if (!sl_push(dst, g.p + skip, take)) return 0;
        from += take; len -= take;
        if (!len && skip + take < g.len) break;   /* ended inside this segment: start here next */
        i++;
    }
    *cursor = i;
    return 1;
}

pgv_sl *pgv_sl_leaf(const void *p, uint64_t len, int take) {
    pgv_sl *l = sl_new();
    if (!l) { if (take) free((void *)p); return NULL; }
    if ((take && !sl_own(l, (void *)p)) || !sl_push(l, p, len)) {
        if (take && l->nowned == 0) free((void *)p);
        pgv_sl_release(l);
        return NULL;
    }
    return l;
}

static int sl_dep(pgv_sl *l, pgv_sl *d) {
    pgv_sl **x = realloc(l->deps, (l->ndeps + 1) * sizeof *x);
    if (!x) return 0;
    l->deps = x;
    l->deps[l->ndeps++] = d;
    d->refs++;
    return 1;
}

pgv_sl *pgv_sl_concat(pgv_sl *const *parts, int n) {
    pgv_sl *l = sl_new();
    if (!l) return NULL;
    for (int k = 0; k < n; k++) {
        if (!sl_dep(l, parts[k])) { pgv_sl_release(l); return NULL; }
        for (size_t i = 0; i < parts[k]->n; i++)
            if (!sl_push(l, parts[k]->s[i].p, parts[k]->s[i].len)) { pgv_sl_release(l); return NULL; }
    }
    return l;
}

uint64_t pgv_sl_length(const pgv_sl *l) { return l->total; }
size_t pgv_sl_segments(const pgv_sl *l) { return l->n; }

void pgv_sl_materialize(const pgv_sl *l, void *dst) {
    uint8_t *o = dst;
    for (size_t i = 0; i < l->n; i++) { memcpy(o, l->s[i].p, l->s[i].len); o += l->s[i].len; }
}

void pgv_sl_release(pgv_sl *l) {
    if (!l || --l->refs > 0) return;
    for (size_t i = 0; i < l->nowned; i++) free(l->owned[i]);
    for (size_t i = 0; i < l->ndeps; i++) pgv_sl_release(l->deps[i]);
    free(l->owned); free(l->deps); free(l->s); free(l);
}

/* The flat fallback of compose: materialize the reference and apply. */
static pgv_sl *compose_flat(pgv_sl *ref, const uint8_t *ops, size_t ops_len, uint8_t *lits, size_t lits_len,
                            uint64_t out_len, int *err) {
    uint8_t *r = malloc(ref->total ? ref->total : 1), *out = malloc(out_len ? out_len : 1);
    if (!r || !out) { free(r); free(out); free(lits); *err = PGV_DELTA_NOMEM; return NULL; }
    pgv_sl_materialize(ref, r);
    int e = pgv_delta_apply(r, ref->total, ops, ops_len, lits, lits_len, out, out_len);
    free(r); free(lits);
    if (e) { free(out); *err = e; return NULL; }
    pgv_sl *l = pgv_sl_leaf(out, out_len, 1);
    if (!l) { free(out); *err = PGV_DELTA_NOMEM; }
    return l;
}

pgv_sl *pgv_sl_compose(pgv_sl *ref, const uint8_t *ops, size_t ops_len, uint8_t *lits, size_t lits_len,
                       uint64_t out_len, int *err) {
    *err = 0;
    op_iter it;
    int e = op_open(&it, ops, ops_len);
    if (e) { free(lits); *err = e; return NULL; }
    if (out_len > UINT32_MAX) return compose_flat(ref, ops, ops_len, lits, lits_len, out_len, err);
    /* lits is the caller's until the list is complete (then the list owns it); on any
       failure it is freed here. */
    pgv_sl *l = sl_new();
    if (!l || !sl_dep(l, ref)) {
        free(lits);
        pgv_sl_release(l);
        *err = PGV_DELTA_NOMEM;
        return NULL;
    }
    /* More pieces than this and copying the bytes is cheaper than tracking them. */
    size_t limit = (size_t)(out_len / 64) + 64;
    uint64_t pos = 0, next = 0, lp = 0, R = ref->total;
    size_t in_ref = 0, in_out = 0;   /* slice cursors */
    while (it.i < it.n) {
        op o;
        uint64_t src = 0;
        if ((e = step(&it, &o, pos, lp, lits_len, R, out_len, &next, &src))) goto fail;
        if (!sl_push(l, lits + lp, o.lit)) { e = PGV_DELTA_NOMEM; goto fail; }
        pos += o.lit; lp += o.lit;
        if (!o.match) continue;
        uint64_t len = o.match;
        if (src < R) {
            uint64_t take = R - src < len ? R - src : len;
            if (!sl_slice(l, ref, src, take, &in_ref)) { e = PGV_DELTA_NOMEM; goto fail; }
            pos += take; src += take; len -= take;
        }
        if (len) {
            uint64_t from = src - R;   /* < pos */
            if (pos - from >= len) {
                if (!sl_slice(l, l, from, len, &in_out)) { e = PGV_DELTA_NOMEM; goto fail; }
            } else {
                /* Overlapping copy (a run): write its bytes out once. */
                uint8_t *run = malloc(len);
                if (!run || !sl_own(l, run)) { free(run); e = PGV_DELTA_NOMEM; goto fail; }
                uint64_t period = pos - from;
                uint8_t *pat = malloc(period);
                if (!pat) { e = PGV_DELTA_NOMEM; goto fail; }
                {   /* the period: bytes [from, pos) of the output so far */
                    size_t i = sl_find(l, from);
                    uint64_t f = from, left = period, w = 0;
                    while (left) {
                        seg g = l->s[i];
                        uint64_t skip = f - g.off, take = g.len - skip < left ? g.len - skip : left;
                        memcpy(pat + w, g.p + skip, take);
                        w += take; f += take; left -= take; i++;
                    }
                }
                for (uint64_t k = 0; k < len; k++) run[k] = pat[k % period];
                free(pat);
                if (!sl_push(l, run, len)) { e = PGV_DELTA_NOMEM; goto fail; }
            }
            pos += len;
        }
        if (l->n > limit) {
            /* Too fragmented: start over the simple way (damage is reported the same). */
            pgv_sl_release(l);
            return compose_flat(ref, ops, ops_len, lits, lits_len, out_len, err);
        }
    }
    if (pos != out_len) { e = PGV_DELTA_LENGTH; goto fail; }
    if (lp != lits_len) { e = PGV_DELTA_LITERALS; goto fail; }
    if (!sl_own(l, lits)) { e = PGV_DELTA_NOMEM; goto fail; }
    return l;
fail:
    pgv_sl_release(l);
    free(lits);
    *err = e;
    return NULL;
}
