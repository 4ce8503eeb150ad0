// The fused kernel's O(V) passes in WebAssembly SIMD (native/sample.c, embedded in module.ts):
// max/NaN, top-k candidates, the top-p histogram and the draw. The small finishing work stays in
// the JS kernel's own functions (top-p walk with compensated sums, min-p, invalid rows), so the
// tokens are those of sampleRows, bit for bit. Used by the cpu and wasm fused kernels: each row
// is copied into the module's memory (one memcpy), scanned there, and never modified.
import * as tf from '@tensorflow/tfjs-core';
import { BUCKETS, EXP_TABLE, boundaryBucket, editedOutcome, hasBands, invalidRow, topPSorted, type FusedPlan } from '../js/sample-rows.js';
import { SAMPLE_WASM_BASE64 } from './module.js';

interface Exports {
  memory: WebAssembly.Memory;
  __heap_base: WebAssembly.Global;
  scan_max(z: number, V: number, res: number): void;
  first_eq(z: number, V: number, v: number): number;
  scan_topk(z: number, V: number, k: number, idx: number, val: number, tmp: number, res: number): number;
  scan_topk_masked(z: number, V: number, k: number, idx: number, val: number, tmp: number, res: number, words: number): number;
  topp_hist(z: number, idx: number, n: number, zmax: number, inv: number, exptab: number, mass: number, bucketOf: number): void;
  gather_bucket(z: number, idx: number, n: number, bucketOf: number, star: number, out: number): number;
  topp_walk(v: number, n: number, before: number, target: number, zmax: number, inv: number, tmp: number, cnt: number): number;
  topp_fast(z: number, n: number, zmax: number, zmin: number, inv: number, p: number, hist: number, bucketOf: number, vals: number, qs: number): number;
  draw(z: number, idx: number, n: number, thrf: number, zmax: number, inv: number, sk: number, mt: number, gn: number): number;
  mask_words(z: number, V: number, words: number): number;
}

const FLAG = 'TFJS_SAMPLING_SIMD';

// Noise bound table (see native/sample.c, draw): for G = G_LO + i / G_STEP, every 24-bit hash
// m < MT[i] has Gumbel noise below G. Computed with a 2-step margin, so only conservative.
const G_LO = -3;
const G_STEP = 256;
const GN = Math.ceil((17.5 - G_LO) * G_STEP);
const MT = Uint32Array.from({ length: GN }, (_, i) => {
  const u = Math.exp(-Math.exp(-(G_LO + i / G_STEP)));
  return Math.max(0, Math.floor(u * 2 ** 24 - 0.5) - 2);
});

/**
 * How often top-p over a whole row was settled by the certified float32 pass (`fast`) and how
 * often its margin did not prove the threshold and the exact pass ran (`exact`). For tests and
 * measurements; never reset by the library.
 */
export const topPFastStats = { fast: 0, exact: 0 };

let status: 'new' | 'pending' | 'ready' | 'unavailable' = 'new';
let exports: Exports | undefined;
let unavailableWhy = '';

const imports = { env: { log: Math.log, exp: Math.exp } };

function bytes(): Uint8Array<ArrayBuffer> {
  const text = atob(SAMPLE_WASM_BASE64);
  const out = new Uint8Array(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function ready(instance: WebAssembly.Instance): void {
  exports = instance.exports as unknown as Exports;
  status = 'ready';
}

/** Registers the `TFJS_SAMPLING_SIMD` tfjs flag (default true: use the SIMD module when it loads). */
export function registerSimdFlag(): void {
  const env = tf.env();
  if (!(FLAG in (env as unknown as { flagRegistry: object }).flagRegistry)) env.registerFlag(FLAG, () => true);
}

/**
 * Loads the module once: synchronously where allowed (Node, workers), otherwise asynchronously
 * (browsers refuse synchronous compiles of modules over 4 KB on the main thread) — the JS kernel
 * runs until it is ready. Unavailable where WebAssembly SIMD is not supported.
 */
function load(): void {
  if (status !== 'new') return;
  if (typeof WebAssembly !== 'object') {
    status = 'unavailable';
    unavailableWhy = 'no WebAssembly';
    return;
  }
  const code = bytes();
  if (!WebAssembly.validate(code)) {
    status = 'unavailable';
    unavailableWhy = 'WebAssembly SIMD not supported';
    return;
  }
  try {
    ready(new WebAssembly.Instance(new WebAssembly.Module(code), imports));
  } catch {
    status = 'pending';
    WebAssembly.instantiate(code, imports).then(
      (r) => ready(r.instance),
      (e: unknown) => {
        status = 'unavailable';
        unavailableWhy = String(e);
      },
    );
  }
}

/** Whether the SIMD kernel runs now: 'ready', 'pending' (loading), 'off' (flag) or why not. */
export function simdStatus(): string {
  registerSimdFlag();
  if (!tf.env().getBool(FLAG)) return 'off';
  load();
  return status === 'unavailable' ? `unavailable: ${unavailableWhy}` : status;
}

// Memory layout: fixed tables at __heap_base, then per-vocabulary regions.
class Layout {
  readonly exptab: number;
  readonly mt: number;
  readonly res: number;
  readonly mass: number;
  readonly row: number;
  readonly idx: number;
  readonly val: number;
  readonly tmp: number;
  readonly gather: number;
  readonly sorted: number;
  readonly cnt: number;
  readonly bucketOf: number;
  readonly words: number;
  readonly end: number;
  constructor(base: number, readonly V: number) {
    const align = (x: number): number => (x + 15) & ~15;
    let at = align(base);
    const take = (n: number): number => {
      const p = at;
      at = align(at + n);
      return p;
    };
    this.exptab = take(BUCKETS * 8);
    this.mt = take(GN * 4);
    this.res = take(4 * 8);
    this.mass = take(BUCKETS * 8);
    this.row = take(V * 4);
    this.idx = take(V * 4);
    this.val = take(V * 4);
    this.tmp = take(V * 4);
    this.gather = take(V * 8);
    this.sorted = take(V * 8);
    this.cnt = take(1025 * 4);
    this.bucketOf = take(V * 2);
    this.words = take(Math.ceil(V / 32) * 4);
    this.end = at;
  }
}

let layout: Layout | undefined;
let tablesIn: ArrayBuffer | undefined; // the buffer the tables were written to (any buffer: same memory)

function prepare(e: Exports, V: number): Layout {
  if (!layout || layout.V !== V) layout = new Layout(e.__heap_base.value as number, V);
  const need = layout.end - e.memory.buffer.byteLength;
  if (need > 0) e.memory.grow(Math.ceil(need / 65536));
  if (!tablesIn) {
    new Float64Array(e.memory.buffer, layout.exptab, BUCKETS).set(EXP_TABLE);
    new Uint32Array(e.memory.buffer, layout.mt, GN).set(MT);
    tablesIn = e.memory.buffer;
  }
  return layout;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The smallest float32 ≥ t (t finite or -Infinity): z ≥ t ⟺ z ≥ it, for float32 z. */
function float32Ceil(t: number): number {
  const f = Math.fround(t);
  if (f >= t) return f;
  if (f === 0) return 1.401298464324817e-45;
  f32[0] = f;
  u32[0] = u32[0]! + (f > 0 ? 1 : -1);
  return f32[0]!;
}

const FLT_MAX = 3.4028234663852886e38;

/**
 * Tests only: how many of the module's candidates (`idx[0, n)`, or the whole row) its decision
 * keeps — draw's test `zj >= thrf` after `thrf` is raised to -FLT_MAX (native/sample.c), or
 * first_eq's `z == zmax` for greedy rows.
 */
function simdKept(row: Float32Array, idx: Int32Array | undefined, n: number, t: number, greedy: boolean): number {
  const thrf = greedy || t > -FLT_MAX ? t : -FLT_MAX;
  let count = 0;
  for (let c = 0; c < n; c++) {
    const zj = row[idx ? idx[c]! : c]!;
    if (greedy ? zj === thrf : zj >= thrf) count++;
  }
  return count;
}

/**
 * Samples every row of `values` ([batch, vocab] row-major) into `out` with the SIMD module, as
 * sampleRows does (and, with `kept`, the kept counts of fused-observer.ts). Returns false (and
 * does nothing) when the module is not available now.
 */
export function sampleRowsSimd(values: Float32Array, plan: FusedPlan, out: Int32Array, kept?: Int32Array): boolean {
  if (simdStatus() !== 'ready' || hasBands(plan)) return false; // bands: the JS kernel
  const e = exports!;
  const V = plan.vocab;
  const L = prepare(e, V);
  const buf = e.memory.buffer;
  const F32 = new Float32Array(buf);
  const F64 = new Float64Array(buf);
  const row = new Float32Array(buf, L.row, V);
  const idx = new Int32Array(buf, L.idx, V);
  const val = new Float32Array(buf, L.val, V);
  const mass = new Float64Array(buf, L.mass, BUCKETS);
  const res = L.res >> 3;
  const edited = plan.editRow || plan.mask ? new Int32Array(plan.batch) : undefined;
  // Edited rows run under 'error' (see sampleRows): codes first, the policy's token after.
  const policy: FusedPlan = edited ? { ...plan, invalidRows: 'error' } : plan;
  const words = plan.mask ? new Int32Array(buf, L.words, Math.ceil(V / 32)) : undefined;
  for (let r = 0; r < plan.batch; r++) {
    const z = values.subarray(r * V, (r + 1) * V);
    F32.set(z, L.row >> 2);
    // Edits and the mask change the module's copy of the row: the caller's logits stay.
    if (plan.editRow) edited![r] = plan.editRow(row, r);
    const k = plan.topK[r]!;
    const topK = k > 0 && k < V;
    // With top-k the mask is applied inside the scan (no pass of its own): every later step
    // reads only the candidates, all of them allowed. Otherwise it masks the row first.
    const folded = words !== undefined && topK;
    if (words) {
      words.set(plan.mask![r]!);
      if (!folded) edited![r]! |= e.mask_words(L.row, V, L.words);
    }
    let n = 0;
    if (folded) {
      n = e.scan_topk_masked(L.row, V, k, L.idx, L.val, L.tmp, L.res, L.words);
      edited![r]! |= F64[res + 3]!;
    } else if (topK) n = e.scan_topk(L.row, V, k, L.idx, L.val, L.tmp, L.res);
    else e.scan_max(L.row, V, L.res);
    const zmax = F64[res]!;
    const nan = F64[res + 1] !== 0;
    const sk = plan.stepKeys[r]!;
    if (kept) kept[r] = -1; // invalid row, unless set below
    if (nan || zmax === Infinity || zmax === -Infinity) {
      out[r] = invalidRow(z, nan, zmax, policy, sk);
      continue;
    }
    const inv = plan.invT[r]!;
    if (inv === Infinity) {
      if (folded) {
        // The row holds masked tokens unmasked: the maxima are among the candidates (index order).
        let c = 0;
        while (val[c] !== zmax) c++;
        if (kept) kept[r] = simdKept(row, idx, n, zmax, true);
        out[r] = idx[c]!;
        continue;
      }
      if (kept) kept[r] = simdKept(row, undefined, V, zmax, true);
      out[r] = e.first_eq(L.row, V, zmax); // lowest index among maxima
      continue;
    }
    const p = plan.topP[r]!;
    const m = plan.minP[r]!;
    const finv = plan.filterInvT ? plan.filterInvT[r]! : inv; // top-p / min-p's 1/T
    let thr = -Infinity;
    if (topK) {
      // The JS kernel's threshold: the smallest candidate (the k-th largest when finite).
      if (n > 0) thr = val[0]!;
      for (let c = 1; c < n; c++) if (val[c]! < thr) thr = val[c]!;
    }
    if (p < 1) {
      let tau: number;
      if (topK && n <= 4096) {
        tau = topPSorted(row, idx, n, zmax, finv, p);
      } else if (!topK && !Number.isNaN((tau = e.topp_fast(L.row, V, zmax, F64[res + 2]!, finv, p, L.mass, L.bucketOf, L.gather, L.sorted)))) {
        topPFastStats.fast++; // the exact threshold, proven by the float32 pass's error bounds
      } else {
        if (!topK) topPFastStats.exact++;
        const count = topK ? n : V;
        const idxPtr = topK ? L.idx : 0;
        mass.fill(0);
        e.topp_hist(L.row, idxPtr, count, zmax, finv, L.exptab, L.mass, L.bucketOf);
        const { star, before, target } = boundaryBucket(mass, p);
        const c = e.gather_bucket(L.row, idxPtr, count, L.bucketOf, star, L.gather);
        tau = e.topp_walk(L.gather, c, before, target, zmax, finv, L.sorted, L.cnt);
      }
      if (tau > thr) thr = tau;
    }
    if (m > 0) {
      const t = zmax + Math.log(m) / finv;
      if (t > thr) thr = t;
    }
    if (kept) kept[r] = simdKept(row, topK ? idx : undefined, topK ? n : V, float32Ceil(thr), false);
    out[r] = e.draw(L.row, topK ? L.idx : 0, topK ? n : V, float32Ceil(thr), zmax, inv, sk, L.mt, GN);
  }
  if (edited) for (let r = 0; r < plan.batch; r++) out[r] = editedOutcome(out[r]!, edited[r]!, values.subarray(r * V, (r + 1) * V), plan, r);
  return true;
}
