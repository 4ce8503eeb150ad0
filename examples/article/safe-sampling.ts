// The seed article's "safe sampling" of NaN / Inf logits. A textbook sampler — p = exp(z / T) / Σ
// without subtracting the max, then a cumulative-sum draw — goes wrong silently on such rows:
// NaN, +Infinity and all -Infinity rows give NaN probabilities, and so does an ordinary row with
// large logits (exp(1000) overflows); the cumulative-sum draw, never finding u < NaN, returns the
// last token — an ordinary-looking id. What the library does instead, shown and asserted here:
//   - `softmax` subtracts the max (large logits are fine) and returns NaN rows only for rows that
//     really are invalid;
//   - by default `sample()` marks such rows with negative codes and `sampleIds()` throws an
//     InvalidRowsError that names each row and its cause;
//   - `invalidRows: 'uniform'` (the article's fallback) or `'greedy'` samples them on purpose;
//   - -Infinity alone is a legal mask, not an error.
import * as tf from '@tensorflow/tfjs-core';
import { INVALID_CODE, InvalidRowsError, createSampler, readDistributionStats, reference, softmax, type InvalidRowPolicy } from 'tfjs-sampling';
import { pickBackend } from '../backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const fail = (what: string): never => {
  throw new Error(`safe-sampling: ${what}`);
};
const T = 0.8;
const ROWS = [
  { label: 'ordinary', logits: [2, 1, 0.5, 0.2] },
  { label: 'NaN at 1', logits: [2, NaN, 0.5, 0.2] },
  { label: '+Infinity at 1', logits: [2, Infinity, 0.5, 0.2] },
  { label: 'all -Infinity', logits: [-Infinity, -Infinity, -Infinity, -Infinity] },
  { label: 'large logits', logits: [1000, 999, 998, 0] },
  { label: 'masked (legal)', logits: [-Infinity, 1, -Infinity, 0] },
];
const V = 4;
const data = ROWS.map((r) => r.logits);

// ---- the textbook version ------------------------------------------------------------------------
function naiveSoftmax(z: number[], t: number): number[] {
  const e = z.map((v) => Math.exp(v / t)); // no max subtracted: exp(1000 / 0.8) = Infinity
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}
function naiveDraw(p: number[], u: number): number {
  let c = 0;
  for (let j = 0; j < p.length; j++) {
    c += p[j]!;
    if (u < c) return j;
  }
  return p.length - 1; // reached when a NaN made every comparison false
}
const naive = data.map((z) => naiveSoftmax(z, T));
const naiveTokens = naive.map((p) => naiveDraw(p, 0.5));

// ---- the library ---------------------------------------------------------------------------------
const logits = tf.tensor2d(data);
const probs = softmax(logits, T);
const p = (await probs.array()) as number[][];
probs.dispose();
const strict = createSampler({ temperature: T, seed: 3 });
const ids = strict.sample(logits); // no throw: invalid rows get negative codes
const codes = Array.from(await ids.data());
ids.dispose();

const fmt = (row: number[]): string => row.map((q) => (Number.isNaN(q) ? 'NaN' : q.toFixed(3)).padStart(5)).join(' ');
console.log(`T = ${T}; the textbook draw uses u = 0.5\n`);
console.log('row │ logits                     │ textbook p (no max)     │ tok │ softmax (library)       │ sample()');
console.log('─'.repeat(112));
ROWS.forEach((r, i) => {
  const z = r.logits.map((v) => String(v).replace('Infinity', 'Inf')).join(', ');
  console.log(
    `${String(i).padStart(3)} │ ${`[${z}]`.padEnd(26)} │ ${fmt(naive[i]!)} │ ${String(naiveTokens[i]).padStart(3)} │ ${fmt(p[i]!)} │ ${String(codes[i]).padStart(4)}`,
  );
});
console.log(`\nsample() codes: ${JSON.stringify(INVALID_CODE)}`);

// The textbook version fails silently: NaN probabilities, and a token anyway.
for (const i of [1, 2, 3, 4]) {
  if (!naive[i]!.some(Number.isNaN) || naiveTokens[i] !== V - 1) fail(`row ${i}: the textbook version was expected to fail silently`);
}
// The library: large logits are fine; NaN rows exactly where the input is invalid.
const stable = [1000, 999, 998, 0].map((z) => Math.exp((z - 1000) / T));
const stableSum = stable.reduce((a, b) => a + b, 0);
if (stable.some((e, j) => Math.abs(e / stableSum - p[4]![j]!) > 1e-6)) fail('softmax of the large logits is off');
p.forEach((row, i) => {
  if ([1, 2, 3].includes(i) !== row.every(Number.isNaN)) fail(`softmax row ${i}: NaN exactly for invalid rows`);
});
const expectedCodes = [null, INVALID_CODE.nan, INVALID_CODE['positive-infinity'], INVALID_CODE['no-finite-logit'], null, null];
codes.forEach((c, i) => {
  const want = expectedCodes[i];
  if (want === null ? !(c! >= 0 && c! < V) : c !== want) fail(`sample() row ${i}: ${c}`);
});
if (codes[5] !== 1 && codes[5] !== 3) fail('the masked row drew a masked token');

// ---- sampleIds(): the error names the rows and causes --------------------------------------------
strict.reset();
try {
  await strict.sampleIds(logits);
  fail('sampleIds() did not throw');
} catch (err) {
  if (!(err instanceof InvalidRowsError)) throw err;
  console.log(`\nsampleIds() throws ${err.name}:\n  ${err.message}`);
  const rows = err.rows.map((r) => `${r.row}:${r.cause}`).join(' ');
  if (rows !== '1:nan 2:positive-infinity 3:no-finite-logit') fail(`InvalidRowsError.rows = ${rows}`);
  if (!/row 1: NaN; row 2: \+Infinity; row 3: no finite logit/.test(err.message)) fail('the message should name rows and causes');
}

// ---- the explicit policies -----------------------------------------------------------------------
console.log(`\n${'policy'.padEnd(9)} │ ${'tokens'.padEnd(18)} │ ${'kept per row (probabilities)'.padEnd(28)} │ = reference.sample`);
for (const invalidRows of ['uniform', 'greedy'] satisfies InvalidRowPolicy[]) {
  const options = { temperature: T, seed: 3, invalidRows };
  const sampler = createSampler(options);
  const tokens = Array.from(await sampler.sampleIds(logits)); // does not throw under these policies
  const policyProbs = sampler.probabilities(logits);
  const { kept } = await readDistributionStats(policyProbs);
  policyProbs.dispose();
  const same = reference.sample(data, options, 0).every((t, r) => t === tokens[r]);
  console.log(`${invalidRows.padEnd(9)} │ ${`[${tokens.join(', ')}]`.padEnd(18)} │ ${`[${kept.join(', ')}]`.padEnd(28)} │ ${same}`);
  if (!same) fail(`${invalidRows}: tensor and reference tokens differ`);
  if (tokens.some((t) => !(t >= 0 && t < V))) fail(`${invalidRows}: a token out of range`);
  tokens.forEach((t, r) => {
    if (![1, 2, 3].includes(r) && t !== codes[r]) fail(`${invalidRows}: valid row ${r} changed its token`);
  });
  if (invalidRows === 'uniform' && [1, 2, 3].some((r) => kept[r] !== V)) fail('uniform: invalid rows should keep every token');
  // greedy: the largest finite logit (rows 1 and 2: token 0), uniform when there is none (row 3)
  if (invalidRows === 'greedy' && (tokens[1] !== 0 || tokens[2] !== 0 || kept[1] !== 1 || kept[3] !== V)) {
    fail('greedy: invalid rows should take the largest finite logit');
  }
}
logits.dispose();

console.log(
  '\nchecked: the textbook version turns NaN, +Infinity, all -Infinity and large logits into NaN' +
    '\n         probabilities and still returns token 3; the library keeps large logits exact, reports rows 1–3 with their causes' +
    "\n         (codes from sample(), InvalidRowsError from sampleIds()), samples them only under 'uniform' /" +
    "\n         'greedy' (same tokens as reference.sample), and treats -Infinity as a mask",
);
if (tf.memory().numTensors !== tensorsAtStart) fail('tensors leaked');
