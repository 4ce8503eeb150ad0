// The whole default chain (temperature → top-k → top-p → min-p → Gumbel-max draw) on plain
// float32 rows, in float64, a few passes per row and no sort of the vocabulary. Shared by the
// cpu and wasm fused kernels. Same arithmetic as the reference where it decides a token:
// thresholds, top-p sums over top-k candidates, and the perturbed scores.
import { INV_TEMPERATURE_MAX, INV_TEMPERATURE_MIN } from '../../params.js';
import { tokenHash, U24, uniformOfHash } from '../../noise.js';
import { EDITED_FINITE, editedCode, maskRowEditor } from '../../host-history.js';
import { INVALID_CODE } from '../../invalid-rows.js';
import { MIROSTAT_M, mirostatV1K } from '../../reference/mirostat.js';
import { dynamicTemperatureOf } from '../../reference/temperature.js';

/** Per-row plan of one fused sampling step. */
export interface FusedPlan {
  batch: number;
  vocab: number;
  /** 1 / T per row, the draw's; Infinity = greedy. */
  invT: Float64Array;
  /**
   * 1 / T per row that top-p and min-p compute with, when it differs from the draw's (they run
   * before the temperature, as in llama.cpp's order: the T = 1 distribution).
   */
  filterInvT?: Float64Array;
  /** k per row, 0 = off (k ≥ V is off too). */
  topK: Float64Array;
  /** p per row, 1 = off. */
  topP: Float64Array;
  /** m per row, 0 = off. */
  minP: Float64Array;
  /** stepKey(rowKey, step) per row. */
  stepKeys: Uint32Array;
  invalidRows: 'error' | 'uniform' | 'greedy';
  /**
   * cpu / wasm: edits row r of the history processors (src/host-history.ts) in the kernel's own
   * copy of the row, before the chain reads it; returns the EDITED_* flags that fix the row's
   * invalid-row code (policy 'error' only).
   */
  editRow?: (row: Float32Array, r: number) => number;
  /**
   * This call's token bitmask, one row of ceil(V/32) words per row: cpu / wasm apply it after
   * `editRow`; webgl / webgpu to the logits the chain gets (gpu-chain.ts).
   */
  mask?: readonly Int32Array[];
  /**
   * Bands of the rest of the chain, per row, in the default order — top-nσ's n (before top-k),
   * then after min-p ε, η (0 = off), and XTC's threshold where its coin came up this step (-1 =
   * off; the fused plan decides the coin). cpu / wasm (JS and SIMD kernels) and the GPU chain.
   */
  topNSigma?: Float64Array;
  epsilon?: Float64Array;
  eta?: Float64Array;
  xtcThreshold?: Float64Array;
  /**
   * Each row's Mirostat version (0 off; the GPU chain takes v2 only), last in the chain at the draw's 1/T, over
   * what the filters before it kept: v2 keeps the maximum and every token with q ≥ 2^-μ; v1 the
   * k largest, k from the Zipf estimate over the 100 largest (mirostatV1Band). `mirostatMu`
   * holds each row's μ (the kernel fills it from its `mu` input), and the kernel writes into
   * `surprise` each row's −log2 q of the drawn token under the distribution it was drawn from
   * (0 for greedy rows, NaN where the row is invalid): Mirostat's `accept` learns from it.
   */
  mirostat?: Uint8Array;
  mirostatMu?: Float32Array;
  surprise?: Float32Array;
  /**
   * Logprobs (cpu / wasm): `keptOut` ([B·V], prefilled with -Infinity) receives, per valid row,
   * the values of the tokens the draw may pick (as the draw reads them: edited, masked,
   * rewritten), and `keptInv[r]` the draw's 1/T (Infinity for a greedy row: one-hot at the first
   * maximum). Invalid rows are left -Infinity.
   */
  keptOut?: Float32Array;
  keptInv?: Float64Array;
  /**
   * With keptOut, rows whose kept tokens came from a candidate list: their largest kept value
   * and Σ exp((v − it)·1/T) over them (float64, 1/T = 1 for greedy rows), so the packing reads
   * no whole row for them; NaN elsewhere (prefilled).
   */
  keptMax?: Float64Array;
  keptSum?: Float64Array;
  /**
   * With keptOut, the SIMD kernel's raw normaliser per row, from its own copy of the caller's row
   * (before edits): the max and Σ exp(x − max), NaN where the row holds NaN or +Infinity or
   * nothing finite; the packing then reads no row for it. Prefilled NaN (not computed).
   */
  rawMax?: Float64Array;
  rawSum?: Float64Array;
  /** Logprobs requested (cpu / wasm): the kernel fills keptOut / keptInv and returns the packed rows too. */
  logprobs?: { n: number; mode: 'raw' | 'processed'; raw: boolean };
  /**
   * cpu / wasm: dynamic temperature: per row its range (0 = off), exponent, base T and the 1/T
   * before it. A row with range > 0 is rewritten in the kernel's copy as the reference does
   * (float32 scaled logits from the entropy's step) and then runs at 1/T = 1. First in the chain
   * (the GPU chain too: its 1/T on the device), the whole row; `late` (temperature last, after
   * the filters: order 'llama.cpp'), the tokens the filters kept (dynamicKept).
   */
  dynamic?: { range: Float64Array; exponent: Float64Array; T: Float64Array; prev: Float64Array; late?: boolean };
  /** Typical-p's p per row (1 = off), after min-p — or, with `typicalEarly`, after top-k. */
  typicalP?: Float64Array;
  /**
   * typical-p before top-p and min-p (order 'llama.cpp'): its band becomes the candidate list,
   * over which top-p and min-p then run (cpu / wasm; minTokensToKeep: the band's m largest). The
   * GPU chain: its band first, top-p on the sorted top-k candidates within it.
   */
  typicalEarly?: boolean;
  /**
   * minTokensToKeep per row (1 = off; `topK` already holds max(k, m)): top-p, min-p, ε and η keep
   * at least the m largest logits left by top-nσ; typical-p at least the m closest to the
   * entropy; XTC leaves the row alone where fewer than m would stay.
   */
  minKeep?: Float64Array;
  /**
   * cpu / wasm: only the draw, on logits a tfjs-op chain already processed (the portable path's
   * draw); the kernel tells no observer (tests watch the fused chain's kept sets).
   */
  drawOnly?: boolean;
  /**
   * webgl / webgpu: the logits are the caller's own (no edit ran before the mask), so a row the
   * mask empties is reported as the processors' doing (-6) by the chain itself.
   */
  maskOnInput?: boolean;
}

// Upper bound of the float32-rounded Gumbel noise for every u in each 1/4096-wide slice.
const G_UPPER = (() => {
  const t = new Float64Array(4096);
  for (let i = 0; i < 4096; i++) {
    const u = Math.min((i + 1) / 4096, 1 - U24 / 2);
    t[i] = -Math.log(-Math.log(u)) + 1e-5; // + margin for the float32 rounding of g
  }
  return t;
})();

const G_MAX = G_UPPER[4095]!;

const gumbelOf = (h: number): number => Math.fround(-Math.log(-Math.log(uniformOfHash(h))));

/**
 * Samples every row of `values` ([batch, vocab] row-major) into `out`. With `kept` (tests: see
 * fused-observer.ts), also each row's kept count.
 */
export function sampleRows(values: Float32Array, plan: FusedPlan, out: Int32Array, kept?: Int32Array): void {
  const V = plan.vocab;
  const scratch = new Scratch(V);
  const copy = plan.editRow || plan.mask || plan.dynamic ? new Float32Array(V) : undefined;
  const masks = plan.mask ? maskRowEditor(plan.mask, V) : undefined;
  // Dynamic rows run at 1/T = 1 after the rewrite: a per-row copy of the plan's 1/T.
  const invT = plan.dynamic ? Float64Array.from(plan.invT) : plan.invT;
  const dynEx = plan.dynamic ? dynamicScratch(V) : undefined;
  // Edited rows run under 'error': the codes are rewritten over input and edits (editedCode),
  // and a fallback token, where the policy wants one, comes from the caller's row.
  const inner: FusedPlan = copy ? { ...plan, invT, invalidRows: 'error' } : plan;
  for (let r = 0; r < plan.batch; r++) {
    const input = values.subarray(r * V, (r + 1) * V);
    if (!copy) {
      out[r] = sampleRow(input, plan, r, scratch, kept);
      continue;
    }
    let z = input;
    let flags = 0;
    if (plan.editRow) {
      copy.set(input);
      flags = plan.editRow(copy, r);
      z = copy;
    }
    const dyn = plan.dynamic !== undefined && plan.dynamic.range[r]! > 0;
    // With a small top-k the mask is applied inside the heap pass (no pass of its own): every
    // later step reads only the candidates, all of them allowed. Otherwise (with bands, whose
    // statistics read the whole row, and with dynamic temperature, whose entropy does) the row
    // is masked.
    const words = masks && plan.topK[r]! <= HEAP_MAX && maskFoldsIntoTopK(plan, r) && !hasBands(plan) ? plan.mask![r]! : undefined;
    if (masks && !words) {
      if (z === input) {
        copy.set(input);
        z = copy;
      }
      flags |= masks(z, r);
    }
    if (dyn) {
      if (z === input) {
        copy.set(input);
        z = copy;
      }
      // Late (after the filters): sampleRow rewrites the kept tokens (dynamicKept).
      if (!plan.dynamic!.late) invT[r] = dynamicRow(z, plan, r, dynEx!) ? 1 : plan.invT[r]!;
    }
    const code = sampleRow(z, inner, r, scratch, kept, words);
    // Folded mask and no finite logit left: any finite logit of the row was masked.
    if (words && code === INVALID_CODE['no-finite-logit'] && z.some((v) => Number.isFinite(v))) flags |= EDITED_FINITE;
    out[r] = editedOutcome(code, flags, input, plan, r);
  }
}

/**
 * Dynamic temperature on row r of a kernel's own copy, with the reference's very arithmetic
 * (src/reference/temperature.ts: float32 scaled logits, Neumaier sums of Math.exp in index
 * order, the same formulas), so the rewritten row is the reference's bit for bit. Returns true
 * when the row is dynamic (its 1/T is then 1); `ex` is scratch of V doubles.
 */
export function dynamicRow(row: Float32Array, plan: FusedPlan, r: number, ex: Float64Array): boolean {
  const d = plan.dynamic;
  if (!d) return false;
  const R = d.range[r]!;
  const prev = d.prev[r]!;
  if (!(R > 0) || !Number.isFinite(prev)) return false;
  const V = row.length;
  let zmax = -Infinity;
  for (let j = 0; j < V; j++) {
    const v = row[j]!;
    if (v !== v || v === Infinity) return true; // an invalid row, left as it is
    if (v > zmax) zmax = v;
  }
  if (zmax === -Infinity) return true;
  if (dynamicScale(row, undefined, V, (v) => v > -Infinity, zmax, plan, r, ex) >= 0) greedyRow(row);
  return true;
}

/** Whether row r's dynamic temperature comes after the filters (plan.dynamic.late) and applies. */
export function lateDynamic(plan: FusedPlan, r: number): boolean {
  const d = plan.dynamic;
  return d !== undefined && d.late === true && d.range[r]! > 0 && Number.isFinite(d.prev[r]!);
}

/**
 * Dynamic temperature after the filters, on the candidates `idx` (or the whole row) of a
 * writable row: the reference's state row there holds the tokens `keep` keeps and -Infinity
 * elsewhere, so its arithmetic (dynamicRow's: float32 s = f32(f32(z − max)·prev), compensated
 * sums of Math.exp in index order, T from the entropy's step) runs over the kept tokens only
 * (the others add exact zeros). The kept tokens become f32(s·k), every other candidate
 * -Infinity. Returns -1, or the token where T is 0 (the first kept maximum: greedy).
 */
export function dynamicKept(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, plan: FusedPlan, r: number, ex: Float64Array): number {
  return dynamicScale(z, idx, n, (v) => keep.has(v), Number.isNaN(keep.max) ? keptMax(z, idx, n, keep) : keep.max, plan, r, ex);
}

/**
 * dynamicRow's and dynamicKept's arithmetic over the candidates `has` keeps (maximum zk): the
 * reference's float32 s, compensated sums of Math.exp in index order, T from the entropy's step;
 * the kept tokens become f32(s·k), every other candidate -Infinity. Returns -1, or where T is 0
 * the first kept maximum (the row left as it is).
 */
function dynamicScale(
  z: Float32Array,
  idx: Int32Array | undefined,
  n: number,
  has: (v: number) => boolean,
  zk: number,
  plan: FusedPlan,
  r: number,
  ex: Float64Array,
): number {
  const d = plan.dynamic!;
  const prev = d.prev[r]!;
  const s = ex.subarray(z.length, 2 * z.length);
  const total = new Sum();
  let count = 0;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (!has(zj)) {
      s[c] = NaN;
      continue;
    }
    const sj = Math.fround(Math.fround(zj - zk) * prev);
    s[c] = sj;
    ex[c] = Math.exp(sj);
    total.add(ex[c]!);
    count++;
  }
  const Z = total.value;
  const lnZ = Math.log(Z); // the reference takes it per token: the same value
  const h = new Sum();
  for (let c = 0; c < n; c++) {
    const x = ex[c]!;
    if (s[c] === s[c]) h.add(x > 0 ? (x / Z) * (s[c]! - lnZ) : 0);
  }
  const t = dynamicTemperatureOf(-h.value, count, d.T[r]!, d.range[r]!, d.exponent[r]!);
  if (t === 0) {
    for (let c = 0; c < n; c++) if (s[c] === s[c] && z[idx ? idx[c]! : c] === zk) return idx ? idx[c]! : c;
  }
  const k = dynamicInvTemperature(t);
  for (let c = 0; c < n; c++) {
    const j = idx ? idx[c]! : c;
    z[j] = s[c] === s[c] ? Math.max(Math.fround(s[c]! * k), -FLT_MAX32) : -Infinity;
  }
  return -1;
}

/** 1/T of a dynamic row (T > 0), clamped as every 1/T. */
export function dynamicInvTemperature(t: number): number {
  return Math.min(INV_TEMPERATURE_MAX, Math.max(INV_TEMPERATURE_MIN, 1 / t));
}

/** A dynamic row of T 0: only its first maximum stays. */
export function greedyRow(row: Float32Array): void {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
  row.fill(-Infinity, 0, best);
  row.fill(-Infinity, best + 1);
}

const FLT_MAX32 = 3.4028234663852886e38;

let dynScratch: Float64Array | undefined;
/** dynamicRow's scratch (2·V doubles), kept across calls: no allocation per step. */
export function dynamicScratch(V: number): Float64Array {
  if (!dynScratch || dynScratch.length < 2 * V) dynScratch = new Float64Array(2 * V);
  return dynScratch;
}

/**
 * The id of an edited row, run under 'error': its code rewritten over input and edits
 * (editedCode), then, where the policy wants a token for an invalid row, the fallback drawn from
 * the caller's row `input` (the reference's rule). Shared by the JS and SIMD kernels.
 */
export function editedOutcome(code: number, flags: number, input: Float32Array, plan: FusedPlan, r: number): number {
  const c = editedCode(code, flags);
  return c < 0 && plan.invalidRows !== 'error' ? invalidRow(input, c === INVALID_CODE.nan, -Infinity, plan, plan.stepKeys[r]!) : c;
}

export class Scratch {
  idx: Int32Array;
  heapV: Float64Array;
  heapI: Int32Array;
  bucketOf: Uint16Array;
  keep = new Keep();
  constructor(vocab: number) {
    this.idx = new Int32Array(vocab);
    this.heapV = new Float64Array(Math.min(vocab, HEAP_MAX));
    this.heapI = new Int32Array(Math.min(vocab, HEAP_MAX));
    this.bucketOf = new Uint16Array(vocab);
  }
}

const HEAP_MAX = 1024;

/**
 * One row. `words` (small top-k only): a token bitmask the heap pass applies as it reads, `z`
 * left as it is; every later step reads only the candidates, which are all allowed.
 */
function sampleRow(z: Float32Array, plan: FusedPlan, r: number, s: Scratch, kept?: Int32Array, words?: Int32Array): number {
  const V = z.length;
  const k = plan.topK[r]!;
  const smallK = k > 0 && k < V && k <= HEAP_MAX;
  // Pass 1: max and NaN — and, for a small top-k, the k largest with their boundary ties.
  let zmax = -Infinity;
  let nan = false;
  let n = 0; // candidates in s.idx (small top-k only)
  if (smallK) {
    const top = heapPass(z, k, s, words);
    zmax = top.max;
    nan = top.nan;
    n = top.count;
  } else {
    for (let j = 0; j < V; j++) {
      const v = z[j]!;
      if (v > zmax) zmax = v;
      else if (v !== v) nan = true;
    }
  }
  const sk = plan.stepKeys[r]!;
  if (kept) kept[r] = -1; // invalid row, unless set below
  if (plan.surprise) plan.surprise[r] = NaN; // invalid row (Mirostat's μ stays), unless set below
  if (nan || zmax === Infinity || zmax === -Infinity) return invalidRow(z, nan, zmax, plan, sk);
  if (plan.surprise) plan.surprise[r] = 0; // greedy or Mirostat off: q = 1 or not used
  let inv = plan.invT[r]!;
  const tp = plan.typicalP ? plan.typicalP[r]! : 1;
  const xt = plan.xtcThreshold ? plan.xtcThreshold[r]! : -1;
  // Dynamic temperature after the filters decides the row's 1/T from what they keep.
  const late = lateDynamic(plan, r);
  // A greedy row takes the largest logit, unless typical-p or XTC, which can drop it, applies:
  // then the largest of what they keep (the bands at 1/T = 1, the reference's usableInv).
  const greedy = inv === Infinity && !late;
  if (greedy && !(tp < 1 || xt >= 0)) {
    if (words) {
      // The maxima are among the candidates (index order); masked tokens are not.
      if (kept) kept[r] = countKept(z, s.idx, n, zmax, (v) => v === zmax);
      writeKept(plan, r, z, s.idx, n, { lo: zmax, hi: zmax }, Infinity);
      for (let c = 0; c < n; c++) if (z[s.idx[c]!] === zmax) return s.idx[c]!;
    }
    if (kept) kept[r] = countKept(z, undefined, V, zmax, (v) => v === zmax);
    writeKept(plan, r, z, undefined, V, { lo: zmax, hi: zmax }, Infinity);
    for (let j = 0; j < V; j++) if (z[j] === zmax) return j; // lowest index among maxima
  }
  const p = plan.topP[r]!;
  const m = plan.minP[r]!;
  const finv0 = plan.filterInvT ? plan.filterInvT[r]! : inv;
  const finv = usable(finv0);
  const idx = s.idx;
  // top-nσ: a floor under the whole row, before top-k (both keep an upper set of logits).
  const ns = plan.topNSigma ? plan.topNSigma[r]! : 0;
  const floor = ns > 0 ? zmax - ns * sigmaOf(z) : -Infinity;
  let thr = floor;
  let all = false; // candidates are every finite token (no s.idx list)
  if (smallK) {
    if (floor > -Infinity) n = compact(z, idx, n, floor);
    thr = n > 0 ? z[idx[0]!]! : -Infinity;
    for (let c = 1; c < n; c++) if (z[idx[c]!]! < thr) thr = z[idx[c]!]!;
  } else if (k > 0 && k < V) {
    const kth = quickselect(Float64Array.from(z), k - 1);
    if (kth > thr) thr = kth;
    for (let j = 0; j < V; j++) if (z[j]! >= thr && z[j]! > -Infinity) idx[n++] = j;
  } else {
    all = true;
  }
  // typical-p before top-p and min-p (order 'llama.cpp'): its band becomes the candidates, and
  // their largest (zk) the reference point of top-p and min-p.
  const early = plan.typicalEarly === true && tp < 1;
  const mk = plan.minKeep ? plan.minKeep[r]! : 1;
  let zk = zmax;
  if (early) {
    const band = s.keep.reset(thr, zmax);
    typicalBand(z, all ? undefined : idx, all ? V : n, band, finv, tp, s, mk);
    [n, zk] = bandList(z, all ? undefined : idx, all ? V : n, band, idx);
    all = false;
  }
  if (p < 1) {
    const tau = all
      ? topPBuckets(z, undefined, V, zk, finv, p, s, floor)
      : n <= 4096
        ? topPSorted(z, idx, n, zk, finv, p)
        : topPBuckets(z, idx, n, zk, finv, p, s);
    if (tau > thr) thr = tau;
  }
  if (m > 0) {
    const t = zk + Math.log(m) / finv0; // a greedy row: its maxima (the reference's rule)
    if (t > thr) thr = t;
  }
  // minTokensToKeep: every filter keeps the mk largest of what top-nσ left (top-k's k ≥ mk), or,
  // after typical-p first, of its band (the largest of which every later filter keeps).
  const vm = mk > 1 ? (early ? largestIn(z, idx, n, mk) : largestAt(z, floor, mk)) : -Infinity;
  if (mk > 1 && vm < thr) thr = vm;
  const list = all ? undefined : idx;
  const count0 = all ? V : n;
  const keep = s.keep.reset(thr, zk);
  if (tp < 1 && !early) typicalBand(z, list, count0, keep, finv, tp, s, mk);
  const e = plan.epsilon ? plan.epsilon[r]! : 0;
  const h = plan.eta ? plan.eta[r]! : 0;
  // After typical-p, ε's and η's mk largest are its band's (their input).
  const vb = mk > 1 && tp < 1 && !early && (e > 0 || h > 0) ? largestKept(z, list, count0, keep, mk) : vm;
  if (e > 0) cutoffBand(z, list, count0, keep, finv, e, false);
  if (mk > 1 && vb < keep.thr) keep.thr = vb;
  if (h > 0) cutoffBand(z, list, count0, keep, finv, h, true);
  if (mk > 1 && vb < keep.thr) keep.thr = vb;
  if (xt >= 0) xtcBand(z, list, count0, keep, finv, xt, mk);
  if (greedy) {
    // The first of the largest kept logits (Mirostat keeps it: nothing left to decide).
    const top = Number.isNaN(keep.max) ? keptMax(z, list, count0, keep) : keep.max;
    if (kept) kept[r] = countKept(z, list, count0, top, (v) => v === top);
    writeKept(plan, r, z, list, count0, { lo: top, hi: top }, Infinity);
    for (let c = 0; c < count0; c++) if (z[all ? c : idx[c]!] === top) return all ? c : idx[c]!;
    return -1;
  }
  // Mirostat (last, at the draw's 1/T): v2 q ≥ 2^-μ over the kept tokens (or their maximum), v1 the k largest.
  const miro = plan.mirostat !== undefined && plan.mirostat[r]! > 0;
  if (miro && plan.mirostat![r] === 2) cutoffBand(z, list, count0, keep, inv, 2 ** -plan.mirostatMu![r]!, false);
  else if (miro) mirostatV1Band(z, list, count0, keep, inv, plan.mirostatMu![r]!);
  if (late) {
    const g = dynamicKept(z, list, count0, keep, plan, r, dynamicScratch(V));
    if (g >= 0) {
      if (kept) kept[r] = 1;
      if (plan.keptOut) {
        [plan.keptOut[r * V + g], plan.keptInv![r]] = [0, 1];
        markKept(r, g);
      }
      return g;
    }
    // The kept tokens rewritten, the others -Infinity: the draw at 1/T = 1 (the kept maximum is 0).
    keep.reset(-Infinity, 0);
    inv = 1;
  }
  thr = keep.thr;
  const hi = keep.hi;
  const banded = keep.typ || hi < Infinity;
  // The draw shifts by the kept maximum, as the reference does (typical-p and XTC can drop the row's).
  const dmax = Number.isNaN(keep.max) ? keptMax(z, list, count0, keep) : keep.max;
  if (kept) kept[r] = countKept(z, all ? undefined : idx, all ? V : n, thr, (v) => keep.has(v));
  writeKept(plan, r, z, all ? undefined : idx, all ? V : n, keep.typ ? (v) => keep.has(v) : { lo: Math.max(keep.thr, -FLT_MAX32), hi: keep.hi }, inv);
  // Gumbel-max over the kept tokens, in index order (the reference's tie order). A token whose
  // score cannot reach the best even with the largest noise is skipped before hashing; most
  // others are rejected by a table bound of their noise before any logarithm.
  let best = -1;
  let bestScore = -Infinity;
  const count = all ? V : n;
  for (let c = 0; c < count; c++) {
    const j = all ? c : idx[c]!;
    const zj = z[j]!;
    if (zj < thr || zj === -Infinity || zj > hi || (banded && !keep.has(zj))) continue;
    const a = (zj - dmax) * inv;
    if (a + G_MAX < bestScore) continue;
    const h = tokenHash(sk, j);
    if (a + G_UPPER[h >>> 20]! < bestScore) continue;
    const score = a + gumbelOf(h);
    if (score > bestScore) [best, bestScore] = [j, score];
  }
  if (miro && best >= 0) plan.surprise![r] = keptSurprise(z, list, count0, keep, inv, z[best]!);
  return best;
}

/** −log2 q of a kept logit zj under the kept set's distribution at 1/T = inv (Mirostat's accept). */
export function keptSurprise(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, zj: number): number {
  const { m, S } = keptSums(z, idx, n, keep, inv, false);
  return (Math.log(S) - (zj - m) * inv) / Math.LN2;
}

/**
 * Whether row r's token bitmask may be folded into its top-k scan (applied only to the tokens
 * that reach the running k-th largest, the row itself left unmasked): only when every stage after
 * that scan reads the candidates alone. Not with top-nσ (σ is over the whole masked row) or
 * dynamic temperature (so is its entropy). Both kernels ask this; the JS kernel adds its own
 * limits (hasBands, HEAP_MAX).
 */
export function maskFoldsIntoTopK(plan: FusedPlan, r: number): boolean {
  const k = plan.topK[r]!;
  const on = (a: Float64Array | undefined): boolean => a !== undefined && a[r]! > 0;
  return k > 0 && k < plan.vocab && !on(plan.topNSigma) && !on(plan.dynamic?.range);
}

/** Whether the plan has bands (their statistics read the whole row: the JS kernel masks it first). */
function hasBands(plan: FusedPlan): boolean {
  const on = (a?: Float64Array): boolean => a?.some((v) => v > 0) ?? false;
  return (
    on(plan.topNSigma) ||
    on(plan.epsilon) ||
    on(plan.eta) ||
    (plan.minKeep?.some((m) => m > 1) ?? false) ||
    (plan.typicalP?.some((v) => v < 1) ?? false) ||
    (plan.xtcThreshold?.some((v) => v >= 0) ?? false)
  );
}

/** Neumaier-compensated running sum (the reference's accurateSum, term by term). */
class Sum {
  s = 0;
  c = 0;
  add(v: number): void {
    const t = this.s + v;
    this.c += Math.abs(this.s) >= Math.abs(v) ? this.s - t + v : v - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

/** The population standard deviation of the row's finite logits (the reference's arithmetic). */
export function sigmaOf(z: Float32Array): number {
  const sum = new Sum();
  let n = 0;
  for (let j = 0; j < z.length; j++) {
    const v = z[j]!;
    if (v > -Infinity) {
      sum.add(v);
      n++;
    }
  }
  const mean = sum.value / n;
  const sq = new Sum();
  for (let j = 0; j < z.length; j++) {
    const v = z[j]!;
    if (v > -Infinity) sq.add((v - mean) ** 2);
  }
  return Math.sqrt(sq.value / n);
}

/** The m-th largest finite logit ≥ `floor` (ties counted), or `floor` when fewer reach it. */
function largestAt(z: Float32Array, floor: number, m: number): number {
  if (m > HEAP_MAX) {
    const vals = new Float64Array(z.length);
    let n = 0;
    for (let j = 0; j < z.length; j++) if (z[j]! >= floor && z[j]! > -Infinity) vals[n++] = z[j]!;
    return n < m ? floor : quickselect(vals.subarray(0, n), m - 1);
  }
  // A min-heap of the m largest: one comparison per token once it is full.
  const h = new Float64Array(m);
  let n = 0;
  for (let j = 0; j < z.length; j++) {
    const v = z[j]!;
    if (!(v >= floor) || v === -Infinity) continue;
    if (n < m) heapPush(h, n++, v);
    else if (v > h[0]!) heapReplaceMin(h, m, v);
  }
  return n < m ? floor : h[0]!;
}

/** Keeps the candidates ≥ `floor` (in place, index order); returns their count. */
function compact(z: Float32Array, idx: Int32Array, n: number, floor: number): number {
  let m = 0;
  for (let c = 0; c < n; c++) if (z[idx[c]!]! >= floor) idx[m++] = idx[c]!;
  return m;
}

/**
 * The kept set of a row as the bands narrow it: z ≥ thr, z ≤ hi, and with typical-p a distance
 * |fround(z − tz) · tinv − centre| ≤ D (the reference's arithmetic, token by token).
 */
export class Keep {
  thr = -Infinity;
  hi = Infinity;
  typ = false;
  tz = 0;
  tinv = 1;
  /** Typical-p's centre Σ q·s (= ln Z − H), s = fround(z − tz)·tinv. */
  centre = 0;
  D = Infinity;
  /** The largest kept logit, NaN once a band may have dropped the row's maximum. */
  max = NaN;
  reset(thr: number, zmax: number): Keep {
    this.thr = thr;
    this.hi = Infinity;
    this.typ = false;
    this.max = zmax; // every floor so far (top-nσ, top-k, top-p, min-p) keeps the maximum
    return this;
  }
  /** Whether the kept set is the upper set z ≥ thr (no band yet): the hot loops test only that. */
  get floorOnly(): boolean {
    return !this.typ && this.hi === Infinity;
  }
  has(zj: number): boolean {
    if (!(zj >= this.thr) || zj === -Infinity || zj > this.hi) return false;
    return !this.typ || Math.abs(Math.fround(zj - this.tz) * this.tinv - this.centre) <= this.D;
  }
}

/**
 * The candidates `idx` (or the whole row) that `keep` keeps, compacted into `out` in index order
 * (`out` may be `idx`): their count and largest logit.
 */
export function bandList(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, out: Int32Array): [number, number] {
  let c2 = 0;
  let top = -Infinity;
  for (let c = 0; c < n; c++) {
    const j = idx ? idx[c]! : c;
    const zj = z[j]!;
    if (!keep.has(zj)) continue;
    out[c2++] = j;
    if (zj > top) top = zj;
  }
  return [c2, top];
}

/** The mk-th largest of the candidates idx[0, n) (ties counted), or -Infinity when fewer. */
export function largestIn(z: Float32Array, idx: Int32Array, n: number, mk: number): number {
  if (n < mk) return -Infinity;
  const v = new Float64Array(n);
  for (let c = 0; c < n; c++) v[c] = z[idx[c]!]!;
  return quickselect(v, mk - 1);
}

/** The mk-th largest kept logit of the tokens (idx[0, n), or the row), -Infinity when fewer are kept. */
export function largestKept(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, mk: number): number {
  const v = new Float64Array(n);
  let c2 = 0;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (zj > -Infinity && keep.has(zj)) v[c2++] = zj;
  }
  return c2 < mk ? -Infinity : quickselect(v.subarray(0, c2), mk - 1);
}

/** The largest kept logit. */
export function keptMax(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep): number {
  let m = -Infinity;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (zj > m && keep.has(zj)) m = zj;
  }
  return m;
}

/** e^a for a ≤ 0: a table of e^(−b/32) and a degree-7 Taylor polynomial (relative error < 1e-16). */
function expNeg(a: number): number {
  const b = Math.floor(-a * PER_NAT);
  if (b >= BUCKETS - 1) return Math.exp(a);
  const d = a + b * (1 / PER_NAT);
  return EXP_TABLE[b]! * (1 + d * (1 + d * (0.5 + d * (1 / 6 + d * (1 / 24 + d * (1 / 120 + d * (1 / 720 + d * (1 / 5040))))))));
}

/**
 * One pass over the kept tokens: their maximum m (known or found), S = Σ e^a and, for η, Σ e^a·a
 * with a = (z − m)·inv (compensated sums; the exponentials to 1e-16).
 */
function keptSums(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, withA: boolean): { m: number; S: number; SA: number } {
  const m = Number.isNaN(keep.max) ? keptMax(z, idx, n, keep) : keep.max;
  const S = new Sum();
  const SA = new Sum();
  const thr = keep.thr;
  const floorOnly = keep.floorOnly;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (floorOnly ? !(zj >= thr) || zj === -Infinity : !keep.has(zj)) continue;
    const a = (zj - m) * inv;
    const x = expNeg(a);
    S.add(x);
    if (withA && x > 0) SA.add(x * a);
  }
  return { m, S: S.value, SA: SA.value };
}

/**
 * The smallest kept logit whose q = e^((z − m)·inv) / S reaches `cut` (an upper set), `m` at most,
 * or Infinity when none does and `orMax` is false. The test runs in logit space (z ≥ t with
 * t = m + ln(cut·S)/inv), exactly (q per token, as the reference) only within a margin of t.
 */
function smallestReaching(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, m: number, inv: number, S: number, cut: number): number {
  const t = m + Math.log(cut * S) / inv;
  // Covers the float64 error of t (S to 1e-16, the logarithm, the division by inv).
  const margin = 1e-9 * (Math.abs(m) + Math.abs(t) + 1) + 1e-12 / inv;
  const thr = keep.thr;
  const floorOnly = keep.floorOnly;
  let next = Infinity;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (zj >= next || zj < t - margin) continue;
    if (floorOnly ? !(zj >= thr) || zj === -Infinity : !keep.has(zj)) continue;
    if (zj > t + margin || Math.exp((zj - m) * inv) / S >= cut) next = zj;
  }
  return next;
}

/**
 * ε- (or η-) cutoff over the kept tokens: q = e^a / Σ e^a with a = (z − max)·1/T over them; the
 * new floor is the smallest kept logit with q ≥ cut, the kept maximum at most (the reference
 * keeps q_j ≥ cut or z_j the maximum). An upper set of the kept set: a floor is enough.
 */
export function cutoffBand(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, e: number, eta: boolean): void {
  const { m, S, SA } = keptSums(z, idx, n, keep, inv, eta);
  // η: −H = Σ q·(a − ln S) = Σ e^a·a / S − ln S.
  const cut = eta ? Math.min(e, Math.sqrt(e) * Math.exp(SA / S - Math.log(S))) : e;
  const next = Math.min(m, smallestReaching(z, idx, n, keep, m, inv, S, cut));
  if (next > keep.thr) keep.thr = next;
}

/** The largest kept logits sorted, the kept count (or Infinity), and the caller's k-th largest kept logit (NaN: fewer kept). */
export interface V1Top {
  sorted: Float64Array;
  kept: number;
  beyond?: (rank: number) => number;
}

/**
 * Mirostat v1 over the kept tokens (the reference's arithmetic): the min(100, V) largest kept
 * logits sorted, scaled by (v − kept max)·1/T, give k (mirostatV1K); below the kept count, the
 * k-th largest becomes the floor (its ties stay). `top`: the caller's largest kept logits, sorted
 * descending (the min(100, V, kept count) largest at least), with the kept count — or Infinity
 * when the caller knows only that it is at least `sorted.length` — and, optionally, its own way to
 * the k-th largest kept logit beyond them.
 */
export function mirostatV1Band(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, mu: number, top?: V1Top): void {
  const V = z.length;
  const M = Math.min(MIROSTAT_M, V);
  let sorted: Float64Array;
  let nf = 0;
  if (top) {
    sorted = top.sorted.subarray(0, Math.min(M, top.sorted.length));
    nf = top.kept;
  } else {
    // A min-heap of the M largest kept logits (as a multiset: ties count one by one).
    const heap = new Float64Array(M);
    const thr = keep.thr;
    const floorOnly = keep.floorOnly;
    for (let c = 0; c < n; c++) {
      const zj = z[idx ? idx[c]! : c]!;
      if (floorOnly ? !(zj >= thr) || zj === -Infinity : !keep.has(zj)) continue;
      if (nf < M) heapPush(heap, nf, zj);
      else if (zj > heap[0]!) heapReplaceMin(heap, M, zj);
      nf++;
    }
    sorted = heap.subarray(0, Math.min(nf, M)).sort().reverse();
  }
  if (nf === 0) return;
  const m = Number.isNaN(keep.max) ? sorted[0]! : keep.max;
  const ss = sorted.map((v) => (v - m) * inv);
  // With nf unknown (≥ M) the estimate reads the M largest either way.
  const k = Math.floor(mirostatV1K(ss, Math.min(nf, M), mu, V));
  if (!(k < nf)) return; // k ≥ the kept count, or not finite: every kept token stays
  const rank = Math.max(k, 1);
  let kth: number;
  if (rank <= sorted.length) {
    kth = sorted[rank - 1]!;
  } else if (top?.beyond) {
    kth = top.beyond(rank);
    if (Number.isNaN(kth)) return; // fewer than k kept
  } else if (!idx && keep.floorOnly) {
    kth = largestAt(z, keep.thr, rank); // keep.thr itself when fewer than k reach it
  } else {
    // k beyond the sorted ones: the kept logits, counted, and their k-th largest.
    const vals = new Float64Array(n);
    let c2 = 0;
    for (let c = 0; c < n; c++) {
      const zj = z[idx ? idx[c]! : c]!;
      if (keep.has(zj)) vals[c2++] = zj;
    }
    if (!(k < c2)) return;
    kth = quickselect(vals.subarray(0, c2), rank - 1);
  }
  if (kth > keep.thr) keep.thr = kth;
}

function heapPush(h: Float64Array, size: number, v: number): void {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (h[parent]! <= v) break;
    h[i] = h[parent]!;
    i = parent;
  }
  h[i] = v;
}

function heapReplaceMin(h: Float64Array, size: number, v: number): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    const c = l + 1 < size && h[l + 1]! < h[l]! ? l + 1 : l;
    if (h[c]! >= v) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = v;
}

/**
 * XTC over the kept tokens: when at least two reach q ≥ `threshold`, every logit above the least
 * probable of them goes (its ties stay): an upper bound.
 */
export function xtcBand(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, threshold: number, minKeep = 1): void {
  const { m, S } = keptSums(z, idx, n, keep, inv, false);
  const hi = smallestReaching(z, idx, n, keep, m, inv, S, threshold);
  if (!(hi < m)) return; // one reaching value (the maximum and its ties) or none: nothing goes
  // minTokensToKeep: the row stays as it is when fewer than that many tokens would be left.
  if (minKeep > 1 && countKept(z, idx, n, hi, (v) => v <= hi && keep.has(v)) < minKeep) return;
  keep.hi = hi;
  keep.max = NaN;
}

/** The reference's usableInv: a greedy row's filters see its logits at 1/T = 1. */
function usable(inv: number): number {
  return Number.isFinite(inv) ? inv : 1;
}

/** walkByDistance with one stable sort of every token by d (where a d is NaN, or none is there: as it always was). */
export function walkSorted(d: Float64Array, s: Float64Array, count: number, before: number, p: number, Z: number): number {
  const ds = Array.from(d.subarray(0, count));
  const order = ds.map((_, i) => i).sort((a, b) => ds[a]! - ds[b]!);
  let D = ds[order[0]!]!;
  for (let i = 0; i < order.length; ) {
    let j = i + 1; // a NaN d is a group of its own
    while (j < order.length && ds[order[j]!] === ds[order[i]!]) j++;
    if (!(before < p)) break;
    D = ds[order[i]!]!;
    for (let l = i; l < j; l++) before += Math.exp(s[order[l]!]!) / Z;
    i = j;
  }
  return D;
}

/** typicalBand's boundary bucket: each token's d and s, the walk's order and sub-bucket counts. */
export interface BoundaryScratch {
  d: Float64Array;
  s: Float64Array;
  order: Int32Array;
  counts: Int32Array;
  /** Per candidate: its s and e^s (typicalBand's first pass, for its second). */
  rowS: Float64Array;
  rowX: Float64Array;
}
let boundary: BoundaryScratch | undefined;
export function boundaryScratch(n: number): BoundaryScratch {
  if (!boundary || boundary.d.length < n)
    boundary = {
      d: new Float64Array(n),
      s: new Float64Array(n),
      order: new Int32Array(n),
      counts: new Int32Array(Math.max(n, 16) + 1),
      rowS: new Float64Array(n),
      rowX: new Float64Array(n),
    };
  return boundary;
}

/**
 * typicalBand's walk over the boundary bucket's `count` tokens (distances d, scaled logits s):
 * in ascending d, ties in index order (a stable sort's order), group by group of equal d, it adds
 * each group's mass e^s / Z to `before` while `before` < p, and returns the d of the last group
 * added (the first group's d when none is). The order comes from a counting sort into sub-buckets
 * of d (a monotone map, so equal d share one) whose contents are sorted only as the walk reaches
 * them: the same groups, in the same order, with the same sums as sorting every token.
 */
export function walkByDistance(bs: BoundaryScratch, count: number, before: number, p: number, Z: number): number {
  const { d, s, order, counts } = bs;
  let lo = Infinity;
  let hi = -Infinity;
  let nan = false;
  for (let i = 0; i < count; i++) {
    const x = d[i]!;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
    if (x !== x) nan = true;
  }
  if (nan || count === 0) return walkSorted(d, s, count, before, p, Z);
  // About 8 tokens a sub-bucket; an infinite or empty range: one sub-bucket (a plain stable sort).
  const K = Number.isFinite(hi - lo) && hi > lo ? Math.max(1, Math.min(counts.length - 1, count >> 3)) : 1;
  const scale = K > 1 ? K / (hi - lo) : 0;
  const sub = (x: number): number => (K === 1 ? 0 : Math.min(K - 1, Math.max(0, Math.floor((x - lo) * scale))));
  counts.fill(0, 0, K + 1);
  for (let i = 0; i < count; i++) counts[sub(d[i]!) + 1]!++;
  for (let k = 0; k < K; k++) counts[k + 1]! += counts[k]!;
  for (let i = 0; i < count; i++) order[counts[sub(d[i]!)]!++] = i; // counts[k] ends at sub-bucket k's end
  const byD = (a: number, b: number): number => d[a]! - d[b]! || a - b;
  let D = NaN;
  let start = 0;
  for (let k = 0; k < K; k++) {
    const end = counts[k]!;
    if (end - start > 24) order.subarray(start, end).sort(byD);
    else {
      // Insertion sort by d, few tokens: stable, so equal d stay in index order (the counting sort's).
      for (let i = start + 1; i < end; i++) {
        const v = order[i]!;
        const dv = d[v]!;
        let j = i - 1;
        while (j >= start && d[order[j]!]! > dv) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = v;
      }
    }
    if (Number.isNaN(D) && end > start) D = d[order[start]!]!;
    for (let i = start; i < end; ) {
      let j = i + 1;
      while (j < end && d[order[j]!] === d[order[i]!]) j++;
      if (!(before < p)) return D;
      D = d[order[i]!]!;
      for (let l = i; l < j; l++) before += Math.exp(s[order[l]!]!) / Z;
      i = j;
    }
    start = end;
  }
  return D;
}

/**
 * Typical-p over the kept tokens (the reference's formulas: s = fround(z − max)·1/T, lnZ, q,
 * the centre c = Σ q·s = ln Z − H, d = |s − c|): the tokens are histogrammed by d, the boundary bucket found from the
 * bucket masses, and only its tokens sorted and walked in groups of equal d (a group stays while
 * the mass before it is < p). Sets the band's distance bound D.
 */
export function typicalBand(z: Float32Array, idx: Int32Array | undefined, n: number, keep: Keep, inv: number, p: number, s: Scratch, minKeep = 1): void {
  const m = Number.isNaN(keep.max) ? keptMax(z, idx, n, keep) : keep.max;
  // One pass: Σ e^s and Σ e^s·s (the centre Σ e^s·s / Z), the exponentials to 1e-16.
  const total = new Sum();
  const xs = new Sum();
  const thr = keep.thr;
  const floorOnly = keep.floorOnly;
  const bucketOf = s.bucketOf;
  // Each kept token's s and e^s, for the second pass (the same values: no second exp).
  const bs = boundaryScratch(n);
  const sOf = bs.rowS;
  const xOf = bs.rowX;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (floorOnly ? !(zj >= thr) || zj === -Infinity : !keep.has(zj)) {
      bucketOf[c] = BUCKETS;
      continue;
    }
    bucketOf[c] = 0;
    const sj = Math.fround(zj - m) * inv;
    const x = expNeg(sj);
    sOf[c] = sj;
    xOf[c] = x;
    total.add(x);
    if (x > 0) xs.add(x * sj);
  }
  const lnZ = Math.log(total.value);
  const Z = Math.exp(lnZ);
  // Not as ln Z − H: that difference loses the centre to ln Z's rounding once the distances are
  // below ~1e-16·ln Z (T = 1e30: every token tied).
  const centre = xs.value / Z;
  const mass = new Float64Array(BUCKETS);
  for (let c = 0; c < n; c++) {
    if (bucketOf[c] === BUCKETS) continue;
    const sj = sOf[c]!;
    const d = Math.abs(sj - centre);
    const b = Math.min(BUCKETS - 1, Math.floor(d * PER_NAT));
    bucketOf[c] = b;
    mass[b] = mass[b]! + xOf[c]! / Z;
  }
  const { star, before } = typicalStar(mass, p);
  // The boundary bucket's tokens in order of d, ties in index order, walked group by group until
  // their mass reaches p.
  let inStar = 0;
  for (let c = 0; c < n; c++) {
    if (bucketOf[c] !== star) continue;
    const sj = sOf[c]!;
    bs.d[inStar] = Math.abs(sj - centre);
    bs.s[inStar++] = sj;
  }
  let D = walkByDistance(bs, inStar, before, p, Z);
  // minTokensToKeep: the groups that start among the first minKeep positions stay too, so the
  // bound is at least the minKeep-th smallest distance (of what is kept before typical-p).
  if (minKeep > 1) {
    const negD = new Float64Array(n);
    let count = 0;
    for (let c = 0; c < n; c++) if (bucketOf[c] !== BUCKETS) negD[count++] = -Math.abs(Math.fround(z[idx ? idx[c]! : c]! - m) * inv - centre);
    const dm = -quickselect(negD.subarray(0, count), Math.min(minKeep, count) - 1);
    if (dm > D) D = dm;
  }
  typicalKeep(keep, m, inv, centre, D);
}

/**
 * typicalBand's boundary bucket: the last whose mass before it is < p (-1 when every bucket is
 * empty), and the mass of the buckets before it.
 */
export function typicalStar(mass: Float64Array, p: number): { star: number; before: number } {
  let before = 0;
  let star = -1;
  for (let b = 0; b < BUCKETS; b++) {
    if (mass[b] === 0) continue;
    if (!(before < p)) break;
    star = b;
    before += mass[b]!;
  }
  return { star, before: before - mass[star]! };
}

/** `keep` after typical-p: the tokens with |fround(z − m)·inv − centre| ≤ D. */
export function typicalKeep(keep: Keep, m: number, inv: number, centre: number, D: number): void {
  keep.typ = true;
  keep.max = NaN; // typical-p can drop the row's maximum
  keep.tz = m;
  keep.tinv = inv;
  keep.centre = centre;
  keep.D = D;
}

/** Tests only: how many of the candidates (`idx`, or the whole row) pass `keep` (the draw's test). */
let keptCache: Float32Array | undefined;

let keptVocab = 0;
/**
 * Per row of the kept buffer, what the last kernel wrote: the row-local offsets (a candidate
 * list's kept tokens), null for anywhere in the row, undefined for nothing, 'input' for nothing
 * because the kept values are the caller's row itself (every finite token, unedited: the packing
 * reads that row). The next call resets only what was written to -Infinity (not the whole [B·V]
 * buffer), and the packing reads the lists.
 */
let keptWritten: (number[] | null | undefined | 'input')[] = [];

/** Logprobs: a [B·V] buffer for plan.keptOut, all -Infinity (one buffer, reused; only what was written is reset). */
export function keptBuffer(batch: number, vocab: number): Float32Array {
  const size = batch * vocab;
  if (!keptCache || keptCache.length !== size || keptVocab !== vocab) {
    keptCache = new Float32Array(size).fill(-Infinity);
  } else {
    const buf = keptCache;
    keptWritten.forEach((w, r) => {
      if (w === null) buf.fill(-Infinity, r * vocab, (r + 1) * vocab);
      else if (Array.isArray(w)) for (const j of w) buf[r * vocab + j] = -Infinity;
    });
  }
  keptVocab = vocab;
  keptWritten = new Array(batch).fill(undefined);
  return keptCache;
}

/**
 * Whether every row's kept set is all the tokens at or above some value of the caller's logits
 * (ties included): no edits or mask, and only filters that keep the largest values (top-k,
 * top-p, min-p, top-nσ, ε, η, Mirostat), no typical-p or XTC (they drop the top). The packing
 * then takes the raw top n from a row's kept list when it holds n tokens.
 */
export function upperKept(plan: FusedPlan): boolean {
  const on = (a: Float64Array | undefined, off: (v: number) => boolean): boolean => a?.some((v) => !off(v)) ?? false;
  return plan.editRow === undefined && plan.mask === undefined && !on(plan.typicalP, (v) => v >= 1) && !on(plan.xtcThreshold, (v) => v < 0);
}

/** Row r's kept tokens as written by the last kernel: their offsets, or undefined when not a list (the whole row may hold some). */
export function keptList(r: number): readonly number[] | undefined {
  const w = keptWritten[r];
  return w === null || w === 'input' ? undefined : (w ?? []);
}

/** Whether row r's kept values are the caller's row (nothing written: see keptWritten). */
export function keptInput(r: number): boolean {
  return keptWritten[r] === 'input';
}

/** Row r keeps every finite token of the caller's row, unedited: nothing is written (see keptWritten). */
export function markKeptInput(r: number): void {
  keptWritten[r] = 'input';
}

/** Records a write to row r of the kept buffer: offset j, or null for anywhere in the row. */
export function markKept(r: number, j: number | null): void {
  const w = keptWritten[r];
  if (w === null || w === 'input') return;
  if (j === null) keptWritten[r] = null;
  else if (w) w.push(j);
  else keptWritten[r] = [j];
}

/** Logprobs: row r of plan.keptOut gets the tokens `keep` accepts among idx[0, n) (or 0..n), plan.keptInv[r] the draw's 1/T. */
export function writeKept(
  plan: FusedPlan,
  r: number,
  z: Float32Array,
  idx: Int32Array | undefined,
  n: number,
  keep: ((v: number) => boolean) | { lo: number; hi: number },
  inv: number,
): void {
  const out = plan.keptOut;
  if (!out) return;
  const o = r * plan.vocab;
  if (!idx) markKept(r, null);
  if (typeof keep === 'function') {
    for (let c = 0; c < n; c++) {
      const j = idx ? idx[c]! : c;
      const v = z[j]!;
      if (keep(v)) {
        out[o + j] = v;
        if (idx) markKept(r, j);
      }
    }
  } else {
    // A range (the common case, a whole row at a time): no call per token.
    const { lo, hi } = keep;
    if (idx) {
      let m = -Infinity;
      for (let c = 0; c < n; c++) {
        const v = z[idx[c]!]!;
        if (v >= lo && v <= hi) {
          out[o + idx[c]!] = v;
          markKept(r, idx[c]!);
          if (v > m) m = v;
        }
      }
      // The candidates' normaliser here (a few tokens), not from the whole row in the packing.
      if (plan.keptSum && m > -Infinity) {
        const iv = Number.isFinite(inv) ? inv : 1;
        let sum = 0;
        for (let c = 0; c < n; c++) {
          const v = z[idx[c]!]!;
          if (v >= lo && v <= hi) sum += Math.exp((v - m) * iv);
        }
        plan.keptMax![r] = m;
        plan.keptSum[r] = sum;
      }
    } else if (lo <= -FLT_MAX32 && hi === Infinity) {
      // Every finite token (the row holds no NaN or +Infinity here; -Infinity is the buffer's fill).
      out.set(z.subarray(0, n), o);
    } else {
      for (let j = 0; j < n; j++) {
        const v = z[j]!;
        if (v >= lo && v <= hi) out[o + j] = v;
      }
    }
  }
  plan.keptInv![r] = inv;
}

function countKept(z: Float32Array, idx: Int32Array | undefined, n: number, thr: number, keep: (v: number, thr: number) => boolean): number {
  let count = 0;
  for (let c = 0; c < n; c++) if (keep(z[idx ? idx[c]! : c]!, thr)) count++;
  return count;
}

/**
 * One pass: the k largest values (a min-heap of value and index), every token tied with the
 * k-th beyond them, the max and NaN. Leaves the finite candidates in s.idx, in index order.
 */
function heapPass(z: Float32Array, k: number, s: Scratch, words?: Int32Array): { max: number; nan: boolean; count: number } {
  const hv = s.heapV;
  const hi = s.heapI;
  const ties = s.idx; // ties collect from the end of the scratch list
  let nTies = 0;
  let tieVal = NaN;
  let nan = false;
  for (let i = 0; i < k; i++) {
    const v = words ? maskedAt(z, i, words) : z[i]!;
    if (v !== v) nan = true;
    hv[i] = v;
    hi[i] = i;
  }
  for (let i = (k >> 1) - 1; i >= 0; i--) siftDownPair(hv, hi, i, k);
  const V = z.length;
  const st: HeapState = { min: hv[0]!, nTies: 0, tieVal: NaN, nan };
  // Hot loop kept tiny for the JIT: one comparison per token; the rare rest in offer().
  let min = st.min;
  if (words) {
    // The mask is read only for the few tokens that reach the heap's minimum.
    for (let j = k; j < V; j++) {
      const v = z[j]!;
      if (v < min) continue;
      const m = maskedAt(z, j, words);
      if (m === -Infinity) continue; // never a candidate (nor is an allowed -Infinity)
      min = offer(m, j, st, hv, hi, ties, k, V);
    }
  } else {
    for (let j = k; j < V; j++) {
      const v = z[j]!;
      if (v < min) continue;
      min = offer(v, j, st, hv, hi, ties, k, V);
    }
  }
  nTies = st.nTies;
  tieVal = st.tieVal;
  nan = st.nan;
  let max = -Infinity;
  for (let i = 0; i < k; i++) if (hv[i]! > max) max = hv[i]!;
  if (hv[0] !== tieVal) nTies = 0;
  // Finite candidates, sorted by index.
  const list: number[] = [];
  for (let i = 0; i < k; i++) if (hv[i]! > -Infinity) list.push(hi[i]!);
  for (let t = 0; t < nTies; t++) {
    const j = ties[V - 1 - t]!;
    // A masked token can be a tie only of -Infinity (evicted from the heap's first k): not kept.
    if ((words ? maskedAt(z, j, words) : z[j]!) > -Infinity) list.push(j);
  }
  list.sort((a, b) => a - b);
  for (let c = 0; c < list.length; c++) s.idx[c] = list[c]!;
  return { max, nan, count: list.length };
}

/** z[j] as a token bitmask leaves it: -Infinity where disallowed, except NaN and +Infinity (maskWhere's rule). */
function maskedAt(z: Float32Array, j: number, words: Int32Array): number {
  const v = z[j]!;
  return (words[j >> 5]! >>> (j & 31)) & 1 || v !== v || v === Infinity ? v : -Infinity;
}

interface HeapState {
  min: number;
  nTies: number;
  tieVal: number;
  nan: boolean;
}

/** A token not below the heap minimum: insert it, or record it as a boundary tie (or NaN). */
function offer(v: number, j: number, st: HeapState, hv: Float64Array, hi: Int32Array, ties: Int32Array, k: number, V: number): number {
  const min = st.min;
  if (v > min) {
    const evictedI = hi[0]!;
    hv[0] = v;
    hi[0] = j;
    siftDownPair(hv, hi, 0, k);
    const now = hv[0]!;
    if (now > st.tieVal) st.nTies = 0; // earlier ties fell below the boundary
    if (now === min) {
      if (st.nTies === 0) st.tieVal = min;
      ties[V - 1 - st.nTies++] = evictedI;
    }
    st.min = now;
  } else if (v === min) {
    if (st.tieVal !== v) {
      st.nTies = 0;
      st.tieVal = v;
    }
    ties[V - 1 - st.nTies++] = j;
  } else {
    st.nan = true; // neither <, > nor = the minimum: NaN
  }
  return st.min;
}

function siftDownPair(hv: Float64Array, hi: Int32Array, i: number, n: number): void {
  const v = hv[i]!;
  const id = hi[i]!;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && hv[c + 1]! < hv[c]!) c++;
    if (hv[c]! >= v) break;
    hv[i] = hv[c]!;
    hi[i] = hi[c]!;
    i = c;
  }
  hv[i] = v;
  hi[i] = id;
}

/** The token (or negative code) of an invalid row: NaN, +Infinity, or no finite logit. */
export function invalidRow(z: Float32Array, nan: boolean, zmax: number, plan: FusedPlan, sk: number): number {
  const code = nan ? -1 : zmax === Infinity ? -2 : -3;
  if (plan.invalidRows === 'error') return code;
  const V = z.length;
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

function uniformDraw(sk: number, V: number): number {
  let best = 0;
  let bestG = -Infinity;
  for (let j = 0; j < V; j++) {
    const g = gumbelOf(tokenHash(sk, j));
    if (g > bestG) [best, bestG] = [j, g];
  }
  return best;
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
export function topPSorted(z: Float32Array, idx: Int32Array, n: number, zmax: number, inv: number, p: number): number {
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

export const BUCKETS = 4096;
const PER_NAT = 32; // buckets cover (z - max)/T in [-128, 0]; the last one holds the rest
export const EXP_TABLE = Float64Array.from({ length: BUCKETS }, (_, b) => Math.exp(-b / PER_NAT));

/**
 * Top-p threshold over many candidates without sorting them: one pass builds a histogram of
 * mass by scaled logit (equal logits share a bucket), the boundary bucket is found from the
 * bucket sums, and only that bucket's tokens are sorted and walked.
 */
function topPBuckets(z: Float32Array, idx: Int32Array | undefined, n: number, zmax: number, inv: number, p: number, s: Scratch, floor = -Infinity): number {
  const mass = new Float64Array(BUCKETS);
  const bucketOf = s.bucketOf;
  for (let c = 0; c < n; c++) {
    const zj = z[idx ? idx[c]! : c]!;
    if (zj === -Infinity || zj < floor) {
      bucketOf[c] = BUCKETS; // masked: no bucket
      continue;
    }
    const a = (zj - zmax) * inv;
    const b = Math.floor(-a * PER_NAT);
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
  return bucketThreshold(mass, zmax, inv, p, (star) => {
    let count = 0;
    for (let c = 0; c < n; c++) if (bucketOf[c] === star) count++;
    const values = new Float64Array(count);
    count = 0;
    for (let c = 0; c < n; c++) if (bucketOf[c] === star) values[count++] = z[idx ? idx[c]! : c]!;
    return values;
  });
}

/** The boundary bucket from the bucket masses: its index, the mass before it, and p·total. */
export function boundaryBucket(mass: Float64Array, p: number): { star: number; before: number; target: number } {
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
  return { star, before, target };
}

/**
 * The top-p threshold from the bucket masses: the boundary bucket, then its tokens' logits
 * (`bucketValues(star)`, a fresh array) sorted and walked.
 */
function bucketThreshold(mass: Float64Array, zmax: number, inv: number, p: number, bucketValues: (star: number) => Float64Array): number {
  const { star, before, target } = boundaryBucket(mass, p);
  const sorted = bucketValues(star);
  const count = sorted.length;
  sorted.sort().reverse();
  const q = sorted.map((v) => Math.exp((v - zmax) * inv));
  return walk(sorted, q, 0, count, before, 0, target);
}
