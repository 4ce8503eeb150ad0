import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { SamplingError } from '../errors.js';
import { referenceBadWords } from '../reference/bad-words.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import { DeviceCache, maskWhere, scatterHits, withLogits } from './ops.js';

/**
 * Bad words (HF `NoBadWordsLogitsProcessor`, vLLM `bad_words`): a sequence's last token is masked
 * when the history ends with the rest of it; one-token sequences are always masked. Reads the
 * last (longest − 1) tokens the sampler keeps on the device; every sequence is matched at once.
 *
 * @example
 * createSampler({ badWords: [[1234], [56, 78, 90]] });
 */
export function badWords(sequences: readonly (readonly number[])[]): LogitsProcessor {
  const cache = new DeviceCache();
  const long = sequences.filter((s) => s.length > 1);
  const L = Math.max(0, ...long.map((s) => s.length - 1));
  return builtin({
    name: 'bad-words',
    apply(state: SamplingState): SamplingState {
      const { batch: B, vocab: V } = state;
      const [always, pattern, wild, last] = cache.get(`${V}`, () => {
        const a = new Float32Array(V);
        for (const s of sequences) if (s.length === 1) a[s[0]!] = 1;
        // Prefixes right-aligned in [S, L]; -2 marks "any token" left of a shorter prefix.
        const S = Math.max(1, long.length);
        const pat = new Int32Array(S * Math.max(1, L)).fill(-2);
        const lastTok = new Int32Array(S);
        long.forEach((s, i) => {
          for (let j = 0; j < s.length - 1; j++) pat[i * L + L - (s.length - 1) + j] = s[j]!;
          lastTok[i] = s[s.length - 1]!;
        });
        return [
          tf.tensor2d(a, [1, V]),
          tf.tensor3d(pat, [1, S, Math.max(1, L)], 'int32'),
          tf.tensor3d(
            Uint8Array.from(pat, (v) => (v === -2 ? 1 : 0)),
            [1, S, Math.max(1, L)],
            'bool',
          ),
          tf.tensor2d(lastTok, [1, S], 'int32'),
        ];
      });
      let drop: tf.Tensor = always!;
      if (long.length > 0) {
        const tokens = state.tokens;
        if (!tokens) throw new SamplingError('badWords', "must run in a sampler's chain (it reads the sampler's token history)", undefined);
        const tail = tokens.tail(); // [B, ≥ L]
        const recent = tf.reshape(tf.slice(tail, [0, tail.shape[1] - L], [B, L]), [B, 1, L]);
        const match = tf.all(tf.logicalOr(tf.equal(recent, pattern!), wild!), 2); // [B, S]
        const hits = scatterHits(tf.broadcastTo(last!, [B, long.length]) as tf.Tensor2D, match as tf.Tensor2D, V);
        drop = sequences.some((s) => s.length === 1) ? tf.maximum(hits, always!) : hits;
      }
      return withLogits(state, maskWhere(state.logits, drop) as tf.Tensor2D);
    },
    reference: referenceBadWords(sequences),
    reset: () => cache.dispose(),
  });
}

/** How many trailing tokens `badWords` needs. */
export function badWordsTail(sequences: readonly (readonly number[])[]): number {
  return Math.max(0, ...sequences.map((s) => s.length - 1));
}
