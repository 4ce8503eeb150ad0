// Small typed-array kernels for the CPU backends (cpu, wasm), where one pass of plain JS over the
// backend's own memory is much cheaper than a chain of tfjs ops (the cpu backend's broadcasting
// ops cost ~30× a reduction pass). Each kernel reads its inputs in place and writes a new output.
// The edit kernels (penalties, bias / drop, bitmask, counts update, invalid codes) also run on webgl and webgpu
// as one shader each (gpu-edits.ts); elsewhere (tfjs-node, or TFJS_SAMPLING_FUSED off on a GPU
// backend) the callers run the tfjs-op formulation, with the same float32 arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import { directoryInputs, type WindowDirectory } from './webgl/window-directory.js';
import { dryEdit, dryRepeatsInto, type DryRule } from '../dry-rule.js';
import { BIAS_DROP, BITMASK, COUNTS_UPDATE, INVALID_CODES, PENALTIES, SEEN_APPEND, registerGpuEdits } from './gpu-edits.js';
import { registerFusedFlag } from './fused.js';
import { rowExpSums } from './wasm-simd/sample-rows-simd.js';

type Arr = Float32Array | Int32Array;
type Body = (inputs: Record<string, Arr>, out: Arr, attrs: Record<string, unknown>) => void;

interface CpuBackend {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'int32' | 'float32', values: Arr): tf.TensorInfo;
}
interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: 'int32' | 'float32'): tf.TensorInfo;
}

const registered = new Set<string>();

function view(buffer: ArrayBuffer, offset: number, info: tf.TensorInfo): Arr {
  const n = info.shape.reduce((a, b) => a * b, 1);
  if (info.dtype === 'bool') return new Uint8Array(buffer, offset, n) as unknown as Arr;
  return info.dtype === 'int32' ? new Int32Array(buffer, offset, n) : new Float32Array(buffer, offset, n);
}

/** Registers `name` on cpu and wasm; `outOf` gives the output's shape and dtype from the inputs. */
function register(name: string, outOf: (inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) => { shape: number[]; dtype: 'int32' | 'float32' }, body: Body): void {
  if (registered.has(name)) return;
  registered.add(name);
  tf.registerKernel({
    kernelName: name,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as CpuBackend;
      const { shape, dtype } = outOf(inputs, attrs as Record<string, unknown>);
      const n = shape.reduce((x, y) => x * y, 1);
      const out = dtype === 'int32' ? new Int32Array(n) : new Float32Array(n);
      const ins = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, b.data.get((t as tf.TensorInfo).dataId).values as Arr]));
      body(ins, out, attrs as Record<string, unknown>);
      return b.makeTensorInfo(shape, dtype, out);
    },
  });
  tf.registerKernel({
    kernelName: name,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackend;
      const { shape, dtype } = outOf(inputs, attrs as Record<string, unknown>);
      const outInfo = b.makeOutput(shape, dtype); // first: growing the heap detaches older views
      const heap = b.wasm.HEAPU8.buffer as ArrayBuffer;
      const ins = Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, view(heap, b.dataIdMap.get((t as tf.TensorInfo).dataId).memoryOffset, t as tf.TensorInfo)]));
      body(ins, view(heap, b.dataIdMap.get(outInfo.dataId).memoryOffset, outInfo), attrs as Record<string, unknown>);
      return outInfo;
    },
  });
}

/** True when the active backend runs these kernels. */
export function jsKernelsAvailable(): boolean {
  const name = tf.getBackend();
  return name === 'cpu' || name === 'wasm';
}

/**
 * True when the active backend runs the edit kernels ({@link penaltiesKernel},
 * {@link biasDropKernel}, {@link bitmaskKernel}, {@link countsUpdateKernel}): cpu and wasm, and
 * webgl / webgpu unless the TFJS_SAMPLING_FUSED flag is off (then the tfjs-op formulation runs,
 * which the tests compare with the shaders).
 */
export function editKernelsAvailable(): boolean {
  const name = tf.getBackend();
  if (name === 'cpu' || name === 'wasm') return true;
  if (name !== 'webgl' && name !== 'webgpu') return false;
  registerFusedFlag();
  return tf.env().getBool('TFJS_SAMPLING_FUSED') && registerGpuEdits(name);
}

const FLT_MAX = 3.4028234663852886e38;

/**
 * One pass of the penalties (see processors/penalties.ts for the rule and its float32 roundings):
 * `counts` maps each scope to its float32 `[B, V]` counts. Same results as the tfjs-op formulation.
 */
export function penaltiesKernel(
  logits: tf.Tensor2D,
  counts: { rep: tf.Tensor2D; freq: tf.Tensor2D; pres: tf.Tensor2D } | { window: WindowDirectory; all: [boolean, boolean, boolean] },
  theta: Float64Array,
  F: Float64Array,
  P: Float64Array,
  seen?: tf.Tensor2D,
  bias?: tf.Tensor2D,
): tf.Tensor2D {
  if ((bias || 'window' in counts) && tf.getBackend() !== 'webgl') throw new Error('tfjs-sampling (internal): the penalties kernel adds a bias and reads a window directory on webgl only');
  register(PENALTIES, (i) => ({ shape: (i.logits as tf.TensorInfo).shape, dtype: 'float32' }), (ins, out, attrs) => {
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
        out[j] = v > FLT_MAX ? FLT_MAX : v;
      }
    }
  });
  // webgpu: with the history's seen list, a copy and the listed tokens only (gpu-edits.ts).
  // webgl: the counts from the history's window directory (webgl/window-directory.ts).
  const inputs: tf.NamedTensorMap =
    'window' in counts
      ? { logits, ...directoryInputs(counts.window) }
      : { logits, rep: counts.rep, freq: counts.freq, pres: counts.pres };
  if (seen && tf.getBackend() === 'webgpu') inputs.seen = seen;
  if (bias) inputs.bias = bias; // webgl: the logit bias (bans as -Infinity) added in the same pass
  return tf.engine().runKernel(
    PENALTIES,
    inputs,
    { shape: logits.shape, theta: Array.from(theta), F: Array.from(F), P: Array.from(P), ...('window' in counts ? { scopes: counts.all } : {}) } as unknown as tf.NamedAttrMap,
  ) as tf.Tensor2D;
}

/**
 * counts + one per row at `add[r]` − one per row at `remove[r]` (negative ids: nothing): a copy and
 * O(B) writes, where the tfjs-op formulation builds two one-hot `[B, V]` tensors. On webgpu no
 * copy: the writes go into `counts`' own buffer, which is returned (gpu-edits.ts countsInPlace),
 * so the caller must own `counts` alone and treat the input as consumed.
 */
export function countsUpdateKernel(counts: tf.Tensor2D, add: tf.Tensor1D, remove: tf.Tensor1D | undefined): tf.Tensor2D {
  register(COUNTS_UPDATE, (i) => ({ shape: (i.counts as tf.TensorInfo).shape, dtype: 'float32' }), (ins, out, attrs) => {
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
  });
  return tf.engine().runKernel(COUNTS_UPDATE, remove ? { counts, add, remove } : { counts, add }, { shape: counts.shape } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}


/**
 * webgpu only: appends each row's token `add[r]` to the seen list `seen` (int32 `[B, 1 + cap]`: the
 * length, then the tokens) where its count in `counts` is still 0, in place (the input is
 * consumed; the output is its buffer).
 */
export function seenAppendKernel(seen: tf.Tensor2D, add: tf.Tensor1D, counts: tf.Tensor2D): tf.Tensor2D {
  return tf.engine().runKernel(SEEN_APPEND, { seen, add, counts }) as tf.Tensor2D;
}

/**
 * The invalid-row rule (src/invalid-rows.ts) in one pass over the input and the processed logits:
 * float32 `[B]`, 0 for a valid row, else the negative code. `made` holds the per-row flags of
 * user processors (1 where one made NaN / +Infinity), when there are user processors.
 */
export function invalidCodesKernel(
  input: tf.Tensor2D,
  processed: tf.Tensor2D,
  made: { madeNaN?: tf.Tensor1D; madeInf?: tf.Tensor1D },
  codes: { nan: number; inf: number; none: number; madeNaN: number; madeInf: number; madeNone: number },
): tf.Tensor1D {
  register(INVALID_CODES, (i) => ({ shape: [(i.input as tf.TensorInfo).shape[0]!], dtype: 'float32' }), (ins, out, attrs) => {
    const x = ins.input as Float32Array;
    const z = ins.processed as Float32Array;
    const mn = ins.madeNaN as unknown as Uint8Array | Int32Array | undefined;
    const mi = ins.madeInf as unknown as Uint8Array | Int32Array | undefined;
    const [B, V] = attrs.shape as [number, number];
    const k = attrs.codes as typeof codes;
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
  });
  const inputs: tf.NamedTensorMap = { input, processed };
  // bool tensors: 1 byte per value on cpu (Uint8Array) and on wasm.
  if (made.madeNaN) inputs.madeNaN = made.madeNaN;
  if (made.madeInf) inputs.madeInf = made.madeInf;
  return tf.engine().runKernel(INVALID_CODES, inputs, { shape: input.shape, codes } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
}


const ROW_EXP_SUMS = 'TfjsSamplingRowExpSums';

/**
 * float32 `[B, 1]`: S = Σ exp((z − max z)·inv[r]) per row of `x` (NaN for a row with NaN,
 * +Infinity or nothing finite), on cpu and wasm: the SIMD module's float32 exp summed in
 * float64, or a float64 loop without it. One pass where tfjs's exp, sub and sum cost ~25 (wasm).
 */
export function rowExpSumsKernel(x: tf.Tensor2D, inv: Float32Array): tf.Tensor2D {
  register(ROW_EXP_SUMS, (i) => ({ shape: [(i.x as tf.TensorInfo).shape[0]!, 1], dtype: 'float32' }), (ins, out, attrs) => {
    const z = ins.x as Float32Array;
    const [B, V] = attrs.shape as [number, number];
    const iv = attrs.inv as Float32Array;
    (out as Float32Array).set(expSumsOf(z, B, V, iv).S);
  });
  return tf.engine().runKernel(ROW_EXP_SUMS, { x }, { shape: x.shape, inv } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

const PACK_LOGPROBS = 'TfjsSamplingPackLogprobs';

/** Σ exp((z − max)·inv) and the max per row, in float64 (SIMD module, else a float64 loop). */
function expSumsOf(z: Float32Array, B: number, V: number, inv: Float32Array, known?: { max: Float64Array; S: Float64Array }): { S: Float64Array; max: Float64Array } {
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
function topFromList(w: Float32Array, z: Float32Array, o: number, V: number, n: number, list: readonly number[] | undefined, usable: boolean): Int32Array | undefined {
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
  mode: 'raw' | 'processed',
  out: Float32Array,
  known?: { max: Float64Array; S: Float64Array },
  kept?: { list: (r: number) => readonly number[] | undefined; upper: boolean },
  rawKnown?: { max: Float64Array; S: Float64Array },
): void {
  // The SIMD kernel's raw sums where it computed them (a NaN sum: an invalid row, or not computed: recomputed here).
  const raw = expSumsOf(x, B, V, new Float32Array(B).fill(1), rawKnown);
  const usable = Float32Array.from(invT, (v) => (Number.isFinite(v) ? v : 1));
  const proc = expSumsOf(z, B, V, usable, known);
  const W = 3 + 2 * k;
  const floor = (v: number): number => (v <= -FLT_MAX ? -Infinity : v);
  for (let r = 0; r < B; r++) {
    const o0 = r * W;
    const off = r * V;
    const j = id[r]!;
    const rawLse = raw.max[r]! + Math.log(raw.S[r]!); // NaN for an invalid input row
    const rawOf = (t: number): number => floor(x[off + t]! - rawLse);
    const bad = invalid(r) || Number.isNaN(proc.S[r]!);
    const greedy = !Number.isFinite(invT[r]!);
    let first = -1; // greedy rows: the first largest processed logit
    if (greedy && !bad) for (let t = 0; t < V; t++) if (z[off + t] === proc.max[r]) { first = t; break; }
    const logS = Math.log(proc.S[r]!);
    const procOf = (t: number): number => (bad ? NaN : greedy ? (t === first ? 0 : -Infinity) : floor((z[off + t]! - proc.max[r]!) * invT[r]! - logS));
    out[o0] = j;
    out[o0 + 1] = j < 0 ? NaN : rawOf(j);
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
      top = (kept && topFromList(mode === 'raw' ? x : z, z, off, V, k, kept.list(r), mode === 'processed' || kept.upper)) ?? topOffsets(mode === 'raw' ? x : z, off, V, k);
    }
    for (let i = 0; i < k; i++) {
      out[o0 + 3 + i] = top[i]!;
      out[o0 + 3 + k + i] = mode === 'raw' ? rawOf(top[i]!) : procOf(top[i]!);
    }
  }
}

/**
 * The packed logprobs of a step on cpu and wasm (twin of logprobs.ts's tensor formulation, in
 * float64 on the backend's memory): float32 `[B, 3 + 2n]`, per row the id, its raw and processed
 * log-probabilities, n alternative ids and their log-probabilities under `mode`.
 */
export function packLogprobsKernel(input: tf.Tensor2D, processed: tf.Tensor2D, ids: tf.Tensor1D, codes: tf.Tensor1D, inv: Float64Array, n: number, mode: 'raw' | 'processed'): tf.Tensor2D {
  register(PACK_LOGPROBS, (i, a) => ({ shape: [(i.input as tf.TensorInfo).shape[0]!, 3 + 2 * (a.n as number)], dtype: 'float32' }), (ins, o, attrs) => {
    const [B, V] = attrs.shape as [number, number];
    const code = ins.codes as Float32Array;
    packRows(ins.input as Float32Array, ins.processed as Float32Array, ins.ids as Int32Array, (r) => code[r]! < 0, attrs.inv as Float64Array, B, V, attrs.n as number, attrs.mode as 'raw' | 'processed', o as Float32Array);
  });
  const out = tf.engine().runKernel(PACK_LOGPROBS, { input, processed, ids, codes }, { shape: input.shape, inv, n, mode } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  return out;
}

/** Whether rowExpSumsKernel runs on the active backend (cpu, wasm). */
export function rowExpSumsAvailable(): boolean {
  const name = tf.getBackend();
  return name === 'cpu' || name === 'wasm';
}

/**
 * z + add saturating at FLT_MAX (when `add` is given; with `bansInAdd`, an `add` of -Infinity bans
 * its token: what a bias of 0 and a drop give), then tokens where `drop` is 1 masked
 * (−Infinity; NaN and +Infinity stay, as maskWhere does). `drop` is `[B, V]`, or `[1, V]` for
 * every row, optionally only in the rows where `rows` (`[B]`) is 1.
 */
export function biasDropKernel(z: tf.Tensor2D, add: tf.Tensor2D | undefined, drop: tf.Tensor2D | undefined, rows?: ArrayLike<number>, bansInAdd = false): tf.Tensor2D {
  register(BIAS_DROP, (i) => ({ shape: (i.z as tf.TensorInfo).shape, dtype: 'float32' }), (ins, out, attrs) => {
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
  });
  const inputs: tf.NamedTensorMap = { z };
  if (add) inputs.add = add;
  if (drop) inputs.drop = drop;
  const attrs = { shape: z.shape, dropRows: drop && drop.shape[0] === z.shape[0] ? 1 : 0, rows: rows ? Array.from(rows) : null, bansInAdd: bansInAdd ? 1 : 0 };
  return tf.engine().runKernel(BIAS_DROP, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}


/**
 * webgpu only: the logit bias as sparse entries (`tokens` int32 `[B, E]`, -1 unused; `values`
 * float32, -Infinity bans), with biasDropKernel's arithmetic (bansInAdd) on those tokens and every
 * other logit saturated at FLT_MAX. `inPlace`: `z` is the output of a built-in edit of this call,
 * already saturated and held by nothing else (ops.ts freshLogits); it is then consumed and its
 * buffer is the output. Otherwise a saturated copy is patched.
 */
export function biasEntriesKernel(z: tf.Tensor2D, tokens: tf.Tensor2D, values: tf.Tensor2D, inPlace: boolean): tf.Tensor2D {
  if (tf.getBackend() !== 'webgpu') throw new Error('internal: biasEntriesKernel runs on webgpu only');
  const attrs = { shape: z.shape, dropRows: 0, rows: null, bansInAdd: 1, inPlace: inPlace ? 1 : 0 };
  return tf.engine().runKernel(BIAS_DROP, { z, tokens, values }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * The per-call token bitmask in one pass: token j of row r is kept iff bit j & 31 of
 * `words[r, j >> 5]` is set, else masked (−Infinity; NaN and +Infinity stay, as maskWhere does).
 * `hostWords` holds `B · ceil(V/32)` int32 words, row after row.
 */
export function bitmaskKernel(z: tf.Tensor2D, hostWords: Int32Array): tf.Tensor2D {
  register(BITMASK, (i) => ({ shape: (i.z as tf.TensorInfo).shape, dtype: 'float32' }), (ins, out, attrs) => {
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
  });
  const [B, V] = z.shape;
  const words = uploadMaskWords(hostWords, B, V);
  try {
    return tf.engine().runKernel(BITMASK, { z, words }, { shape: z.shape } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  } finally {
    words.dispose();
  }
}

/**
 * The bitmask's `B · ceil(V/32)` words as the tensor the kernels read: int32 `[B, ceil(V/32)]`;
 * on webgl, which keeps int32 as float32 texels, their exact 16-bit halves, float32 `[B, 2·ceil(V/32)]`.
 */
export function uploadMaskWords(hostWords: Int32Array, B: number, V: number): tf.Tensor2D {
  const W = Math.ceil(V / 32);
  return tf.getBackend() === 'webgl'
    ? tf.tensor2d(Float32Array.from({ length: B * 2 * W }, (_, h) => (hostWords[h >> 1]! >>> ((h & 1) * 16)) & 0xffff), [B, 2 * W])
    : tf.tensor2d(hostWords, [B, W], 'int32');
}

const DRY = 'TfjsSamplingDry';

/** One row of {@link dryKernel}: its window length and rule. */
export interface DryKernelRow {
  /** Tokens of the row's DRY window (≤ N). */
  m: number;
  rule: DryRule;
}

/**
 * DRY in one pass (see processors/dry.ts for the rule): from the window `tokens` and `matches`
 * (int32 `[B, N]`, TokenHistory.dryWindow) each row's penalised tokens are found in O(N)
 * (dryRepeatsInto) and their logits lowered (dryEdit); every other logit is copied. `rows[r]`
 * undefined: row r is off.
 */
export function dryKernel(logits: tf.Tensor2D, tokens: tf.Tensor2D, matches: tf.Tensor2D, rows: readonly (DryKernelRow | undefined)[]): tf.Tensor2D {
  register(DRY, (i) => ({ shape: (i.logits as tf.TensorInfo).shape, dtype: 'float32' }), (ins, out, attrs) => {
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
  });
  return tf.engine().runKernel(DRY, { logits, tokens, matches }, { shape: logits.shape, N: tokens.shape[1], rows } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
