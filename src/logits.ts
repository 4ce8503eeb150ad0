import * as tf from '@tensorflow/tfjs-core';
import { Described, SamplingError } from './errors.js';

export interface LogitsShape {
  batch: number;
  vocab: number;
  rank: 1 | 2;
}

/**
 * The one rule for "is this a tensor" across the library: duck typing, not `instanceof`, so that
 * a tensor made by a second installed copy of tfjs-core is recognised too.
 */
export function isTensor(v: unknown): v is tf.Tensor {
  const t = v as tf.Tensor;
  return typeof t === 'object' && t !== null && Array.isArray(t.shape) && typeof t.dtype === 'string' && typeof t.rank === 'number' && 'dataId' in t;
}

/**
 * Throws unless `v` is a tensor this library can compute with: one of the tfjs-core copy it
 * imports. A tensor of a second installed copy is recognised (by {@link isTensor}) and named in
 * the error, instead of failing deep inside a tfjs op.
 */
export function assertOwnTensor(v: tf.Tensor, argument: string): void {
  if (!(v instanceof tf.Tensor)) {
    throw new SamplingError(
      argument,
      'must be a tensor of the @tensorflow/tfjs-core copy this library uses',
      new Described('a tensor of another installed copy of @tensorflow/tfjs-core'),
      'Install one copy (npm dedupe)',
    );
  }
}

/** Validates the logits argument: a live float32 tensor of shape [B, V] or [V], V ≥ 1. */
export function checkLogits(logits: unknown, argument = 'logits'): LogitsShape {
  const t = logits as tf.Tensor;
  if (!isTensor(t)) {
    throw new SamplingError(argument, 'must be a tf.Tensor of shape [B, V] or [V]', new Described(describe(logits)));
  }
  assertOwnTensor(t, argument);
  if (t.isDisposed) throw new SamplingError(argument, 'must not be disposed', new Described(`a disposed tensor of shape [${t.shape}]`));
  if (t.dtype !== 'float32') {
    throw new SamplingError(argument, 'must have dtype float32', t.dtype, `Cast with tf.cast(${argument}, "float32")`);
  }
  if (t.rank !== 1 && t.rank !== 2) {
    throw new SamplingError(argument, 'must have rank 1 ([V]) or 2 ([B, V])', new Described(`rank ${t.rank} (shape [${t.shape}])`));
  }
  const vocab = t.shape[t.rank - 1]!;
  if (vocab < 1) throw new SamplingError(argument, 'must have a vocabulary V ≥ 1', new Described(`shape [${t.shape}]`));
  return { batch: t.rank === 2 ? t.shape[0]! : 1, vocab, rank: t.rank };
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  return typeof v === 'object' ? `a ${(v as object).constructor?.name ?? 'object'}` : `${typeof v} ${String(v)}`;
}
