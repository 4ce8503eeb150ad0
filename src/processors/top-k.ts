import * as tf from '@tensorflow/tfjs-core';
import { optionRows, type OptionRows } from '../plan.js';
import { builtin, hintsOf, withHints } from '../builtin.js';
import { isOff, validateMinTokensToKeep, validateTopK, type RowParam } from '../params.js';
import { referenceTopK } from '../reference/top-k.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { FLT_MAX, keepAtLeast, pickPerRow, safeThreshold, withLogits } from './ops.js';
import { deviceTopk } from '../device-topk.js';
import { kernelsFor } from '../backends/registry.js';

/**
 * Top-k: keeps every token whose logit is ≥ the row's k-th largest (ties at the boundary are
 * kept, so the result does not depend on sort order). k = 0 or k ≥ V switches a row off.
 * Sorts only the k largest per row (`tf.topk` with the largest active k).
 *
 * @example
 * const sampler = createSampler({ topK: [40, 0] }); // row 0: top-40, row 1: off
 */
export function topK(k: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return topKOf(validateTopK(k), validateMinTokensToKeep(minTokensToKeep));
}

/** topK from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function topKOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('topK', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 0) ? '?top-k' : 'top-k',
    apply(state: SamplingState): SamplingState {
      const { batch, vocab } = state;
      const M = rows.minKeep(batch);
      const K = rows.value(batch).map((k, r) => (k > 0 ? Math.max(k, M[r]!) : 0));
      const active = K.map((k) => (k > 0 && k < vocab ? 1 : 0));
      if (!active.some((a) => a === 1)) return state;
      const kmax = Math.max(...K.map((k, r) => (active[r] ? k : 0)));
      // webgl: the k-th largest without sorting the row (the registry's GPU chain), else tf.topk.
      const fast = kernelsFor()?.gpuChain?.topK(state.logits, K, kmax);
      const vals = fast ? fast.sorted : deviceTopk(state.logits, kmax).values;
      const kth = fast
        ? fast.kth
        : pickPerRow(
            vals!,
            Int32Array.from(K, (k, r) => (active[r] ? k - 1 : 0)),
          );
      const thr = tf.where(tf.tensor1d(Array.from(active), 'bool'), safeThreshold(kth), tf.fill([batch], -FLT_MAX));
      const thrCol = tf.reshape(thr, [batch, 1]);
      const logits = keepAtLeast(state.logits, thrCol);
      const next = withLogits(state, logits);
      if (!vals || !active.every((a) => a === 1) || kmax > hintsOf(state).candidates) return next;
      // The kmax largest of the new logits: the sorted values with rows' extras masked.
      return withHints(next, { candidates: kmax, sorted: keepAtLeast(vals, thrCol) });
    },
    reference: referenceTopK(value, minKeep),
  });
}
