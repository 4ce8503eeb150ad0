import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { Described, SamplingError } from '../errors.js';
import { referenceTokenMask } from '../reference/token-mask.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { type DeviceCache, maskWhere, withLogits } from './ops.js';
import { bitmaskKernel, editKernelsAvailable } from '../backends/js-kernels.js';

/** A per-call token bitmask: one `Int32Array` of ceil(V/32) words per row, or all rows' words in one. */
export type TokenMask = Int32Array | readonly Int32Array[];

/** The mask's rows (validated against the batch and vocabulary). */
export function maskRows(mask: unknown, batch: number, vocab: number): Int32Array[] {
  const W = Math.ceil(vocab / 32);
  if (mask instanceof Int32Array) {
    if (mask.length !== batch * W)
      throw new SamplingError(
        'mask',
        `must hold ceil(V/32) = ${W} int32 words per row (${batch * W} in all)`,
        new Described(`an Int32Array of length ${mask.length}`),
      );
    return Array.from({ length: batch }, (_, r) => mask.subarray(r * W, (r + 1) * W));
  }
  if (Array.isArray(mask) && mask.length === batch && mask.every((m) => m instanceof Int32Array && m.length === W)) return mask as Int32Array[];
  throw new SamplingError(
    'mask',
    `must be an Int32Array of B·ceil(V/32) words or one Int32Array of ${W} words per row (bit j of word j >> 5 allows token j)`,
    mask,
  );
}

/**
 * The per-call bitmask an external grammar engine produces (xgrammar / llguidance layout: bit
 * j & 31 of word j >> 5 allows token j): every token whose bit is 0 is masked. The words travel
 * as 16-bit halves in float32 (exact on every backend, webgl included, whose int32 textures are
 * float32); the bits are expanded on the device with power-of-two arithmetic.
 */
export function tokenMask(rows: readonly Int32Array[], cache: DeviceCache): LogitsProcessor {
  return builtin({
    name: 'token-mask',
    apply: (state: SamplingState): SamplingState => withLogits(state, maskLogits(state.logits, rows, cache)),
    reference: referenceTokenMask(rows),
  });
}

/** The logits `[B, V]` with the bitmask rows applied: one kernel, or the tfjs-op formulation. */
export function maskLogits(logits: tf.Tensor2D, rows: readonly Int32Array[], cache?: DeviceCache): tf.Tensor2D {
  const [B, V] = logits.shape;
  if (editKernelsAvailable()) {
    const W = Math.ceil(V / 32);
    const words = new Int32Array(B * W);
    rows.forEach((row, r) => words.set(row, r * W));
    return bitmaskKernel(logits, words);
  }
  const H = Math.ceil(V / 16);
  const make = (): tf.Tensor[] => [
    tf.tensor1d(
      Int32Array.from({ length: V }, (_, j) => j >> 4),
      'int32',
    ),
    tf.tensor2d(
      Float32Array.from({ length: V }, (_, j) => 2 ** -(j & 15)),
      [1, V],
    ),
  ];
  const [col, scale] = cache ? cache.get(`mask:${V}`, make) : make();
  const halves = new Float32Array(B * H);
  rows.forEach((words, r) => {
    for (let h = 0; h < H; h++) halves[r * H + h] = (words[h >> 1]! >>> ((h & 1) * 16)) & 0xffff;
  });
  const g = tf.gather(tf.tensor2d(halves, [B, H]), col!, 1); // [B, V]: the half holding bit j
  return maskByHalves(logits, g, scale!);
}

/**
 * `z` masked where bit j & 15 of its token's 16-bit half is 0: `half` holds each logit's half,
 * `scale` 2^-(j & 15) (same shape or broadcast). Exact in float32: a power-of-two scale of an
 * integer < 2^16. NaN and +Infinity stay (maskWhere).
 */
export function maskByHalves(z: tf.Tensor, half: tf.Tensor, scale: tf.Tensor): tf.Tensor2D {
  const shifted = tf.floor(tf.mul(half, scale));
  const bit = tf.sub(shifted, tf.mul(tf.floor(tf.mul(shifted, 0.5)), 2));
  return maskWhere(z, tf.sub(1, bit)) as tf.Tensor2D;
}
