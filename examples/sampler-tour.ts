// A tour of the sampler on synthetic logits: samples a batch of Zipf-shaped logits under
// several settings and prints, per row, the token drawn, the size of the kept set and the entropy of the distribution
// it was drawn from. Checks along the way that `reset()` reproduces the tokens and that the
// float64 reference draws the same tokens (Mirostat: step by step, μ from nextMirostatMu), and
// that the "llama.cpp" and "hf" orders keep different sets for the same options. No network.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { createSampler, reference, type SamplerOptions } from 'tfjs-sampling';
import { pickBackend } from './backend.js';

const backend = await pickBackend();
console.log(`backend: ${backend.name} — ${backend.reason}`);
const tensorsAtStart = tf.memory().numTensors;

// ---- synthetic logits: Zipf-like rows, p ∝ 1 / rank^s, token ids shuffled ------------------
const V = 4096;
const ROWS = [
  { label: 'peaky', s: 1.6 },
  { label: 'typical', s: 1.1 },
  { label: 'flat', s: 0.8 },
  { label: 'flatter', s: 0.5 },
];
const B = ROWS.length;
const rng = seedrandom('tfjs-sampling demo');
const rows: Float32Array[] = ROWS.map(({ s }) => {
  const ids = Array.from({ length: V }, (_, j) => j);
  for (let j = V - 1; j > 0; j--) {
    const k = Math.floor(rng() * (j + 1));
    [ids[j], ids[k]] = [ids[k]!, ids[j]!];
  }
  const row = new Float32Array(V);
  // logit = offset - s·ln(rank) plus a little jitter, as a model's logits would have
  ids.forEach((token, rank) => (row[token] = 12 - s * Math.log(rank + 1) + 0.05 * (rng() - 0.5)));
  return row;
});
const logits = tf.tensor2d(
  rows.map((r) => Array.from(r)),
  [B, V],
);
console.log(`logits: [${B}, ${V}] float32, Zipf-like rows (${ROWS.map((r, i) => `row ${i} ${r.label} s=${r.s}`).join(', ')})\n`);

// ---- the settings ------------------------------------------------------------------------
const SETTINGS: { label: string; options: SamplerOptions }[] = [
  { label: 'greedy (T = 0)', options: { temperature: 0, seed: 42 } },
  { label: 'T = 1, no filter', options: { seed: 42 } },
  { label: 'T = 0.7', options: { temperature: 0.7, seed: 42 } },
  { label: 'top-k 40', options: { topK: 40, seed: 42 } },
  { label: 'top-p 0.9', options: { topP: 0.9, seed: 42 } },
  { label: 'min-p 0.05', options: { minP: 0.05, seed: 42 } },
  { label: 'top-nσ 1 (llama.cpp)', options: { topNSigma: 1, seed: 42 } },
  { label: 'ε-cutoff 3e-4 (HF)', options: { epsilonCutoff: 3e-4, seed: 42 } },
  { label: 'η-cutoff 2e-3 (HF)', options: { etaCutoff: 2e-3, seed: 42 } },
  { label: 'typical-p 0.9 (HF)', options: { typicalP: 0.9, seed: 42 } },
  { label: 'XTC p 1 t .05', options: { xtc: { probability: 1, threshold: 0.05 }, seed: 42 } },
  { label: 'XTC p .5 t .05 (seeded)', options: { xtc: { probability: 0.5, threshold: 0.05 }, seed: 42 } },
  { label: 'dynamic T 1 ± 0.5', options: { dynamicTemperature: { range: 0.5 }, seed: 42 } },
  { label: 'Mirostat v2 τ 5 η .1', options: { mirostat: { version: 2, tau: 5, eta: 0.1 }, seed: 42 } },
  { label: 'T 1.5 m .1, llama.cpp', options: { temperature: 1.5, minP: 0.1, order: 'llama.cpp', seed: 42 } },
  { label: 'T 1.5 m .1, hf order', options: { temperature: 1.5, minP: 0.1, order: 'hf', seed: 42 } },
  { label: 'llama k40 m.05 dynT.8±.5', options: { topK: 40, minP: 0.05, temperature: 0.8, dynamicTemperature: { range: 0.5 }, order: 'llama.cpp', seed: 42 } },
  { label: 'typical .2, min-keep 20', options: { typicalP: 0.2, minTokensToKeep: 20, seed: 42 } },
  { label: 'llama k40 ty.9 p.95 m.05', options: { topK: 40, typicalP: 0.9, topP: 0.95, minP: 0.05, temperature: 0.8, order: 'llama.cpp', seed: 42 } },
  {
    label: 'same, min-keep 20',
    options: { topK: 40, typicalP: 0.9, topP: 0.95, minP: 0.05, minTokensToKeep: 20, temperature: 0.8, order: 'llama.cpp', seed: 42 },
  },
  { label: 'dynT.8±.5 k40 p.95 m.05', options: { temperature: 0.8, dynamicTemperature: { range: 0.5 }, topK: 40, topP: 0.95, minP: 0.05, seed: 42 } },
  { label: 'T 0 + XTC p 1 t .05', options: { temperature: 0, xtc: { probability: 1, threshold: 0.05 }, seed: 42 } },
  { label: 'T .8 k 40 p .95 m .05', options: { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, seed: 42 } },
  {
    label: 'per row: T, top-p, seed',
    options: { temperature: [0, 0.7, 1, 1.3], topP: [1, 0.9, 0.95, 0.8], seed: [101, 202, 303, 404] },
  },
];
const STEPS = 3; // each check draws this many steps

interface RowStats {
  token: number;
  kept: number;
  bits: number;
}

/** Kept-set size (nonzero probabilities) and entropy in bits, per row. */
async function stats(probs: tf.Tensor2D): Promise<{ kept: number[]; bits: number[]; keptSets: Uint8Array[] }> {
  const p = await probs.data();
  const kept: number[] = [];
  const bits: number[] = [];
  const keptSets: Uint8Array[] = [];
  for (let r = 0; r < B; r++) {
    let n = 0;
    let h = 0;
    const set = new Uint8Array(V);
    for (let j = 0; j < V; j++) {
      const q = p[r * V + j]!;
      if (q > 0) {
        n++;
        h -= q * Math.log2(q);
        set[j] = 1;
      }
    }
    kept.push(n);
    bits.push(h);
    keptSets.push(set);
  }
  return { kept, bits, keptSets };
}

const sameArray = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((v, i) => v === b[i]);

/**
 * reference.sample at steps 0..n-1. With Mirostat, each row's μ goes from step to step through
 * reference.nextMirostatMu, as the sampler's accept() updates it on the device.
 */
function referenceSteps(options: SamplerOptions, n: number): { tokens: number[][]; mu: number[][] } {
  const tokens: number[][] = [];
  const mu: number[][] = [];
  let context: { mirostatMu?: number[] } = {};
  for (let s = 0; s < n; s++) {
    const ids = reference.sample(rows, options, s, context);
    tokens.push(ids);
    if (options.mirostat !== undefined) {
      context = { mirostatMu: reference.nextMirostatMu(rows, options, ids, s, context) };
      mu.push(context.mirostatMu!);
    }
  }
  return { tokens, mu };
}

const cellWidth = 19;
const labelWidth = 24;
const header = `${'setting'.padEnd(labelWidth) + ROWS.map((r, i) => `│ row ${i} ${r.label}`.padEnd(cellWidth + 2)).join('')}│ reset  reference`;
const subheader = `${''.padEnd(labelWidth) + ROWS.map(() => '│ token  kept  bits'.padEnd(cellWidth + 2)).join('')}│`;
console.log(header);
console.log(subheader);
console.log('─'.repeat(header.length));

let failures = 0;
const stepTokens: number[][][] = [];
const keptBySetting: Uint8Array[][] = [];
for (const { label, options } of SETTINGS) {
  const sampler = createSampler(options);
  const probs = sampler.probabilities(logits);
  const { kept, bits, keptSets } = await stats(probs);
  probs.dispose();

  const tokens: Int32Array[] = [];
  for (let s = 0; s < STEPS; s++) tokens.push(await sampler.sampleIds(logits));
  sampler.reset();
  const again: Int32Array[] = [];
  for (let s = 0; s < STEPS; s++) again.push(await sampler.sampleIds(logits));
  const resetOk = tokens.every((t, s) => sameArray(t, again[s]!));

  const refTokens = referenceSteps(options, STEPS).tokens;
  const refKept = reference.probabilities(rows, options).map((row) => Uint8Array.from(row, (q) => (q > 0 ? 1 : 0)));
  const refOk = tokens.every((t, s) => sameArray(t, refTokens[s]!)) && keptSets.every((k, r) => sameArray(k, refKept[r]!));
  if (!resetOk || !refOk) failures++;
  stepTokens.push(tokens.map((t) => Array.from(t)));
  keptBySetting.push(keptSets);
  sampler.dispose(); // Mirostat keeps μ on the device

  const cells: RowStats[] = ROWS.map((_, r) => ({ token: tokens[0]![r]!, kept: kept[r]!, bits: bits[r]! }));
  console.log(
    label.padEnd(labelWidth) +
      cells.map((c) => `│ ${String(c.token).padStart(5)} ${String(c.kept).padStart(5)} ${c.bits.toFixed(2).padStart(5)}`.padEnd(cellWidth + 2)).join('') +
      `│ ${resetOk ? 'same' : 'DIFF'}   ${refOk ? 'same' : 'DIFF'}`,
  );
}
console.log(
  `\ntoken = step-0 draw; kept = nonzero entries of sampler.probabilities(logits); bits = entropy of that row.` +
    `\nreset: ${STEPS} steps, reset(), ${STEPS} steps again → same tokens. reference: reference.sample (float64) gives` +
    `\nthe same tokens at steps 0..${STEPS - 1} (Mirostat's μ carried by reference.nextMirostatMu), and reference.probabilities` +
    `\nthe same kept sets.`,
);

// ---- Mirostat: μ learns from each drawn token ------------------------------------------------
// Tensor path and reference step by step: the reference's μ comes from reference.nextMirostatMu.
const MIROSTAT_STEPS = 8;
const miro = SETTINGS.find((s) => s.options.mirostat !== undefined)!;
const miroSampler = createSampler(miro.options);
const miroRef = referenceSteps(miro.options, MIROSTAT_STEPS);
const miroTokens: Int32Array[] = [];
for (let s = 0; s < MIROSTAT_STEPS; s++) miroTokens.push(await miroSampler.sampleIds(logits));
miroSampler.dispose(); // frees μ (kept on the device)
const miroOk = miroTokens.map((t, s) => sameArray(t, miroRef.tokens[s]!));
if (!miroOk.every(Boolean)) failures++;
console.log(`\n${miro.label}, steps 0..${MIROSTAT_STEPS - 1} per row (μ after the last step, from nextMirostatMu):`);
for (let r = 0; r < B; r++) {
  const mu = miroRef.mu[MIROSTAT_STEPS - 1]![r]!;
  console.log(`  row ${r}: ${miroTokens.map((t) => String(t[r]).padStart(5)).join(' ')}   μ ${mu.toFixed(2)} bits`);
}
console.log(`  reference tokens per step: ${miroOk.map((ok) => (ok ? 'same' : 'DIFF')).join(' ')}`);

// ---- named orders: the same options, another chain -------------------------------------------
// llama.cpp filters the T = 1 distribution and applies the temperature last; hf applies it first,
// so at T 1.5 min-p keeps more tokens under hf.
const llamaIndex = SETTINGS.findIndex((s) => s.options.order === 'llama.cpp');
const hfIndex = SETTINGS.findIndex((s) => s.options.order === 'hf');
const count = (set: Uint8Array): number => set.reduce((n, v) => n + v, 0);
const ordersDiffer = keptBySetting[llamaIndex]!.some((set, r) => !sameArray(set, keptBySetting[hfIndex]![r]!));
if (!ordersDiffer) failures++;
console.log(`\norder "llama.cpp" vs "hf", T 1.5 min-p 0.1 (kept tokens per row):`);
for (let r = 0; r < B; r++) {
  console.log(
    `  row ${r}: llama.cpp ${String(count(keptBySetting[llamaIndex]![r]!)).padStart(5)}   hf ${String(count(keptBySetting[hfIndex]![r]!)).padStart(5)}`,
  );
}
console.log(`  kept sets ${ordersDiffer ? 'differ' : 'are the SAME (expected them to differ)'}`);

// ---- a few steps of the default chain ------------------------------------------------------
const chainIndex = SETTINGS.length - 2;
console.log(`\n${SETTINGS[chainIndex]!.label}, steps 0..${STEPS - 1} per row:`);
for (let r = 0; r < B; r++) {
  console.log(`  row ${r}: ${stepTokens[chainIndex]!.map((t) => String(t[r]).padStart(5)).join(' ')}`);
}

// ---- a row's token does not depend on the batch around it -----------------------------------
// With per-row seeds, rows 3 and 1 sampled alone (in that order) draw what they drew in the batch.
const perRow = SETTINGS[SETTINGS.length - 1]!;
const subset = [3, 1];
const sub = tf.tensor2d(
  subset.map((r) => Array.from(rows[r]!)),
  [subset.length, V],
);
const pick = (v: ArrayLike<number>): number[] => subset.map((r) => v[r]!);
const subOptions: SamplerOptions = { temperature: pick([0, 0.7, 1, 1.3]), topP: pick([1, 0.9, 0.95, 0.8]), seed: pick([101, 202, 303, 404]) };
const subTokens = Array.from(await createSampler(subOptions).sampleIds(sub));
const fullTokens = pick(stepTokens[SETTINGS.indexOf(perRow)]![0]!);
const subsetOk = sameArray(subTokens, fullTokens);
if (!subsetOk) failures++;
console.log(
  `\nper-row seeds, rows [${subset.join(', ')}] alone as a batch of ${subset.length}: tokens [${subTokens.join(', ')}]` +
    ` — in the batch of ${B}: [${fullTokens.join(', ')}] ${subsetOk ? '(same)' : '(DIFFERENT)'}`,
);
sub.dispose();

logits.dispose();
const tensorsAtEnd = tf.memory().numTensors;
console.log(`\ntf.memory().numTensors: ${tensorsAtEnd} at the end (${tensorsAtStart} at the start)`);
if (tensorsAtEnd !== tensorsAtStart) failures++;
if (failures > 0) {
  console.error(`${failures} check(s) failed`);
  process.exit(1);
}
