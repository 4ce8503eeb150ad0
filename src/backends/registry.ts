// Which backend kernels this bundle carries. The shared code never imports a backend's kernels
// (GLSL, WGSL, the SIMD module): the entries `tfjs-sampling/cpu`, `/wasm`, `/webgl` and `/webgpu`
// hand theirs in here when imported, so an app that imports `tfjs-sampling/core` and one backend
// entry ships only that backend's kernels (`tfjs-sampling` imports all four). A kernel family a
// backend lacks is not an error: the portable tfjs-op path runs, with the same tokens.
import * as tf from '@tensorflow/tfjs-core';
import type { FusedPlan } from './js/sample-rows.js';
import type { FusedMirostat } from './fused.js';
import type { KeptLogits } from './gpu-chain.js';

/**
 * Kernel families: each registers its tfjs kernels on first use and says whether it could (a
 * webgl 1 context, say, cannot run them).
 */
export type KernelFamily =
  /** The fused chain-and-draw kernel of cpu and wasm. */
  | 'fused'
  /** The in-shader Gumbel-max draw (webgl, webgpu). */
  | 'gumbelArgmax'
  /** The GPU chain's kernels: the threshold draw, top-k, top-p, window reductions, bands, the k-th largest. */
  | 'thresholdDraw'
  | 'topK'
  | 'topP'
  | 'windows'
  | 'bands'
  | 'kthLargest'
  /** The edit kernels (penalties, bias / drop, bitmask, counts, invalid codes; cpu / wasm also DRY, row exp sums, packed logprobs). */
  | 'edits'
  /** webgl: the window directory of a penalty window, and the row-local scatter. */
  | 'windowDirectory'
  | 'rowScatter'
  /** webgpu: DRY in one kernel. */
  | 'dry'
  /** webgpu: one read of each row after the draw: the packed log-probabilities and alternatives, and Mirostat's −log q of the drawn token. */
  | 'logprobs';

/** The GPU chain (gpu-chain.ts), shared by the webgl and webgpu entries. */
export interface GpuChain {
  available(name: string): boolean;
  bandsAvailable(name: string): boolean;
  typicalAvailable(name: string): boolean;
  mirostatV1Available(name: string): boolean;
  fits(name: string, vocab: number): boolean;
  run(logits: tf.Tensor2D, plan: FusedPlan, mirostat?: FusedMirostat, kept?: KeptLogits): tf.Tensor1D;
  /** The portable top-k processor's k-th largest (and k largest, sorted, where it has them) without sorting the row; undefined: sort. */
  topK(logits: tf.Tensor2D, K: Float64Array, kmax: number): { kth: tf.Tensor1D; sorted?: tf.Tensor2D } | undefined;
  /** The portable top-p processor's threshold without sorting the row; undefined: sort. */
  topP(logits: tf.Tensor2D, invT: Float64Array, P: Float64Array): tf.Tensor1D | undefined;
  /** The k largest per row, descending (tf.topk's values), without sorting the row; undefined: sort. */
  largest(logits: tf.Tensor2D, k: number): tf.Tensor2D | undefined;
  /** The n largest per row with their ids (tf.topk's values and indices, ties in index order) without sorting the row; undefined: sort. */
  top(logits: tf.Tensor2D, n: number): { values: tf.Tensor2D; indices: tf.Tensor2D } | undefined;
  /** Each row's k-th largest, k on the device (`[B]` float32, ≥ 1), without sorting the row; undefined: sort. */
  kth(logits: tf.Tensor2D, k: tf.Tensor1D): tf.Tensor1D | undefined;
  /** Whether `kth` runs on the active backend for rows of `vocab` logits (a caller then sorts only what it needs itself). */
  kthAvailable(vocab: number): boolean;
  /** The portable typical-p processor's band `[B, 2]` (floor, upper bound) without sorting the row; `zmax` the row max `[B, 1]` it has; undefined: sort. */
  typical(logits: tf.Tensor2D, invT: Float64Array, P: Float64Array, M: Float64Array, zmax: tf.Tensor2D): tf.Tensor2D | undefined;
}

/** What one backend entry provides. */
export interface BackendKernels {
  families: Partial<Record<KernelFamily, () => boolean>>;
  gpuChain?: GpuChain;
}

const provided = new Map<string, BackendKernels>();
const outcome = new Map<string, boolean>();

/** Called by a backend entry when it is imported. */
export function provideKernels(backend: string, kernels: BackendKernels): void {
  provided.set(backend, kernels);
  for (const id of Array.from(outcome.keys())) if (id.endsWith(`:${backend}`)) outcome.delete(id);
}

/** What the entries provide for `backend` (default: the active one); undefined when none was imported. */
export function kernelsFor(backend: string = tf.getBackend()): BackendKernels | undefined {
  return provided.get(backend);
}

/** Registers the family on the backend (once) and says whether it runs there. */
export function hasKernels(family: KernelFamily, backend: string = tf.getBackend()): boolean {
  const id = `${family}:${backend}`;
  let ok = outcome.get(id);
  if (ok === undefined) {
    const register = provided.get(backend)?.families[family];
    ok = register ? register() : false;
    outcome.set(id, ok);
  }
  return ok;
}

/**
 * The backends whose kernels this bundle carries (what `tfjs-sampling/<name>` entries were imported).
 *
 * @example
 * import 'tfjs-sampling/webgl';
 * import { kernelBackends } from 'tfjs-sampling/core';
 * kernelBackends(); // ['webgl']
 */
export function kernelBackends(): string[] {
  return Array.from(provided.keys());
}
