// The seed article's comparison of strategies on the logits [5, 3, 2, 1.5, 1, 0.5, 0.2, 0.1,
// 0.05, 0.01]: greedy, temperature 0.5 / 1 / 2, and top-k 3. Each draws 5000 tokens with the
// library's sampler (a batch of 250 copies of the row for 20 steps, seeded) and prints the
// token frequencies, the number of distinct tokens drawn, and the entropy of the distribution
// the sampler draws from (`sampler.probabilities` → `entropy`). Asserted: greedy always draws
// token 0; top-k 3 only tokens 0–2; more temperature, more distinct tokens and more entropy.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, entropy, type SamplerOptions } from 'tfjs-sampling';
import { pickBackend } from '../backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const LOGITS = [5, 3, 2, 1.5, 1, 0.5, 0.2, 0.1, 0.05, 0.01];
const V = LOGITS.length;
const BATCH = 250;
const STEPS = 20;
const N = BATCH * STEPS;

const STRATEGIES: { label: string; options: SamplerOptions }[] = [
  { label: 'greedy', options: { temperature: 0 } },
  { label: 'T = 0.5', options: { temperature: 0.5 } },
  { label: 'T = 1', options: { temperature: 1 } },
  { label: 'T = 2', options: { temperature: 2 } },
  { label: 'top-k 3 (T = 1)', options: { topK: 3 } },
];

interface Outcome {
  label: string;
  freq: number[];
  distinct: number;
  bits: number;
  empiricalBits: number;
  /** How far the entropy of the draws may be from `bits`: the plug-in estimate's bias + 5 s.d. */
  tolerance: number;
}

const fail = (what: string): never => {
  throw new Error(`strategies: ${what}`);
};

const logits = tf.tensor2d(Array.from({ length: BATCH }, () => LOGITS)); // [200, 10]
const row = tf.tensor2d([LOGITS]);
const outcomes: Outcome[] = [];
for (const { label, options } of STRATEGIES) {
  const sampler = createSampler({ ...options, seed: 7 });
  const counts = Array<number>(V).fill(0);
  for (let step = 0; step < STEPS; step++) {
    for (const id of await sampler.sampleIds(logits)) counts[id]!++;
  }
  const probs = sampler.probabilities(row);
  const h = entropy(probs);
  const bits = (await h.data())[0]!;
  const p = Array.from(await probs.data());
  tf.dispose([probs, h]);
  counts.forEach((c, j) => {
    if (c > 0 && p[j] === 0) fail(`${label} drew token ${j}, which it gives probability 0`);
  });
  const freq = counts.map((c) => c / N);
  const empiricalBits = -freq.reduce((s, f) => (f > 0 ? s + f * Math.log2(f) : s), 0);
  // The entropy of N draws' frequencies is low by about (support − 1) / (2 N ln 2) bits and
  // spreads by sqrt(Var[log2 p(X)] / N) around that.
  const support = p.filter((q) => q > 0).length;
  const meanSq = p.reduce((s, q) => (q > 0 ? s + q * Math.log2(q) ** 2 : s), 0);
  const variance = Math.max(0, meanSq - bits * bits);
  const tolerance = (support - 1) / (2 * N * Math.LN2) + 5 * Math.sqrt(variance / N) + 1e-6;
  outcomes.push({ label, freq, distinct: counts.filter((c) => c > 0).length, bits, empiricalBits, tolerance });
}
tf.dispose([logits, row]);

console.log(`logits [${LOGITS.join(', ')}], ${N} draws per strategy (seed 7)\n`);
const tokenHeader = Array.from({ length: V }, (_, j) => `tok ${j}`.padStart(6)).join('');
console.log(`${'strategy'.padEnd(16)}│${tokenHeader} │ distinct │ H (bits) │ H of draws`);
console.log('─'.repeat(16 + 1 + tokenHeader.length + 36));
for (const o of outcomes) {
  const cells = o.freq.map((f) => (f === 0 ? '·' : (100 * f).toFixed(1)).padStart(6)).join('');
  console.log(
    `${o.label.padEnd(16)}│${cells} │ ${String(o.distinct).padStart(8)} │ ${o.bits.toFixed(3).padStart(8)} │ ${o.empiricalBits.toFixed(3).padStart(10)}`,
  );
}
console.log('\nfrequencies in % (· = never drawn); H = entropy of sampler.probabilities(row); H of draws = entropy of the frequencies');

// ---- checks ------------------------------------------------------------------------------------
const [greedy, t05, t1, t2, topK3] = outcomes as [Outcome, Outcome, Outcome, Outcome, Outcome];
if (greedy.freq[0] !== 1 || greedy.distinct !== 1 || greedy.bits !== 0) fail('greedy must always draw token 0, with entropy 0');
if (topK3.freq.slice(3).some((f) => f > 0) || topK3.distinct > 3) fail('top-k 3 drew a token outside the top 3');
if (!(t05.distinct <= t1.distinct && t1.distinct <= t2.distinct)) fail('distinct tokens should not fall as T rises');
if (!(t05.bits < t1.bits && t1.bits < t2.bits)) fail('entropy should rise with T');
if (!(topK3.bits < t1.bits)) fail('top-k 3 should have less entropy than T = 1 without it');
for (const o of outcomes) {
  if (Math.abs(o.empiricalBits - o.bits) > o.tolerance) {
    fail(`${o.label}: entropy of the draws ${o.empiricalBits} is more than ${o.tolerance} from ${o.bits}`);
  }
}
console.log(
  'checked: greedy → token 0 only; top-k 3 → tokens 0–2 only; distinct tokens and entropy rise with T;' +
    `\n         entropy of the draws within bias + 5 s.d. of H (at most ${Math.max(...outcomes.map((o) => o.tolerance)).toFixed(3)} bits)`,
);

if (tf.memory().numTensors !== tensorsAtStart) fail('tensors leaked');
