// The fused kernel's O(V) passes in WebAssembly SIMD (native/sample.c, embedded in module.ts):
// max/NaN, top-k candidates, the top-p histogram, the bands' sums (top-nσ, ε, η, XTC) and the
// draw. The small finishing work stays in
// the JS kernel's own functions (top-p walk with compensated sums, min-p, invalid rows), so the
// tokens are those of sampleRows, bit for bit. Used by the cpu and wasm fused kernels. On the
// wasm backend the module runs in tfjs's heap and reads each row in place; elsewhere each row is
// copied into the module's own memory (one memcpy). The caller's rows are never modified.
import * as tf from '@tensorflow/tfjs-core';
import {
  BUCKETS,
  EXP_TABLE,
  Keep,
  Scratch,
  bandList,
  largestIn,
  boundaryBucket,
  cutoffBand,
  dynamicInvTemperature,
  dynamicKept,
  dynamicRow,
  dynamicScratch,
  editedOutcome,
  greedyRow,
  lateDynamic,
  invalidRow,
  keptMax,
  keptSurprise,
  writeKept,
  markKept,
  markKeptInput,
  mirostatV1Band,
  maskFoldsIntoTopK,
  sigmaOf,
  type V1Top,
  topPSorted,
  typicalBand,
  typicalKeep,
  typicalStar,
  walkByDistance,
  boundaryScratch,
  xtcBand,
  type FusedPlan,
} from '../js/sample-rows.js';
import { SAMPLE_WASM_BASE64 } from './module.js';
import { MIROSTAT_M } from '../../reference/mirostat.js';
import { dynamicTemperatureAt, quantizedEntropy } from '../../reference/temperature.js';

interface Exports {
  /** The memory the instance imports (its own, or the wasm backend's heap). */
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
  draw(z: number, idx: number, n: number, thrf: number, hif: number, zmax: number, inv: number, sk: number, mt: number, gn: number, lanes: number): number;
  draw_dyn(z: number, n: number, dz: number, prev: number, k: number, sk: number, mt: number, gn: number, lanes: number): number;
  sigma_sums(z: number, n: number, zmax: number, res: number): void;
  band_sums(z: number, n: number, thrf: number, zmax: number, inv: number, moments: number, res: number): void;
  band_sums_coarse(z: number, n: number, thrf: number, zmax: number, inv: number, res: number): void;
  row_sums(z: number, n: number, zmax: number, inv: number, res: number): void;
  dyn_rewrite(z: number, n: number, zmax: number, prev: number, k: number): void;
  band_floor(z: number, n: number, thrf: number, lo: number, hi: number, res: number): void;
  typ_window(
    z: number,
    n: number,
    thrf: number,
    zmax: number,
    inv: number,
    wlo: number,
    whi: number,
    scale: number,
    nb: number,
    hist: number,
    idx: number,
    bucket: number,
    val: number,
  ): number;
  list_hist(val: number, m: number, zmax: number, inv: number, wlo: number, scale: number, nb: number, hist: number, bucket: number): void;
  gather_listed(
    val: number,
    idx: number,
    bucket: number,
    m: number,
    a1: number,
    b1: number,
    a2: number,
    b2: number,
    ia: number,
    ib: number,
    out: number,
    res: number,
  ): number;
  mask_words(z: number, V: number, words: number): number;
  list_band(idx: number, val: number, m: number, lo: number, hi: number, out: number): number;
  typ_exact_sums(z: number, V: number, thr: number, m: number, inv: number, exptab: number, sOf: number, xOf: number, res: number): void;
  typ_exact_mass(V: number, sOf: number, xOf: number, centre: number, Z: number, mass: number, bucketOf: number): void;
  typ_exact_gather(V: number, sOf: number, bucketOf: number, star: number, centre: number, dOut: number): number;
  typ_exact_band(z: number, V: number, thr: number, m: number, inv: number, centre: number, D: number, res: number): void;
  typ_exact_kth(z: number, V: number, thr: number, m: number, inv: number, centre: number, k: number, buf: number): number;
  list_range(z: number, V: number, thrf: number, lo: number, hi: number, out: number, vals: number): number;
}

const FLAG = 'TFJS_SAMPLING_SIMD';

/** res[0] = Σ x over a whole row: row_sums' Σ x (the same blocks, bit for bit) without its Σ x·w. */
function rowSum(e: Exports, z: number, n: number, zmax: number, inv: number, res: number): void {
  e.band_sums(z, n, -Infinity, zmax, inv, 0, res);
}

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

/**
 * The same for the bands over a whole row (top-nσ's σ, ε, η, XTC): settled by the certified
 * float32 / float64 sums (`fast`), or by the JS kernel's exact pass (`exact`).
 */
export const bandFastStats = { fast: 0, exact: 0, coarse: 0, coarseMissed: 0 };

/**
 * Which window of typical-p's whole-row pass settled a row (typicalFast): the first (about 2σ
 * around the centre), the wider one (Chebyshev's), or one that holds every kept token; and how
 * often the per-term sums' tighter bounds were needed (`perTerm`).
 */
export const typicalWindowStats = { first: 0, wide: 0, whole: 0, perTerm: 0 };

/**
 * The same for dynamic temperature's entropy: its step (the normalized entropy on its grid)
 * named by the float32 sums' bounds (`fast`), or by the JS kernel's exact sums (`exact`).
 */
export const dynamicFastStats = { fast: 0, exact: 0 };

/**
 * The draw over whole rows (no candidate list): how many rows, and how many of their tokens
 * passed the block's hash limit and were bounded one by one (`lanes`). On peaky rows a few per
 * row; a block limit that ignores the block's logits sends a large share of every row there.
 */
export const drawLaneStats = { rows: 0, lanes: 0 };

/**
 * Rows whose passes read the caller's logits where they are (the wasm backend's heap), and rows
 * the module copied first (another memory: the cpu backend; or a row about to be rewritten).
 */
export const simdRowStats = { inPlace: 0, copied: 0 };

let status: 'new' | 'pending' | 'ready' | 'unavailable' = 'new';
let compiled: WebAssembly.Module | undefined;
/** The instance in a memory of its own: rows are copied into it (the cpu backend, the helpers). */
let own: Mod | undefined;
let unavailableWhy = '';

/**
 * An instance and its scratch layout. The module imports its memory and keeps no static data or
 * stack there, so it also runs inside the wasm backend's heap (`heap`), reading the logits where
 * they are, its scratch a block of that heap's malloc.
 */
interface Mod {
  e: Exports;
  layout?: Layout;
  heap?: WasmHeap;
}

/** The wasm backend's heap: its memory and allocator (the Emscripten module's). */
export interface WasmHeap {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(ptr: number): void;
}

const importsFor = (memory: WebAssembly.Memory) => ({ env: { log: Math.log, exp: Math.exp, memory } });
const exportsOf = (instance: WebAssembly.Instance, memory: WebAssembly.Memory): Exports => ({
  ...(instance.exports as unknown as Omit<Exports, 'memory'>),
  memory,
});

function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): Exports {
  return exportsOf(new WebAssembly.Instance(module, importsFor(memory)), memory);
}

async function instantiateAsync(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Exports> {
  return exportsOf(await WebAssembly.instantiate(module, importsFor(memory)), memory);
}

function bytes(): Uint8Array<ArrayBuffer> {
  const text = atob(SAMPLE_WASM_BASE64);
  const out = new Uint8Array(new ArrayBuffer(text.length));
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

function ready(module: WebAssembly.Module, e: Exports): void {
  compiled = module;
  own = { e };
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
  const memory = (): WebAssembly.Memory => new WebAssembly.Memory({ initial: 16 });
  try {
    const module = new WebAssembly.Module(code);
    ready(module, instantiate(module, memory()));
  } catch {
    status = 'pending';
    WebAssembly.compile(code)
      .then(async (module) => ready(module, await instantiateAsync(module, memory())))
      .catch((e: unknown) => {
        status = 'unavailable';
        unavailableWhy = String(e);
      });
  }
}

/** Whether the SIMD kernel runs now: 'ready', 'pending' (loading), 'off' (flag) or why not. */
export function simdStatus(): string {
  registerSimdFlag();
  if (!tf.env().getBool(FLAG)) return 'off';
  load();
  return status === 'unavailable' ? `unavailable: ${unavailableWhy}` : status;
}

// Memory layout from a base (__heap_base in the module's own memory, a malloc block in the wasm
// backend's heap): fixed tables, then per-vocabulary regions.
class Layout {
  readonly exptab: number;
  readonly mt: number;
  readonly res: number;
  readonly lanes: number;
  readonly mass: number;
  /** The row the passes read: `copy`, or the caller's row in place (the wasm backend's heap). */
  row: number;
  /** The module's copy of a row (rows that are rewritten, or from another memory). */
  readonly copy: number;
  readonly idx: number;
  readonly val: number;
  readonly tmp: number;
  readonly gather: number;
  readonly sorted: number;
  readonly cnt: number;
  readonly bucketOf: number;
  readonly words: number;
  readonly end: number;
  constructor(
    readonly base: number,
    readonly V: number,
  ) {
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
    this.lanes = take(8);
    this.mass = take((BUCKETS + 1) * 8); // typ_window: one spare bucket
    this.copy = take(V * 4);
    this.row = this.copy;
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

/**
 * The layout of `mod` for vocabulary V, its tables written: in the module's own memory (grown as
 * needed) or, in a heap, a malloc block (a new one when V changes: the heap may grow, so views
 * made before this call can be stale). Every use starts with the row pointer at the copy.
 */
function prepare(mod: Mod, V: number): Layout {
  const { e } = mod;
  let L = mod.layout;
  if (!L || L.V !== V) {
    if (mod.heap) {
      if (L) mod.heap.free(L.base);
      const size = new Layout(0, V).end + 16;
      L = new Layout(mod.heap.malloc(size), V);
    } else {
      L = new Layout(e.__heap_base.value as number, V);
      const need = L.end - e.memory.buffer.byteLength;
      if (need > 0) e.memory.grow(Math.ceil(need / 65536));
    }
    new Float64Array(e.memory.buffer, L.exptab, BUCKETS).set(EXP_TABLE);
    new Uint32Array(e.memory.buffer, L.mt, GN).set(MT);
    mod.layout = L;
  }
  L.row = L.copy;
  return L;
}

const bound = new WeakMap<WebAssembly.Memory, Mod | 'pending' | 'failed'>();
/** The heap instance simdHeap prepared last: the packing's helpers read rows there in place. */
let lastHeap: Mod | undefined;

/** The instance whose memory holds `values` (prepared for V: rows read in place), or the module's own (rows copied). */
function modFor(values: Float32Array, V: number): { mod: Mod; inPlace: boolean } {
  const h = lastHeap;
  if (h && h.layout?.V === V && values.buffer === h.e.memory.buffer) return { mod: h, inPlace: true };
  return { mod: own!, inPlace: false };
}

/**
 * The instance that runs in the wasm backend's heap, its layout for V prepared (call it before
 * making views of that heap: the scratch block may grow it). Undefined while it is instantiated
 * asynchronously (browsers' main thread) or where it cannot be (a shared heap: the threaded
 * build); the rows are then copied into the module's own memory.
 */
export function simdHeap(heap: WasmHeap, V: number): Mod | undefined {
  if (simdStatus() !== 'ready' || !compiled) return undefined;
  const { memory } = heap;
  let mod = bound.get(memory);
  if (mod === undefined) {
    if (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer) mod = 'failed';
    else
      try {
        mod = { e: instantiate(compiled, memory), heap };
      } catch {
        mod = 'pending';
        instantiateAsync(compiled, memory).then(
          (e) => bound.set(memory, { e, heap }),
          () => bound.set(memory, 'failed'),
        );
      }
    bound.set(memory, mod);
  }
  if (typeof mod === 'string') return undefined;
  prepare(mod, V);
  lastHeap = mod;
  return mod;
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
function simdKept(row: Float32Array, idx: Int32Array | undefined, n: number, t: number, greedy: boolean, hi = Infinity): number {
  const thrf = greedy || t > -FLT_MAX ? t : -FLT_MAX;
  let count = 0;
  for (let c = 0; c < n; c++) {
    const zj = row[idx ? idx[c]! : c]!;
    if (greedy ? zj === thrf : zj >= thrf && zj <= hi) count++;
  }
  return count;
}

/** The largest float32 ≤ t (t finite). */
function float32Floor(t: number): number {
  return -float32Ceil(-t);
}

const U = 2 ** -53;
// The float32 pass's error constants (native/sample.c, the top-p section): exp_neg4 within EPS0
// of exp(-w32), and w32 within KAPPA·w of the exact |a|.
const EPS0 = 1.5e-7;
/** exp_lo4's bound (band_sums_coarse): 7.9e-5 over every float32 w in [0, 87]. */
const EPS_COARSE = 1e-4;
const KAPPA = 1.8e-7;
// band_sums sums each block of 16 tokens in float32 first: within BLK of the block's value.
const BLK = 4 * 2 ** -23;

/**
 * Whether the SIMD module takes the plan: every band, but typical-p after min-p (typicalEarly
 * makes its band a candidate list) followed by ε, η, XTC or Mirostat, nor XTC by Mirostat (their
 * passes assume a kept set that is a floor), and top-nσ only with top-k or without top-p (the
 * row's fast top-p has no floor).
 */
export function simdTakes(plan: FusedPlan): boolean {
  const on = (a?: Float64Array): boolean => a?.some((v) => v > 0) ?? false;
  const xtc = plan.xtcThreshold?.some((v) => v >= 0) ?? false;
  const miro = plan.mirostat?.some((v) => v > 0) ?? false;
  if (plan.typicalP?.some((v) => v < 1) && !plan.typicalEarly && (on(plan.epsilon) || on(plan.eta) || xtc || miro)) return false;
  if (xtc && miro) return false;
  const ns = plan.topNSigma;
  if (!ns) return true;
  for (let r = 0; r < plan.batch; r++) {
    const k = plan.topK[r]!;
    if (ns[r]! > 0 && !(k > 0 && k < plan.vocab) && plan.topP[r]! < 1) return false;
  }
  return true;
}

/**
 * A value t with z ≥ t ⟺ z ≥ fl for every token z of the row, where fl is the JS kernel's floor,
 * known to lie in [lo, hi]; or NaN when a token lies in [lo, hi] (or the bounds are not finite).
 * With `next`, the smallest kept token above the interval instead of the interval's top.
 */
function certify(e: Exports, L: Layout, V: number, thrf: number, lo: number, hi: number): { next: number } | undefined {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && Math.abs(lo) < FLT_MAX && Math.abs(hi) < FLT_MAX)) return undefined;
  e.band_floor(L.row, V, thrf, float32Floor(lo), float32Ceil(hi), L.res);
  const F64 = new Float64Array(e.memory.buffer, L.res, 2);
  return F64[0] === 0 ? { next: F64[1]! } : undefined;
}

/**
 * The mk-th largest finite logit ≥ `floor` (ties counted), or `floor` when fewer reach it (the JS
 * kernel's largestAt). With top-k (k ≥ mk) the candidates val[0, n), already ≥ floor, hold the
 * row's largest; otherwise a top-k scan of the row for mk (which overwrites the candidates).
 */
function largestLeft(e: Exports, L: Layout, row: Float32Array, val: Float32Array, n: number, topK: boolean, floor: number, mk: number): number {
  if (topK) {
    if (n < mk) return floor;
    const v = Float64Array.from(val.subarray(0, n)).sort();
    return v[n - mk]!;
  }
  e.scan_topk(L.row, row.length, mk, L.idx, L.val, L.tmp, L.res);
  const kth = new Float64Array(e.memory.buffer, L.res, 3)[2]!;
  // biome-ignore lint/complexity/useMathMinMax: a NaN k-th gives the floor here, not NaN
  return kth >= floor ? kth : floor;
}

/**
 * top-nσ's floor zmax − n·σ over a whole row: σ from the module's float64 sums with an error
 * bound; when no token lies in the floor's interval, the interval's top (the same kept set as
 * the JS kernel's floor), else the JS kernel's own σ.
 */
function sigmaFloor(e: Exports, L: Layout, row: Float32Array, zmax: number, ns: number): number {
  const V = row.length;
  e.sigma_sums(L.row, V, zmax, L.res);
  const F64 = new Float64Array(e.memory.buffer, L.res, 3);
  const [S1, S2, n] = [F64[0]!, F64[1]!, F64[2]!];
  // Same-sign sums of ≤ n/4 terms per lane, each term within one rounding.
  const k = (n / 4 + 4) * 2 * U;
  const m1 = S1 / n;
  const m2 = S2 / n;
  const v = m2 - m1 * m1;
  const errV = (k * 1.01 + 6 * U) * m2 + (2 * k * 1.01 + 6 * U) * m1 * m1;
  if (v - errV > 0) {
    const sigma = Math.sqrt(v);
    // |σ~ − σ| ≤ errV / √(v − errV); the JS kernel's σ (compensated sums) within 1e-14·σ of σ.
    const errS = errV / Math.sqrt(v - errV) + 1e-14 * sigma;
    const f = zmax - ns * sigma;
    const h = ns * errS + 8 * U * (Math.abs(zmax) + ns * sigma) + 1e-300;
    const c = certify(e, L, V, -Infinity, f - h, f + h);
    if (c) {
      bandFastStats.fast++;
      return float32Ceil(f + h);
    }
  }
  bandFastStats.exact++;
  return zmax - ns * sigmaOf(row);
}

/**
 * −log2 q of the drawn logit zj under the kept set z ≥ thrf of a whole row (maximum zmax), its
 * Σ e^-w from the module's float32-exp sums (within ~1e-6 relative: Mirostat's μ update, which
 * the tfjs-op processor computes in float32 too).
 */
function rowSurprise(e: Exports, L: Layout, row: Float32Array, thrf: number, zmax: number, inv: number, zj: number): number {
  e.band_sums(L.row, row.length, thrf, zmax, inv, 0, L.res);
  const S = new Float64Array(e.memory.buffer, L.res, 1)[0]!;
  return (Math.log(S) - (zj - zmax) * inv) / Math.LN2;
}

let typScratch: Scratch | undefined;
let typBuckets: { dn: Float64Array; df: Float64Array; mHi: Float64Array; mLo: Float64Array } | undefined;
const typScratchFor = (): NonNullable<typeof typBuckets> =>
  (typBuckets ??= { dn: new Float64Array(BUCKETS), df: new Float64Array(BUCKETS), mHi: new Float64Array(BUCKETS), mLo: new Float64Array(BUCKETS) });

/**
 * How many tokens reach thrf and lie in typicalFast's band: over its window list (a superset of
 * the band; their logits in L.val) when short, else one SIMD pass over the row (band_floor).
 */
function bandCount(e: Exports, L: Layout, fast: { band: [number, number]; listed: number }, thrf: number): number {
  const [lo, hi] = fast.band;
  if (fast.listed > L.V >> 3) {
    e.band_floor(L.row, L.V, thrf, lo, hi, L.res);
    return new Float64Array(e.memory.buffer, L.res, 1)[0]!;
  }
  const vals = new Float32Array(e.memory.buffer, L.val, fast.listed);
  let c = 0;
  for (let i = 0; i < vals.length; i++) {
    const zj = vals[i]!;
    if (zj >= thrf && zj >= lo && zj <= hi) c++;
  }
  return c;
}

/** The kept band [zL, zR] of a row after the JS kernel's typicalBand (its kept set is an interval of z). */
function typicalExact(
  e: Exports,
  L: Layout,
  row: Float32Array,
  idx: Int32Array | undefined,
  n: number,
  keep: Keep,
  inv: number,
  p: number,
  minKeep: number,
): [number, number] {
  if (!idx && minKeep <= MAX_KEEP_ROW) {
    const band = typicalRow(e, L, keep, inv, p, minKeep);
    if (band) return band;
  }
  if (!typScratch || typScratch.bucketOf.length < row.length) typScratch = new Scratch(row.length);
  typicalBand(row, idx, n, keep, inv, p, typScratch, minKeep);
  let lo = Infinity;
  let hi = -Infinity;
  for (let c = 0; c < n; c++) {
    const zj = row[idx ? idx[c]! : c]!;
    if (!keep.has(zj)) continue;
    if (zj < lo) lo = zj;
    if (zj > hi) hi = zj;
  }
  return [lo, hi];
}

/** typicalRow's minTokensToKeep limit (its selection keeps the m smallest distances in order). */
const MAX_KEEP_ROW = 256;

/**
 * typicalBand over a whole row (`keep` the upper set z ≥ keep.thr, its maximum keep.max): the
 * module's typ_exact_* passes with the same arithmetic token by token, ln Z and the boundary walk
 * here with the JS kernel's code, so the same D and band. Undefined (the caller runs the JS
 * kernel) when the maximum is unknown or not finite, or no bucket holds mass.
 */
function typicalRow(e: Exports, L: Layout, keep: Keep, inv: number, p: number, minKeep = 1): [number, number] | undefined {
  const m = keep.max;
  // A finite maximum: the module's bucket index of e^s needs s ≤ 0 (NaN: unknown, see keptMax).
  if (!(m > -Infinity && m < Infinity) || !keep.floorOnly) return undefined;
  const V = L.V;
  const sOf = L.gather;
  const xOf = L.sorted;
  e.typ_exact_sums(L.row, V, keep.thr, m, inv, L.exptab, sOf, xOf, L.res);
  const res = new Float64Array(e.memory.buffer, L.res, 2); // the module never grows its memory
  const Z = Math.exp(Math.log(res[0]!));
  const centre = res[1]! / Z; // typicalBand's centre, not ln Z − H (see there)
  e.typ_exact_mass(V, sOf, xOf, centre, Z, L.mass, L.bucketOf);
  const { star, before } = typicalStar(new Float64Array(e.memory.buffer, L.mass, BUCKETS), p);
  if (star < 0) return undefined;
  const count = e.typ_exact_gather(V, sOf, L.bucketOf, star, centre, xOf);
  const bs = boundaryScratch(count);
  const walk = { ...bs, d: new Float64Array(e.memory.buffer, xOf, count), s: new Float64Array(e.memory.buffer, sOf, count) };
  let D = walkByDistance(walk, count, before, p, Z);
  // minTokensToKeep: at least the minKeep-th smallest distance (the JS kernel's rule).
  if (minKeep > 1) {
    const dm = e.typ_exact_kth(L.row, V, keep.thr, m, inv, centre, minKeep, L.sorted);
    if (dm > D) D = dm;
  }
  typicalKeep(keep, m, inv, centre, D);
  e.typ_exact_band(L.row, V, keep.thr, m, inv, centre, D, L.res);
  return [res[0]!, res[1]!];
}

/**
 * typ_window's buckets: few, since typicalWindow's walk reads each (4096 cost about one pass
 * here), unless the window lists many tokens: then list_hist buckets the list again finely, so
 * the boundary buckets gather few tokens for the exact walk.
 */
const FEW_BUCKETS = 256;
const MANY_LISTED = 2048;
/** How many tokens the last window listed: rows of a batch are alike, so it picks the next one's buckets. */
let lastListed = 0;

/**
 * Typical-p over every token of a row whose kept set is z ≥ `thr` (maximum zmax): the kept band
 * [zL, zR] of the JS kernel's typicalBand and how many tokens the module's list (L.tmp, their
 * logits in L.val) holds, a superset of the band's; or undefined when the bounds do not prove it (the caller runs the JS
 * pass). band_sums (moments 2) gives S = Σ x, Σ x·w, Σ x·w² with x ≈ e^-w, w = (zmax − z)/T;
 * its bounds give the centre μ = Σ x·w / Σ x within dmu (the JS kernel's d = |s − ln Z + H| is
 * |w − μ|). A window of w around μ (first about 2σ, then Chebyshev's σ/√(1 − p), which holds
 * mass p) is histogrammed (4096 buckets) and listed by typ_window; tokens outside it are at
 * least dOut from μ. With error bounds on every mass and on μ, buckets whose whole distance
 * range is below the mass boundary's lowest possible D are inside, those above its highest
 * possible D outside (and so must be every token outside the window); the tokens of the buckets
 * between are gathered, their d and masses taken in float64 (Math.exp, as the JS walk), sorted
 * and walked. The boundary group is returned when the masses before and through it clear p·Σ by
 * the bounds, and no other token's d lies within the centre's uncertainty of it.
 */
function typicalFast(
  e: Exports,
  L: Layout,
  row: Float32Array,
  thr: number,
  zmax: number,
  zlo: number,
  inv: number,
  p: number,
): { band: [number, number]; listed: number } | undefined {
  const V = row.length;
  if (!(inv >= 1e-30 && inv <= 1e30) || !(zlo <= zmax) || !(p > 0 && p < 1)) return undefined;
  const thrf = float32Ceil(thr);
  const R = (zmax - zlo) * inv;
  let sums = typicalSums(e, L, V, thrf, zmax, inv, R, false);
  if (!sums) return undefined;
  const { mu, sigma, dmu } = sums;
  let tried = -1;
  let tries = 0;
  for (const D of [sigma * Math.max(2, 0.66 / Math.sqrt(1 - p)), (1.1 * sigma) / Math.sqrt(1 - p)]) {
    const half = D + 4 * dmu + 1e-3 * (1 + mu);
    if (!(half > tried)) continue;
    tried = half;
    const wlo = mu - half > 0 ? float32Floor(mu - half) : 0;
    const whi = mu + half < Math.min(R, 64) ? float32Ceil(mu + half) : Infinity;
    const whole = wlo === 0 && whi === Infinity;
    const win = typicalHist(e, L, V, thrf, zmax, R, inv, wlo, whi);
    let got = typicalWindow(e, L, row, zmax, inv, p, win, sums);
    // Once more with the sums' float32 block rounding gone (bounds about 3× tighter), on the
    // same histogram: rows whose boundary tokens carry little mass (long tails) need it.
    if (!got && !sums.perTerm) {
      const precise = typicalSums(e, L, V, thrf, zmax, inv, R, true);
      if (precise) [sums, got] = [precise, typicalWindow(e, L, row, zmax, inv, p, win, precise)];
    }
    if (got) {
      typicalWindowStats[whole ? 'whole' : tries === 0 ? 'first' : 'wide']++;
      if (sums.perTerm) typicalWindowStats.perTerm++;
      return got;
    }
    if (whole) break;
    tries++;
  }
  return undefined;
}

interface TypicalSums {
  perTerm: boolean;
  S: number;
  Slo: number;
  Shi: number;
  mu: number;
  dmu: number;
  sigma: number;
  count: number;
  kappa: number;
}

/** band_sums' moments over the kept tokens (z ≥ thrf) with their bounds: the centre μ within dmu. */
function typicalSums(e: Exports, L: Layout, V: number, thrf: number, zmax: number, inv: number, R: number, perTerm: boolean): TypicalSums | undefined {
  e.band_sums(L.row, V, thrf, zmax, inv, perTerm ? 3 : 2, L.res);
  const res = new Float64Array(e.memory.buffer, L.res, 4);
  const [S, SW, count, SW2] = [res[0]!, res[1]!, res[2]!, res[3]!];
  const wmax = Math.min(87, R * 1.00001);
  // The JS kernel's w = fround(zmax − z)·inv: the module's float32 w differs by the rounding of
  // inv to float32 and of the product (none when inv = 1).
  const kappa = inv === 1 ? 0 : Math.fround(inv) === inv ? 6e-8 : 1.2e-7;
  const { Slo, Shi, errS, errSW } = sumBounds(S, SW, V, kappa, wmax, perTerm);
  if (!(Slo > 0) || !Number.isFinite(Shi + SW)) return undefined;
  const mu = SW / S;
  // The JS kernel's centre −(ln Z − H) = Σ x·w / Z, within rounding of ln Z and H.
  const dmu = (errSW + mu * errS) / Slo + 1e-13 * (1 + Math.abs(Math.log(S)) + mu);
  return { perTerm, S, Slo, Shi, mu, dmu, sigma: Math.sqrt(Math.max(0, SW2 / S - mu * mu)), count, kappa };
}

interface TypicalHist {
  wlo: number;
  whi: number;
  scale: number;
  /** How many buckets (the last takes the capped range). */
  nb: number;
  capped: boolean;
  listed: number;
}

/** typ_window over [wlo, whi) of w (whi Infinity: open above; wlo 0: from the top): L.mass, L.tmp, L.bucketOf. */
function typicalHist(e: Exports, L: Layout, V: number, thrf: number, zmax: number, R: number, inv: number, wlo: number, whi: number): TypicalHist {
  const capped = whi === Infinity && !(R <= 64);
  const top = whi === Infinity ? (capped ? 64 : R) : whi;
  const span = top - wlo;
  const scaleFor = (nb: number): number => {
    const sc = span > 1e-30 ? Math.fround(nb / (span * 1.000001)) : 1;
    return sc <= 1e30 ? sc : Math.fround(1e30);
  };
  let nb = lastListed > MANY_LISTED ? BUCKETS : FEW_BUCKETS;
  let scale = scaleFor(nb);
  new Float64Array(e.memory.buffer, L.mass, nb).fill(0);
  const listed = e.typ_window(L.row, V, thrf, zmax, inv, wlo, whi, scale, nb, L.mass, L.tmp, L.bucketOf, L.val);
  lastListed = listed;
  if (listed > MANY_LISTED && nb < BUCKETS) {
    nb = BUCKETS;
    scale = scaleFor(nb);
    new Float64Array(e.memory.buffer, L.mass, nb).fill(0);
    e.list_hist(L.val, listed, zmax, inv, wlo, scale, nb, L.mass, L.bucketOf);
  }
  return { wlo, whi, scale, nb, capped, listed };
}

/** The certified band from typicalHist's window and the sums' bounds, or undefined. */
function typicalWindow(
  e: Exports,
  L: Layout,
  row: Float32Array,
  zmax: number,
  inv: number,
  p: number,
  win: TypicalHist,
  sums: TypicalSums,
): { band: [number, number]; listed: number } | undefined {
  const V = row.length;
  const { wlo, whi, scale, nb: NB, capped, listed } = win;
  const { S, Slo, Shi, mu, dmu, count, kappa } = sums;
  const hist = new Float64Array(e.memory.buffer, L.mass, NB);
  const tiny = V * 2e-38; // tokens past w = 87 (exp_neg4 clamps there)
  // Tokens outside the window: w < wlo or w ≥ whi (float32), so at least dOut from μ.
  const K2 = 5e-7;
  const dOut = Math.min(wlo > 0 ? mu - dmu - wlo * (1 + K2) : Infinity, whi < Infinity ? whi * (1 - K2) - (mu + dmu) : Infinity);
  // A token of bucket b has w in wlo + [b, b + 1)/scale, up to KAPPA and the bucket's rounding.
  const EE = (V + 8192) * 8.9e-16 * S + 1e-13 * S;
  // Per bucket: its distance range from the centre and its mass bounds.
  const { dn, df, mHi, mLo } = typScratchFor();
  let firstB = NB;
  let lastB = -1;
  for (let b = 0; b < NB; b++) {
    const h = hist[b]!;
    if (!(h > 0)) continue;
    if (b < firstB) firstB = b;
    lastB = b;
    const lastCapped = capped && b === NB - 1;
    const wl = (wlo + (b / scale) * (1 - K2)) * (1 - K2);
    const wh = lastCapped ? Infinity : (wlo + ((b + 1) / scale) * (1 + K2)) * (1 + K2);
    dn[b] = Math.max(0, wl - (mu + dmu), mu - dmu - wh);
    df[b] = Math.max(wh - (mu - dmu), mu + dmu - wl);
    const rel = 1.001 * (EPS0 + kappa * Math.min(wh, 87)) + 1e-15;
    mHi[b] = h * (1 + rel) + (lastCapped ? tiny : 0);
    mLo[b] = lastCapped ? 0 : h * (1 - rel);
  }
  if (lastB < 0) return undefined;
  // D1: below it the mass (upper bounds) stays under p·S; D2: by it the mass (lower bounds)
  // reaches p·S. Buckets in order of a distance, each side monotone: merged outward from μ.
  // Tokens outside the window lie past dOut > D2 (checked below), so neither walk needs them.
  const mid = Math.min(lastB, Math.max(firstB, Math.floor((mu - wlo) * scale)));
  const reach = (key: Float64Array, mass: Float64Array, target: number): number => {
    let l = mid;
    let r = mid + 1;
    let acc = 0;
    while (l >= firstB || r <= lastB) {
      while (l >= firstB && !(hist[l]! > 0)) l--;
      while (r <= lastB && !(hist[r]! > 0)) r++;
      if (l < firstB && r > lastB) break;
      const b = r > lastB || (l >= firstB && key[l]! <= key[r]!) ? l-- : r++;
      acc += mass[b]!;
      if (acc >= target) return key[b]!;
    }
    return NaN;
  };
  const D1 = reach(dn, mHi, p * Slo - EE);
  const D2 = reach(df, mLo, p * Shi + EE);
  if (!(D1 >= 0) || !(D2 >= D1) || !Number.isFinite(D2) || !(dOut > D2)) return undefined;
  // Inside: df < D1 (a contiguous range around μ); outside: dn > D2; between: gathered.
  let ia = NB;
  let ib = -1;
  let A0 = 0;
  let errA0 = 0;
  let ga = NB;
  let gb = -1;
  let outside = listed < count;
  for (let b = firstB; b <= lastB; b++) {
    const h = hist[b]!;
    if (!(h > 0)) continue;
    if (df[b]! < D1) {
      if (capped && b === NB - 1) return undefined;
      if (b < ia) ia = b;
      ib = b;
      A0 += h;
      errA0 += mHi[b]! - h;
    } else if (dn[b]! > D2) {
      outside = true;
    } else {
      if (b < ga) ga = b;
      gb = b;
    }
  }
  if (gb < 0) return undefined;
  // The gathered ranges: around the inside range (both sides), or one range when it is empty.
  const inside = ia <= ib;
  const [a1, b1] = !inside ? [ga, gb] : ga < ia ? [ga, Math.min(gb, ia - 1)] : [1, 0];
  const [a2, b2] = inside && gb > ib ? [Math.max(ga, ib + 1), gb] : [1, 0];
  const m = e.gather_listed(L.val, L.tmp, L.bucketOf, listed, a1, b1, a2, b2, inside ? ia : 1, inside ? ib : 0, L.idx, L.res);
  const ex = new Float64Array(e.memory.buffer, L.res, 2);
  let zL = ex[0]!; // the inside buckets' extremes (±Infinity when none)
  let zR = ex[1]!;
  if (m === 0 || m > 1 << 16) return undefined;
  const gIdx = new Int32Array(e.memory.buffer, L.idx, m).slice();
  const d = new Float64Array(m);
  const w = new Float64Array(m);
  const q = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const zj = row[gIdx[i]!]!;
    w[i] = Math.fround(zmax - zj) * inv; // the JS kernel's −s
    d[i] = Math.abs(w[i]! - mu);
    q[i] = Math.exp(-w[i]!);
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => d[x]! - d[y]!);
  // Walk groups of equal d: the boundary group is the last whose mass before is below p·S.
  const target = p * S;
  let before = A0;
  let star = -1; // first position of the boundary group in `order`
  let starEnd = -1;
  let starBefore = 0;
  for (let i = 0; i < m; ) {
    let j = i;
    let g = 0;
    while (j < m && d[order[j]!] === d[order[i]!]) g += q[order[j++]!]!;
    if (star >= 0 && !(before < target)) break;
    star = i;
    starEnd = j;
    starBefore = before;
    before += g;
    i = j;
  }
  if (star < 0) return undefined;
  let g = 0;
  for (let i = star; i < starEnd; i++) g += q[order[i]!]!;
  const cb = starBefore - A0;
  // Masses: the group is added (before it < p·S) and the next is not (through it ≥ p·S).
  if (!(starBefore + errA0 + 1e-13 * cb < p * Slo - EE)) return undefined;
  const last = starEnd === m && !outside;
  if (!last && !(starBefore - errA0 + (cb === 0 ? 0 : -1e-13 * cb) + g * (1 - 1e-13) >= p * Shi + EE)) return undefined;
  // Order: no other token's d within the centre's uncertainty (2·dmu, plus rounding) of the group's.
  const dStar = d[order[star]!]!;
  const rho = 2 * dmu + 1e-13 * (1 + mu + dStar);
  if (!(dStar + rho >= D1)) return undefined; // the boundary lies at or past D1 (see above)
  if (star > 0 && !(dStar - d[order[star - 1]!]! > rho)) return undefined;
  if (starEnd < m && !(d[order[starEnd]!]! - dStar > rho)) return undefined;
  // One side only within the group (equal d on both sides of μ: the JS rounding decides).
  const side = w[order[star]!]! < mu;
  for (let i = star; i < starEnd; i++) if (w[order[i]!]! < mu !== side) return undefined;
  // The kept band: the inside buckets' extremes and the kept gathered tokens.
  for (let i = 0; i < starEnd; i++) {
    const zj = row[gIdx[order[i]!]!]!;
    if (zj < zL) zL = zj;
    if (zj > zR) zR = zj;
  }
  return { band: [zL, zR], listed };
}

/**
 * ε (`eta` false), η (`eta` true) or XTC (`xtc` true) over every token of a row whose kept set is
 * z ≥ keep.thr with maximum zmax: the module's sums S = Σ e^-w, Σ e^-w·w, Σ e^-w·w² with error
 * bounds give an interval for the JS kernel's threshold t = zmax + ln(cut·S)/inv; when no kept
 * token lies in it, the band is the JS kernel's (smallestReaching's result is the smallest kept
 * token above it). Otherwise the JS kernel's pass runs.
 */
function cutBand(
  e: Exports,
  L: Layout,
  row: Float32Array,
  keep: Keep,
  zmax: number,
  zmin: number,
  inv: number,
  param: number,
  kind: 'eps' | 'eta' | 'xtc',
): void {
  const V = row.length;
  const thrf = float32Ceil(keep.thr);
  let done = false;
  // XTC's threshold lies among the few largest logits, so the coarse sums (each term within 1e-4)
  // place it in a narrow interval that rarely holds a token; where one does, the precise sums.
  const tries: boolean[] = kind === 'xtc' ? [true, false] : [false];
  for (const coarse of inv >= 1e-30 && inv <= 1e30 ? tries : []) {
    // η needs Σ x·w (for H); ε and XTC bound it by wmax·Σ x (it enters only the error bound).
    if (coarse) e.band_sums_coarse(L.row, V, thrf, zmax, inv, L.res);
    else e.band_sums(L.row, V, thrf, zmax, inv, kind === 'eta' ? 1 : 0, L.res);
    const F64 = new Float64Array(e.memory.buffer, L.res, 2);
    const wmax = Math.min(87, (zmax - Math.max(zmin, thrf)) * inv * 1.00001);
    const SW = kind === 'eta' ? F64[1]! : wmax * F64[0]!;
    const { Slo, Shi, Hlo, Hhi } = sumBounds(F64[0]!, SW, V, KAPPA, wmax, false, coarse ? EPS_COARSE : EPS0);
    let cutLo = param;
    let cutHi = param;
    if (kind === 'eta') {
      const pad = 1e-14 * (Math.abs(Hhi) + 1);
      cutLo = Math.min(param, Math.sqrt(param) * Math.exp(-(Hhi + pad)));
      cutHi = Math.min(param, Math.sqrt(param) * Math.exp(-(Hlo - pad)));
    }
    if (!(Slo > 0 && cutLo > 0)) continue;
    const tLo = zmax + Math.log(cutLo * Slo) / inv;
    const tHi = zmax + Math.log(cutHi * Shi) / inv;
    // The JS kernel's own rounding of t and of its per-token test.
    const pad = 1e-12 * (Math.abs(zmax) + Math.abs(tLo) + Math.abs(tHi) + 1 + 1 / inv);
    const c = certify(e, L, V, thrf, tLo - pad, tHi + pad);
    if (coarse) bandFastStats[c ? 'coarse' : 'coarseMissed']++;
    if (!c) continue;
    done = true;
    if (kind === 'xtc') {
      if (c.next < zmax) {
        keep.hi = c.next;
        keep.max = c.next; // the largest kept logit: the band's top
      }
    } else {
      const next = Math.min(zmax, c.next);
      if (next > keep.thr) keep.thr = next;
    }
    break;
  }
  if (done) {
    bandFastStats.fast++;
    return;
  }
  bandFastStats.exact++;
  if (kind === 'xtc') xtcBand(row, undefined, V, keep, inv, param);
  else cutoffBand(row, undefined, V, keep, inv, param, kind === 'eta');
}

/**
 * Bounds of band_sums' / row_sums' S = Σ x and SW = Σ x·w (float32 blocks, float64 partial
 * sums) and of H = ln S + SW / S: each x within EPS0 + BLK of e^-w, w within `kappa`·w of the
 * exact |a| (KAPPA; 0 where w is exact), w ≤ `wmax`, so Σ x·w² ≤ wmax·SW; tokens past w = 87
 * (x = e^-87, true less) as an absolute term. Where SW only enters the error (ε, XTC), pass a bound of it.
 */
function sumBounds(
  S: number,
  SW: number,
  V: number,
  kappa: number,
  wmax: number,
  perTerm = false,
  eps = EPS0,
): { Slo: number; Shi: number; Hlo: number; Hhi: number; errS: number; errSW: number } {
  const acc = (V / 4 + 4) * 2 * U + 1e-15; // the sums' rounding and the JS kernel's own error
  const tiny = V * 1e-36;
  // perTerm (band_sums' moments 3): no float32 block sums; Σ x·w's float32 products, 2^-24 each.
  const [bs, bw] = perTerm ? [0, 6e-8] : [BLK, BLK];
  const errS = 1.001 * ((eps + bs) * S + kappa * SW) + acc * S + tiny;
  const errSW = 1.001 * ((eps + kappa + bw) * SW + kappa * wmax * SW) + acc * SW + 90 * tiny;
  const [Slo, Shi] = [S - errS, S + errS];
  return { Slo, Shi, Hlo: Math.log(Slo) + Math.max(0, SW - errSW) / Shi, Hhi: Math.log(Shi) + (SW + errSW) / Slo, errS, errSW };
}

/**
 * Dynamic temperature on the module's copy of row r (src/reference/temperature.ts). The entropy
 * comes from row_sums' float32 sums over the whole row at the pending 1/T; their error bounds
 * (those of η, cutBand) give an interval for the normalized entropy, and where the interval lies
 * within one step of its grid that step is the reference's. Otherwise the JS kernel's exact pass
 * runs (dynamicRow). The rewrite is dyn_rewrite, the reference's arithmetic. Returns 0 when the
 * row is not dynamic, 1 when it is (1/T = 1 from here), 2 when, besides, res holds scan_max's
 * results for the rewritten row.
 */
function dynamicRowSimd(
  e: Exports,
  L: Layout,
  row: Float32Array,
  plan: FusedPlan,
  r: number,
  ex: Float64Array,
  owned: () => Float32Array,
  defer?: DeferredRewrite,
): 0 | 1 | 2 {
  const d = plan.dynamic!;
  const R = d.range[r]!;
  const prev = d.prev[r]!;
  if (!(R > 0) || !Number.isFinite(prev)) return 0;
  const V = row.length;
  const F64 = new Float64Array(e.memory.buffer, L.res, 3);
  e.scan_max(L.row, V, L.res);
  const zmax = F64[0]!;
  const zmin = F64[2]!;
  if (F64[1] !== 0 || zmax === Infinity || zmax === -Infinity) return 1; // an invalid row, left as it is
  const prev32 = Math.fround(prev);
  if (!(prev32 >= 1e-30 && prev32 <= 1e30)) return dynamicRow(owned(), plan, r, ex) ? 1 : 0;
  e.row_sums(L.row, V, zmax, prev32, L.res);
  const [S, SW, n] = [F64[0]!, F64[1]!, F64[2]!];
  let xq = 0;
  if (n > 1) {
    // w = f32(f32(zmax − z)·prev) is the reference's |s| itself when prev is a float32.
    const kappa = prev32 === prev ? 0 : KAPPA;
    const { Slo, Hlo, Hhi } = sumBounds(S, SW, V, kappa, Math.min(87, (zmax - zmin) * prev * 1.00001));
    const ln = Math.log(n);
    // The reference's own float64 error, with a wide margin.
    const pad = 1e-12 * (Math.abs(Hhi) + 1);
    const lo = quantizedEntropy((Hlo - pad) / ln);
    if (!(Slo > 0) || lo !== quantizedEntropy((Hhi + pad) / ln)) {
      dynamicFastStats.exact++;
      return dynamicRow(owned(), plan, r, ex) ? 1 : 0;
    }
    xq = lo;
  }
  dynamicFastStats.fast++;
  const t = dynamicTemperatureAt(xq, n, d.T[r]!, R, d.exponent[r]!);
  if (t === 0) {
    greedyRow(owned());
    return 1;
  }
  const k = dynamicInvTemperature(t);
  // Nothing after it but the draw: draw_dyn rewrites as it reads (one pass fewer).
  if (defer) [defer.on, defer.zmax, defer.prev, defer.k] = [true, zmax, prev, k];
  else {
    owned();
    e.dyn_rewrite(L.row, V, zmax, prev, k);
  }
  // The rewrite is monotone: the new extremes are the old ones rewritten (scan_max's results).
  const at = (z: number): number => Math.max(Math.fround(Math.fround(Math.fround(z - zmax) * prev) * k), -FLT_MAX);
  F64[0] = at(zmax);
  F64[1] = 0;
  F64[2] = at(zmin);
  return 2;
}

/** A rewrite dynamicRowSimd left to the draw (draw_dyn): on, and dyn_rewrite's arguments. */
interface DeferredRewrite {
  on: boolean;
  zmax: number;
  prev: number;
  k: number;
}

/** Whether row r has nothing after dynamic temperature but the draw (no filter, band, Mirostat). */
function drawOnlyAfter(plan: FusedPlan, r: number): boolean {
  const on = (a: Float64Array | undefined, off: number): boolean => a !== undefined && a[r]! !== off;
  const k = plan.topK[r]!;
  return (
    !(k > 0 && k < plan.vocab) &&
    !(plan.topP[r]! < 1) &&
    !(plan.minP[r]! > 0) &&
    !(plan.topNSigma && plan.topNSigma[r]! > 0) &&
    !on(plan.typicalP, 1) &&
    !(plan.xtcThreshold && plan.xtcThreshold[r]! >= 0) &&
    !(plan.epsilon && plan.epsilon[r]! > 0) &&
    !(plan.eta && plan.eta[r]! > 0) &&
    !(plan.mirostat && plan.mirostat[r]! > 0) &&
    !(plan.minKeep && plan.minKeep[r]! > 1)
  );
}

/**
 * Tests only: row r rewritten by the SIMD kernel's dynamic temperature (a copy; the row given
 * stays), with the kernel's 0 / 1 / 2 outcome; undefined where the module is not ready.
 */
export function dynamicRowSimdCopy(row: Float32Array, plan: FusedPlan, r: number): { row: Float32Array; outcome: number } | undefined {
  if (simdStatus() !== 'ready') return undefined;
  const e = own!.e;
  const L = prepare(own!, row.length);
  const view = new Float32Array(e.memory.buffer, L.row, row.length);
  view.set(row);
  const outcome = dynamicRowSimd(e, L, view, plan, r, dynamicScratch(row.length), () => view);
  return { row: view.slice(), outcome };
}

/**
 * Tests only: typical-p over a whole row (the kept set z ≥ thr before it, maximum zmax) by the
 * module's exact passes: `keep` as the JS kernel's typicalBand leaves it, and the kept band;
 * undefined where the module is not ready or hands the row back.
 */
export function typicalRowSimd(
  row: Float32Array,
  thr: number,
  zmax: number,
  inv: number,
  p: number,
  minKeep = 1,
): { keep: Keep; band: [number, number] } | undefined {
  if (simdStatus() !== 'ready') return undefined;
  const L = prepare(own!, row.length);
  new Float32Array(own!.e.memory.buffer, L.row, row.length).set(row);
  const keep = new Keep().reset(thr, zmax);
  const band = typicalRow(own!.e, L, keep, inv, p, minKeep);
  return band && { keep, band };
}

/**
 * Mirostat v1 over a whole row whose kept set is the floor z ≥ thr: the module's top-k scan of
 * min(100, V) gives the largest kept logits sorted, and the kept count where the scan's k-th
 * largest is below the floor (else only that it is at least 100); a k beyond them is another
 * scan's k-th largest. Overwrites idx, val and res; `count()`: the last scan's candidates, a
 * superset of what v1 keeps when it cuts.
 */
function v1Top(e: Exports, L: Layout, thr: number, V: number): V1Top & { count(): number } {
  const M = Math.min(MIROSTAT_M, V);
  let c = e.scan_topk(L.row, V, M, L.idx, L.val, L.tmp, L.res);
  const val = new Float32Array(e.memory.buffer, L.val, c);
  const kth = new Float64Array(e.memory.buffer)[(L.res >> 3) + 2]!;
  const vals = new Float64Array(c);
  let n = 0;
  for (let i = 0; i < c; i++) if (val[i]! >= thr) vals[n++] = val[i]!;
  const sorted = vals.subarray(0, n).sort().reverse();
  // At least M finite logits ≥ the floor: the count is not needed unless k ≥ M.
  const kept = kth > -Infinity && kth >= thr ? Infinity : n;
  const beyond = (rank: number): number => {
    if (rank > V) return NaN;
    c = e.scan_topk(L.row, V, rank, L.idx, L.val, L.tmp, L.res);
    const v = new Float64Array(e.memory.buffer)[(L.res >> 3) + 2]!;
    return v > -Infinity && v >= thr ? v : NaN;
  };
  // The last scan's candidates (idx, val): every token ≥ its k-th largest.
  return { sorted, kept, beyond, count: () => c };
}

/**
 * Samples every row of `values` ([batch, vocab] row-major) into `out` with the SIMD module, as
 * sampleRows does (and, with `kept`, the kept counts of fused-observer.ts). Returns false (and
 * does nothing) when the module is not available now.
 */
/**
 * Per row of `values` ([B, V]): S = Σ exp((z − max z)·inv[r]) over the row, the module's float32
 * exp (relative error < 1.03e-7 a term) summed in float64; NaN where the row holds NaN or
 * +Infinity or nothing finite. For log-probabilities (log S). Undefined when the module is not
 * ready.
 */
export function rowExpSums(
  values: Float32Array,
  B: number,
  V: number,
  inv: ArrayLike<number>,
  out: Float32Array | Float64Array,
  maxOut?: Float64Array,
  skip?: (r: number) => boolean,
): boolean {
  if (simdStatus() !== 'ready') return false;
  const { mod, inPlace } = modFor(values, V);
  const e = mod.e;
  const L = prepare(mod, V);
  const F32 = new Float32Array(e.memory.buffer);
  const F64 = new Float64Array(e.memory.buffer);
  const res = L.res >> 3;
  for (let r = 0; r < B; r++) {
    if (skip?.(r)) continue;
    if (inPlace) L.row = values.byteOffset + r * V * 4;
    else F32.set(values.subarray(r * V, (r + 1) * V), L.row >> 2);
    e.scan_max(L.row, V, L.res);
    const zmax = F64[res]!;
    if (maxOut) maxOut[r] = zmax;
    if (F64[res + 1] !== 0 || !Number.isFinite(zmax)) {
      out[r] = NaN;
      continue;
    }
    rowSum(e, L.row, V, zmax, inv[r]!, L.res);
    out[r] = F64[res]!;
  }
  return true;
}

/**
 * The n largest of z[o, o + V) in descending order, ties in index order (their offsets from o),
 * from the module's top-k scan, or undefined where it cannot say (module not ready, fewer than n
 * finite values, over 1,024 tied at the n-th, NaN or +Infinity in the row): the JS packing's
 * topOffsets then runs.
 */
export function rowTopN(z: Float32Array, o: number, V: number, n: number): Int32Array | undefined {
  if (n === 0 || n > V || simdStatus() !== 'ready') return undefined;
  const { mod, inPlace } = modFor(z, V);
  const e = mod.e;
  const L = prepare(mod, V);
  if (inPlace) L.row = z.byteOffset + o * 4;
  else new Float32Array(e.memory.buffer).set(z.subarray(o, o + V), L.row >> 2);
  const c = e.scan_topk(L.row, V, n, L.idx, L.val, L.tmp, L.res);
  const F64 = new Float64Array(e.memory.buffer);
  const res = L.res >> 3;
  // Many ties at the n-th value (a flat row): sorting them would cost more than the JS pass.
  if (c < n || c > 1024 || F64[res + 1] !== 0 || F64[res] === Infinity) return undefined;
  // The candidates (every finite token >= the n-th largest, ties included) in index order.
  const idx = new Int32Array(e.memory.buffer, L.idx, c);
  const val = new Float32Array(e.memory.buffer, L.val, c);
  const order = Array.from({ length: c }, (_, i) => i).sort((a, b) => val[b]! - val[a]! || idx[a]! - idx[b]!);
  return Int32Array.from(order.slice(0, n), (i) => idx[i]!);
}

export function sampleRowsSimd(values: Float32Array, plan: FusedPlan, out: Int32Array, kept?: Int32Array, heap?: Mod): boolean {
  if (simdStatus() !== 'ready' || !simdTakes(plan)) return false; // typical-p, minTokensToKeep: the JS kernel
  const V = plan.vocab;
  // In the wasm backend's heap the passes read the caller's rows in place; a row is copied only
  // before something rewrites it (edits, an unfolded mask, dynamic temperature's rewrite).
  const inHeap = heap !== undefined && heap.layout?.V === V && values.buffer === heap.e.memory.buffer;
  const mod = inHeap ? heap : own!;
  const e = mod.e;
  const L = prepare(mod, V);
  const buf = e.memory.buffer;
  const F64 = new Float64Array(buf);
  const copy = new Float32Array(buf, L.copy, V);
  let row: Float32Array = copy;
  const idx = new Int32Array(buf, L.idx, V);
  const val = new Float32Array(buf, L.val, V);
  const mass = new Float64Array(buf, L.mass, BUCKETS);
  const res = L.res >> 3;
  const edited = plan.editRow || plan.mask ? new Int32Array(plan.batch) : undefined;
  // Edited rows run under 'error' (see sampleRows): codes first, the policy's token after.
  const policy: FusedPlan = edited ? { ...plan, invalidRows: 'error' } : plan;
  const words = plan.mask ? new Int32Array(buf, L.words, Math.ceil(V / 32)) : undefined;
  const keep = new Keep();
  const dynEx = plan.dynamic ? dynamicScratch(V) : undefined;
  const deferred: DeferredRewrite = { on: false, zmax: 0, prev: 1, k: 1 };
  for (let r = 0; r < plan.batch; r++) {
    const z = values.subarray(r * V, (r + 1) * V);
    if (inHeap) {
      [L.row, row] = [z.byteOffset, z];
      simdRowStats.inPlace++;
    } else {
      copy.set(z);
      [L.row, row] = [L.copy, copy];
      simdRowStats.copied++;
    }
    // Before a rewrite: the row into the module's copy (once), the passes read that from then on.
    const owned = (): Float32Array => {
      if (L.row !== L.copy) {
        copy.set(z);
        [L.row, row] = [L.copy, copy];
        simdRowStats.inPlace--;
        simdRowStats.copied++;
      }
      return row;
    };
    const k = plan.topK[r]!;
    const topK = k > 0 && k < V;
    const dyn = plan.dynamic !== undefined && plan.dynamic.range[r]! > 0;
    const late = lateDynamic(plan, r); // after the filters: dynamicKept below
    // Logprobs: the raw normaliser from this copy (the packing would copy the row again). Where
    // the copy is still the caller's row when the chain's scan reads it (no edit, mask or early
    // rewrite), that scan's maximum serves: one read of the row fewer.
    const rawAfterScan = plan.rawSum !== undefined && !plan.editRow && !words && !(dyn && !late);
    if (plan.rawSum && !rawAfterScan) {
      e.scan_max(L.row, V, L.res);
      const m = F64[res]!;
      plan.rawMax![r] = m;
      if (F64[res + 1] === 0 && Number.isFinite(m)) {
        rowSum(e, L.row, V, m, 1, L.res);
        plan.rawSum[r] = F64[res]!;
      }
    }
    // Edits and the mask change the module's copy of the row: the caller's logits stay.
    if (plan.editRow) edited![r] = plan.editRow(owned(), r);
    // With top-k the mask is applied inside the scan (no pass of its own): every later step
    // reads only the candidates, all of them allowed. Otherwise (and before top-nσ or dynamic
    // temperature, which read the whole row) it masks the row first.
    const folded = words !== undefined && maskFoldsIntoTopK(plan, r);
    if (words) {
      words.set(plan.mask![r]!);
      if (!folded) {
        owned();
        edited![r]! |= e.mask_words(L.row, V, L.words);
      }
    }
    // Dynamic temperature rewrites the module's copy (the reference's float32 scaled logits).
    deferred.on = false;
    const dynamic = dyn && !late ? dynamicRowSimd(e, L, row, plan, r, dynEx!, owned, !plan.keptOut && drawOnlyAfter(plan, r) ? deferred : undefined) : 0;
    const dynOn = dynamic > 0;
    let n = 0;
    if (folded) {
      n = e.scan_topk_masked(L.row, V, k, L.idx, L.val, L.tmp, L.res, L.words);
      edited![r]! |= F64[res + 3]!;
    } else if (topK) n = e.scan_topk(L.row, V, k, L.idx, L.val, L.tmp, L.res);
    else if (dynamic !== 2) e.scan_max(L.row, V, L.res);
    const zmax = F64[res]!;
    const nan = F64[res + 1] !== 0;
    const zmin = F64[res + 2]!; // the smallest finite logit (scan_max only)
    if (rawAfterScan) {
      plan.rawMax![r] = zmax;
      if (!nan && Number.isFinite(zmax)) {
        rowSum(e, L.row, V, zmax, 1, L.res);
        plan.rawSum![r] = F64[res]!;
      }
    }
    const sk = plan.stepKeys[r]!;
    if (kept) kept[r] = -1; // invalid row, unless set below
    if (plan.surprise) plan.surprise[r] = NaN; // invalid row (Mirostat's μ stays), unless set below
    if (nan || zmax === Infinity || zmax === -Infinity) {
      out[r] = invalidRow(z, nan, zmax, policy, sk);
      continue;
    }
    if (plan.surprise) plan.surprise[r] = 0; // greedy or Mirostat off
    const inv = dynOn ? 1 : plan.invT[r]!;
    const tp = plan.typicalP ? plan.typicalP[r]! : 1;
    const xt = plan.xtcThreshold ? plan.xtcThreshold[r]! : -1;
    // Greedy rows: the largest logit, unless typical-p or XTC (which can drop it) applies; then
    // the largest of what they keep, from bands at 1/T = 1 (the JS kernel's rule).
    const greedy = inv === Infinity && !late;
    if (greedy && !(tp < 1 || xt >= 0)) {
      if (folded) {
        // The row holds masked tokens unmasked: the maxima are among the candidates (index order).
        let c = 0;
        while (val[c] !== zmax) c++;
        if (kept) kept[r] = simdKept(row, idx, n, zmax, true);
        writeKept(plan, r, row, idx, n, { lo: zmax, hi: zmax }, Infinity);
        out[r] = idx[c]!;
        continue;
      }
      if (kept) kept[r] = simdKept(row, undefined, V, zmax, true);
      writeKept(plan, r, row, undefined, V, { lo: zmax, hi: zmax }, Infinity);
      out[r] = e.first_eq(L.row, V, zmax); // lowest index among maxima
      continue;
    }
    const p = plan.topP[r]!;
    const m = plan.minP[r]!;
    const finv0 = plan.filterInvT ? plan.filterInvT[r]! : inv; // top-p / min-p's 1/T
    const finv = Number.isFinite(finv0) ? finv0 : 1;
    // top-nσ: a floor under the whole row, before top-k (the JS kernel's order).
    const ns = plan.topNSigma ? plan.topNSigma[r]! : 0;
    const floor = ns > 0 ? sigmaFloor(e, L, row, zmax, ns) : -Infinity;
    let thr = floor;
    if (topK) {
      if (floor > -Infinity) {
        let c2 = 0;
        for (let c = 0; c < n; c++) {
          if (val[c]! >= floor) {
            idx[c2] = idx[c]!;
            val[c2++] = val[c]!;
          }
        }
        n = c2;
      }
      // The JS kernel's threshold: the smallest candidate (the k-th largest when finite).
      thr = n > 0 ? val[0]! : -Infinity;
      for (let c = 1; c < n; c++) if (val[c]! < thr) thr = val[c]!;
    }
    // typical-p before top-p and min-p (order 'llama.cpp'): its band becomes the candidates
    // idx[0, n) (`cand`), and their largest (zk) the reference point of top-p and min-p.
    const early = plan.typicalEarly === true && tp < 1;
    const mk = plan.minKeep ? plan.minKeep[r]! : 1;
    let cand = topK;
    let zk = zmax;
    /** typical-p first over a whole row: its band [lo, hi] (the candidates are the band ∩ z ≥ thr). */
    let earlyBand: [number, number] | undefined;
    if (early) {
      keep.reset(thr, zmax);
      let fast = topK ? undefined : typicalFast(e, L, row, thr, zmax, Math.max(zmin, float32Ceil(thr)), finv, tp);
      // minTokensToKeep: a band of fewer tokens grows to the mk closest (the JS pass).
      if (fast && mk > 1 && bandCount(e, L, fast, float32Ceil(thr)) < mk) fast = undefined;
      if (!topK) bandFastStats[fast ? 'fast' : 'exact']++;
      // The band's tokens, in index order: from the window list (its logits in L.val), or the JS
      // kernel's band over the candidates or the row (typicalExact leaves it in `keep`).
      if (fast) [n, zk, earlyBand] = [e.list_band(L.tmp, L.val, fast.listed, fast.band[0], fast.band[1], L.idx), fast.band[1], fast.band];
      else {
        const band = typicalExact(e, L, row, topK ? idx : undefined, topK ? n : V, keep, finv, tp, mk);
        // Over a whole row the kept set is the interval band ∩ z ≥ thr: listed in one SIMD pass.
        if (topK) [n, zk] = bandList(row, idx, n, keep, idx);
        else [n, zk, earlyBand] = [e.list_range(L.row, V, float32Ceil(keep.thr), band[0], band[1], L.idx, L.val), band[1], band];
      }
      cand = true;
    }
    if (p < 1) {
      let tau: number;
      if (cand && n <= 4096) {
        tau = topPSorted(row, idx, n, zk, finv, p);
      } else if (earlyBand && !Number.isNaN((tau = e.topp_fast(L.val, n, zk, earlyBand[0], finv, p, L.mass, L.bucketOf, L.gather, L.sorted)))) {
        // typical-p's band first: the certified pass over its logits, compacted in L.val.
        topPFastStats.fast++;
      } else if (!cand && !Number.isNaN((tau = e.topp_fast(L.row, V, zmax, zmin, finv, p, L.mass, L.bucketOf, L.gather, L.sorted)))) {
        topPFastStats.fast++; // the exact threshold, proven by the float32 pass's error bounds
      } else {
        if (!cand) topPFastStats.exact++;
        const count = cand ? n : V;
        const idxPtr = cand ? L.idx : 0;
        mass.fill(0);
        e.topp_hist(L.row, idxPtr, count, zk, finv, L.exptab, L.mass, L.bucketOf);
        const { star, before, target } = boundaryBucket(mass, p);
        const c = e.gather_bucket(L.row, idxPtr, count, L.bucketOf, star, L.gather);
        tau = e.topp_walk(L.gather, c, before, target, zk, finv, L.sorted, L.cnt);
      }
      if (tau > thr) thr = tau;
    }
    if (m > 0) {
      const t = zk + Math.log(m) / finv0; // a greedy row: its maxima (the reference's rule)
      if (t > thr) thr = t;
    }
    // minTokensToKeep: every filter keeps the mk largest of what top-nσ left (top-k's k ≥ mk), or,
    // after typical-p first, of its band.
    const vm = mk > 1 ? (early ? largestIn(row, idx, n, mk) : largestLeft(e, L, row, val, n, topK, floor, mk)) : -Infinity;
    if (mk > 1 && vm < thr) thr = vm;
    // typical-p, ε, η, XTC: on the candidates, the JS kernel's bands; over a whole row, the
    // module's certified passes (typical-p's band becomes a floor and an upper bound).
    keep.reset(thr, zk);
    // typical-p's window list (L.tmp, `win` tokens): a superset of its band, for the draw.
    let win = -1;
    let winLo = Infinity;
    if (tp < 1 && !early) {
      const fast = topK ? undefined : typicalFast(e, L, row, thr, zmax, Math.max(zmin, float32Ceil(thr)), finv, tp);
      let band = fast?.band;
      // minTokensToKeep: a band of fewer tokens grows to the mk closest (the JS pass).
      if (fast && mk > 1 && bandCount(e, L, fast, float32Ceil(thr)) < mk) band = undefined;
      if (!topK) {
        if (band) bandFastStats.fast++;
        else bandFastStats.exact++;
      }
      // A list of most of the row: the draw's SIMD pass over the row is faster.
      if (band && fast!.listed < V / 4) [win, winLo] = [fast!.listed, band[0]];
      band ??= typicalExact(e, L, row, topK ? idx : undefined, topK ? n : V, keep, finv, tp, mk);
      keep.reset(band[0], zmax);
      keep.hi = band[1];
      keep.max = band[1];
    }
    const eps = plan.epsilon ? plan.epsilon[r]! : 0;
    const eta = plan.eta ? plan.eta[r]! : 0;
    if (eps > 0) cand ? cutoffBand(row, idx, n, keep, finv, eps, false) : cutBand(e, L, row, keep, zmax, zmin, finv, eps, 'eps');
    if (mk > 1 && vm < keep.thr) keep.thr = vm;
    if (eta > 0) cand ? cutoffBand(row, idx, n, keep, finv, eta, true) : cutBand(e, L, row, keep, zmax, zmin, finv, eta, 'eta');
    if (mk > 1 && vm < keep.thr) keep.thr = vm;
    if (xt >= 0 && cand) xtcBand(row, idx, n, keep, finv, xt, mk);
    else if (xt >= 0) {
      const [hi0, max0] = [keep.hi, keep.max];
      cutBand(e, L, row, keep, zmax, zmin, finv, xt, 'xtc');
      // minTokensToKeep: XTC leaves the row as it is when fewer would stay (no band before it here).
      if (mk > 1 && keep.hi !== hi0) {
        const thrf = float32Ceil(keep.thr);
        e.band_floor(L.row, V, thrf, thrf, keep.hi, L.res);
        if (F64[res]! < mk) [keep.hi, keep.max] = [hi0, max0];
      }
    }
    if (greedy) {
      // The first of the largest kept logits (Mirostat keeps it: nothing left to decide).
      const top = Number.isNaN(keep.max) ? keptMax(row, cand ? idx : undefined, cand ? n : V, keep) : keep.max;
      if (kept) kept[r] = simdKept(row, cand ? idx : undefined, cand ? n : V, top, true);
      writeKept(plan, r, row, cand ? idx : undefined, cand ? n : V, { lo: top, hi: top }, Infinity);
      if (cand) {
        let c = 0;
        while (row[idx[c]!] !== top) c++;
        out[r] = idx[c]!;
      } else out[r] = e.first_eq(L.row, V, top);
      continue;
    }
    if (late) {
      // Dynamic temperature after the filters: the kept tokens rewritten in the module's copy,
      // the other candidates -Infinity, then the draw at 1/T = 1 (the kept maximum is 0).
      const list = cand ? idx : undefined;
      const count = cand ? n : V;
      const g = dynamicKept(owned(), list, count, keep, plan, r, dynEx!);
      if (kept) kept[r] = g >= 0 ? 1 : simdKept(row, list, count, -FLT_MAX, false);
      if (g >= 0 && plan.keptOut) {
        [plan.keptOut[r * V + g], plan.keptInv![r]] = [0, 1];
        markKept(r, g);
      } else writeKept(plan, r, row, list, count, { lo: -FLT_MAX, hi: Infinity }, 1);
      if (g < 0 && !cand) drawLaneStats.rows++;
      out[r] = g >= 0 ? g : e.draw(L.row, cand ? L.idx : 0, count, -FLT_MAX, Infinity, 0, 1, sk, L.mt, GN, L.lanes);
      continue;
    }
    // Mirostat (last, at the draw's 1/T): v2 an ε-like floor with ε = 2^-μ; v1 the k largest,
    // over a whole row from the module's top-k scans, whose candidates then hold what it keeps.
    const ver = plan.mirostat ? plan.mirostat[r]! : 0;
    const miro = ver > 0;
    let listed = cand; // the kept tokens are among idx[0, n)
    if (ver === 2) {
      const cut = 2 ** -plan.mirostatMu![r]!;
      if (cand) cutoffBand(row, idx, n, keep, inv, cut, false);
      else cutBand(e, L, row, keep, zmax, zmin, inv, cut, 'eps');
    } else if (miro) {
      const mu = plan.mirostatMu![r]!;
      if (cand) {
        mirostatV1Band(row, idx, n, keep, inv, mu);
      } else {
        const before = keep.thr;
        const top = v1Top(e, L, before, V);
        mirostatV1Band(row, undefined, V, keep, inv, mu, top);
        if (keep.thr > before) {
          listed = true;
          n = top.count();
        }
      }
    }
    if (earlyBand && listed && !miro && n > V / 4) {
      // What the filters kept of typical-p's band (most of the row) is the interval [band lo,
      // band hi] ∩ keep: the SIMD draw reads the row between those bounds (the same tokens, in
      // the same order) instead of the list.
      listed = false;
      if (earlyBand[0] > keep.thr) keep.thr = earlyBand[0];
      if (earlyBand[1] < keep.hi) keep.hi = earlyBand[1];
    }
    const winned = !listed && win >= 0 && keep.thr >= winLo; // the window list holds every kept token
    const list = listed ? idx : winned ? new Int32Array(buf, L.tmp, win) : undefined;
    const count = listed ? n : winned ? win : V;
    thr = keep.thr;
    const hi = keep.hi;
    // The draw shifts by the kept maximum, as the JS kernel does (XTC can drop the row's).
    const dmax = Number.isNaN(keep.max) ? keptMax(row, list, count, keep) : keep.max;
    if (kept) kept[r] = simdKept(row, list, count, float32Ceil(thr), false, hi);
    if (plan.keptSum && !list && !(thr > -FLT_MAX) && hi === Infinity && !dynOn) {
      // Every finite token kept (temperature alone): the packing's processed normaliser from the
      // row while it is here, the packing's own arithmetic (row_sums at its max and float32 1/T);
      // at 1/T = 1 over the caller's row it is the raw one. An unedited row is not copied into
      // the kept buffer: the packing reads the caller's row.
      plan.keptMax![r] = zmax;
      if (inv === 1 && rawAfterScan && !Number.isNaN(plan.rawSum![r]!)) plan.keptSum[r] = plan.rawSum![r]!;
      else {
        rowSum(e, L.row, V, zmax, inv, L.res);
        plan.keptSum[r] = F64[res]!;
      }
      plan.keptInv![r] = inv;
      if (!plan.editRow && !words) markKeptInput(r);
      else writeKept(plan, r, row, list, count, { lo: -FLT_MAX, hi }, inv);
    } else writeKept(plan, r, row, list, count, { lo: Math.max(float32Ceil(thr), -FLT_MAX), hi }, inv);
    if (deferred.on || !(listed || winned)) drawLaneStats.rows++;
    out[r] = deferred.on
      ? e.draw_dyn(L.row, V, deferred.zmax, deferred.prev, deferred.k, sk, L.mt, GN, L.lanes)
      : e.draw(L.row, listed ? L.idx : winned ? L.tmp : 0, count, float32Ceil(thr), hi, dmax, inv, sk, L.mt, GN, L.lanes);
    if (miro && out[r]! >= 0)
      plan.surprise![r] = listed ? keptSurprise(row, idx, n, keep, inv, row[out[r]!]!) : rowSurprise(e, L, row, float32Ceil(thr), zmax, inv, row[out[r]!]!);
  }
  const lanes = new Uint32Array(e.memory.buffer, L.lanes, 1);
  drawLaneStats.lanes += lanes[0]!;
  lanes[0] = 0;
  if (edited) for (let r = 0; r < plan.batch; r++) out[r] = editedOutcome(out[r]!, edited[r]!, values.subarray(r * V, (r + 1) * V), plan, r);
  return true;
}
