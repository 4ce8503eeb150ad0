// Penalties, biases, bans and masks, one family per section, each checked against the float64
// reference: the tensor sampler keeps the history on the device (begin + accept), the reference
// is given the same history as plain arrays, and both must draw the same tokens.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, InvalidRowsError, reference, type SamplerOptions } from 'tfjs-sampling';
import { pickBackend } from './backend.js';

const picked = await pickBackend();
console.log(`backend: ${picked.name} (${picked.reason})`);

const V = 16;
// Two rows of logits that prefer low token ids; the same logits every step, so whatever changes
// the tokens is the history.
const logits = [Array.from({ length: V }, (_, j) => 2 - 0.15 * j), Array.from({ length: V }, (_, j) => 1 - 0.05 * ((j * 7) % V))];
const prompts = [[0, 1, 0], [3]];

/** Draws `steps` tokens per row with the tensor sampler and with the reference; they must agree. */
async function run(title: string, options: SamplerOptions, steps = 8): Promise<void> {
  const sampler = createSampler({ ...options, seed: 2024 });
  sampler.begin(prompts);
  const history = prompts.map((p) => [...p]);
  const x = tf.tensor2d(logits);
  for (let step = 0; step < steps; step++) {
    const ids = Array.from(await sampler.sampleIds(x));
    const want = reference.sample(logits, { ...options, seed: 2024 }, step, { history, promptLength: prompts.map((p) => p.length) });
    if (ids.join() !== want.join()) throw new Error(`${title}: step ${step}: tensor ${ids} vs reference ${want}`);
    ids.forEach((t, r) => history[r]!.push(t));
  }
  x.dispose();
  sampler.dispose();
  console.log(`${title.padEnd(34)} ${sampler.name}`);
  history.forEach((h, r) => console.log(`  row ${r}: prompt ${prompts[r]!.join(' ')} | ${h.slice(prompts[r]!.length).join(' ')}`));
}

await run('greedy, no penalty', { temperature: 0 });
await run('repetition + frequency + presence', { temperature: 0, repetitionPenalty: 1.5, frequencyPenalty: 0.4, presencePenalty: 0.3, penaltyLastN: 6 });
await run('no repeated 2-grams', { temperature: 0.7, noRepeatNgramSize: 2 });
// DRY (llama.cpp): a token that would extend a repeat of the history's end pays
// multiplier · base^(length − allowedLength). Breakers are token sequences (here token 5 for row
// 1, as a tokenizer would give for "\n"); a repeat never reaches back across one.
await run(
  'DRY, per row',
  {
    temperature: 0,
    dry: [
      { multiplier: 0.8, allowedLength: 1 },
      { multiplier: 1.5, base: 2, sequenceBreakers: [[5]] },
    ],
  },
  12,
);
await run('bad words [0] and [1, 2]', { temperature: 0.7, badWords: [[0], [1, 2]] });
await run('min 5 new tokens before EOS 1', { temperature: 0.7, minNewTokens: 5, stopTokens: [1] });
await run('logit bias, per row', { temperature: 0.7, logitBias: [{ 5: 3, 0: -Infinity }, { 9: 2 }] });
await run('allowed tokens', {
  temperature: 0.7,
  allowedTokens: [
    [2, 4, 6, 8],
    [1, 3, 5],
  ],
});

// A per-call bitmask, the layout grammar engines (xgrammar, llguidance) produce: here only even
// tokens in row 0 and tokens < 8 in row 1.
{
  const W = Math.ceil(V / 32);
  const mask = new Int32Array(2 * W);
  for (let j = 0; j < V; j++) {
    const allow = (word: number): void => void (mask[word] = mask[word]! | (1 << (j & 31)));
    if (j % 2 === 0) allow(j >> 5);
    if (j < 8) allow(W + (j >> 5));
  }
  const sampler = createSampler({ temperature: 1, seed: 5 });
  const x = tf.tensor2d(logits);
  const ids = Array.from(await sampler.sampleIds(x, { mask }));
  const want = reference.sample(logits, { temperature: 1, seed: 5 }, 0, { mask: [mask.subarray(0, W), mask.subarray(W)] });
  if (ids.join() !== want.join() || ids[0]! % 2 !== 0 || ids[1]! >= 8) throw new Error(`mask: tensor ${ids} vs reference ${want}`);
  console.log(`${'per-call bitmask'.padEnd(34)} tokens ${ids.join(' ')} (row 0 even, row 1 < 8)`);

  // A row whose every token is banned is an error naming the row and the cause, never a token.
  const banAll = createSampler({ allowedTokens: [[1], [2]], logitBias: [{}, { 2: -Infinity }], seed: 1 });
  const err = await banAll.sampleIds(x).catch((e: unknown) => e);
  if (!(err instanceof InvalidRowsError)) throw new Error('a fully banned row must throw InvalidRowsError');
  console.log(`${'every token banned'.padEnd(34)} ${err.message}`);
  banAll.dispose();
  sampler.dispose(); // frees the bitmask's index constants it keeps on the device
  x.dispose();
}
if (tf.memory().numTensors !== 0) throw new Error(`${tf.memory().numTensors} tensors left`);
console.log('no tensor left');
