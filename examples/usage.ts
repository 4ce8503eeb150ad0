import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu'; // or any other tfjs backend
import { createSampler, reference } from 'tfjs-sampling';

// Logits for a batch of B = 4 rows over a vocabulary of V = 1000 tokens: float32 [B, V].
const logits = tf.randomNormal([4, 1000], 0, 3, 'float32', 7);
const rows = (await logits.array()) as number[][];

const options = { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 };
const sampler = createSampler(options); // temperature → top-k → top-p → min-p → gumbel

const ids = sampler.sample(logits); // int32 [B], no read-back; step 0
const probs = sampler.probabilities(logits); // float32 [B, V]: what each row is drawn from
console.log('ids', await ids.array());
console.log(
  'kept per row',
  ((await probs.array()) as number[][]).map((p) => p.filter((q) => q > 0).length),
);

sampler.reset(); // back to step 0: the same seeds draw the same tokens
const tokens = await sampler.sampleIds(logits); // Int32Array; throws InvalidRowsError on bad rows

// The float64 reference, on plain arrays, with the same options.
const refProbs = reference.probabilities(rows, options); // Float64Array per row
const refTokens = reference.sample(rows, options, 0); // the tokens of step 0
console.log('tokens', Array.from(tokens), 'reference', refTokens);
console.log(
  'top token probability',
  refProbs.map((p) => Math.max(...p).toFixed(3)),
);
if (refTokens.some((t, r) => t !== tokens[r])) throw new Error('tensor and reference tokens differ');

tf.dispose([logits, ids, probs]);
