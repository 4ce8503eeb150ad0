// Rows that cannot be sampled — NaN, +Infinity, or no finite logit — never yield an
// ordinary-looking token: by default they are reported (negative ids from `sample()`,
// InvalidRowsError from `sampleIds()` / `readIds()`); `invalidRows: 'uniform' | 'greedy'` samples
// them instead. -Infinity on its own is a legal mask.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, INVALID_CODE, InvalidRowsError, readIds, reference, type InvalidRowPolicy } from 'tfjs-sampling';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

const rows = [
  { label: 'ordinary', logits: [1, 2, 3, 0, -1, 0.5] },
  { label: 'NaN at 2', logits: [1, 2, NaN, 0, -1, 0.5] },
  { label: '+Infinity at 4', logits: [1, 2, 3, 0, Infinity, 0.5] },
  { label: 'all -Infinity', logits: Array<number>(6).fill(-Infinity) },
  { label: 'masked (legal)', logits: [-Infinity, 2, -Infinity, 2.5, -Infinity, 0] },
];
const data = rows.map((r) => r.logits);
const logits = tf.tensor2d(data, [rows.length, 6]);
rows.forEach((r, i) => console.log(`row ${i} ${r.label.padEnd(15)} [${r.logits.join(', ')}]`));

// ---- default: 'error' ----------------------------------------------------------------------
const strict = createSampler({ temperature: 0.9, seed: 5 });
const ids = strict.sample(logits); // never throws: invalid rows get negative codes
console.log(`\nsample(): [${Array.from(await ids.data()).join(', ')}]  (codes: ${JSON.stringify(INVALID_CODE)})`);

const expectThrow = async (what: string, f: () => unknown): Promise<void> => {
  try {
    await f();
  } catch (err) {
    if (!(err instanceof InvalidRowsError)) throw err;
    console.log(`${what} threw ${err.name}: ${err.message}`);
    console.log(`  .argument = ${err.argument}, .rows = ${JSON.stringify(err.rows)}`);
    return;
  }
  throw new Error(`${what} did not throw`);
};
await expectThrow('readIds(ids)', () => readIds(ids));
strict.reset();
await expectThrow('sampleIds()', () => strict.sampleIds(logits));
await expectThrow('reference.sample()', () => reference.sample(data, { temperature: 0.9, seed: 5 }));
ids.dispose();

// ---- explicit policies ---------------------------------------------------------------------
// 'uniform': an invalid row draws uniformly over the whole vocabulary.
// 'greedy':  an invalid row takes the largest finite logit (uniform if it has none).
for (const invalidRows of ['uniform', 'greedy'] satisfies InvalidRowPolicy[]) {
  const options = { temperature: 0.9, seed: 5, invalidRows };
  const sampler = createSampler(options);
  const probs = sampler.probabilities(logits);
  const kept = ((await probs.array()) as number[][]).map((p) => p.filter((q) => q > 0).length);
  probs.dispose();
  const tokens = Array.from(await sampler.sampleIds(logits)); // does not throw under these policies
  const expected = reference.sample(data, options, 0);
  const same = expected.every((t, r) => t === tokens[r]);
  console.log(
    `\ninvalidRows: '${invalidRows}': tokens [${tokens.join(', ')}], kept per row [${kept.join(', ')}]` +
      `, reference [${expected.join(', ')}]${same ? ' (same)' : ' (DIFFERENT)'}`,
  );
  if (!same) throw new Error(`invalidRows '${invalidRows}': tensor and reference tokens differ`);
  if (tokens.some((t) => t < 0 || t >= 6)) throw new Error('a token out of range');
  if (invalidRows === 'greedy' && (tokens[1] !== 1 || tokens[2] !== 2)) {
    throw new Error('greedy policy should take the largest finite logit');
  }
}

// -Infinity masks are legal: the masked row draws only among tokens 1, 3 and 5, step after step.
const masked = tf.slice(logits, [4, 0], [1, 6]);
const maskedSampler = createSampler({ seed: 5 });
const drawn = new Set<number>();
for (let step = 0; step < 50; step++) drawn.add((await maskedSampler.sampleIds(masked))[0]!);
console.log(`\nrow 4 alone, 50 steps: drew tokens {${[...drawn].sort().join(', ')}}`);
if ([...drawn].some((t) => t !== 1 && t !== 3 && t !== 5)) throw new Error('a masked token was drawn');

tf.dispose([masked, logits]);
console.log(`\ntf.memory().numTensors: ${tf.memory().numTensors} (${tensorsAtStart} at the start)`);
if (tf.memory().numTensors !== tensorsAtStart) throw new Error('tensors leaked');
