import * as tf from '@tensorflow/tfjs-core';

/**
 * webgl's tf.topk hands the whole tensor to the CPU (a synchronous `backend.readSync`, a GPU
 * stall and a download of `[B, V]`) when the last dimension is below the first flag or k is
 * above the second (128 by default). Both are lifted for the call, so it runs as shaders.
 */
const WEBGL_HANDOFF_FLAGS: ReadonlyArray<readonly [string, number]> = [
  ['TOPK_LAST_DIM_CPU_HANDOFF_SIZE_THRESHOLD', 0],
  ['TOPK_K_CPU_HANDOFF_THRESHOLD', Infinity],
];

/**
 * `tf.topk` without a read-back on any backend: the only way the library calls tf.topk. On webgl
 * it lifts both CPU hand-off flags for this call and restores them (also when tf.topk throws);
 * elsewhere it is tf.topk itself. (Tensors small enough for `WEBGL_CPU_FORWARD` already live on
 * the CPU and still run there: no download.)
 *
 * @param x float32 `[..., N]`; `k` ≤ N.
 * @returns values `[..., k]` (descending when `sorted`) and their int32 indices.
 * @example
 * const { values } = deviceTopk(logits, 40); // [B, 40], no readSync on webgl even for k > 128
 */
export function deviceTopk<T extends tf.Tensor>(x: T, k: number, sorted = true): { values: T; indices: T } {
  if (tf.getBackend() !== 'webgl') return tf.topk(x, k, sorted);
  const env = tf.env();
  const before = WEBGL_HANDOFF_FLAGS.map(([flag]) => env.getNumber(flag));
  WEBGL_HANDOFF_FLAGS.forEach(([flag, value]) => env.set(flag, value));
  try {
    return tf.topk(x, k, sorted);
  } finally {
    WEBGL_HANDOFF_FLAGS.forEach(([flag], i) => env.set(flag, before[i]!));
  }
}
