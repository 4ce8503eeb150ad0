// A toy "transformer" for generate() tests: its logits depend on the last token and on every real
// token with its position, so that wrong masks, positions, padding or caches change the tokens.
import * as tf from '@tensorflow/tfjs-core';
import type { StepFunction } from '../../src/index.js';

/** logits = table[last token] + mix[s mod V], s = Σ over real tokens of (token + 1)·(position + 1). */
export function logitsOf(table: tf.Tensor2D, mix: tf.Tensor2D, last: tf.Tensor1D, s: tf.Tensor1D): tf.Tensor2D {
  const idx = tf.cast(tf.mod(s, table.shape[1]), 'int32') as tf.Tensor1D;
  return tf.add(tf.gather(table, last), tf.gather(mix, idx)) as tf.Tensor2D;
}

/** Per row, Σ over real tokens (mask 1) of (token + 1)·(position + 1). */
export function termsOf(tokens: tf.Tensor2D, mask: tf.Tensor2D, pos: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(tf.mul(mask, tf.add(tokens, 1)), tf.add(pos, 1)), 1) as tf.Tensor1D;
}

/** The toy model over the whole window: its last token and every real token's (token, position) term. */
export function windowModelOf(table: tf.Tensor2D, mix: tf.Tensor2D): StepFunction {
  return (tokens, ctx) =>
    tf.tidy(() => {
      const [b, t] = tokens.shape;
      return logitsOf(
        table,
        mix,
        tf.reshape(tf.slice(tokens, [0, t - 1], [b, 1]), [b]) as tf.Tensor1D,
        termsOf(tokens, ctx.attentionMask(), ctx.positionIds()),
      );
    });
}
