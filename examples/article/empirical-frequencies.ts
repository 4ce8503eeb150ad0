// The seed article's second demonstration: draw many tokens and compare how often each comes up
// with the probabilities the temperature softmax predicts. The draws are the library's sampler
// (seeded, so the run is reproducible): a batch of 1000 copies of one row for 20 steps = 20,000
// draws per temperature. Asserted: a chi-square goodness-of-fit test does not reject the theory
// (α = 1e-6), every frequency is within 5 standard errors of its probability — and, as a
// negative control, the same counts do reject the distribution of a 20% different temperature.
import * as tf from '@tensorflow/tfjs-core';
import gammainc from '@stdlib/math-base-special-gammainc';
import { createSampler, softmax } from 'tfjs-sampling';
import { pickBackend } from '../backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const LOGITS = [2, 1, 0.5, 0.2, 0.1];
const V = LOGITS.length;
const BATCH = 1000;
const STEPS = 20;
const N = BATCH * STEPS;
const ALPHA = 1e-6;

const fail = (what: string): never => {
  throw new Error(`empirical-frequencies: ${what}`);
};

/** Pearson's χ² of counts against probabilities, and P(χ²_{V−1} ≥ stat). */
function chiSquare(counts: number[], probs: number[]): { stat: number; p: number } {
  const n = counts.reduce((a, b) => a + b, 0);
  const stat = counts.reduce((s, o, j) => s + (o - n * probs[j]!) ** 2 / (n * probs[j]!), 0);
  return { stat, p: gammainc(stat / 2, (probs.length - 1) / 2, true, true) };
}

/** The softmax of LOGITS at temperature t, from the library, as float64 numbers. */
async function theory(t: number): Promise<number[]> {
  const p = tf.tidy(() => softmax(tf.tensor1d(LOGITS), t));
  const values = Array.from(await p.data());
  p.dispose();
  return values;
}

const logits = tf.tensor2d(Array.from({ length: BATCH }, () => LOGITS)); // [1000, 5]
console.log(`logits [${LOGITS.join(', ')}], ${N} draws per temperature (${BATCH} rows × ${STEPS} steps, seed 2024)\n`);

for (const t of [1, 0.5]) {
  const sampler = createSampler({ temperature: t, seed: 2024 });
  const counts = Array<number>(V).fill(0);
  for (let step = 0; step < STEPS; step++) {
    for (const id of await sampler.sampleIds(logits)) {
      if (!(id >= 0 && id < V)) fail(`token ${id} out of range`);
      counts[id]!++;
    }
  }
  const p = await theory(t);
  const fit = chiSquare(counts, p);
  const control = chiSquare(counts, await theory(t * 1.2));

  console.log(`T = ${t}`);
  console.log('  token │ theory  │ observed │ difference │ 5 std. errors');
  let worst = 0;
  for (let j = 0; j < V; j++) {
    const freq = counts[j]! / N;
    const bound = 5 * Math.sqrt((p[j]! * (1 - p[j]!)) / N);
    worst = Math.max(worst, Math.abs(freq - p[j]!) / bound);
    console.log(
      `  ${String(j).padStart(5)} │ ${p[j]!.toFixed(4)}  │ ${freq.toFixed(4).padStart(8)} │ ${(freq - p[j]!).toFixed(4).padStart(10)} │ ${bound.toFixed(4).padStart(13)}`,
    );
  }
  console.log(`  χ² = ${fit.stat.toFixed(2)}, df ${V - 1}, p = ${fit.p.toPrecision(3)} (the sampler against softmax at T ${t})`);
  console.log(`  control: the same counts against softmax at T ${(t * 1.2).toFixed(1)}: χ² = ${control.stat.toFixed(1)}, p = ${control.p.toExponential(2)}\n`);

  if (fit.p < ALPHA) fail(`T ${t}: chi-square rejects the softmax (p = ${fit.p})`);
  if (worst > 1) fail(`T ${t}: a frequency is more than 5 standard errors from its probability`);
  if (!(control.p < ALPHA)) fail(`T ${t}: the control (T × 1.2) was not rejected (p = ${control.p})`);
}
logits.dispose();
console.log(`checked: χ² p ≥ ${ALPHA.toExponential(0)} and every frequency within 5 standard errors; the T × 1.2 control rejected`);

if (tf.memory().numTensors !== tensorsAtStart) fail('tensors leaked');
