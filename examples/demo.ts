// `npm start`: loads the project's character-level Tang-poem model (model/weights, trained by
// `npm run train`; no network, no tfjs-node) and generates a batch of continuations under several
// sampler settings. Prints the text, the backend, tokens per second and the mean entropy (bits)
// of the distribution each token was drawn from. The entropy is accumulated on the device and
// read once per setting, so the loop keeps its one read-back per step.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, entropy, generate, type SamplerOptions, type StepFunction } from 'tfjs-sampling';
import { loadCharModelFromDisk } from '../model/fs-io.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const lm = await loadCharModelFromDisk();
console.log(`model: ${lm.vocab.length} characters, context ${lm.contextLength}`);

const PROMPTS = ['春風', '明月照', '白日依山盡，', '孤舟']; // the corpus is in traditional characters
const MAX_NEW = 24;
const SETTINGS: [string, SamplerOptions][] = [
  ['greedy', { temperature: 0 }],
  ['T 0.5', { temperature: 0.5 }],
  ['T 1.0', { temperature: 1 }],
  ['T 1.5', { temperature: 1.5 }],
  ['top-k 5', { topK: 5 }],
  ['top-p 0.9', { topP: 0.9 }],
  ['min-p 0.1', { minP: 0.1 }],
];

/** The model as a step function that also adds each active row's entropy (bits) to `sum`. */
function stepWithEntropy(sampler: ReturnType<typeof createSampler>, sum: { value: tf.Tensor1D }): StepFunction {
  return (tokens, { finished }) => {
    const logits = tf.tidy(() => {
      const [b, t] = tokens.shape;
      const L = lm.contextLength;
      const window = t >= L ? tf.slice(tokens, [0, t - L], [b, L]) : tf.concat([tf.fill([b, L - t], lm.padId, 'int32'), tokens], 1);
      return lm.model.predict(window) as tf.Tensor2D;
    });
    const next = tf.tidy(() => {
      const h = entropy(sampler.probabilities(logits)); // the distribution the token is drawn from
      const active = tf.tensor1d(Array.from(finished, (f) => 1 - f), 'float32');
      return tf.add(sum.value, tf.mul(h, active)) as tf.Tensor1D;
    });
    sum.value.dispose();
    sum.value = next;
    return logits;
  };
}

const tensorsAtStart = tf.memory().numTensors;
const prompts = PROMPTS.map((p) => lm.encode(p));
const table: string[] = [];
for (const [label, options] of SETTINGS) {
  const sampler = createSampler({ ...options, seed: 2024 });
  const sum = { value: tf.zeros([PROMPTS.length]) as tf.Tensor1D };
  const run = (): ReturnType<typeof generate> =>
    generate(stepWithEntropy(sampler, sum), { prompts, padId: lm.padId, maxNewTokens: MAX_NEW, stopTokens: [lm.newlineId], sampler });
  await run(); // warm-up: shader compilation and kernel registration are not generation speed
  sampler.reset();
  sum.value.dispose();
  sum.value = tf.zeros([PROMPTS.length]) as tf.Tensor1D;
  const start = performance.now();
  const result = await run();
  const seconds = (performance.now() - start) / 1000;
  const sums = (await sum.value.data()) as Float32Array;
  sum.value.dispose();
  const generated = result.tokens.reduce((n, row) => n + row.length, 0);
  const meanEntropy = sums.reduce((a, b) => a + b, 0) / generated;
  console.log(`\n── ${label} (${sampler.name}) ──`);
  result.sequences.forEach((seq) => console.log(`  ${lm.decode(seq).replace(/\n$/, '⏎')}`));
  const rate = generated / seconds;
  console.log(`  ${generated} tokens, ${rate.toFixed(0)} tokens/s on ${backend.name}, mean entropy ${meanEntropy.toFixed(2)} bits/step`);
  table.push(`| ${label.padEnd(10)} | ${rate.toFixed(0).padStart(6)} | ${meanEntropy.toFixed(2).padStart(5)} |`);
}

console.log(`\n| setting    | tok/s  | H (bits) |   (backend ${backend.name}, batch ${PROMPTS.length})`);
console.log(table.join('\n'));
// One sample with its log-probabilities (read back with the ids: still one read-back per step):
// p under the model, q under the distribution the character was drawn from, the model's top 3.
const shownSum = { value: tf.zeros([1]) as tf.Tensor1D };
const shown = await generate(stepWithEntropy(createSampler({ temperature: 0.8, topP: 0.9 }), shownSum), {
  prompts: [lm.encode('孤舟')],
  padId: lm.padId,
  maxNewTokens: 8,
  stopTokens: [lm.newlineId],
  sampler: { temperature: 0.8, topP: 0.9, seed: 2024 },
  logprobs: { topLogprobs: 3 },
});
shownSum.value.dispose();
const pct = (lp: number): string => `${(100 * Math.exp(lp)).toFixed(1)}%`.padStart(6);
console.log('\n孤舟 … with log-probabilities (T 0.8, top-p 0.9):');
shown.tokens[0]!.forEach((id, i) => {
  const lp = shown.logprobs![0]![i]!;
  console.log(`  ${lm.decode([id]).replace('\n', '⏎')}  p ${pct(lp.raw)}  q ${pct(lp.processed)}   top 3: ${lp.top.map((t) => `${lm.decode([t.id]).replace('\n', '⏎')} ${pct(t.logprob).trim()}`).join('  ')}`);
});

const leaked = tf.memory().numTensors - tensorsAtStart;
lm.model.dispose();
if (leaked !== 0) throw new Error(`${leaked} tensors leaked by the generations`);
