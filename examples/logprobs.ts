// Log-probabilities with the project's Tang-poem character model: per generated character its
// probability under the model (raw) and under the distribution it was drawn from (processed),
// the top alternatives, and score() ranking continuations by their log-likelihood. Each number is
// checked against the float64 reference or against score().
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, generate, reference, score, type StepFunction } from 'tfjs-sampling';
import { loadCharModelFromDisk } from '../model/fs-io.js';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name}`);
const lm = await loadCharModelFromDisk();
const before = tf.memory().numTensors;

/** The character model on the last `contextLength` tokens (left-padded). */
const step: StepFunction = (tokens) =>
  tf.tidy(() => {
    const [b, t] = tokens.shape;
    const L = lm.contextLength;
    const window = t >= L ? tf.slice(tokens, [0, t - L], [b, L]) : tf.concat([tf.fill([b, L - t], lm.padId, 'int32'), tokens], 1);
    return lm.model.predict(window) as tf.Tensor2D;
  });

// 1. One sampler step by hand: the drawn token, its raw and processed log-probabilities and the
//    three most probable characters under the processed distribution (top-k 5 at T 0.7).
const options = { temperature: 0.7, topK: 5, seed: 7 };
const prompt = lm.encode('明月');
const logits = tf.tidy(
  () =>
    lm.model.predict(
      tf.concat([tf.fill([1, lm.contextLength - prompt.length], lm.padId, 'int32'), tf.tensor2d([prompt], [1, prompt.length], 'int32')], 1),
    ) as tf.Tensor2D,
);
const sampler = createSampler(options);
const one = await sampler.sampleIdsWithLogprobs(logits, undefined, { topLogprobs: 3, mode: 'processed' });
const row = Array.from(await logits.data());
logits.dispose();
const want = reference.logprobs([row], options, 0, {}, { topLogprobs: 3, mode: 'processed' });
const close = (a: number, b: number): boolean => Math.abs(a - b) <= 2e-5 * Math.max(1, Math.abs(b));
if (one.ids[0] !== want.ids[0] || !close(one.raw[0]!, want.raw[0]!) || !close(one.processed[0]!, want.processed[0]!)) {
  throw new Error('sampleIdsWithLogprobs disagrees with reference.logprobs');
}
const pct = (lp: number): string => `${(100 * Math.exp(lp)).toFixed(1)}%`;
console.log(`\n明月 → ${lm.decode([one.ids[0]!])}: p = ${pct(one.raw[0]!)} under the model, q = ${pct(one.processed[0]!)} under top-k 5 at T 0.7`);
console.log(`  top 3 (processed): ${Array.from(one.topIds[0]!, (id, i) => `${lm.decode([id])} ${pct(one.topLogprobs[0]![i]!)}`).join(', ')}  (= reference)`);

// 1b. When only the distribution the token was drawn from matters (a sampling loop's confidence),
//     raw: false skips the model's normaliser, an exp over the whole vocabulary: raw is NaN, the
//     token and every processed number are the same.
const again = createSampler(options);
const x = tf.tensor2d([row]);
const lean = await again.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 3, mode: 'processed', raw: false });
x.dispose();
again.dispose();
if (lean.ids[0] !== one.ids[0] || lean.processed[0] !== one.processed[0] || !Number.isNaN(lean.raw[0]!)) throw new Error('raw: false changed the step');
console.log(`  raw: false → the same token and q = ${pct(lean.processed[0]!)}; raw not computed (NaN)`);

// 2. generate() with logprobs: every character with its probabilities and alternatives.
const result = await generate(step, {
  prompts: [lm.encode('白日依山盡，')],
  padId: lm.padId,
  maxNewTokens: 6,
  sampler: { temperature: 0.8, topP: 0.9, seed: 2024 },
  logprobs: { topLogprobs: 3 },
});
console.log('\n白日依山盡， …');
result.tokens[0]!.forEach((id, i) => {
  const lp = result.logprobs![0]![i]!;
  const alts = lp.top.map((t) => `${lm.decode([t.id])} ${pct(t.logprob)}`).join(' ');
  console.log(`  ${lm.decode([id])}  p ${pct(lp.raw).padStart(6)}  q ${pct(lp.processed).padStart(6)}   model's top 3: ${alts}`);
});

// 3. score(): the same tokens' log-likelihood by teacher forcing equals what generate reported;
//    and it ranks continuations (the poem's own line against its characters reversed).
const scored = await score(step, { prompts: [lm.encode('白日依山盡，')], padId: lm.padId, continuations: result.tokens });
result.logprobs![0]!.forEach((lp, i) => {
  if (!close(scored.logprobs[0]![i]!, lp.raw)) throw new Error(`score disagrees with generate at token ${i}`);
});
const candidates = ['黃河入海流', '流海入河黃'];
const ranked = await score(step, {
  prompts: candidates.map(() => lm.encode('白日依山盡，')),
  padId: lm.padId,
  continuations: candidates.map((c) => lm.encode(c)),
});
console.log('\nscore: log-likelihood after 白日依山盡，');
candidates.forEach((c, r) => console.log(`  ${c}: ${ranked.total[r]!.toFixed(2)} nats (${(-ranked.total[r]! / Math.LN2 / c.length).toFixed(2)} bits/char)`));
if (!(ranked.total[0]! > ranked.total[1]!)) throw new Error('the poem line should be the likelier');

sampler.dispose();
const leaked = tf.memory().numTensors - before;
lm.model.dispose();
if (leaked !== 0) throw new Error(`${leaked} tensors leaked`);
