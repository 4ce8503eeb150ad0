// The seed article's "temperature against entropy" curve on the logits [3, 2, 1, 0.5, 0.2, 0.1]:
// one batch row per temperature (T = 0 included, which is greedy), `softmax` with per-row T and
// `distributionStats` for the entropy, the max probability and the effective vocabulary 2^H.
// Asserted: the entropy is 0 at T = 0, rises strictly with T, stays below log2 V, and
// approaches log2 V at large T (the distribution tends to uniform).
import * as tf from '@tensorflow/tfjs-core';
import { distributionStats, softmax } from 'tfjs-sampling';
import { pickBackend } from '../backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const LOGITS = [3, 2, 1, 0.5, 0.2, 0.1];
const V = LOGITS.length;
const MAX_BITS = Math.log2(V);
const TEMPERATURES = [0, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 5, 10, 100];

const logits = tf.tensor2d(TEMPERATURES.map(() => LOGITS));
const probs = softmax(logits, TEMPERATURES);
const stats = distributionStats(probs); // four [B] tensors, no read-back yet
const [bits, maxProb, perplexity] = await Promise.all([stats.entropy.data(), stats.maxProb.data(), stats.perplexity.data()]);
tf.dispose([logits, probs, ...Object.values(stats)]);

console.log(`logits [${LOGITS.join(', ')}]; the most entropy possible: log2 ${V} = ${MAX_BITS.toFixed(4)} bits\n`);
console.log('     T │ entropy (bits) │ of max │ max p  │ effective V │');
console.log('─'.repeat(80));
TEMPERATURES.forEach((t, r) => {
  const h = bits[r]!;
  const bar = '█'.repeat(Math.round((h / MAX_BITS) * 24));
  console.log(
    `${String(t).padStart(6)} │ ${h.toFixed(4).padStart(14)} │ ${((100 * h) / MAX_BITS).toFixed(1).padStart(5)}% │ ${maxProb[r]!.toFixed(4)} │ ${perplexity[r]!.toFixed(3).padStart(11)} │ ${bar}`,
  );
});

// ---- checks ------------------------------------------------------------------------------------
const fail = (what: string): never => {
  throw new Error(`temperature-entropy: ${what}`);
};
if (bits[0] !== 0 || maxProb[0] !== 1 || perplexity[0] !== 1) fail('T = 0 must be one-hot: entropy 0, max p 1, effective V 1');
for (let r = 1; r < TEMPERATURES.length; r++) {
  if (!(bits[r]! > bits[r - 1]!)) fail(`entropy did not rise from T ${TEMPERATURES[r - 1]} to T ${TEMPERATURES[r]}`);
  if (!(bits[r]! <= MAX_BITS + 1e-5)) fail(`entropy ${bits[r]} above log2 V at T ${TEMPERATURES[r]}`);
}
if (!(bits[1]! < 0.01)) fail(`T 0.05 should be nearly greedy (entropy ${bits[1]})`);
if (!(MAX_BITS - bits[TEMPERATURES.length - 1]! < 0.01)) fail('T 100 should be nearly uniform');
console.log(`\nchecked: 0 bits at T = 0, strictly rising with T, below log2 ${V}, within 0.01 bits of it at T = 100`);

if (tf.memory().numTensors !== tensorsAtStart) fail('tensors leaked');
