// WebAssembly SIMD scans of the fused sampling kernel (src/backends/wasm-simd/). Only the O(V)
// passes live here; every decision is made with the same float64 arithmetic as the JS kernel
// (src/backends/js/sample-rows.ts), so the tokens are bit-identical:
//   - top-k: candidates above a running threshold, compacted with an exact select; comparisons
//     only, so the candidate set is exact;
//   - top-p histogram: the JS kernel's very formula (same table, same polynomial, same order of
//     additions per bucket);
//   - the draw: exact Gumbel-max scores (Math.log imported from JS), computed only for tokens
//     that a conservative bound cannot rule out.
// No libc, no static data, no stack: JS owns the memory layout and passes every buffer.
// Build: native/build.sh (clang --target=wasm32 -msimd128).
#include <wasm_simd128.h>

typedef unsigned int u32;
typedef unsigned short u16;

extern double js_log(double) __attribute__((import_module("env"), import_name("log")));
extern double js_exp(double) __attribute__((import_module("env"), import_name("exp")));

#define INF __builtin_inf()
#define INFF __builtin_inff()
#define EXPORT(name) __attribute__((export_name(#name)))

/** Lane l of v (l a constant after inlining: extract_lane needs one). */
static inline float lane_f32(v128_t v, int l) {
  return l == 0 ? wasm_f32x4_extract_lane(v, 0) : l == 1 ? wasm_f32x4_extract_lane(v, 1) : l == 2 ? wasm_f32x4_extract_lane(v, 2) : wasm_f32x4_extract_lane(v, 3);
}

/** The smallest of m and v's lanes, compared in lane order (the first of equal values stays). */
static inline float min_lanes(v128_t v, float m) {
  for (int l = 0; l < 4; l++)
    if (lane_f32(v, l) < m) m = lane_f32(v, l);
  return m;
}

/** The largest of m and v's lanes, compared in lane order. */
static inline float max_lanes(v128_t v, float m) {
  for (int l = 0; l < 4; l++)
    if (lane_f32(v, l) > m) m = lane_f32(v, l);
  return m;
}

// ---------------------------------------------------------------------------------------------
// max and NaN over a row. res[0] = max, res[1] = 1 when the row holds a NaN, res[2] = the
// smallest finite value (+Infinity when none; NaN rows: unspecified).
static void max_nan(const float *z, int V, double *res) {
  v128_t m0 = wasm_f32x4_splat(-INFF), m1 = m0, bad = wasm_i32x4_splat(0);
  v128_t pinf = wasm_f32x4_splat(INFF), n0 = pinf, n1 = pinf;
  int j = 0;
  for (; j + 8 <= V; j += 8) {
    v128_t a = wasm_v128_load(z + j), b = wasm_v128_load(z + j + 4);
    m0 = wasm_f32x4_pmax(m0, a);
    m1 = wasm_f32x4_pmax(m1, b);
    // finite minimum: -Infinity (and NaN, flagged anyway) left out
    n0 = wasm_f32x4_pmin(n0, wasm_v128_bitselect(pinf, a, wasm_f32x4_eq(a, wasm_f32x4_splat(-INFF))));
    n1 = wasm_f32x4_pmin(n1, wasm_v128_bitselect(pinf, b, wasm_f32x4_eq(b, wasm_f32x4_splat(-INFF))));
    bad = wasm_v128_or(bad, wasm_v128_or(wasm_f32x4_ne(a, a), wasm_f32x4_ne(b, b)));
  }
  n0 = wasm_f32x4_pmin(n0, n1);
  float mn = INFF;
  for (int l = 0; l < 4; l++) {
    float v = l == 0 ? wasm_f32x4_extract_lane(n0, 0) : l == 1 ? wasm_f32x4_extract_lane(n0, 1) : l == 2 ? wasm_f32x4_extract_lane(n0, 2) : wasm_f32x4_extract_lane(n0, 3);
    if (v < mn) mn = v;
  }
  for (int t = j; t < V; t++)
    if (z[t] < mn && z[t] > -INFF) mn = z[t];
  res[2] = mn; // +Infinity when no finite token
  m0 = wasm_f32x4_pmax(m0, m1);
  float m = wasm_f32x4_extract_lane(m0, 0);
  for (int l = 1; l < 4; l++) {
    float v = l == 1 ? wasm_f32x4_extract_lane(m0, 1) : l == 2 ? wasm_f32x4_extract_lane(m0, 2) : wasm_f32x4_extract_lane(m0, 3);
    if (v > m) m = v;
  }
  int nan = wasm_v128_any_true(bad);
  for (; j < V; j++) {
    float v = z[j];
    if (v > m) m = v;
    else if (v != v) nan = 1;
  }
  res[0] = m;
  res[1] = nan;
}

EXPORT(scan_max) void scan_max(const float *z, int V, double *res) { max_nan(z, V, res); }

/** Lowest index j with z[j] == v, or -1. */
EXPORT(first_eq) int first_eq(const float *z, int V, float v) {
  for (int j = 0; j < V; j++)
    if (z[j] == v) return j;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// top-k

/** The value of rank `rank` (0 = largest) of a[0..n); reorders a. */
static float select_desc(float *a, int n, int rank) {
  int lo = 0, hi = n - 1;
  while (hi > lo) {
    float pivot = a[(lo + hi) >> 1];
    int i = lo, j = hi;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        float t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else break;
  }
  return a[rank];
}

/** Keeps the entries with val >= t, in order. */
static int compact(int *idx, float *val, int n, float t) {
  int w = 0;
  for (int c = 0; c < n; c++) {
    if (val[c] >= t) {
      idx[w] = idx[c];
      val[w] = val[c];
      w++;
    }
  }
  return w;
}

/**
 * Finite tokens whose logit is >= the k-th largest logit of the row (ties kept), in index
 * order, into idx (their values into val); tmp: scratch of V floats. res[0] = max, res[1] = NaN
 * flag, res[2] = the k-th largest value (-Infinity when fewer than k are finite). Returns the
 * count. The buffer holds every finite token >= a running threshold that never exceeds the
 * k-th largest of the tokens seen so far; it is compacted to that value whenever it doubles.
 */
#define ALLOWED(words, j) (((words)[(j) >> 5] >> ((j) & 31)) & 1u)

// scan_topk's body; `words` (a token bitmask, xgrammar layout) or null. The SIMD pass reads the
// raw logits, exactly as without a mask: a disallowed token can only make a block look worth a
// closer look, and the scalar look skips it. The row's max over allowed tokens is the largest
// candidate (the running threshold never passes it); NaN and +Infinity count wherever they are,
// as the mask keeps them (maskWhere's rule).
// The candidates of one block of 16 (inline: out of line it cost the unmasked scan ~20 %).
static inline __attribute__((always_inline)) int take16(const float *z, int j, float thr, int *idx, float *val, int n) {
  for (int l = 0; l < 16; l++) {
    float v = z[j + l];
    if (v >= thr && v > -INFF) {
      idx[n] = j + l;
      val[n] = v;
      n++;
    }
  }
  return n;
}

// A block past the threshold (rare once it has risen): only its allowed lanes (its 16 mask bits:
// j is a multiple of 16). Out of line, so the scan's hot loop is the unmasked one's.
static __attribute__((noinline)) int take16_masked(const float *z, int j, float thr, const u32 *words, int *idx, float *val, int n) {
  u32 bits = (words[j >> 5] >> (j & 31)) & 0xFFFFu;
  for (int l = 0; bits; l++, bits >>= 1) {
    float v = z[j + l];
    if ((bits & 1) && v >= thr && v > -INFF) {
      idx[n] = j + l;
      val[n] = v;
      n++;
    }
  }
  return n;
}

static inline __attribute__((always_inline)) int topk_scan(const float *z, int V, int k, int *idx, float *val, float *tmp, double *res, const u32 *words) {
  float thr = -INFF;
  int n = 0;
  int limit = 2 * k + 64; // compact often: the threshold follows the k-th largest closely
  v128_t m0 = wasm_f32x4_splat(-INFF), bad = wasm_i32x4_splat(0);
  v128_t tv = wasm_f32x4_splat(-__FLT_MAX__); // finite only until the threshold rises
  int j = 0;
  for (; j + 16 <= V; j += 16) {
    v128_t a = wasm_v128_load(z + j), b = wasm_v128_load(z + j + 4);
    v128_t c = wasm_v128_load(z + j + 8), d = wasm_v128_load(z + j + 12);
    v128_t mx = wasm_f32x4_pmax(wasm_f32x4_pmax(a, b), wasm_f32x4_pmax(c, d));
    m0 = wasm_f32x4_pmax(m0, mx);
    bad = wasm_v128_or(bad, wasm_v128_or(wasm_v128_or(wasm_f32x4_ne(a, a), wasm_f32x4_ne(b, b)),
                                         wasm_v128_or(wasm_f32x4_ne(c, c), wasm_f32x4_ne(d, d))));
    if (!wasm_v128_any_true(wasm_f32x4_ge(mx, tv))) continue;
    n = words ? take16_masked(z, j, thr, words, idx, val, n) : take16(z, j, thr, idx, val, n);
    if (n >= limit) {
      for (int c2 = 0; c2 < n; c2++) tmp[c2] = val[c2];
      float t = select_desc(tmp, n, k - 1);
      if (t > thr) {
        thr = t;
        tv = wasm_f32x4_splat(t > -__FLT_MAX__ ? t : -__FLT_MAX__);
        n = compact(idx, val, n, t);
      }
      limit = 2 * n + 64; // n >= k; grows geometrically when ties keep n large
    }
  }
  float m = wasm_f32x4_extract_lane(m0, 0);
  if (wasm_f32x4_extract_lane(m0, 1) > m) m = wasm_f32x4_extract_lane(m0, 1);
  if (wasm_f32x4_extract_lane(m0, 2) > m) m = wasm_f32x4_extract_lane(m0, 2);
  if (wasm_f32x4_extract_lane(m0, 3) > m) m = wasm_f32x4_extract_lane(m0, 3);
  int nan = wasm_v128_any_true(bad);
  for (; j < V; j++) {
    float v = z[j];
    if (v > m) m = v;
    else if (v != v) nan = 1;
    if (v >= thr && v > -INFF && (!words || ALLOWED(words, j))) {
      idx[n] = j;
      val[n] = v;
      n++;
    }
  }
  float kth = -INFF;
  if (n >= k) {
    for (int c2 = 0; c2 < n; c2++) tmp[c2] = val[c2];
    kth = select_desc(tmp, n, k - 1);
    n = compact(idx, val, n, kth);
  }
  int flags = 0;
  if (words && m != INFF && !nan) {
    float mm = -INFF;
    for (int c2 = 0; c2 < n; c2++)
      if (val[c2] > mm) mm = val[c2];
    if (mm == -INFF && m > -INFF) flags = 2; // nothing allowed is finite, something masked was
    m = mm;
  }
  res[0] = m;
  res[1] = nan;
  res[2] = kth;
  res[3] = flags;
  return n;
}

EXPORT(scan_topk) int scan_topk(const float *z, int V, int k, int *idx, float *val, float *tmp, double *res) {
  return topk_scan(z, V, k, idx, val, tmp, res, 0);
}

/**
 * scan_topk over the logits a token bitmask leaves (`words`: bit j & 31 of word j >> 5 allows
 * token j), z itself unchanged; res[3] = 2 when a finite logit was masked (mask_words's flag).
 */
EXPORT(scan_topk_masked) int scan_topk_masked(const float *z, int V, int k, int *idx, float *val, float *tmp, double *res, const u32 *words) {
  return topk_scan(z, V, k, idx, val, tmp, res, words);
}

// ---------------------------------------------------------------------------------------------
// top-p histogram: the JS kernel's topPBuckets pass, the same arithmetic token by token.

#define BUCKETS 4096
#define PER_NAT 32

/**
 * mass[b] += exp((z - zmax)·inv) for the bucket b = floor(-(z - zmax)·inv·32) of each
 * candidate (idx null: every token of z); bucketOf[c] = b (4096 for -Infinity). exptab[b] =
 * exp(-b/32), from JS.
 */
static inline void hist1(double zj, double zmax, double inv, const double *exptab, double *mass, u16 *bucketOf, int c) {
  if (zj == -INF) {
    bucketOf[c] = BUCKETS;
    return;
  }
  double a = (zj - zmax) * inv;
  double fb = __builtin_floor(-a * PER_NAT);
  if (fb >= BUCKETS - 1) {
    bucketOf[c] = BUCKETS - 1;
    mass[BUCKETS - 1] = mass[BUCKETS - 1] + js_exp(a);
    return;
  }
  int b = (int)fb;
  bucketOf[c] = (u16)b;
  double d = a + fb * (1.0 / PER_NAT);
  double e = 1 + d * (1 + d * (0.5 + d * (1.0 / 6 + d * (1.0 / 24 + d * (1.0 / 120 + d * (1.0 / 720 + d * (1.0 / 5040)))))));
  mass[b] = mass[b] + exptab[b] * e;
}

// The same polynomial on two lanes (IEEE operations lane by lane: the same bits as hist1).
static inline v128_t poly2(v128_t d) {
#define S(x) wasm_f64x2_splat(x)
  v128_t e = wasm_f64x2_add(S(1.0 / 720), wasm_f64x2_mul(d, S(1.0 / 5040)));
  e = wasm_f64x2_add(S(1.0 / 120), wasm_f64x2_mul(d, e));
  e = wasm_f64x2_add(S(1.0 / 24), wasm_f64x2_mul(d, e));
  e = wasm_f64x2_add(S(1.0 / 6), wasm_f64x2_mul(d, e));
  e = wasm_f64x2_add(S(0.5), wasm_f64x2_mul(d, e));
  e = wasm_f64x2_add(S(1), wasm_f64x2_mul(d, e));
  return wasm_f64x2_add(S(1), wasm_f64x2_mul(d, e));
#undef S
}

/**
 * mass[b] += exp((z - zmax)·inv) for the bucket b = floor(-(z - zmax)·inv·32) of each
 * candidate (idx null: every token of z); bucketOf[c] = b (4096 for -Infinity). exptab[b] =
 * exp(-b/32), from JS. Additions into each bucket happen in candidate order, as in JS.
 */
EXPORT(topp_hist)
void topp_hist(const float *z, const int *idx, int n, double zmax, double inv, const double *exptab, double *mass, u16 *bucketOf) {
  int c = 0;
  if (!idx) {
    v128_t zm = wasm_f64x2_splat(zmax), iv = wasm_f64x2_splat(inv);
    v128_t ninf = wasm_f32x4_splat(-INFF), last = wasm_f64x2_splat(BUCKETS - 1);
    for (; c + 4 <= n; c += 4) {
      v128_t v = wasm_v128_load(z + c);
      // Two halves in named locals (an array would live on the shadow stack: the module uses none).
      v128_t fb0 = wasm_f64x2_splat(0), fb1 = fb0, e0 = fb0, e1 = fb0;
      int slow = wasm_v128_any_true(wasm_f32x4_eq(v, ninf));
#define HALF(fb, e, zd)                                                                    \
  if (!slow) {                                                                             \
    v128_t a = wasm_f64x2_mul(wasm_f64x2_sub(zd, zm), iv);                                 \
    fb = wasm_f64x2_floor(wasm_f64x2_mul(wasm_f64x2_neg(a), wasm_f64x2_splat(PER_NAT)));   \
    slow = wasm_v128_any_true(wasm_f64x2_ge(fb, last));                                    \
    e = poly2(wasm_f64x2_add(a, wasm_f64x2_mul(fb, wasm_f64x2_splat(1.0 / PER_NAT))));     \
  }
      HALF(fb0, e0, wasm_f64x2_promote_low_f32x4(v))
      HALF(fb1, e1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)))
#undef HALF
      if (slow) {
        for (int l = 0; l < 4; l++) hist1(z[c + l], zmax, inv, exptab, mass, bucketOf, c + l);
        continue;
      }
#define LANE(fb, e, l, o)                                        \
  {                                                          \
    int b = (int)wasm_f64x2_extract_lane(fb, l);          \
    bucketOf[c + o] = (u16)b;                                \
    mass[b] = mass[b] + exptab[b] * wasm_f64x2_extract_lane(e, l); \
  }
      LANE(fb0, e0, 0, 0) LANE(fb0, e0, 1, 1) LANE(fb1, e1, 0, 2) LANE(fb1, e1, 1, 3)
#undef LANE
    }
  }
  for (; c < n; c++) hist1(z[idx ? idx[c] : c], zmax, inv, exptab, mass, bucketOf, c);
}

/** The values of the candidates in bucket `star`, into out; returns their count. */
EXPORT(gather_bucket) int gather_bucket(const float *z, const int *idx, int n, const u16 *bucketOf, int star, double *out) {
  int w = 0;
  for (int c = 0; c < n; c++)
    if (bucketOf[c] == star) out[w++] = z[idx ? idx[c] : c];
  return w;
}

static inline int min_key(double k, int last) { return k < last ? (int)k : last; }

/** Sorts a[0..n) in descending order. */
static void sort_desc(double *a, int n) {
  while (n > 24) {
    double pivot = a[n >> 1];
    int i = 0, j = n - 1;
    while (i <= j) {
      while (a[i] > pivot) i++;
      while (a[j] < pivot) j--;
      if (i <= j) {
        double t = a[i];
        a[i++] = a[j];
        a[j--] = t;
      }
    }
    // Recurse into the smaller side, loop on the larger.
    if (j + 1 < n - i) {
      sort_desc(a, j + 1);
      a += i;
      n -= i;
    } else {
      sort_desc(a + i, n - i);
      n = j + 1;
    }
  }
  for (int i = 1; i < n; i++) {
    double v = a[i];
    int j = i - 1;
    while (j >= 0 && a[j] < v) {
      a[j + 1] = a[j];
      j--;
    }
    a[j + 1] = v;
  }
}

/**
 * The JS kernel's walk (sample-rows.ts, walk) over the logits v[0..n) of the boundary bucket
 * in descending order, from the mass `before`: groups of equal logits, Neumaier-compensated
 * sums of exp((v - zmax)·inv) (Math.exp), the last group kept. The order is built lazily: the
 * values are distributed into up to 1024 sub-ranges (equal values share one; a larger value
 * never lands in a later one) and each sub-range is sorted only when the walk reaches it.
 * tmp: n doubles; cnt: 1025 ints.
 */
EXPORT(topp_walk)
double topp_walk(double *v, int n, double before, double target, double zmax, double inv, double *tmp, int *cnt) {
  if (n == 0) return INF; // unreachable: the boundary bucket holds mass
  double hi = v[0], lo = v[0];
  for (int c = 1; c < n; c++) {
    if (v[c] > hi) hi = v[c];
    if (v[c] < lo) lo = v[c];
  }
  int S = n / 8;
  if (S > 1024) S = 1024;
  if (S < 1 || !(hi > lo)) S = 1;
  double scale = S / (hi - lo);
  for (int s = 0; s <= S; s++) cnt[s] = 0;
#define KEY(x) (S == 1 ? 0 : min_key((hi - (x)) * scale, S - 1))
  for (int c = 0; c < n; c++) cnt[KEY(v[c]) + 1]++;
  for (int s = 0; s < S; s++) cnt[s + 1] += cnt[s];
  for (int c = 0; c < n; c++) tmp[cnt[KEY(v[c])]++] = v[c]; // cnt[s] ends at the start of s + 1
#undef KEY
  double comp = 0, threshold = hi;
  int start = 0;
  for (int s = 0; s < S; s++) {
    int end = cnt[s];
    double *a = tmp + start;
    int m = end - start;
    start = end;
    if (m == 0) continue;
    sort_desc(a, m);
    for (int i = 0; i < m;) {
      int j = i;
      while (j < m && a[j] == a[i]) j++;
      if (before + comp >= target) return threshold;
      threshold = a[i];
      double q = js_exp((a[i] - zmax) * inv);
      for (int l = i; l < j; l++) {
        double t = before + q;
        comp += __builtin_fabs(before) >= q ? before - t + q : q - t + before;
        before = t;
      }
      i = j;
    }
  }
  return threshold;
}

// ---------------------------------------------------------------------------------------------
// Fast top-p over every token of a row: a certified shortcut to the exact path above (which
// stays the definition). One float32 pass (4 lanes) builds a histogram of approximate masses
// q~ = exp(-w), w = (zmax - z)·inv, over 4096 buckets spread over the row's own range of w;
// the boundary bucket's few tokens are sorted and their masses computed in float64
// (Math.exp, as the exact path). That gives a candidate threshold v* and, with proven error
// bounds on every approximate sum, an interval for the true A - p·T (A: mass strictly above v*)
// and A' - p·T (A': A plus the mass of v*'s tokens). The exact path returns v* exactly when its
// own float64 sums put A below and A' at or above its target; its sums are within
// E = (n + 4136)·2^-53·T of the true ones (per-term error < 4e-15: Math.exp, the table and a
// degree-7 polynomial; sequential sums: < 1 unit per addition of the running value), so when the
// intervals clear ±E by the margin, the exact result is v*: returned. Otherwise NaN: the caller
// runs the exact path. The bounds here (EE below) are 8× E.
//   Error of q~: w32 is three float32 roundings (zmax - z, inv, the product) away from the exact
//   path's |a|: |w32 - |a|| <= KAPPA·|a| (KAPPA2 when inv is a float32: two roundings; KAPPA1 when
//   inv is 1: the product is exact, one rounding); exp_neg4 is within EPS0 of exp(-w32) (checked over
//   every float32 w in [0, 87]: 1.13e-7). Bucket b (< 4095) holds |a| < (b + 1)/scale·1.00001, so
//   its sum is within (EPS0 + KAPPA·that + n·2^-52)·1.001 of its true mass. The last bucket holds
//   -Infinity (q~ < 2e-38, true 0) and, when the range is capped at 64 nat, tokens with true
//   mass < e^-63.9: there an absolute bound.

#define FB 4096
#define WCAP 64.0
#define EPS0 1.5e-7
#define KAPPA 1.8e-7
#define KAPPA2 1.2e-7
#define KAPPA1 6.0e-8

#define F4(x) wasm_f32x4_splat(x)
/**
 * ~exp(-w) for w in [0, 87] (callers clamp: exp_neg4), relative error < 1.13e-7 (every float32 w
 * in [0, 87], checked exhaustively: 1.127e-7 at w = 5.195). k = round(w·log2 e) by adding
 * 1.5·2^23 (ties to even, as f32x4.nearest; bitwise the same results for every float32 w in
 * [0, 87], checked exhaustively) also leaves k in the sum's low bits, so no float-to-int
 * conversion (several instructions on x64) is needed for 2^-k: about 20 % less time per token.
 * e^-r on |r| <= ln 2 / 2 (plus rounding): a degree-6 polynomial, minimax for the relative error
 * (Lawson's weighted least squares) with float32 coefficients; its own error is 2e-9, the rest
 * is float32 rounding (one multiply and add fewer than the degree-7 Taylor form, 1.0e-7).
 */
static inline v128_t exp_core4(v128_t w) {
  v128_t t = wasm_f32x4_add(wasm_f32x4_mul(w, F4(1.44269504f)), F4(12582912.0f));
  v128_t k = wasm_f32x4_sub(t, F4(12582912.0f));
  v128_t r = wasm_f32x4_sub(wasm_f32x4_sub(w, wasm_f32x4_mul(k, F4(0.693359375f))), wasm_f32x4_mul(k, F4(-2.12194440e-4f)));
  v128_t e = F4(0.0013836807338520885f);
  e = wasm_f32x4_add(F4(-0.00837484560906887f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(0.041668228805065155f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(-0.16666419804096222f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(0.49999991059303284f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(-1.0f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(1.0f), wasm_f32x4_mul(r, e));
  // bits(t) = bits(1.5·2^23) + k, and bits(1.5·2^23) << 23 wraps to 0: (127 - k) << 23 = 2^-k.
  v128_t s = wasm_i32x4_shl(wasm_i32x4_sub(wasm_i32x4_splat(127), t), 23);
  return wasm_f32x4_mul(e, s);
}

/** exp_core4 for w >= 0, +Infinity allowed (clamped at 87). */
static inline v128_t exp_neg4(v128_t w) { return exp_core4(wasm_f32x4_pmin(w, F4(87.0f))); }

/**
 * A coarse ~exp(-w) for w in [0, 87], relative error < 1e-4 (every float32 w in [0, 87], checked
 * exhaustively: 7.9e-5): one reduction constant (k·ln 2 rounds: < 4e-6) and a degree-3 minimax
 * polynomial (7.5e-5). For sums that only place a threshold among few tokens (XTC's).
 */
static inline v128_t exp_lo4(v128_t w) {
  v128_t t = wasm_f32x4_add(wasm_f32x4_mul(w, F4(1.44269504f)), F4(12582912.0f));
  v128_t k = wasm_f32x4_sub(t, F4(12582912.0f));
  v128_t r = wasm_f32x4_sub(w, wasm_f32x4_mul(k, F4(0.6931471805599453f)));
  v128_t e = F4(-0.16566768288612366f);
  e = wasm_f32x4_add(F4(0.5049668550491333f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(-1.0001643896102905f), wasm_f32x4_mul(r, e));
  e = wasm_f32x4_add(F4(0.9999279975891113f), wasm_f32x4_mul(r, e));
  v128_t s = wasm_i32x4_shl(wasm_i32x4_sub(wasm_i32x4_splat(127), t), 23);
  return wasm_f32x4_mul(e, s);
}

/** out[i] = exp_neg4(w[i]) (coarse: exp_lo4 of w[i] clamped) for i < n (n a multiple of 4): for the tests of their error bounds. */
EXPORT(exp_neg_rows) void exp_neg_rows(const float *w, int n, float *out, int coarse) {
  for (int i = 0; i + 4 <= n; i += 4) {
    v128_t v = wasm_v128_load(w + i);
    wasm_v128_store(out + i, coarse ? exp_lo4(wasm_f32x4_pmin(v, F4(87.0f))) : exp_neg4(v));
  }
}

/**
 * Bucket ids round(min(w·scale, 4095)) of four tokens (w >= 0, +Infinity allowed): adding 1.5·2^23
 * rounds to an integer and leaves it in the low bits, cheaper than a saturating conversion. The
 * certificate needs only that ids grow with w and that bucket b holds w·scale < b + 1.
 */
static inline v128_t bucket4(v128_t w, v128_t sc) {
  // pmin(4095, x) is x only when x < 4095: NaN (never expected) and +Infinity go to the last bucket.
  v128_t t = wasm_f32x4_add(wasm_f32x4_pmin(F4((float)(FB - 1)), wasm_f32x4_mul(w, sc)), F4(12582912.0f));
  return wasm_i32x4_sub(t, wasm_i32x4_splat(0x4b400000));
}

/**
 * hist[b] += q~ of every token of z[0..n) in bucket b = bucket4(w); bucketOf[c] = b. ring: 16
 * doubles of scratch. The scatter reads each token's bucket and q~ back from memory (the u16 ids
 * just stored, the q~ promoted to float64 in the ring) rather than extracting lanes: fewer
 * instructions per token on x64.
 */
static void fast_hist(const float *z, int n, float zmax, float inv, float scale, double *hist, u16 *bucketOf, double *ring) {
  v128_t zm = F4(zmax), iv = F4(inv), sc = F4(scale);
  int c = 0;
  // Eight tokens a step: the bucket ids go out as one store of eight u16, the q~ as four of two doubles.
  for (; c + 8 <= n; c += 8) {
    v128_t w0 = wasm_f32x4_mul(wasm_f32x4_sub(zm, wasm_v128_load(z + c)), iv);
    v128_t w1 = wasm_f32x4_mul(wasm_f32x4_sub(zm, wasm_v128_load(z + c + 4)), iv);
    v128_t b0 = bucket4(w0, sc), b1 = bucket4(w1, sc);
    wasm_v128_store(bucketOf + c, wasm_u16x8_narrow_i32x4(b0, b1));
    v128_t q0 = exp_neg4(w0), q1 = exp_neg4(w1);
    double *r = ring + (c & 8);
    wasm_v128_store(r, wasm_f64x2_promote_low_f32x4(q0));
    wasm_v128_store(r + 2, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(q0, q0, 2, 3, 0, 1)));
    wasm_v128_store(r + 4, wasm_f64x2_promote_low_f32x4(q1));
    wasm_v128_store(r + 6, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(q1, q1, 2, 3, 0, 1)));
    const u16 *bo = bucketOf + c;
    for (int l = 0; l < 8; l++) hist[bo[l]] += r[l];
  }
  for (; c < n; c += 4) {
    v128_t v = wasm_f32x4_make(z[c], c + 1 < n ? z[c + 1] : -INFF, c + 2 < n ? z[c + 2] : -INFF, c + 3 < n ? z[c + 3] : -INFF);
    v128_t w = wasm_f32x4_mul(wasm_f32x4_sub(zm, v), iv);
    v128_t b = bucket4(w, sc);
    v128_t q = exp_neg4(w);
    for (int l = 0; l < 4 && c + l < n; l++) {
      int bb = l == 0 ? wasm_i32x4_extract_lane(b, 0) : l == 1 ? wasm_i32x4_extract_lane(b, 1) : l == 2 ? wasm_i32x4_extract_lane(b, 2) : wasm_i32x4_extract_lane(b, 3);
      float qq = l == 0 ? wasm_f32x4_extract_lane(q, 0) : l == 1 ? wasm_f32x4_extract_lane(q, 1) : l == 2 ? wasm_f32x4_extract_lane(q, 2) : wasm_f32x4_extract_lane(q, 3);
      bucketOf[c + l] = (u16)bb;
      hist[bb] = hist[bb] + (double)qq;
    }
  }
}

/**
 * The exact top-p threshold of a row of n tokens (every token a candidate), or NaN when the
 * margin does not prove it (the caller then runs topp_hist / topp_walk). zmin: the smallest
 * finite logit. hist: 4096 doubles; bucketOf: n; vals, qs: n doubles of scratch.
 */
EXPORT(topp_fast)
double topp_fast(const float *z, int n, double zmax, double zmin, double inv, double p, double *hist, u16 *bucketOf, double *vals, double *qs) {
  const double NaN = __builtin_nan("");
  if (!(inv >= 1e-30 && inv <= 1e30) || !(zmin <= zmax)) return NaN;
  double R = (zmax - zmin) * inv;
  int capped = !(R <= WCAP);
  double reff = capped ? WCAP : R;
  float scale = reff > 1e-30 ? (float)(FB / (reff * 1.000001)) : 1.0f;
  if (!(scale <= 1e30f)) scale = 1e30f;
  for (int b = 0; b < FB; b++) hist[b] = 0;
  fast_hist(z, n, (float)zmax, (float)inv, scale, hist, bucketOf, qs);
  // The boundary bucket by the approximate sums (the exact path's rule).
  double total = 0;
  for (int b = 0; b < FB; b++) total += hist[b];
  double tg = p * total, run = 0;
  int s = -1;
  for (int b = 0; b < FB; b++) {
    if (hist[b] == 0) continue;
    if (run >= tg) break;
    s = b;
    run += hist[b];
  }
  if (s < 0 || s == FB - 1) return NaN;
  // Sums and error bounds above and below the boundary bucket.
  double wstep = 1.00001 / scale, acc = n * 2.3e-16;
  double kappa = inv == 1 ? KAPPA1 : (double)(float)inv == inv ? KAPPA2 : KAPPA;
  double A0 = 0, errA = 0, rest = 0, errR = 0;
  for (int b = 0; b < FB - 1; b++) {
    double err = hist[b] * (EPS0 + kappa * (b + 1) * wstep + acc) * 1.001;
    if (b < s) {
      A0 += hist[b];
      errA += err;
    } else if (b > s) {
      rest += hist[b];
      errR += err;
    }
  }
  double hl = hist[FB - 1];
  rest += hl;
  errR += capped ? hl + n * 1e-27 : hl * (EPS0 + kappa * R * 1.00001 + acc) * 1.001 + n * 1e-37;
  // The boundary bucket's tokens, sorted; their group masses in float64.
  int m = 0, c = 0;
  v128_t sv = wasm_i16x8_splat((short)s);
  for (; c + 8 <= n; c += 8) {
    if (!wasm_v128_any_true(wasm_i16x8_eq(wasm_v128_load(bucketOf + c), sv))) continue;
    for (int l = 0; l < 8; l++)
      if (bucketOf[c + l] == s) vals[m++] = z[c + l];
  }
  for (; c < n; c++)
    if (bucketOf[c] == s) vals[m++] = z[c];
  if (m == 0) return NaN; // unreachable: the bucket holds mass
  sort_desc(vals, m);
  double St = 0;
  for (int i = 0; i < m;) {
    int j = i;
    while (j < m && vals[j] == vals[i]) j++;
    double g = js_exp((vals[i] - zmax) * inv) * (j - i);
    qs[i] = g;
    St += g;
    i = j;
  }
  double T = A0 + St + rest;
  double target = p * T, above = A0, G = 0;
  int gs = -1;
  for (int i = 0; i < m;) {
    int j = i;
    while (j < m && vals[j] == vals[i]) j++;
    if (gs >= 0 && above + G >= target) break;
    above += G;
    G = qs[i];
    gs = i;
    i = j;
  }
  if (gs < 0 || !(above < target)) return NaN;
  double q1 = 1 - p;
  double errS = (1e-15 + m * 2.3e-16) * St;
  double EE = (n + 8192.0) * 8.9e-16 * T * 1.01 + 1e-13 * T + 1e-300;
  double bound = q1 * (errA + errS) + p * (errR + errS) + EE;
  double D1 = q1 * above - p * (T - above);
  double Ap = above + G;
  double D2 = q1 * Ap - p * (T - Ap);
  if (D1 < -bound && D2 >= bound) return vals[gs];
  return NaN;
}

// ---------------------------------------------------------------------------------------------
// Bands of the kept set over every token of a row (top-nσ, ε, η, XTC): certified shortcuts to the
// JS kernel's float64 passes (src/backends/js/sample-rows.ts, which stays the definition). These
// passes return approximate sums; the caller (sample-rows-simd.ts) turns them, with proven error
// bounds, into an interval that holds the JS kernel's threshold, and band_floor checks that no
// token of the row falls inside it. Then the JS kernel's decision is known exactly (every token
// above the interval kept, every token below it not); otherwise the caller runs the JS pass.

/**
 * Over the finite tokens of z[0..n) (no NaN, no +Infinity: the caller's row is valid), with
 * d = z - zmax in float64: res[0] = Σ d, res[1] = Σ d², res[2] = their count. Every d ≤ 0, so
 * each sum is of same-sign terms (relative error < (n/8 + 2)·2^-52, eight partial sums).
 */
EXPORT(sigma_sums) void sigma_sums(const float *z, int n, double zmax, double *res) {
  v128_t zm = wasm_f64x2_splat(zmax), ninf = wasm_f32x4_splat(-INFF), zero = wasm_f64x2_splat(0);
  v128_t s0 = zero, s1 = zero, q0 = zero, q1 = zero, c = wasm_i32x4_splat(0);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t v = wasm_v128_load(z + j);
    v128_t fin = wasm_f32x4_ne(v, ninf);
    v = wasm_v128_bitselect(v, wasm_f32x4_splat((float)zmax), fin); // -Infinity: d = 0, uncounted
    c = wasm_i32x4_sub(c, fin);
    v128_t lo = wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(v), zm);
    v128_t hi = wasm_f64x2_sub(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)), zm);
    s0 = wasm_f64x2_add(s0, lo);
    s1 = wasm_f64x2_add(s1, hi);
    q0 = wasm_f64x2_add(q0, wasm_f64x2_mul(lo, lo));
    q1 = wasm_f64x2_add(q1, wasm_f64x2_mul(hi, hi));
  }
  double S = 0, Q = 0;
  int count = wasm_i32x4_extract_lane(c, 0) + wasm_i32x4_extract_lane(c, 1) + wasm_i32x4_extract_lane(c, 2) + wasm_i32x4_extract_lane(c, 3);
  s0 = wasm_f64x2_add(s0, s1);
  q0 = wasm_f64x2_add(q0, q1);
  S = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
  Q = wasm_f64x2_extract_lane(q0, 0) + wasm_f64x2_extract_lane(q0, 1);
  for (; j < n; j++) {
    if (z[j] == -INFF) continue;
    double d = (double)z[j] - zmax;
    S += d;
    Q += d * d;
    count++;
  }
  res[0] = S;
  res[1] = Q;
  res[2] = count;
}

// band_sums and row_sums; `masked` (a constant at each call) drops the tokens below thrf from the
// sums and skips blocks without a kept token.
static inline __attribute__((always_inline)) void block_sums(const float *z, int n, float thrf, float zmax, float inv, int moments, int masked, int coarse, double *res) {
  if (!(thrf > -__FLT_MAX__)) thrf = -__FLT_MAX__; // excludes -Infinity
  v128_t tv = wasm_f32x4_splat(thrf), zm = wasm_f32x4_splat(zmax), iv = wasm_f32x4_splat(inv), zero = wasm_f64x2_splat(0);
  v128_t s0 = zero, s1 = zero, a0 = zero, a1 = zero, q0 = zero, q1 = zero, cnt = wasm_i32x4_splat(0);
  int j = 0;
#define TERM(v, k, x, w)                                                                 \
  v128_t w = wasm_f32x4_pmin(wasm_f32x4_mul(wasm_f32x4_sub(zm, v), iv), F4(87.0f));       \
  v128_t x = coarse ? exp_lo4(w) : exp_core4(w);                                            \
  if (masked) x = wasm_v128_and(x, k);
#define ACC(acc0, acc1, q)                                                                                            \
  acc0 = wasm_f64x2_add(acc0, wasm_f64x2_promote_low_f32x4(q));                                                    \
  acc1 = wasm_f64x2_add(acc1, wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(q, q, 2, 3, 0, 1)));
  for (; j + 16 <= n; j += 16) {
    v128_t va = wasm_v128_load(z + j), vb = wasm_v128_load(z + j + 4), vc = wasm_v128_load(z + j + 8), vd = wasm_v128_load(z + j + 12);
    v128_t ka = wasm_f32x4_ge(va, tv), kb = wasm_f32x4_ge(vb, tv), kc = wasm_f32x4_ge(vc, tv), kd = wasm_f32x4_ge(vd, tv);
    // A block with no kept token adds nothing (a high floor: most blocks).
    if (masked && !wasm_v128_any_true(wasm_v128_or(wasm_v128_or(ka, kb), wasm_v128_or(kc, kd)))) continue;
    cnt = wasm_i32x4_sub(cnt, wasm_i32x4_add(wasm_i32x4_add(ka, kb), wasm_i32x4_add(kc, kd)));
    TERM(va, ka, xa, wa) TERM(vb, kb, xb, wb) TERM(vc, kc, xc, wc) TERM(vd, kd, xd, wd)
    if (moments == 3) {
      // Every term in float64 (tighter bounds for typical-p's second try), Σ x·w² per block.
      ACC(s0, s1, xa) ACC(s0, s1, xb) ACC(s0, s1, xc) ACC(s0, s1, xd)
      v128_t ya = wasm_f32x4_mul(xa, wa), yb = wasm_f32x4_mul(xb, wb), yc = wasm_f32x4_mul(xc, wc), yd = wasm_f32x4_mul(xd, wd);
      ACC(a0, a1, ya) ACC(a0, a1, yb) ACC(a0, a1, yc) ACC(a0, a1, yd)
      v128_t sq = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(ya, wa), wasm_f32x4_mul(yb, wb)), wasm_f32x4_add(wasm_f32x4_mul(yc, wc), wasm_f32x4_mul(yd, wd)));
      ACC(q0, q1, sq)
      continue;
    }
    v128_t sx = wasm_f32x4_add(wasm_f32x4_add(xa, xb), wasm_f32x4_add(xc, xd));
    ACC(s0, s1, sx)
    if (moments == 0) continue;
    v128_t ya = wasm_f32x4_mul(xa, wa), yb = wasm_f32x4_mul(xb, wb), yc = wasm_f32x4_mul(xc, wc), yd = wasm_f32x4_mul(xd, wd);
    v128_t sy = wasm_f32x4_add(wasm_f32x4_add(ya, yb), wasm_f32x4_add(yc, yd));
    ACC(a0, a1, sy)
    if (moments == 1) continue;
    v128_t sq = wasm_f32x4_add(wasm_f32x4_add(wasm_f32x4_mul(ya, wa), wasm_f32x4_mul(yb, wb)), wasm_f32x4_add(wasm_f32x4_mul(yc, wc), wasm_f32x4_mul(yd, wd)));
    ACC(q0, q1, sq)
  }
#undef TERM
#undef ACC
  s0 = wasm_f64x2_add(s0, s1);
  a0 = wasm_f64x2_add(a0, a1);
  q0 = wasm_f64x2_add(q0, q1);
  double S = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
  double A = wasm_f64x2_extract_lane(a0, 0) + wasm_f64x2_extract_lane(a0, 1);
  double Q = wasm_f64x2_extract_lane(q0, 0) + wasm_f64x2_extract_lane(q0, 1);
  int count = wasm_i32x4_extract_lane(cnt, 0) + wasm_i32x4_extract_lane(cnt, 1) + wasm_i32x4_extract_lane(cnt, 2) + wasm_i32x4_extract_lane(cnt, 3);
  for (; j < n; j++) {
    int kept = z[j] >= thrf;
    if (masked && !kept) continue;
    count += kept;
    float w = (zmax - z[j]) * inv;
    if (!(w <= 87.0f)) w = 87.0f;
    float x = wasm_f32x4_extract_lane(coarse ? exp_lo4(wasm_f32x4_splat(w)) : exp_core4(wasm_f32x4_splat(w)), 0);
    S += x;
    if (moments >= 1) A += (double)x * w;
    if (moments >= 2) Q += (double)x * w * w;
  }
  res[0] = S;
  res[1] = A;
  res[2] = count;
  res[3] = Q;
}

/**
 * Over the kept tokens of z[0..n) (z >= thrf, finite), with w = min((zmax - z)·inv, 87) in
 * float32 and x = exp_neg4(w) (see the top-p pass for their error): res[0] = Σ x and, with
 * moments ≥ 1, res[1] = Σ x·w (else 0); res[2] = how many tokens are kept; with moments 2,
 * res[3] = Σ x·w² (a rough value: typical-p's window only; else 0). Each block of 16 tokens is
 * summed in float32 (per lane: four terms, each product and sum within 2^-24 per operation, so
 * within 4·2^-23 of its value), then in float64 (two partial sums per quantity); moments 3 is 2
 * with every x and every float32 product x·w added in float64 instead. Blocks with no kept
 * token are skipped.
 */
EXPORT(band_sums) void band_sums(const float *z, int n, float thrf, float zmax, float inv, int moments, double *res) {
  // No floor: every finite token is kept, so no mask (-Infinity enters as row_sums says).
  if (!(thrf > -__FLT_MAX__)) block_sums(z, n, -__FLT_MAX__, zmax, inv, moments, 0, 0, res);
  else block_sums(z, n, thrf, zmax, inv, moments, 1, 0, res);
}

/** band_sums with moments 0 and the coarse exp_lo4 (each x within 1e-4 of e^-w): res[0] = Σ x, res[2] the count. */
EXPORT(band_sums_coarse) void band_sums_coarse(const float *z, int n, float thrf, float zmax, float inv, double *res) {
  if (!(thrf > -__FLT_MAX__)) block_sums(z, n, -__FLT_MAX__, zmax, inv, 0, 0, 1, res);
  else block_sums(z, n, thrf, zmax, inv, 0, 1, 1, res);
}

/**
 * band_sums over a whole row (every finite token kept) with moments 1, without masks: a
 * -Infinity token enters as w = 87 (x = exp_neg4(87) < 1.7e-38, true 0), a term the callers'
 * bound for tokens past w = 87 covers; no block is skipped.
 */
EXPORT(row_sums) void row_sums(const float *z, int n, float zmax, float inv, double *res) {
  block_sums(z, n, -__FLT_MAX__, zmax, inv, 1, 0, 0, res);
}

/**
 * Over the kept tokens of z[0..n) (z >= thrf, finite): res[0] = how many lie in [lo, hi],
 * res[1] = the smallest above hi (+Infinity when none).
 */
EXPORT(band_floor) void band_floor(const float *z, int n, float thrf, float lo, float hi, double *res) {
  if (!(thrf > -__FLT_MAX__)) thrf = -__FLT_MAX__;
  v128_t tv = wasm_f32x4_splat(thrf), lv = wasm_f32x4_splat(lo), hv = wasm_f32x4_splat(hi), pinf = wasm_f32x4_splat(INFF);
  v128_t mn = pinf, cnt = wasm_i32x4_splat(0);
  int j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t v = wasm_v128_load(z + j);
    v128_t keep = wasm_f32x4_ge(v, tv);
    cnt = wasm_i32x4_sub(cnt, wasm_v128_and(keep, wasm_v128_and(wasm_f32x4_ge(v, lv), wasm_f32x4_le(v, hv))));
    mn = wasm_f32x4_pmin(mn, wasm_v128_bitselect(v, pinf, wasm_v128_and(keep, wasm_f32x4_gt(v, hv))));
  }
  int count = wasm_i32x4_extract_lane(cnt, 0) + wasm_i32x4_extract_lane(cnt, 1) + wasm_i32x4_extract_lane(cnt, 2) + wasm_i32x4_extract_lane(cnt, 3);
  float m = INFF;
  for (int l = 0; l < 4; l++) {
    float v = l == 0 ? wasm_f32x4_extract_lane(mn, 0) : l == 1 ? wasm_f32x4_extract_lane(mn, 1) : l == 2 ? wasm_f32x4_extract_lane(mn, 2) : wasm_f32x4_extract_lane(mn, 3);
    if (v < m) m = v;
  }
  for (; j < n; j++) {
    float v = z[j];
    if (!(v >= thrf)) continue;
    if (v >= lo && v <= hi) count++;
    else if (v > hi && v < m) m = v;
  }
  res[0] = count;
  res[1] = m;
}

// ---------------------------------------------------------------------------------------------
// Typical-p over every token of a row (a certified shortcut to the JS kernel's typicalBand; the
// caller, sample-rows-simd.ts, does the bucket walk and the bounds). band_sums (moments 2) gives
// the centre; this pass histograms only the tokens of a window of w around it, and lists them.

/**
 * Kept tokens of z[0..n) (z >= thrf, finite) with w = min((zmax - z)·inv, 87) (float32) in
 * [wlo, whi): idx[m] = the token, val[m] its logit, bucket[m] = b = min(trunc((w - wlo)·scale), nb - 1) and
 * hist[b] += x = exp_neg4(w). Returns m; quads with no token in the window cost a compare.
 * hist has nb + 1 entries (the last: scratch; nb ≤ 4096).
 */
EXPORT(typ_window) int typ_window(const float *z, int n, float thrf, float zmax, float inv, float wlo, float whi, float scale, int nb, double *hist, int *idx, u16 *bucket, float *val) {
  if (!(thrf > -__FLT_MAX__)) thrf = -__FLT_MAX__;
  v128_t tv = wasm_f32x4_splat(thrf), zm = wasm_f32x4_splat(zmax), iv = wasm_f32x4_splat(inv), sc = wasm_f32x4_splat(scale);
  v128_t lov = wasm_f32x4_splat(wlo), hiv = wasm_f32x4_splat(whi), last = wasm_i32x4_splat(nb - 1);
  int m = 0, c = 0;
  for (; c + 4 <= n; c += 4) {
    v128_t v = wasm_v128_load(z + c);
    v128_t w = wasm_f32x4_pmin(wasm_f32x4_mul(wasm_f32x4_sub(zm, v), iv), F4(87.0f));
    v128_t in = wasm_v128_and(wasm_f32x4_ge(v, tv), wasm_v128_and(wasm_f32x4_ge(w, lov), wasm_f32x4_lt(w, hiv)));
    if (!wasm_v128_any_true(in)) continue;
    v128_t x = exp_neg4(w);
    v128_t b = wasm_i32x4_min(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_mul(wasm_f32x4_sub(w, lov), sc)), last);
    // Branch-free (the lanes in the window are unpredictable): a lane outside it adds to the
    // spare bucket nb and its list entry is overwritten by the next.
    b = wasm_v128_bitselect(b, wasm_i32x4_splat(nb), in);
    int bits = wasm_i32x4_bitmask(in);
#define TW(l)                                                                \
  {                                                                          \
    int bb = wasm_i32x4_extract_lane(b, l);                                  \
    idx[m] = c + l;                                                          \
    bucket[m] = (u16)bb;                                                     \
    val[m] = wasm_f32x4_extract_lane(v, l);                                  \
    m += (bits >> l) & 1;                                                    \
    hist[bb] = hist[bb] + (double)wasm_f32x4_extract_lane(x, l);             \
  }
    TW(0) TW(1) TW(2) TW(3)
#undef TW
  }
  for (; c < n; c++) {
    if (!(z[c] >= thrf)) continue;
    float w = (zmax - z[c]) * inv;
    if (!(w <= 87.0f)) w = 87.0f;
    if (!(w >= wlo && w < whi)) continue;
    float x = wasm_f32x4_extract_lane(exp_neg4(wasm_f32x4_splat(w)), 0);
    float bf = (w - wlo) * scale;
    int bb = bf >= (float)(nb - 1) ? nb - 1 : (int)bf;
    idx[m] = c;
    bucket[m] = (u16)bb;
    val[m++] = z[c];
    hist[bb] = hist[bb] + (double)x;
  }
  return m;
}

/**
 * The window's histogram again over its list only (val[0..m), as typ_window listed them) with nb
 * buckets of width 1/scale from wlo: bucket[i] and hist (nb entries, cleared by the caller) as
 * typ_window computes them. For a window that lists many tokens: finer buckets gather fewer.
 */
EXPORT(list_hist) void list_hist(const float *val, int m, float zmax, float inv, float wlo, float scale, int nb, double *hist, u16 *bucket) {
  v128_t zm = wasm_f32x4_splat(zmax), iv = wasm_f32x4_splat(inv), sc = wasm_f32x4_splat(scale), lov = wasm_f32x4_splat(wlo), last = wasm_i32x4_splat(nb - 1);
  int c = 0;
  for (; c + 4 <= m; c += 4) {
    v128_t w = wasm_f32x4_pmin(wasm_f32x4_mul(wasm_f32x4_sub(zm, wasm_v128_load(val + c)), iv), F4(87.0f));
    v128_t x = exp_neg4(w);
    v128_t b = wasm_i32x4_min(wasm_i32x4_trunc_sat_f32x4(wasm_f32x4_mul(wasm_f32x4_sub(w, lov), sc)), last);
#define LH(l)                                                                \
  {                                                                          \
    int bb = wasm_i32x4_extract_lane(b, l);                                  \
    bucket[c + l] = (u16)bb;                                                 \
    hist[bb] = hist[bb] + (double)wasm_f32x4_extract_lane(x, l);             \
  }
    LH(0) LH(1) LH(2) LH(3)
#undef LH
  }
  for (; c < m; c++) {
    float w = (zmax - val[c]) * inv;
    if (!(w <= 87.0f)) w = 87.0f;
    float x = wasm_f32x4_extract_lane(exp_neg4(wasm_f32x4_splat(w)), 0);
    float bf = (w - wlo) * scale;
    int bb = bf >= (float)(nb - 1) ? nb - 1 : (int)bf;
    bucket[c] = (u16)bb;
    hist[bb] = hist[bb] + (double)x;
  }
}

/**
 * Of the listed tokens idx[0..m) (logits val, buckets bucket): those whose bucket is in [a1, b1] or
 * [a2, b2] into out, in list order (returns their count); res[0], res[1] = the smallest and
 * largest logit of those whose bucket is in [ia, ib] (±Infinity when none). Empty ranges: a > b.
 */
EXPORT(gather_listed) int gather_listed(const float *val, const int *idx, const u16 *bucket, int m, int a1, int b1, int a2, int b2, int ia, int ib, int *out, double *res) {
  v128_t lo1 = wasm_i16x8_splat((short)a1), hi1 = wasm_i16x8_splat((short)b1), lo2 = wasm_i16x8_splat((short)a2), hi2 = wasm_i16x8_splat((short)b2);
  v128_t loI = wasm_i16x8_splat((short)ia), hiI = wasm_i16x8_splat((short)ib);
  v128_t pinf = wasm_f32x4_splat(INFF), ninf = wasm_f32x4_splat(-INFF), vmn = pinf, vmx = ninf;
  int k = 0, i = 0;
  for (; i + 8 <= m; i += 8) {
    v128_t v = wasm_v128_load(bucket + i);
    v128_t in = wasm_v128_and(wasm_u16x8_ge(v, loI), wasm_u16x8_le(v, hiI));
    v128_t m0 = wasm_i32x4_extend_low_i16x8(in), m1 = wasm_i32x4_extend_high_i16x8(in);
    v128_t v0 = wasm_v128_load(val + i), v1 = wasm_v128_load(val + i + 4);
    vmn = wasm_f32x4_pmin(vmn, wasm_f32x4_pmin(wasm_v128_bitselect(v0, pinf, m0), wasm_v128_bitselect(v1, pinf, m1)));
    vmx = wasm_f32x4_pmax(vmx, wasm_f32x4_pmax(wasm_v128_bitselect(v0, ninf, m0), wasm_v128_bitselect(v1, ninf, m1)));
    v128_t g = wasm_v128_or(wasm_v128_and(wasm_u16x8_ge(v, lo1), wasm_u16x8_le(v, hi1)), wasm_v128_and(wasm_u16x8_ge(v, lo2), wasm_u16x8_le(v, hi2)));
    if (!wasm_v128_any_true(g)) continue;
    int bits = wasm_i16x8_bitmask(g);
    for (int l = 0; l < 8; l++) {
      out[k] = idx[i + l]; // branch-free: k <= i + l, so out[k] is free
      k += (bits >> l) & 1;
    }
  }
  float mn = min_lanes(vmn, INFF), mx = max_lanes(vmx, -INFF);
  for (; i < m; i++) {
    int b = bucket[i];
    if ((b >= a1 && b <= b1) || (b >= a2 && b <= b2)) out[k++] = idx[i];
    if (b >= ia && b <= ib) {
      if (val[i] < mn) mn = val[i];
      if (val[i] > mx) mx = val[i];
    }
  }
  res[0] = mn;
  res[1] = mx;
  return k;
}

/**
 * The listed tokens idx[0..m) whose logit val lies in [lo, hi], into out in list order (out may
 * be idx), their logits compacted in val itself; returns their count.
 */
EXPORT(list_band) int list_band(const int *idx, float *val, int m, float lo, float hi, int *out) {
  int k = 0;
  for (int i = 0; i < m; i++) {
    int j = idx[i];
    float v = val[i];
    out[k] = j; // branch-free: k <= i
    val[k] = v;
    k += v >= lo && v <= hi;
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// Typical-p over every token of a row, exactly: the JS kernel's typicalBand (its two float64
// passes), the same arithmetic token by token, for rows the certified window above cannot
// settle. The caller (typicalRow in sample-rows-simd.ts) takes ln Z between the passes and walks
// the boundary bucket with the JS kernel's walkByDistance.

/** e^a for a <= 0: the JS kernel's expNeg (table, degree-7 polynomial; Math.exp past the table). */
static inline double exp_neg1(double a, const double *exptab) {
  double fb = __builtin_floor(-a * PER_NAT);
  if (fb >= BUCKETS - 1) return js_exp(a);
  double d = a + fb * (1.0 / PER_NAT);
  return exptab[(int)fb] * (1 + d * (1 + d * (0.5 + d * (1.0 / 6 + d * (1.0 / 24 + d * (1.0 / 120 + d * (1.0 / 720 + d * (1.0 / 5040))))))));
}

/** The JS kernel's Sum (Neumaier): s the sum, c the compensation (scalars: the module has no stack). */
#define NSUM(s, c, v)                                                                     \
  {                                                                                       \
    double v_ = (v), t_ = s + v_;                                                         \
    c = c + (__builtin_fabs(s) >= __builtin_fabs(v_) ? s - t_ + v_ : v_ - t_ + s);        \
    s = t_;                                                                               \
  }

/**
 * The first pass: for each token with z >= thr (not -Infinity), s = fround(z - m)·inv and
 * x = e^s, into sOf / xOf (sOf NaN: a token not kept); res[0] = Σ x, res[1] = Σ x·s over x > 0,
 * both compensated, in index order.
 */
EXPORT(typ_exact_sums) void typ_exact_sums(const float *z, int V, double thr, double m, double inv, const double *exptab, double *sOf, double *xOf, double *res) {
  double total = 0, totalC = 0, xs = 0, xsC = 0;
  const v128_t thv = wasm_f64x2_splat(thr), mv = wasm_f64x2_splat(m), iv = wasm_f64x2_splat(inv);
  const v128_t ninf = wasm_f64x2_splat(-INF), last = wasm_f64x2_splat(BUCKETS - 1);
  int c = 0;
  // One token: the JS kernel's loop body.
#define EXACT1(t)                                  \
  {                                                \
    double zj = z[t];                              \
    if (!(zj >= thr) || zj == -INF) {              \
      sOf[t] = __builtin_nan("");                  \
    } else {                                       \
      double sj = (double)(float)(zj - m) * inv;   \
      double x = exp_neg1(sj, exptab);             \
      sOf[t] = sj;                                 \
      xOf[t] = x;                                  \
      NSUM(total, totalC, x)                       \
      if (x > 0) NSUM(xs, xsC, x * sj)             \
    }                                              \
  }
  // Four tokens at a time when all four are kept and in the table (s and the polynomial on two
  // lanes, IEEE operations lane by lane: the same bits as the scalar loop); the sums in order.
  for (; c + 4 <= V; c += 4) {
    v128_t v = wasm_v128_load(z + c);
    v128_t z0 = wasm_f64x2_promote_low_f32x4(v), z1 = wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1));
    v128_t ok = wasm_v128_and(wasm_v128_and(wasm_f64x2_ge(z0, thv), wasm_f64x2_ne(z0, ninf)), wasm_v128_and(wasm_f64x2_ge(z1, thv), wasm_f64x2_ne(z1, ninf)));
    v128_t s0 = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_sub(z0, mv))), iv);
    v128_t s1 = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_sub(z1, mv))), iv);
    v128_t fb0 = wasm_f64x2_floor(wasm_f64x2_mul(wasm_f64x2_neg(s0), wasm_f64x2_splat(PER_NAT)));
    v128_t fb1 = wasm_f64x2_floor(wasm_f64x2_mul(wasm_f64x2_neg(s1), wasm_f64x2_splat(PER_NAT)));
    ok = wasm_v128_andnot(ok, wasm_v128_or(wasm_f64x2_ge(fb0, last), wasm_f64x2_ge(fb1, last)));
    if (!wasm_i64x2_all_true(ok)) {
      for (int t = c; t < c + 4; t++) EXACT1(t)
      continue;
    }
    v128_t e0 = poly2(wasm_f64x2_add(s0, wasm_f64x2_mul(fb0, wasm_f64x2_splat(1.0 / PER_NAT))));
    v128_t e1 = poly2(wasm_f64x2_add(s1, wasm_f64x2_mul(fb1, wasm_f64x2_splat(1.0 / PER_NAT))));
    wasm_v128_store(sOf + c, s0);
    wasm_v128_store(sOf + c + 2, s1);
    // The buckets as integers in one saturating conversion (fb is in [0, 4095) here).
    v128_t b4 = wasm_i32x4_shuffle(wasm_i32x4_trunc_sat_f64x2_zero(fb0), wasm_i32x4_trunc_sat_f64x2_zero(fb1), 0, 1, 4, 5);
#define LANE(fb, e, sv, l, o)                                                            \
  {                                                                                    \
    double x = exptab[wasm_i32x4_extract_lane(b4, o)] * wasm_f64x2_extract_lane(e, l); \
    xOf[c + o] = x;                                                                    \
    NSUM(total, totalC, x)                                                             \
    if (x > 0) NSUM(xs, xsC, x * wasm_f64x2_extract_lane(sv, l))                       \
  }
    LANE(fb0, e0, s0, 0, 0) LANE(fb0, e0, s0, 1, 1) LANE(fb1, e1, s1, 0, 2) LANE(fb1, e1, s1, 1, 3)
#undef LANE
  }
  for (; c < V; c++) EXACT1(c)
#undef EXACT1
  res[0] = total + totalC;
  res[1] = xs + xsC;
}

/**
 * The second pass: each kept token's bucket b = min(4095, floor(|s - centre|·32)) into bucketOf
 * (4096: not kept) and mass[b] += x / Z (mass zeroed here, 4096 entries).
 */
EXPORT(typ_exact_mass) void typ_exact_mass(int V, const double *sOf, const double *xOf, double centre, double Z, double *mass, u16 *bucketOf) {
  for (int b = 0; b < BUCKETS; b++) mass[b] = 0;
  for (int c = 0; c < V; c++) {
    double s = sOf[c];
    if (s != s) {
      bucketOf[c] = BUCKETS;
      continue;
    }
    double fb = __builtin_floor(__builtin_fabs(s - centre) * PER_NAT);
    int b = fb < BUCKETS - 1 ? (int)fb : BUCKETS - 1;
    bucketOf[c] = (u16)b;
    mass[b] = mass[b] + xOf[c] / Z;
  }
}

/**
 * The tokens of bucket `star` in index order: d = |s - centre| into dOut, s compacted into sOf
 * itself (the write index never passes the read one). Returns their count.
 */
EXPORT(typ_exact_gather) int typ_exact_gather(int V, double *sOf, const u16 *bucketOf, int star, double centre, double *dOut) {
  int k = 0;
  for (int c = 0; c < V; c++) {
    if (bucketOf[c] != star) continue;
    double s = sOf[c];
    dOut[k] = __builtin_fabs(s - centre);
    sOf[k++] = s;
  }
  return k;
}

/**
 * minTokensToKeep: the k-th smallest distance |fround(z - m)·inv - centre| over the tokens with
 * z >= thr (not -Infinity), or over all of them when fewer (the JS kernel's quickselect: the same
 * value); buf holds k doubles. -Infinity when no token is kept.
 */
EXPORT(typ_exact_kth) double typ_exact_kth(const float *z, int V, double thr, double m, double inv, double centre, int k, double *buf) {
  int n = 0; // buf[0..n) ascending, n <= k
  for (int c = 0; c < V; c++) {
    double zj = z[c];
    if (!(zj >= thr) || zj == -INF) continue;
    double d = __builtin_fabs((double)(float)(zj - m) * inv - centre);
    if (n == k && !(d < buf[k - 1])) continue;
    int i = n < k ? n++ : k - 1;
    while (i > 0 && buf[i - 1] > d) {
      buf[i] = buf[i - 1];
      i--;
    }
    buf[i] = d;
  }
  return n > 0 ? buf[n - 1] : -INF;
}

/**
 * The kept band after the walk (the JS kernel's Keep.has with typical-p's bound D): the smallest
 * and largest z >= thr with |fround(z - m)·inv - centre| <= D, into res[0], res[1] (+Infinity,
 * -Infinity when none).
 */
EXPORT(typ_exact_band) void typ_exact_band(const float *z, int V, double thr, double m, double inv, double centre, double D, double *res) {
  const v128_t thv = wasm_f64x2_splat(thr), mv = wasm_f64x2_splat(m), iv = wasm_f64x2_splat(inv);
  const v128_t cv = wasm_f64x2_splat(centre), dv = wasm_f64x2_splat(D), ninf = wasm_f64x2_splat(-INF);
  v128_t lo4 = wasm_f32x4_splat(INFF), hi4 = wasm_f32x4_splat(-INFF);
  int c = 0;
#define IN(zd)                                                                                                                 \
  wasm_v128_and(wasm_v128_and(wasm_f64x2_ge(zd, thv), wasm_f64x2_ne(zd, ninf)),                                                \
                wasm_f64x2_le(wasm_f64x2_abs(wasm_f64x2_sub(                                                                   \
                                  wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_f32x4_demote_f64x2_zero(wasm_f64x2_sub(zd, mv))), iv), cv)), \
                              dv))
  for (; c + 4 <= V; c += 4) {
    v128_t v = wasm_v128_load(z + c);
    v128_t in0 = IN(wasm_f64x2_promote_low_f32x4(v)), in1 = IN(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)));
    v128_t in = wasm_i32x4_shuffle(in0, in1, 0, 2, 4, 6); // the 64-bit lanes' masks as 32-bit ones
    lo4 = wasm_f32x4_pmin(lo4, wasm_v128_bitselect(v, wasm_f32x4_splat(INFF), in));
    hi4 = wasm_f32x4_pmax(hi4, wasm_v128_bitselect(v, wasm_f32x4_splat(-INFF), in));
  }
#undef IN
  double lo = min_lanes(lo4, INFF), hi = max_lanes(hi4, -INFF);
  for (; c < V; c++) {
    double zj = z[c];
    if (!(zj >= thr) || zj == -INF) continue;
    if (!(__builtin_fabs((double)(float)(zj - m) * inv - centre) <= D)) continue;
    if (zj < lo) lo = zj;
    if (zj > hi) hi = zj;
  }
  res[0] = lo;
  res[1] = hi;
}

/** The tokens of z[0..V) with z >= thrf and lo <= z <= hi, into out in index order (their logits into vals); returns their count. */
EXPORT(list_range) int list_range(const float *z, int V, float thrf, float lo, float hi, int *out, float *vals) {
  if (lo < thrf) lo = thrf;
  v128_t lv = wasm_f32x4_splat(lo), hv = wasm_f32x4_splat(hi);
  int k = 0, c = 0;
  for (; c + 4 <= V; c += 4) {
    v128_t v = wasm_v128_load(z + c);
    if (!wasm_v128_any_true(wasm_v128_and(wasm_f32x4_ge(v, lv), wasm_f32x4_le(v, hv)))) continue;
    for (int l = 0; l < 4; l++) {
      float x = z[c + l];
      out[k] = c + l; // branch-free: k <= c + l
      vals[k] = x;
      k += x >= lo && x <= hi;
    }
  }
  for (; c < V; c++) {
    float x = z[c];
    out[k] = c;
    vals[k] = x;
    k += x >= lo && x <= hi;
  }
  return k;
}

// ---------------------------------------------------------------------------------------------
// The draw: argmax over kept tokens of (z - zmax)·inv + fround(-log(-log u)), lowest index
// among equal scores — the JS kernel's loop, with tokens ruled out 16 at a time by their hash
// alone: a kept score is at most its noise (zmax is the kept maximum), and a hash below the
// limit for the best score so far gives noise that cannot reach it.

#define GOLDEN 0x9e3779b9u
#define U24 5.960464477539063e-8
// mt[i]: for G = GLO + i/GSTEP, every u24 hash m < mt[i] has noise g(m) < G (from JS; a table
// of GN entries, conservative by construction).
#define GLO (-3.0)
#define GSTEP 256.0
#define MARGIN 1e-5 // > the float32 rounding of g (|g| < 18: < 1.1e-6) and float64 error

static inline u32 mix32(u32 x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static inline v128_t mix32x4(v128_t x) {
  x = wasm_v128_xor(x, wasm_u32x4_shr(x, 16));
  x = wasm_i32x4_mul(x, wasm_i32x4_splat((int)0x7feb352du));
  x = wasm_v128_xor(x, wasm_u32x4_shr(x, 15));
  x = wasm_i32x4_mul(x, wasm_i32x4_splat((int)0x846ca68bu));
  x = wasm_v128_xor(x, wasm_u32x4_shr(x, 16));
  return x;
}

static inline double gumbel(u32 h) {
  double u = ((double)(h >> 8) + 0.5) * U24;
  return (double)(float)(-js_log(-js_log(u)));
}


/** Lower bound of the hash's top 24 bits below which no token reaches noise `need`; -1: none can. */
static inline int min_hash(double need, const u32 *mt, int gn) {
  if (!(need > GLO)) return 0;
  double fi = (need - GLO) * GSTEP;
  if (fi >= gn) return -1;
  return (int)mt[(int)fi];
}

/** One logit as dyn_rewrite leaves it (a finite z; -Infinity stays). */
static inline float rewrite1(float v, float zmax, double prev, double k) {
  if (!(v > -INFF)) return v;
  float s = prev == 1.0 ? v - zmax : (float)((double)(v - zmax) * prev);
  float t = (float)((double)s * k);
  return t < -__FLT_MAX__ ? -__FLT_MAX__ : t;
}

/** draw and draw_dyn (dyn: scores from the logits rewritten as dyn_rewrite does; thresholds on the raw ones). */
// lanes[0] counts the lanes of whole-row draws that passed the block limit and had their own
// bound checked (a test reads it: on peaky rows a few per row; a weak block limit sends a large
// share of the row here). In the caller's memory: the module has no static data, so it can run
// in a memory it does not own (the wasm backend's heap).
static inline __attribute__((always_inline)) int draw_impl(const float *z, const int *idx, int n, float thrf, float hif, double zmax, double inv, u32 sk, const u32 *mt, int gn, u32 *lanes, int dyn, float dz, double dprev, double dk) {
#define RW(v) (dyn ? rewrite1(v, dz, dprev, dk) : (v))
  if (!(thrf > -__FLT_MAX__)) thrf = -__FLT_MAX__; // excludes -Infinity
  int best = -1;
  double bestScore = -INF;
  if (idx) {
    for (int c = 0; c < n; c++) {
      int j = idx[c];
      float zj = z[j];
      if (!(zj >= thrf) || zj > hif) continue;
      double a = ((double)RW(zj) - zmax) * inv;
      int lim = min_hash(bestScore - a - MARGIN, mt, gn);
      if (lim < 0) continue;
      u32 h = mix32(sk + (u32)j * GOLDEN);
      if ((int)(h >> 8) < lim) continue;
      double s = a + gumbel(h);
      if (s > bestScore) {
        best = j;
        bestScore = s;
      }
    }
    return best;
  }
  v128_t tv = wasm_f32x4_splat(thrf);
  v128_t lane = wasm_i32x4_make(0, 1, 2, 3);
  // The hash inputs sk + j·GOLDEN of a block's first four lanes, stepped by 16·GOLDEN per block.
  v128_t xb = wasm_i32x4_add(wasm_i32x4_splat((int)sk), wasm_i32x4_mul(lane, wasm_i32x4_splat((int)GOLDEN)));
  const v128_t step4 = wasm_i32x4_splat((int)(4u * GOLDEN)), step16 = wasm_i32x4_splat((int)(16u * GOLDEN));
  int j = 0;
  // Each block's hash limit comes from its largest kept logit (RW is monotone, so that logit's
  // rewrite is the block's largest score before noise): on peaky rows most blocks need noise no
  // hash gives and are skipped unhashed. Every kept score is at most its noise (z <= zmax, the
  // kept maximum; draw_dyn: the rewritten maximum, 0), so once no noise reaches the best score
  // (lim < 0) nothing later can win.
  // A band narrower than 2 in score units (flat rows under top-p) gains little from block
  // limits: there the one limit for the best score serves every block, without the block max.
  const int blocks = !(((double)RW(thrf) - zmax) * inv > -2.0);
  int lim = 0;
  v128_t limv = wasm_i32x4_splat(0);
  for (; j + 16 <= n; j += 16, xb = wasm_i32x4_add(xb, step16)) {
    v128_t a = wasm_v128_load(z + j), b = wasm_v128_load(z + j + 4);
    v128_t c = wasm_v128_load(z + j + 8), d = wasm_v128_load(z + j + 12);
    // Lanes at or above the floor; an upper bound (XTC's) is tested lane by lane below: it drops
    // only the few largest logits, so masking every block for it cost more than it saved.
    v128_t ka = wasm_f32x4_ge(a, tv), kb = wasm_f32x4_ge(b, tv), kc = wasm_f32x4_ge(c, tv), kd = wasm_f32x4_ge(d, tv);
    if (!blocks) {
      if (!wasm_v128_any_true(wasm_v128_or(wasm_v128_or(ka, kb), wasm_v128_or(kc, kd)))) continue;
      goto hash;
    }
    // A block's largest logit: its largest kept one when it keeps any and nothing above an upper
    // bound (every token below the floor lies below every kept one); otherwise larger, so its
    // hash limit is only looser.
    v128_t mx = wasm_f32x4_pmax(wasm_f32x4_pmax(a, b), wasm_f32x4_pmax(c, d));
    mx = wasm_f32x4_pmax(mx, wasm_i32x4_shuffle(mx, mx, 2, 3, 0, 1));
    mx = wasm_f32x4_pmax(mx, wasm_i32x4_shuffle(mx, mx, 1, 0, 3, 2));
    float bm = wasm_f32x4_extract_lane(mx, 0);
    if (!(bm >= thrf)) continue; // nothing kept in the block
    int blim = min_hash(bestScore - ((double)RW(bm) - zmax) * inv - MARGIN, mt, gn);
    if (blim < 0) continue;
    // (h >> 8) >= blim  <=>  h >= blim << 8, unsigned (blim < 2^24).
    limv = wasm_i32x4_splat((int)((u32)blim << 8));
  hash:;
    v128_t x1 = wasm_i32x4_add(xb, step4), x2 = wasm_i32x4_add(x1, step4), x3 = wasm_i32x4_add(x2, step4);
    v128_t pa = wasm_v128_and(ka, wasm_u32x4_ge(mix32x4(xb), limv));
    v128_t pb = wasm_v128_and(kb, wasm_u32x4_ge(mix32x4(x1), limv));
    v128_t pc = wasm_v128_and(kc, wasm_u32x4_ge(mix32x4(x2), limv));
    v128_t pd = wasm_v128_and(kd, wasm_u32x4_ge(mix32x4(x3), limv));
    if (!wasm_v128_any_true(wasm_v128_or(wasm_v128_or(pa, pb), wasm_v128_or(pc, pd)))) continue;
    int bits = wasm_i32x4_bitmask(pa) | wasm_i32x4_bitmask(pb) << 4 | wasm_i32x4_bitmask(pc) << 8 | wasm_i32x4_bitmask(pd) << 12;
    // The lanes left: each one's own bound (its logit, not the block's largest), then its exact score.
    for (int l = 0; bits; l++, bits >>= 1) {
      if (!(bits & 1)) continue;
      int t = j + l;
      if (z[t] > hif) continue;
      lanes[0]++;
      double at = ((double)RW(z[t]) - zmax) * inv;
      u32 h = mix32(sk + (u32)t * GOLDEN);
      int lt = min_hash(bestScore - at - MARGIN, mt, gn);
      if (lt < 0 || (int)(h >> 8) < lt) continue;
      double s = at + gumbel(h);
      if (s > bestScore) {
        best = t;
        bestScore = s;
        lim = min_hash(bestScore - MARGIN, mt, gn);
        if (!blocks) limv = wasm_i32x4_splat((int)((u32)(lim < 0 ? 0 : lim) << 8));
      }
    }
    if (lim < 0) return best;
  }
  for (; j < n; j++) {
    float zj = z[j];
    if (!(zj >= thrf) || zj > hif) continue;
    double a = ((double)RW(zj) - zmax) * inv;
    u32 h = mix32(sk + (u32)j * GOLDEN);
    double s = a + gumbel(h);
    if (s > bestScore) {
      best = j;
      bestScore = s;
    }
  }
  return best;
}
#undef RW

/**
 * Kept tokens: thrf <= z <= hif (float32 bounds: thrf itself is the smallest kept value) and finite.
 * idx null: every token 0..n-1; otherwise the candidates idx[0..n) in index order.
 * Returns the winning token, or -1 when none is kept.
 */
EXPORT(draw)
int draw(const float *z, const int *idx, int n, float thrf, float hif, double zmax, double inv, u32 sk, const u32 *mt, int gn, u32 *lanes) {
  return draw_impl(z, idx, n, thrf, hif, zmax, inv, sk, mt, gn, lanes, 0, 0, 1, 1);
}

/**
 * draw over every finite token of z[0..n) as dyn_rewrite(z, n, dz, prev, k) would leave it, at
 * 1/T = 1 with the kept maximum 0 (the rewritten row max), without writing the row: the same
 * tokens, one pass fewer (dynamic temperature with nothing after it). The rewrite is monotone, so
 * a block's largest rewritten logit is its largest logit rewritten.
 */
EXPORT(draw_dyn)
int draw_dyn(const float *z, int n, float dz, double prev, double k, u32 sk, const u32 *mt, int gn, u32 *lanes) {
  return draw_impl(z, 0, n, -__FLT_MAX__, INFF, 0, 1, sk, mt, gn, lanes, 1, dz, prev, k);
}

// ---------------------------------------------------------------------------------------------
// Dynamic temperature's rewrite of a row in place, the reference's arithmetic
// (src/reference/temperature.ts): s = f32(f32(z - zmax)·prev), then f32(s·k) (float64 products,
// each rounded once to float32, as Math.fround does), floored at -FLT_MAX; -Infinity stays. The
// row holds no NaN or +Infinity. With prev = 1, s is the float32 difference itself.
static inline v128_t times64(v128_t v, v128_t m) {
  v128_t lo = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(v), m);
  v128_t hi = wasm_f64x2_mul(wasm_f64x2_promote_low_f32x4(wasm_i32x4_shuffle(v, v, 2, 3, 0, 1)), m);
  return wasm_i32x4_shuffle(wasm_f32x4_demote_f64x2_zero(lo), wasm_f32x4_demote_f64x2_zero(hi), 0, 1, 4, 5);
}

EXPORT(dyn_rewrite) void dyn_rewrite(float *z, int n, float zmax, double prev, double k) {
  v128_t zm = wasm_f32x4_splat(zmax), pv = wasm_f64x2_splat(prev), kv = wasm_f64x2_splat(k);
  v128_t ninf = wasm_f32x4_splat(-INFF), fmax = wasm_f32x4_splat(-__FLT_MAX__);
  int unit = prev == 1.0, j = 0;
  for (; j + 4 <= n; j += 4) {
    v128_t v = wasm_v128_load(z + j);
    v128_t s = wasm_f32x4_sub(v, zm);
    if (!unit) s = times64(s, pv);
    v128_t t = wasm_f32x4_pmax(times64(s, kv), fmax);
    wasm_v128_store(z + j, wasm_v128_bitselect(t, v, wasm_f32x4_gt(v, ninf)));
  }
  for (; j < n; j++) {
    float v = z[j];
    if (!(v > -INFF)) continue;
    float s = (float)((double)(v - zmax) * prev);
    float t = (float)((double)s * k);
    z[j] = t < -__FLT_MAX__ ? -__FLT_MAX__ : t;
  }
}

// ---------------------------------------------------------------------------------------------
// A token bitmask applied to a row in place (xgrammar layout: bit j & 31 of word j >> 5 allows
// token j): every other token becomes -Infinity, except NaN and +Infinity, which stay (the
// library's maskWhere rule). Whole allowed words are skipped. Returns 2 when a finite value was
// masked (the row's invalid-row cause then is the mask's, src/host-history.ts), else 0.
EXPORT(mask_words) int mask_words(float *z, int V, const u32 *words) {
  const v128_t bitsel = wasm_i32x4_make(1, 2, 4, 8), zero = wasm_i32x4_splat(0);
  const v128_t ninf = wasm_f32x4_splat(-INFF), pinf = wasm_f32x4_splat(INFF);
  v128_t fin = zero;
  int W = V >> 5;
  for (int w = 0; w < W; w++) {
    u32 bits = words[w];
    if (bits == 0xffffffffu) continue;
    float *p = z + (w << 5);
    for (int g = 0; g < 8; g++) {
      v128_t allow = wasm_i32x4_ne(wasm_v128_and(wasm_i32x4_splat((int)((bits >> (4 * g)) & 15u)), bitsel), zero);
      v128_t v = wasm_v128_load(p + 4 * g);
      v128_t keep = wasm_v128_or(allow, wasm_v128_or(wasm_f32x4_ne(v, v), wasm_f32x4_eq(v, pinf)));
      fin = wasm_v128_or(fin, wasm_v128_andnot(wasm_f32x4_ne(v, ninf), keep));
      wasm_v128_store(p + 4 * g, wasm_v128_bitselect(v, ninf, keep));
    }
  }
  int flags = wasm_v128_any_true(fin) ? 2 : 0;
  for (int j = W << 5; j < V; j++) {
    if ((words[j >> 5] >> (j & 31)) & 1u) continue;
    float v = z[j];
    if (v == v && v != INFF) {
      if (v != -INFF) flags = 2;
      z[j] = -INFF;
    }
  }
  return flags;
}
