// A custom order of the built-ins and a user processor (a logit bias that can also ban tokens),
// run by the tensor sampler and by the float64 reference, which must draw the same tokens; then
// a processor with state across steps, and a sampler cloned with it.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, reference, SamplingError, type LogitsProcessor, type ReferenceState, type SamplerOptions, type SamplingState } from 'tfjs-sampling';
import { pickBackend } from './backend.js';

/**
 * Adds `bias[id]` to the logit of token `id` in every row; `-Infinity` bans the token.
 * Token ids ≥ V are ignored.
 */
function logitBias(bias: Readonly<Record<number, number>>): LogitsProcessor {
  const entries = Object.entries(bias).map(([id, b]) => [Number(id), b] as const);
  for (const [id, b] of entries) {
    if (!Number.isInteger(id) || id < 0) throw new SamplingError('logitBias', 'must have integer token ids >= 0 as keys', id);
    if (Number.isNaN(b) || b === Infinity) {
      throw new SamplingError(`logitBias[${id}]`, 'must be a finite number or -Infinity (a ban)', b);
    }
  }
  const biasRow = (vocab: number): Float32Array => {
    const row = new Float32Array(vocab);
    for (const [id, b] of entries) if (id < vocab) row[id] = b;
    return row;
  };
  return {
    name: 'logit-bias',
    // Runs inside the sampler's tf.tidy: the tensors made here are freed with the step.
    apply(state: SamplingState): SamplingState {
      const add = tf.tensor2d(biasRow(state.vocab), [1, state.vocab]);
      return { ...state, logits: tf.add(state.logits, add) as tf.Tensor2D };
    },
    // The float64 twin. The tensor path adds in float32, so the twin rounds the sum the same way:
    // the reference then sees exactly the logits the tensor filters see.
    reference(state: ReferenceState): ReferenceState {
      const add = biasRow(state.vocab);
      return { ...state, logits: state.logits.map((row) => row.map((z, j) => Math.fround(z + add[j]!))) };
    },
  };
}

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

// Three rows over V = 2000; row 1 is flat so that top-p keeps many tokens.
const V = 2000;
const rows = [0, 1, 2].map((r) => Float32Array.from({ length: V }, (_, j) => Math.fround((r === 1 ? 0.5 : 4) * Math.sin(j * (r + 1.3)) + 0.001 * j)));
const logits = tf.tensor2d(
  rows.map((row) => Array.from(row)),
  [rows.length, V],
);

// Ban the most likely token of each row and favour token 7.
const favourite = 7;
const banned = rows.map((row) => row.indexOf(Math.max(...row)));
const bias: Record<number, number> = { [favourite]: 5 };
for (const id of banned) bias[id] = -Infinity;

const options: SamplerOptions = {
  processors: [logitBias(bias)], // user processors run first, then the built-ins in `order`
  order: ['top-k', 'temperature', 'top-p'], // top-k compares logits, so T does not move it; top-p does see T
  topK: 50,
  temperature: 0.7,
  topP: 0.9,
  seed: [1, 2, 3],
};
const sampler = createSampler(options);
console.log(`chain: ${sampler.name}`);
console.log(`banned per row: [${banned.join(', ')}], favoured: ${favourite}`);

const probs = sampler.probabilities(logits);
const p = (await probs.array()) as number[][];
probs.dispose();
const refP = reference.probabilities(rows, options);
const keptSame = p.every((row, r) => row.every((q, j) => q > 0 === refP[r]![j]! > 0));
console.log(`kept per row: [${p.map((row) => row.filter((q) => q > 0).length).join(', ')}] (reference: same sets ${keptSame})`);
console.log(`p(favoured token) per row: [${p.map((row) => row[favourite]!.toFixed(4)).join(', ')}]`);

let agree = 0;
const STEPS = 20;
for (let step = 0; step < STEPS; step++) {
  const tokens = await sampler.sampleIds(logits);
  const expected = reference.sample(rows, options, step);
  if (expected.every((t, r) => t === tokens[r])) agree++;
  if (tokens.some((t, r) => t === banned[r])) throw new Error(`step ${step}: a banned token was drawn`);
  if (step < 5) console.log(`step ${step}: tokens [${Array.from(tokens).join(', ')}], reference [${expected.join(', ')}]`);
}
console.log(`${agree} of ${STEPS} steps: tensor tokens = reference tokens; no banned token drawn`);

// A processor with state across steps (llama.cpp's accept / reset / clone): it bans each row's
// previous token. The state is a device tensor, updated from the drawn ids without a read-back.
function noImmediateRepeat(start?: tf.Tensor1D): LogitsProcessor {
  let prev = start;
  return {
    name: 'no-immediate-repeat',
    apply(state: SamplingState): SamplingState {
      if (!prev) return state;
      const ban = tf.cast(tf.oneHot(prev, state.vocab), 'bool');
      return { ...state, logits: tf.where(ban, tf.fill(state.logits.shape, -Infinity), state.logits) as tf.Tensor2D };
    },
    accept(ids: tf.Tensor1D): void {
      prev?.dispose();
      // Negative ids mark invalid rows: ban nothing there (oneHot of -1 is a zero row).
      prev = tf.keep(ids.clone());
    },
    reset(): void {
      prev?.dispose();
      prev = undefined;
    },
    clone: () => noImmediateRepeat(prev && tf.keep(prev.clone())),
  };
}

// Sampler.clone() forks the whole state (step, seeds, every processor's state): the fork draws
// exactly what the original draws, and what one accepts leaves the other as it was.
const stateful = createSampler({ processors: [noImmediateRepeat()], temperature: 1.5, topK: 3, seed: 5 });
const history: number[][] = [];
for (let step = 0; step < 4; step++) history.push(Array.from(await stateful.sampleIds(logits)));
const fork = stateful.clone();
let same = 0;
let repeats = 0;
for (let step = 0; step < 8; step++) {
  const a = await stateful.sampleIds(logits);
  const b = await fork.sampleIds(logits);
  if (a.every((t, r) => t === b[r])) same++;
  repeats += Array.from(a).filter((t, r) => t === history[history.length - 1]![r]).length;
  history.push(Array.from(a));
}
console.log(`clone at step 4: ${same} of 8 steps drew the same tokens as the original; immediate repeats: ${repeats}`);
stateful.dispose();
fork.dispose();
if (same !== 8 || repeats !== 0) throw new Error('the clone or the stateful processor misbehaved');

logits.dispose();
console.log(`tf.memory().numTensors: ${tf.memory().numTensors} (${tensorsAtStart} at the start)`);
if (agree !== STEPS || !keptSame) throw new Error('tensor path and reference disagree');
if (tf.memory().numTensors !== tensorsAtStart) throw new Error('tensors leaked');
