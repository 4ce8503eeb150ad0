// The edit kernels the history processors run by name — penalties, bias / drop, bitmask, counts
// update, invalid codes, DRY, row exp sums, packed logprobs — where the active backend's entry
// registered them: on cpu and wasm one pass of plain JS over the backend's memory
// (js/edit-kernels.ts), on webgl and webgpu one shader each (gpu-edits.ts). Elsewhere (tfjs-node,
// a backend whose entry was not imported, TFJS_SAMPLING_FUSED off on a GPU backend) the callers
// run the tfjs-op formulation, with the same float32 arithmetic.
import * as tf from '@tensorflow/tfjs-core';
import { directoryInputs, type WindowDirectory } from './webgl/window-directory.js';
import type { DryRule } from '../dry-rule.js';
import { BIAS_DROP, BITMASK, COUNTS_UPDATE, DRY, INVALID_CODES, PACK_LOGPROBS, PENALTIES, ROW_EXP_SUMS, SEEN_APPEND } from './kernel-names.js';
import { hasKernels } from './registry.js';
import { registerFusedFlag } from './fused.js';

/** True when the active backend runs the JS kernels (cpu, wasm with their entry): DRY, row exp sums, packed logprobs, and the edits. */
export function jsKernelsAvailable(): boolean {
  const name = tf.getBackend();
  return (name === 'cpu' || name === 'wasm') && hasKernels('edits', name);
}

/**
 * True when the active backend runs the edit kernels ({@link penaltiesKernel},
 * {@link biasDropKernel}, {@link bitmaskKernel}, {@link countsUpdateKernel}): cpu and wasm, and
 * webgl / webgpu unless the TFJS_SAMPLING_FUSED flag is off (then the tfjs-op formulation runs,
 * which the tests compare with the shaders).
 */
export function editKernelsAvailable(): boolean {
  const name = tf.getBackend();
  if (name === 'cpu' || name === 'wasm') return hasKernels('edits', name);
  if (name !== 'webgl' && name !== 'webgpu') return false;
  registerFusedFlag();
  return tf.env().getBool('TFJS_SAMPLING_FUSED') && hasKernels('edits', name);
}

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
  if ((bias || 'window' in counts) && tf.getBackend() !== 'webgl')
    throw new Error('tfjs-sampling (internal): the penalties kernel adds a bias and reads a window directory on webgl only');
  // webgpu: with the history's seen list, a copy and the listed tokens only (gpu-edits.ts).
  // webgl: the counts from the history's window directory (webgl/window-directory.ts).
  const inputs: tf.NamedTensorMap =
    'window' in counts ? { logits, ...directoryInputs(counts.window) } : { logits, rep: counts.rep, freq: counts.freq, pres: counts.pres };
  if (seen && tf.getBackend() === 'webgpu') inputs.seen = seen;
  if (bias) inputs.bias = bias; // webgl: the logit bias (bans as -Infinity) added in the same pass
  return tf.engine().runKernel(PENALTIES, inputs, {
    shape: logits.shape,
    theta: Array.from(theta),
    F: Array.from(F),
    P: Array.from(P),
    ...('window' in counts ? { scopes: counts.all } : {}),
  } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * counts + one per row at `add[r]` − one per row at `remove[r]` (negative ids: nothing): a copy and
 * O(B) writes, where the tfjs-op formulation builds two one-hot `[B, V]` tensors. On webgpu no
 * copy: the writes go into `counts`' own buffer, which is returned (gpu-edits.ts countsInPlace),
 * so the caller must own `counts` alone and treat the input as consumed.
 */
export function countsUpdateKernel(counts: tf.Tensor2D, add: tf.Tensor1D, remove: tf.Tensor1D | undefined): tf.Tensor2D {
  return tf
    .engine()
    .runKernel(COUNTS_UPDATE, remove ? { counts, add, remove } : { counts, add }, { shape: counts.shape } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * webgpu only: appends each row's token `add[r]` to the seen list `seen` (int32 `[B, 1 + cap]`: the
 * length, then the tokens) where its count in `counts` is still 0, in place (the input is
 * consumed; the output is its buffer).
 */
export function seenAppendKernel(seen: tf.Tensor2D, add: tf.Tensor1D, counts: tf.Tensor2D): tf.Tensor2D {
  return tf.engine().runKernel(SEEN_APPEND, { seen, add, counts }) as tf.Tensor2D;
}

/** The negative code per invalid-row cause (src/invalid-rows.ts). */
export interface InvalidCodes {
  nan: number;
  inf: number;
  none: number;
  madeNaN: number;
  madeInf: number;
  madeNone: number;
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
  codes: InvalidCodes,
): tf.Tensor1D {
  const inputs: tf.NamedTensorMap = { input, processed };
  // bool tensors: 1 byte per value on cpu (Uint8Array) and on wasm.
  if (made.madeNaN) inputs.madeNaN = made.madeNaN;
  if (made.madeInf) inputs.madeInf = made.madeInf;
  return tf.engine().runKernel(INVALID_CODES, inputs, { shape: input.shape, codes } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
}

/**
 * float32 `[B, 1]`: S = Σ exp((z − max z)·inv[r]) per row of `x` (NaN for a row with NaN,
 * +Infinity or nothing finite), on cpu and wasm: the SIMD module's float32 exp summed in
 * float64, or a float64 loop without it. One pass where tfjs's exp, sub and sum cost ~25 (wasm).
 */
export function rowExpSumsKernel(x: tf.Tensor2D, inv: Float32Array): tf.Tensor2D {
  return tf.engine().runKernel(ROW_EXP_SUMS, { x }, { shape: x.shape, inv } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * The packed logprobs of a step on cpu and wasm (twin of logprobs.ts's tensor formulation, in
 * float64 on the backend's memory): float32 `[B, 3 + 2n]`, per row the id, its raw and processed
 * log-probabilities, n alternative ids and their log-probabilities under `mode`.
 */
export function packLogprobsKernel(
  input: tf.Tensor2D,
  processed: tf.Tensor2D,
  ids: tf.Tensor1D,
  codes: tf.Tensor1D,
  inv: Float64Array,
  n: number,
  mode: 'raw' | 'processed',
  raw: boolean,
): tf.Tensor2D {
  const out = tf
    .engine()
    .runKernel(PACK_LOGPROBS, { input, processed, ids, codes }, { shape: input.shape, inv, n, mode, raw } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  return out;
}

/**
 * z + add saturating at FLT_MAX (when `add` is given; with `bansInAdd`, an `add` of -Infinity bans
 * its token: what a bias of 0 and a drop give), then tokens where `drop` is 1 masked
 * (−Infinity; NaN and +Infinity stay, as maskWhere does). `drop` is `[B, V]`, or `[1, V]` for
 * every row, optionally only in the rows where `rows` (`[B]`) is 1.
 */
export function biasDropKernel(
  z: tf.Tensor2D,
  add: tf.Tensor2D | undefined,
  drop: tf.Tensor2D | undefined,
  rows?: ArrayLike<number>,
  bansInAdd = false,
): tf.Tensor2D {
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
    ? tf.tensor2d(
        Float32Array.from({ length: B * 2 * W }, (_, h) => (hostWords[h >> 1]! >>> ((h & 1) * 16)) & 0xffff),
        [B, 2 * W],
      )
    : tf.tensor2d(hostWords, [B, W], 'int32');
}

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
  return tf
    .engine()
    .runKernel(DRY, { logits, tokens, matches }, { shape: logits.shape, N: tokens.shape[1], rows } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
