// `npm start`: loads the project's character transformer of Tang poems (model/transformer, trained
// by `npm run train:transformer`; no network, no tfjs-node; it beats the windowed MLP of
// model/weights on held-out text) and generates a batch of continuations through its KV cache
// under several sampler settings. Prints the text, the backend, tokens per second and the mean
// entropy (bits) of the distribution each token was drawn from (accumulated on the device, read
// once per setting: the loop keeps its one read-back per step); then tokens per second with the
// KV cache and without it, and one sample with its per-token log-probabilities.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, entropy, generate, type Sampler, type SamplerOptions, type StepFunction } from 'tfjs-sampling';
import { DEFAULT_TRANSFORMER_DIR, loadTransformerFromDisk } from '../model/fs-io.js';
import { cachedStep, disposeCache, receptiveField, windowStep, type KVCache } from '../model/transformer.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const lm = await loadTransformerFromDisk();
const metrics = JSON.parse(readFileSync(path.join(DEFAULT_TRANSFORMER_DIR, 'metrics.json'), 'utf8')) as {
  transformer: { bitsPerChar: number; params: number };
  mlp: { bitsPerChar: number };
  unigram: { bitsPerChar: number };
};
const c = lm.config;
console.log(
  `model: character transformer, ${c.layers} layers, ${c.heads} heads, d ${c.dModel}, window ${c.window}, ${lm.vocab.length} characters, ${metrics.transformer.params.toLocaleString('en')} parameters`,
);
console.log(
  `held-out bits/char: transformer ${metrics.transformer.bitsPerChar.toFixed(3)}, windowed MLP ${metrics.mlp.bitsPerChar.toFixed(3)}, unigram ${metrics.unigram.bitsPerChar.toFixed(3)}`,
);

const PROMPTS = ['春風', '明月照', '白日依山盡，', '孤舟']; // the corpus is in traditional characters
const MAX_NEW = 32;
const SETTINGS: [string, SamplerOptions][] = [
  ['greedy', { temperature: 0 }],
  ['T 0.5', { temperature: 0.5 }],
  ['T 1.0', { temperature: 1 }],
  ['T 1.5', { temperature: 1.5 }],
  ['top-k 5', { topK: 5 }],
  ['top-p 0.9', { topP: 0.9 }],
  ['min-p 0.1', { minP: 0.1 }],
];

/** The cached step function, also adding each active row's entropy (bits) to `sum`. */
function stepWithEntropy(sampler: Sampler, sum: { value: tf.Tensor1D }): StepFunction<KVCache> {
  const step = cachedStep(lm);
  return async (tokens, context) => {
    const out = (await step(tokens, context)) as { logits: tf.Tensor2D; state: KVCache };
    const next = tf.tidy(() => {
      const h = entropy(sampler.probabilities(out.logits)); // the distribution the token is drawn from
      const active = tf.tensor1d(
        Array.from(context.finished, (f) => 1 - f),
        'float32',
      );
      return tf.add(sum.value, tf.mul(h, active)) as tf.Tensor1D;
    });
    sum.value.dispose();
    sum.value = next;
    return out;
  };
}

const tensorsAtStart = tf.memory().numTensors;
const prompts = PROMPTS.map((p) => lm.encodePrompt(p));
const base = { prompts, padId: c.padId, maxNewTokens: MAX_NEW, stopTokens: [c.newlineId] };
const table: string[] = [];
for (const [label, options] of SETTINGS) {
  const sampler = createSampler({ ...options, seed: 2024 });
  const sum = { value: tf.zeros([PROMPTS.length]) as tf.Tensor1D };
  const run = async (): Promise<Awaited<ReturnType<typeof generate<KVCache>>>> => {
    const r = await generate(stepWithEntropy(sampler, sum), { ...base, feed: 'new', sampler });
    disposeCache(r.state);
    return r;
  };
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
  result.sequences.forEach((seq) => console.log(`  ${lm.decode(seq).replace(/^\n/, '').replace(/\n$/, '⏎')}`));
  const rate = generated / seconds;
  console.log(`  ${generated} tokens, ${rate.toFixed(0)} tokens/s on ${backend.name}, mean entropy ${meanEntropy.toFixed(2)} bits/step`);
  table.push(`| ${label.padEnd(10)} | ${rate.toFixed(0).padStart(6)} | ${meanEntropy.toFixed(2).padStart(5)} |`);
}
console.log(`\n| setting    | tok/s  | H (bits) |   (backend ${backend.name}, batch ${PROMPTS.length}, KV cache)`);
console.log(table.join('\n'));

// The same generation with the KV cache (the newest token a step) and without it (the last
// receptiveField tokens recomputed every step: the same logits up to float rounding).
const speed: string[] = [];
const sameTokens: number[][][] = [];
for (const [label, run] of [
  ['KV cache', () => generate(cachedStep(lm), { ...base, maxNewTokens: 48, stopTokens: [], feed: 'new', sampler: { temperature: 0.8, seed: 7 } })],
  [
    'no cache',
    () => generate(windowStep(lm), { ...base, maxNewTokens: 48, stopTokens: [], contextLength: receptiveField(c), sampler: { temperature: 0.8, seed: 7 } }),
  ],
] as const) {
  disposeCache((await run()).state as KVCache | undefined); // warm-up
  const start = performance.now();
  const r = await run();
  const seconds = (performance.now() - start) / 1000;
  disposeCache(r.state as KVCache | undefined);
  sameTokens.push(r.tokens);
  const n = r.tokens.reduce((a, row) => a + row.length, 0);
  speed.push(`| ${label.padEnd(8)} | ${(n / seconds).toFixed(0).padStart(6)} |`);
}
console.log(`\n| model    | tok/s  |   (backend ${backend.name}, batch ${PROMPTS.length}, 48 tokens a row, T 0.8)`);
console.log(speed.join('\n'));
console.log(`  same tokens with and without the cache: ${JSON.stringify(sameTokens[0]) === JSON.stringify(sameTokens[1]) ? 'yes' : 'NO'}`);

// One sample with its log-probabilities (read back with the ids: still one read-back per step):
// p under the model, q under the distribution the character was drawn from, the model's top 3.
const shown = await generate(cachedStep(lm), {
  prompts: [lm.encodePrompt('孤舟')],
  padId: c.padId,
  maxNewTokens: 12,
  stopTokens: [c.newlineId],
  feed: 'new',
  sampler: { temperature: 0.8, topP: 0.9, seed: 2024 },
  logprobs: { topLogprobs: 3 },
});
disposeCache(shown.state);
const pct = (lp: number): string => `${(100 * Math.exp(lp)).toFixed(1)}%`.padStart(6);
const show = (id: number): string => lm.decode([id]).replace('\n', '⏎');
console.log('\n孤舟 … with log-probabilities (T 0.8, top-p 0.9):');
shown.tokens[0]!.forEach((id, i) => {
  const lp = shown.logprobs![0]![i]!;
  console.log(`  ${show(id)}  p ${pct(lp.raw)}  q ${pct(lp.processed)}   top 3: ${lp.top.map((t) => `${show(t.id)} ${pct(t.logprob).trim()}`).join('  ')}`);
});

const leaked = tf.memory().numTensors - tensorsAtStart;
lm.dispose();
if (leaked !== 0) throw new Error(`${leaked} tensors leaked by the generations`);
