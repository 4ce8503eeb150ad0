import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { SamplingError } from '../errors.js';
import type { RowParam } from '../params.js';
import { rowsOf, type Rows } from '../plan.js';
import { referenceNoRepeatNgram } from '../reference/no-repeat-ngram.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { column, maskWhere, scatterHits, withLogits } from './ops.js';

/**
 * No repeated n-grams (HF `NoRepeatNGramLogitsProcessor`): every token that would complete an
 * n-gram already in the row's history is masked (n per row; 0 is off). Compares the last n − 1
 * tokens with every window of the history kept on the device: O(B·T·n) per step, like HF's.
 *
 * @example
 * createSampler({ noRepeatNgramSize: 3 });
 */
export function noRepeatNgram(size: RowParam, rows: Rows = rowsOf('noRepeatNgramSize', size)): LogitsProcessor {
  return builtin({
    name: 'no-repeat-ngram',
    apply(state: SamplingState): SamplingState {
      const tokens = state.tokens;
      if (!tokens) throw new SamplingError('noRepeatNgramSize', "must run in a sampler's chain (it reads the sampler's token history)", undefined);
      const { batch: B, vocab: V } = state;
      const N = rows(B);
      const tail = tokens.tail(); // [B, L], right-aligned, -1 before the first token
      const L = tail.shape[1];
      let drop: tf.Tensor | undefined;
      for (const n of new Set(N)) {
        if (n === 0 || n > L) continue;
        const W = L - n + 1; // windows i = 0 … L − n
        let match: tf.Tensor = tf.greaterEqual(tf.slice(tail, [0, 0], [B, W]), 0); // window inside the history
        for (let j = 0; j < n - 1; j++) {
          const suffixJ = tf.slice(tail, [0, L - (n - 1) + j], [B, 1]);
          // A negative id in the suffix (an invalid row's code, or padding) is no token: no match.
          match = tf.logicalAnd(match, tf.logicalAnd(tf.equal(tf.slice(tail, [0, j], [B, W]), suffixJ), tf.greaterEqual(suffixJ, 0)));
        }
        const rows = column(Array.from(N, (v) => (v === n ? 1 : 0)));
        const hits = tf.mul(scatterHits(tf.slice(tail, [0, n - 1], [B, W]) as tf.Tensor2D, match as tf.Tensor2D, V), rows);
        drop = drop ? tf.maximum(drop, hits) : hits;
      }
      return drop ? withLogits(state, maskWhere(state.logits, drop) as tf.Tensor2D) : state;
    },
    reference: referenceNoRepeatNgram(size),
  });
}
