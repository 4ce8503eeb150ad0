// The bodies of the edit kernels (js-kernels.ts runs them by name) on cpu and wasm: one pass of
// plain JS over the backend's own memory, much cheaper there than a chain of tfjs ops (the cpu
// backend's broadcasting ops cost ~30× a reduction pass). Each reads its inputs in place and
// writes a new output. Registered by the cpu and wasm entries (src/cpu.ts, src/wasm.ts).
import * as tf from '@tensorflow/tfjs-core';
import { dryEdit, dryRepeatsInto } from '../../dry-rule.js';
import { BIAS_DROP, BITMASK, COUNTS_UPDATE, DRY, INVALID_CODES, PACK_LOGPROBS, PENALTIES, ROW_EXP_SUMS } from '../kernel-names.js';
import type { DryKernelRow, InvalidCodes } from '../js-kernels.js';
import { rowExpSums, rowTopN } from '../wasm-simd/sample-rows-simd.js';

type Arr = Float32Array | Int32Array;
type Body = (inputs: Record<string, Arr>, out: Arr, attrs: Record<string, unknown>) => void;
type OutOf = (inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) => { shape: number[]; dtype: 'int32' | 'float32' };

interface CpuBackend {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'int32' | 'float32', values: Arr): tf.TensorInfo;
}
interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: 'int32' | 'float32'): tf.TensorInfo;
}

const FLT_MAX = 3.4028234663852886e38;

function view(buffer: ArrayBuffer, offset: number, info: tf.TensorInfo): Arr {
  const n = info.shape.reduce((a, b) => a * b, 1);
  if (info.dtype === 'bool') return new Uint8Array(buffer, offset, n) as unknown as Arr;
  return info.dtype === 'int32' ? new Int32Array(buffer, offset, n) : new Float32Array(buffer, offset, n);
}

const KERNELS: Record<string, [OutOf, Body]> = {
  [PENALTIES]: [
    (i) => ({ shape: (i.logits as tf.TensorInfo).shape, dtype: 'float32' }),
    (ins, out, attrs) => {
      const z = ins.logits as Float32Array;
      const cR = ins.rep as Float32Array;
      const cF = ins.freq as Float32Array;
      const cP = ins.pres as Float32Array;
      const [B, V] = attrs.shape as [number, number];
      const th = attrs.theta as number[];
      const ff = attrs.F as number[];
      const pp = attrs.P as number[];
      const f32 = Math.fround;
      for (let r = 0; r < B; r++) {
        const inv = f32(1 / th[r]!);
        const t = f32(th[r]!);
        const f = f32(ff[r]!);
        const p = f32(pp[r]!);
        const o = r * V;
        for (let j = o; j < o + V; j++) {
          let v = z[j]!;
          const c = cR[j]!;
          const cf = cF[j]!;
          const cp = cP[j]!;
          if (c > 0 || cf > 0 || cp > 0) {
            if (c > 0) v = f32(v * (v > 0 ? inv : t));
            v = f32(v - f32(f32(cf * f) + (cp > 0 ? p : 0)));
          }
          out[j] = Math.min(v, FLT_MAX);
        }
      }
    },
  ],
  [COUNTS_UPDATE]: [
    (i) => ({ shape: (i.counts as tf.TensorInfo).shape, dtype: 'float32' }),
    (ins, out, attrs) => {
      const c = ins.counts as Float32Array;
      const a = ins.add as Int32Array;
      const rm = ins.remove as Int32Array | undefined;
      const [B, V] = attrs.shape as [number, number];
      out.set(c);
      for (let r = 0; r < B; r++) {
        const x = a[r]!;
        if (x >= 0 && x < V) out[r * V + x]! += 1;
        const y = rm ? rm[r]! : -1;
        if (y >= 0 && y < V) out[r * V + y]! -= 1;
      }
    },
  ],
  [INVALID_CODES]: [
    (i) => ({ shape: [(i.input as tf.TensorInfo).shape[0]!], dtype: 'float32' }),
    (ins, out, attrs) => {
      const x = ins.input as Float32Array;
      const z = ins.processed as Float32Array;
      const mn = ins.madeNaN as unknown as Uint8Array | Int32Array | undefined;
      const mi = ins.madeInf as unknown as Uint8Array | Int32Array | undefined;
      const [B, V] = attrs.shape as [number, number];
      const k = attrs.codes as InvalidCodes;
      for (let r = 0; r < B; r++) {
        let nan = false;
        let inf = false;
        let finiteIn = false;
        let finiteOut = false;
        for (let j = r * V; j < (r + 1) * V; j++) {
          const v = x[j]!;
          if (v !== v) nan = true;
          else if (v === Infinity) inf = true;
          else if (v !== -Infinity) finiteIn = true;
          const w = z[j]!;
          if (w === w && w !== Infinity && w !== -Infinity) finiteOut = true;
        }
        out[r] = nan ? k.nan : inf ? k.inf : mn?.[r] ? k.madeNaN : mi?.[r] ? k.madeInf : finiteOut ? 0 : finiteIn ? k.madeNone : k.none;
      }
    },
  ],
  [ROW_EXP_SUMS]: [
    (i) => ({ shape: [(i.x as tf.TensorInfo).shape[0]!, 1], dtype: 'float32' }),
    (ins, out, attrs) => {
      const z = ins.x as Float32Array;
      const [B, V] = attrs.shape as [number, number];
      const iv = attrs.inv as Float32Array;
      (out as Float32Array).set(expSumsOf(z, B, V, iv).S);
    },
  ],
  [PACK_LOGPROBS]: [
    (i, a) => ({ shape: [(i.input as tf.TensorInfo).shape[0]!, 3 + 2 * (a.n as number)], dtype: 'float32' }),
    (ins, o, attrs) => {
      const [B, V] = attrs.shape as [number, number];
      const code = ins.codes as Float32Array;
      packRows(
        ins.input as Float32Array,
        ins.processed as Float32Array,
        ins.ids as Int32Array,
        (r) => code[r]! < 0,
        attrs.inv as Float64Array,
        B,
        V,
        attrs.n as number,
        { mode: attrs.mode as 'raw' | 'processed', raw: attrs.raw as boolean },
        o as Float32Array,
      );
    },
  ],
  [BIAS_DROP]: [
    (i) => ({ shape: (i.z as tf.TensorInfo).shape, dtype: 'float32' }),
    (ins, out, attrs) => {
      const x = ins.z as Float32Array;
      const a = ins.add as Float32Array | undefined;
      const d = ins.drop as Float32Array | undefined;
      const [B, V] = attrs.shape as [number, number];
      const perRow = attrs.dropRows as number;
      const on = attrs.rows as number[] | null;
      const inAdd = attrs.bansInAdd === 1;
      for (let r = 0; r < B; r++) {
        const o = r * V;
        const od = perRow ? o : 0;
        const dropping = d !== undefined && (on === null || on[r] === 1);
        for (let j = 0; j < V; j++) {
          let v = x[o + j]!;
          if (a) {
            const b = a[o + j]!;
            if (inAdd && b === -Infinity) {
              // A ban folded into the bias (-Infinity): what bias 0 then the drop give.
              out[o + j] = v !== v ? v : -Infinity;
              continue;
            }
            v = Math.fround(v + b);
            if (v > FLT_MAX) v = FLT_MAX;
          }
          if (dropping && d[od + j] === 1 && v === v && v !== Infinity) v = -Infinity;
          out[o + j] = v;
        }
      }
    },
  ],
  [BITMASK]: [
    (i) => ({ shape: (i.z as tf.TensorInfo).shape, dtype: 'float32' }),
    (ins, out, attrs) => {
      const x = ins.z as Float32Array;
      const w = ins.words as Int32Array;
      const [B, V] = attrs.shape as [number, number];
      const W = Math.ceil(V / 32);
      for (let r = 0; r < B; r++) {
        for (let j = 0; j < V; j++) {
          const v = x[r * V + j]!;
          out[r * V + j] = (w[r * W + (j >> 5)]! >>> (j & 31)) & 1 || v !== v || v === Infinity ? v : -Infinity;
        }
      }
    },
  ],
  [DRY]: [
    (i) => ({ shape: (i.logits as tf.TensorInfo).shape, dtype: 'float32' }),
    (ins, out, attrs) => {
      const z = ins.logits as Float32Array;
      const w = ins.tokens as Int32Array;
      const s = ins.matches as Int32Array;
      const [B, V] = attrs.shape as [number, number];
      const N = attrs.N as number;
      const all = attrs.rows as (DryKernelRow | undefined)[];
      out.set(z);
      const best = new Map<number, number>();
      for (let r = 0; r < B; r++) {
        const row = all[r];
        if (!row) continue;
        const o = r * N;
        // Distance i from the newest token: column N − 1 − i; lag k: column N − k.
        dryRepeatsInto(best, row.m, w, o + N - 1, s, o + N, -1, row.rule, V);
        for (const [t, n] of best) out[r * V + t] = dryEdit(z[r * V + t]!, row.rule.table[n]!);
      }
    },
  ],
};

/** Registers every edit kernel on `backend` (cpu or wasm). */
export function registerHostEdits(backend: 'cpu' | 'wasm'): boolean {
  for (const [name, [outOf, fn]] of Object.entries(KERNELS)) {
    if (tf.getKernel(name, backend)) continue;
    if (backend === 'cpu') {
      tf.registerKernel({
        kernelName: name,
        backendName: 'cpu',
        kernelFunc: ({ inputs, backend, attrs }) => {
          const b = backend as unknown as CpuBackend;
          const { shape, dtype } = outOf(inputs, attrs as Record<string, unknown>);
          const n = shape.reduce((x, y) => x * y, 1);
          const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
          const ins = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, b.data.get((t as tf.TensorInfo).dataId).values as Arr]));
          fn(ins, out, attrs as Record<string, unknown>);
          return b.makeTensorInfo(shape, dtype, out);
        },
      });
    } else {
      tf.registerKernel({
        kernelName: name,
        backendName: 'wasm',
        kernelFunc: ({ inputs, backend, attrs }) => {
          const b = backend as unknown as WasmBackend;
          const { shape, dtype } = outOf(inputs, attrs as Record<string, unknown>);
          const outInfo = b.makeOutput(shape, dtype); // first: growing the heap detaches older views
          const heap = b.wasm.HEAPU8.buffer as ArrayBuffer;
          const ins = Object.fromEntries(
            Object.entries(inputs).map(([k, t]) => [k, view(heap, b.dataIdMap.get((t as tf.TensorInfo).dataId).memoryOffset, t as tf.TensorInfo)]),
          );
          fn(ins, view(heap, b.dataIdMap.get(outInfo.dataId).memoryOffset, outInfo), attrs as Record<string, unknown>);
          return outInfo;
        },
      });
    }
  }
  return true;
}

/** Σ exp((z − max)·inv) and the max per row, in float64 (SIMD module, else a float64 loop). */
function expSumsOf(
  z: Float32Array,
  B: number,
  V: number,
  inv: Float32Array,
  known?: { max: Float64Array; S: Float64Array },
): { S: Float64Array; max: Float64Array } {
  const S = known ? Float64Array.from(known.S) : new Float64Array(B);
  const max = known ? Float64Array.from(known.max) : new Float64Array(B);
  const skip = known ? (r: number): boolean => !Number.isNaN(known.S[r]!) : undefined;
  if (rowExpSums(z, B, V, inv, S, max, skip)) return { S, max };
  for (let r = 0; r < B; r++) {
    if (skip?.(r)) continue;
    let m = -Infinity;
    let bad = false;
    for (let j = r * V; j < (r + 1) * V; j++) {
      const v = z[j]!;
      if (v !== v || v === Infinity) bad = true;
      else if (v > m) m = v;
    }
    max[r] = m;
    if (bad || m === -Infinity) {
      S[r] = NaN;
      continue;
    }
    let sum = 0;
    for (let j = r * V; j < (r + 1) * V; j++) sum += Math.exp((z[j]! - m) * inv[r]!);
    S[r] = sum;
  }
  return { S, max };
}

/**
 * The n largest of z[o, o + V) in descending order, ties in index order: their offsets from o.
 * A pass with a sorted buffer of n (a full sort when n is large).
 */
function topOffsets(z: Float32Array, o: number, V: number, n: number): Int32Array {
  const idx = new Int32Array(n);
  if (n === 0) return idx;
  if (n > 64) {
    const all = Int32Array.from({ length: V }, (_, j) => j);
    all.sort((a, b) => {
      const d = z[o + b]! - z[o + a]!;
      return d > 0 ? 1 : d < 0 ? -1 : a - b; // -Infinity − -Infinity is NaN: a tie
    });
    return all.slice(0, n);
  }
  const val = new Float64Array(n);
  let c = 0;
  for (let j = 0; j < V; j++) {
    const v = z[o + j]!;
    if (c === n && !(v > val[n - 1]!)) continue;
    // Insert after every value ≥ v (an earlier index wins a tie).
    let i = c < n ? c : n - 1;
    while (i > 0 && val[i - 1]! < v) {
      if (i < n) {
        val[i] = val[i - 1]!;
        idx[i] = idx[i - 1]!;
      }
      i--;
    }
    val[i] = v;
    idx[i] = j;
    if (c < n) c++;
  }
  return idx;
}

/**
 * topOffsets from a row's kept list (no pass over the row), or undefined where it cannot say:
 * under 'processed' (w = z) the tokens outside the list are -Infinity, so the list's n largest
 * come first, then the first other tokens in index order; under 'raw' (w = x, `upper`: the kept
 * set is every token at or above its smallest value) when the list holds n tokens whose kept
 * values are the caller's (no rewrite).
 */
function topFromList(
  w: Float32Array,
  z: Float32Array,
  o: number,
  V: number,
  n: number,
  list: readonly number[] | undefined,
  usable: boolean,
): Int32Array | undefined {
  if (!list || !usable) return undefined;
  const raw = w !== z;
  if (raw && (list.length < n || list.some((j) => w[o + j] !== z[o + j]))) return undefined;
  const sorted = [...new Set(list)].sort((a, b) => {
    const d = w[o + b]! - w[o + a]!;
    return d > 0 ? 1 : d < 0 ? -1 : a - b;
  });
  const idx = new Int32Array(n);
  let c = 0;
  for (; c < n && c < sorted.length; c++) idx[c] = sorted[c]!;
  if (c < n) {
    const inList = new Set(sorted);
    for (let j = 0; c < n && j < V; j++) if (!inList.has(j)) idx[c++] = j;
  }
  return idx;
}

/**
 * The packed logprobs rows (see packLogprobsKernel): `x` the caller's logits, `z` the processed
 * ones (-Infinity: not kept), `invalid(r)` rows invalid by the contract, `invT` the draw's 1/T
 * per row (Infinity: greedy). Float64 arithmetic; the result rounded to float32 in `out`.
 */
export function packRows(
  x: Float32Array,
  z: Float32Array,
  id: Int32Array,
  invalid: (r: number) => boolean,
  invT: Float64Array,
  B: number,
  V: number,
  k: number,
  want: { mode: 'raw' | 'processed'; raw: boolean },
  out: Float32Array,
  known?: { max: Float64Array; S: Float64Array },
  kept?: { list: (r: number) => readonly number[] | undefined; upper: boolean; input?: (r: number) => boolean },
  rawKnown?: { max: Float64Array; S: Float64Array },
): void {
  const mode = want.mode;
  // The SIMD kernel's raw sums where it computed them (a NaN sum: an invalid row, or not computed:
  // recomputed here); none at all when the raw column is not wanted (NaN).
  const raw = want.raw ? expSumsOf(x, B, V, new Float32Array(B).fill(1), rawKnown) : { max: new Float64Array(B).fill(NaN), S: new Float64Array(B).fill(NaN) };
  const usable = Float32Array.from(invT, (v) => (Number.isFinite(v) ? v : 1));
  const proc = expSumsOf(z, B, V, usable, known);
  const W = 3 + 2 * k;
  const floor = (v: number): number => (v <= -FLT_MAX ? -Infinity : v);
  for (let r = 0; r < B; r++) {
    const o0 = r * W;
    const off = r * V;
    const j = id[r]!;
    // The kept values: the kept buffer's row, or the caller's row where the kernel kept it whole.
    const zr = kept?.input?.(r) ? x : z;
    const rawLse = raw.max[r]! + Math.log(raw.S[r]!); // NaN for an invalid input row
    // (x − max) − log S, not x − (max + log S): the sum rounds log S away next to a max of 1e19.
    const logRaw = Math.log(raw.S[r]!);
    const rawOf = (t: number): number => floor(x[off + t]! - raw.max[r]! - logRaw);
    const bad = invalid(r) || Number.isNaN(proc.S[r]!);
    const greedy = !Number.isFinite(invT[r]!);
    let first = -1; // greedy rows: the first largest processed logit
    if (greedy && !bad)
      for (let t = 0; t < V; t++)
        if (zr[off + t] === proc.max[r]) {
          first = t;
          break;
        }
    const logS = Math.log(proc.S[r]!);
    const procOf = (t: number): number => (bad ? NaN : greedy ? (t === first ? 0 : -Infinity) : floor((zr[off + t]! - proc.max[r]!) * invT[r]! - logS));
    out[o0] = j;
    out[o0 + 1] = j < 0 || !want.raw ? NaN : rawOf(j);
    out[o0 + 2] = j < 0 ? NaN : procOf(j);
    if (k === 0) continue;
    const rowBad = mode === 'raw' ? Number.isNaN(rawLse) : bad;
    if (rowBad) {
      out.fill(-1, o0 + 3, o0 + 3 + k);
      out.fill(NaN, o0 + 3 + k, o0 + W);
      continue;
    }
    let top: Int32Array;
    if (mode === 'processed' && greedy) {
      // One-hot: the first maximum, then every other token at -Infinity in index order.
      top = new Int32Array(k);
      top[0] = first;
      for (let i = 1, t = 0; i < k; t++) if (t !== first) top[i++] = t;
    } else {
      top =
        (kept && topFromList(mode === 'raw' ? x : zr, zr, off, V, k, kept.list(r), mode === 'processed' || kept.upper)) ??
        (k <= 64 ? rowTopN(mode === 'raw' ? x : zr, off, V, k) : undefined) ??
        topOffsets(mode === 'raw' ? x : zr, off, V, k);
    }
    for (let i = 0; i < k; i++) {
      out[o0 + 3 + i] = top[i]!;
      out[o0 + 3 + k + i] = mode === 'raw' ? rawOf(top[i]!) : procOf(top[i]!);
    }
  }
}
