// The seed article's first demonstration: the temperature softmax of one row of logits at
// T ∈ {0.1, 0.5, 1, 1.5, 2}, with the max probability and the entropy. Here all five
// temperatures run as one batch (one T per row) through the library's `softmax`, and
// `readDistributionStats` reads the statistics back once. Asserts that the max probability
// falls and the entropy rises with T, and that the tensors match a float64 computation.
import * as tf from '@tensorflow/tfjs-core';
import { readDistributionStats, softmax } from 'tfjs-sampling';
import { pickBackend } from '../backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const LOGITS = [5, 3, 2, 1.5, 1, 0.5, 0.2, 0.1, 0.05, 0.01];
const TEMPERATURES = [0.1, 0.5, 1, 1.5, 2];

const logits = tf.tensor2d(TEMPERATURES.map(() => LOGITS)); // [5, 10]: the same row per T
const probs = softmax(logits, TEMPERATURES); // float32 [5, 10], row r at temperature T[r]
const rows = (await probs.array()) as number[][];
const stats = await readDistributionStats(probs);
tf.dispose([logits, probs]);

console.log(`logits [${LOGITS.join(', ')}]\n`);
console.log('   T │ p(token 0..4)                        │ max p  │ entropy (bits) │ effective V');
console.log('─'.repeat(88));
TEMPERATURES.forEach((t, r) => {
  const head = rows[r]!.slice(0, 5)
    .map((p) => p.toFixed(4))
    .join(' ');
  console.log(
    `${t.toFixed(1).padStart(4)} │ ${head.padEnd(36)} │ ${stats.maxProb[r]!.toFixed(4)} │ ${stats.entropy[r]!.toFixed(4).padStart(14)} │ ${stats.perplexity[r]!.toFixed(2).padStart(11)}`,
  );
});
console.log(`\nuniform over ${LOGITS.length} tokens would be ${Math.log2(LOGITS.length).toFixed(4)} bits (effective V ${LOGITS.length})`);

// ---- checks ------------------------------------------------------------------------------------
const fail = (what: string): never => {
  throw new Error(`temperature-softmax: ${what}`);
};
for (let r = 1; r < TEMPERATURES.length; r++) {
  if (!(stats.maxProb[r]! < stats.maxProb[r - 1]!)) fail(`max probability did not fall from T ${TEMPERATURES[r - 1]} to T ${TEMPERATURES[r]}`);
  if (!(stats.entropy[r]! > stats.entropy[r - 1]!)) fail(`entropy did not rise from T ${TEMPERATURES[r - 1]} to T ${TEMPERATURES[r]}`);
}
// float64: exp((z − max) / T) / Σ, and H = −Σ p log2 p
TEMPERATURES.forEach((t, r) => {
  const e = LOGITS.map((z) => Math.exp((Math.fround(z) - 5) / t));
  const sum = e.reduce((a, b) => a + b, 0);
  const p64 = e.map((x) => x / sum);
  const h64 = -p64.reduce((h, p) => (p > 0 ? h + p * Math.log2(p) : h), 0);
  const worst = Math.max(...p64.map((p, j) => Math.abs(p - rows[r]![j]!)));
  if (worst > 1e-5) fail(`T ${t}: probabilities differ from float64 by ${worst}`);
  if (Math.abs(h64 - stats.entropy[r]!) > 1e-4) fail(`T ${t}: entropy ${stats.entropy[r]} vs float64 ${h64}`);
});
console.log('checked: max p falls and entropy rises with T; probabilities within 1e-5 and entropy within 1e-4 bits of float64');

if (tf.memory().numTensors !== tensorsAtStart) fail('tensors leaked');
