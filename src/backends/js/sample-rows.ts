// The whole default chain (temperature → top-k → top-p → min-p → Gumbel-max draw) on plain
// float32 rows, in float64, a few passes per row and no sort of the vocabulary. Shared by the
// cpu and wasm fused kernels. Same arithmetic as the reference where it decides a token:
// thresholds, top-p sums over top-k candidates, and the perturbed scores.
import { mix32 } from '../../noise.js';

/** Per-row plan of one fused sampling step. */
export interface FusedPlan {
  batch: number;
  vocab: number;
  /** 1 / T per row; Infinity = greedy. */
  invT: Float64Array;
  /** k per row, 0 = off (k ≥ V is off too). */
  topK: Float64Array;
  /** p per row, 1 = off. */
  topP: Float64Array;
  /** m per row, 0 = off. */
  minP: Float64Array;
  /** stepKey(rowKey, step) per row. */
  stepKeys: Uint32Array;
  invalidRows: 'error' | 'uniform' | 'greedy';
}

const GOLDEN = 0x9e3779b9;
const U24 = 5.960464477539063e-8; // 2^-24

// Upper bound of the float32-rounded Gumbel noise for every u in each 1/4096-wide slice.
const G_UPPER = (() => {
  const t = new Float64Array(4096);
  for (let i = 0; i < 4096; i++) {
    const u = Math.min((i + 1) / 4096, 1 - U24 / 2);
    t[i] = -Math.log(-Math.log(u)) + 1e-5; // + margin for the float32 rounding of g
  }
  return t;
})();

const gumbelOf = (h: number): number => Math.fround(-Math.log(-Math.log(((h >>> 8) + 0.5) * U24)));

/** Samples every row of `values` ([batch, vocab] row-major) into `out`. */
export function sampleRows(values: Float32Array, plan: FusedPlan, out: Int32Array): void {
  const scratch = new Scratch(plan.vocab);
  for (let r = 0; r < plan.batch; r++) {
    out[r] = sampleRow(values.subarray(r * plan.vocab, (r + 1) * plan.vocab), plan, r, scratch);
  }
}

class Scratch {
  idx: Int32Array;
  heap: Float64Array;
  bucketOf: Uint16Array;
  constructor(vocab: number) {
    this.idx = new Int32Array(vocab);
    this.heap = new Float64Array(Math.min(vocab, 1024));
    this.bucketOf = new Uint16Array(vocab);
  }
}

function sampleRow(z: Float32Array, plan: FusedPlan, r: number, s: Scratch): number {
  const V = z.length;
  let zmax = -Infinity;
  let nan = false;
  for (let j = 0; j < V; j++) {
    const v = z[j]!;
    if (v > zmax) zmax = v;
    else if (v !== v) nan = true;
  }
  const sk = plan.stepKeys[r]!;
  if (nan || zmax === Infinity || zmax === -Infinity) {
    const code = nan ? -1 : zmax === Infinity ? -2 : -3;
    if (plan.invalidRows === 'error') return code;
    if (plan.invalidRows === 'greedy') {
      let best = -1;
      let m = -Infinity;
      for (let j = 0; j < V; j++) {
        const v = z[j]!;
        if (v > m && v !== Infinity) [m, best] = [v, j];
      }
      if (best >= 0) return best;
    }
    return uniformDraw(sk, V);
  }
  const inv = plan.invT[r]!;
  if (inv === Infinity) {
    for (let j = 0; j < V; j++) if (z[j] === zmax) return j; // lowest index among maxima
  }
  const k = plan.topK[r]!;
  const p = plan.topP[r]!;
  const m = plan.minP[r]!;
  // Top-k threshold: the k-th largest logit (boundary ties kept).
  let thr = -Infinity;
  if (k > 0 && k < V) thr = kthLargest(z, k, s);
  // Candidates z ≥ thr, in index order.
  let n = 0;
  const idx = s.idx;
  if (thr === -Infinity) {
    for (let j = 0; j < V; j++) if (z[j]! > -Infinity) idx[n++] = j;
  } else {
    for (let j = 0; j < V; j++) if (z[j]! >= thr) idx[n++] = j;
  }
  if (p < 1) {
    const tau = n <= 4096 ? topPSorted(z, idx, n, zmax, inv, p) : topPBuckets(z, idx, n, zmax, inv, p, s);
    if (tau > thr) thr = tau;
  }
  if (m > 0) {
    const t = zmax + Math.log(m) / inv;
    if (t > thr) thr = t;
  }
  // Gumbel-max over the kept candidates; most are rejected by a table bound before any log.
  let best = -1;
  let bestScore = -Infinity;
  for (let c = 0; c < n; c++) {
    const j = idx[c]!;
    const zj = z[j]!;
    if (zj < thr) continue;
    const a = (zj - zmax) * inv;
    const h = mix32((sk + Math.imul(j, GOLDEN)) >>> 0);
    if (a + G_UPPER[h >>> 20]! < bestScore) continue;
    const score = a + gumbelOf(h);
    if (score > bestScore) [best, bestScore] = [j, score];
  }
  return best;
}

function uniformDraw(sk: number, V: number): number {
  let best = 0;
  let bestG = -Infinity;
  for (let j = 0; j < V; j++) {
    const g = gumbelOf(mix32((sk + Math.imul(j, GOLDEN)) >>> 0));
    if (g > bestG) [best, bestG] = [j, g];
  }
  return best;
}

/** k-th largest value (-Infinity counts as a value), by a size-k min-heap or quickselect. */
function kthLargest(z: Float32Array, k: number, s: Scratch): number {
  if (k > s.heap.length) {
    const copy = Float64Array.from(z);
    return quickselect(copy, k - 1);
  }
  const h = s.heap;
  for (let i = 0; i < k; i++) h[i] = z[i]!;
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDown(h, i, k);
  for (let j = k; j < z.length; j++) {
    const v = z[j]!;
    if (v > h[0]!) {
      h[0] = v;
      siftDown(h, 0, k);
    }
  }
  return h[0]!;
}

function siftDown(h: Float64Array, i: number, n: number): void {
  const v = h[i]!;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h[c + 1]! < h[c]!) c++;
    if (h[c]! >= v) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = v;
}

/** The value of rank `rank` (0 = largest) in descending order; reorders `a`. */
function quickselect(a: Float64Array, rank: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! > pivot) i++;
      while (a[j]! < pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i++] = a[j]!;
        a[j--] = t;
      }
    }
    if (rank <= j) hi = j;
    else if (rank >= i) lo = i;
    else break;
  }
  return a[rank]!;
}

/**
 * Top-p threshold over few candidates: sort them and walk groups of equal logits with a
 * Neumaier-compensated sum in sorted order — the reference's very arithmetic.
 */
function topPSorted(z: Float32Array, idx: Int32Array, n: number, zmax: number, inv: number, p: number): number {
  const sorted = new Float64Array(n);
  for (let c = 0; c < n; c++) sorted[c] = z[idx[c]!]!;
  sorted.sort().reverse();
  const q = new Float64Array(n);
  let total = 0;
  let tc = 0;
  for (let i = 0; i < n; i++) {
    const v = (q[i] = Math.exp((sorted[i]! - zmax) * inv));
    const t = total + v;
    tc += Math.abs(total) >= v ? total - t + v : v - t + total;
    total = t;
  }
  total += tc;
  return walk(sorted, q, 0, n, 0, 0, p * total);
}

/** Walks descending `sorted[from, to)` from a mass `before` (+ `comp`); the last kept logit. */
function walk(sorted: Float64Array, q: Float64Array, from: number, to: number, before: number, comp: number, target: number): number {
  let threshold = sorted[from]!;
  for (let i = from; i < to; ) {
    let j = i;
    while (j < to && sorted[j] === sorted[i]) j++;
    if (before + comp >= target) break;
    threshold = sorted[i]!;
    for (let l = i; l < j; l++) {
      const t = before + q[l]!;
      comp += Math.abs(before) >= q[l]! ? before - t + q[l]! : q[l]! - t + before;
      before = t;
    }
    i = j;
  }
  return threshold;
}

const BUCKETS = 4096;
const PER_NAT = 32; // buckets cover (z - max)/T in [-128, 0]; the last one holds the rest
const EXP_TABLE = Float64Array.from({ length: BUCKETS }, (_, b) => Math.exp(-b / PER_NAT));

/**
 * Top-p threshold over many candidates without sorting them: one pass builds a histogram of
 * mass by scaled logit (equal logits share a bucket), the boundary bucket is found from the
 * bucket sums, and only that bucket's tokens are sorted and walked.
 */
function topPBuckets(z: Float32Array, idx: Int32Array, n: number, zmax: number, inv: number, p: number, s: Scratch): number {
  const mass = new Float64Array(BUCKETS);
  const bucketOf = s.bucketOf;
  for (let c = 0; c < n; c++) {
    const a = (z[idx[c]!]! - zmax) * inv;
    let b = Math.floor(-a * PER_NAT);
    if (b >= BUCKETS - 1) {
      bucketOf[c] = BUCKETS - 1;
      mass[BUCKETS - 1] = mass[BUCKETS - 1]! + Math.exp(a);
      continue;
    }
    bucketOf[c] = b;
    // exp(a) = exp(-b/32) · exp(d), d in (-1/32, 0]: a table and a degree-7 Taylor polynomial,
    // relative error < 1e-16 — Math.exp costs several times more here.
    const d = a + b * (1 / PER_NAT);
    const e = 1 + d * (1 + d * (0.5 + d * (1 / 6 + d * (1 / 24 + d * (1 / 120 + d * (1 / 720 + d * (1 / 5040)))))));
    mass[b] = mass[b]! + EXP_TABLE[b]! * e;
  }
  let total = 0;
  for (let b = 0; b < BUCKETS; b++) total += mass[b]!;
  const target = p * total;
  let before = 0;
  let star = 0;
  for (let b = 0; b < BUCKETS; b++) {
    if (mass[b] === 0) continue;
    if (before >= target) break;
    star = b;
    before += mass[b]!;
  }
  before -= mass[star]!;
  let count = 0;
  for (let c = 0; c < n; c++) if (bucketOf[c] === star) count++;
  const sorted = new Float64Array(count);
  count = 0;
  for (let c = 0; c < n; c++) if (bucketOf[c] === star) sorted[count++] = z[idx[c]!]!;
  sorted.sort().reverse();
  const q = sorted.map((v) => Math.exp((v - zmax) * inv));
  return walk(sorted, q, 0, count, before, 0, target);
}
