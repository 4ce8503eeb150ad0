// Chi-square goodness of fit for the rest of the chain (issue 11): typical-p, XTC (its keyed
// coin), Mirostat v1 / v2, and a mixed chain under each named order, against the float64
// reference, at α = 1e-6, each with a negative control (a slightly wrong sampler, or draws tested
// against the wrong order) that the same test must reject. Fixed seeds: deterministic.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, type SamplerOptions } from '../src/index.js';
import { BACKENDS, coveredElsewhere, isSoftwareGpu } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { TokenCounts, chiSquareTest, formatChiSquare, type ChiSquareResult } from './helpers/chisquare.js';

const ALPHA = 1e-6;
const V = 24;

/** Zipf-like logits with jitter, ranks shuffled (fixed seed). */
function zipfRow(s: number, seed: string): number[] {
  const r = seedrandom(`chain-statistics:${seed}`);
  const rank = Array.from({ length: V }, (_, i) => i);
  for (let i = V - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [rank[i], rank[j]] = [rank[j]!, rank[i]!];
  }
  return rank.map((k) => Math.fround(-s * Math.log(k + 1) + 0.3 * (r() - 0.5)));
}

/** `calls` steps of a batch of `batch` copies of `row`; every row and step is an independent draw. */
async function draw(row: number[], options: SamplerOptions, batch: number, calls: number): Promise<TokenCounts> {
  const counts = new TokenCounts(V);
  const logits = tf.tidy(() => tf.tile(tf.tensor2d([row]), [batch, 1]));
  const sampler = createSampler(options);
  for (let c = 0; c < calls; c++) counts.add((await sampler.sampleIds(logits)) as Int32Array);
  sampler.dispose();
  logits.dispose();
  expect(counts.outOfRange).toBe(0);
  return counts;
}

function test(label: string, counts: TokenCounts, expected: ArrayLike<number>): ChiSquareResult {
  const r = chiSquareTest(counts.counts, Float64Array.from(expected));
  console.log(`chi2 ${label}: ${formatChiSquare(r)}`);
  return r;
}
const same = (r: ChiSquareResult): void => {
  expect(r.impossible).toEqual([]);
  expect(r.df).toBeGreaterThan(0);
  expect(r.pValue).toBeGreaterThan(ALPHA);
};
const rejected = (r: ChiSquareResult): void => {
  expect(r.impossible.length > 0 || r.pValue < ALPHA).toBe(true);
};
const keptCount = (p: ArrayLike<number>): number => Array.from(p).filter((x) => x > 0).length;

describe.each(BACKENDS)('chain statistics on %s', (backend) => {
  const elsewhere = coveredElsewhere('chain-statistics', backend);
  if (elsewhere) {
    it.skip(`skipped here: ${elsewhere}`, () => {});
    return;
  }
  backendSuite(backend);
  // 20,000 draws per case on cpu / wasm, 6,000 on software GPUs (slower per element); the
  // controls stay rejected by a wide margin at either size (stat ≥ 500 or impossible draws at 40,000).
  const N = isSoftwareGpu(backend) ? 6_000 : 20_000;
  const B = isSoftwareGpu(backend) ? 2_000 : 4_000;
  const row = zipfRow(1.2, 'row');

  it('typical-p 0.6 at T 0.9; control: a p that drops one more token', async () => {
    const opts: SamplerOptions = { temperature: 0.9, typicalP: 0.6 };
    const expected = reference.probabilities([row], opts)[0]!;
    expect(keptCount(expected)).toBeGreaterThan(2);
    expect(keptCount(expected)).toBeLessThan(V);
    same(test(`${backend} typical-p`, await draw(row, { ...opts, seed: 11 }, B, N / B), expected));
    // The control keeps one token fewer: p' in the middle of the p range that does (the range's
    // ends by bisection on the reference), so float32 paths decide it as the reference does.
    const below = (count: number): number => {
      let lo = 0.01;
      let hi = 0.6;
      for (let i = 0; i < 40; i++) {
        const mid = (lo + hi) / 2;
        if (keptCount(reference.probabilities([row], { ...opts, typicalP: mid })[0]!) < count) lo = mid;
        else hi = mid;
      }
      return lo;
    };
    const n = keptCount(expected);
    const control = { ...opts, typicalP: (below(n) + below(n - 1)) / 2 };
    expect(keptCount(reference.probabilities([row], control)[0]!)).toBe(n - 1);
    rejected(test(`${backend} control typical-p drops one`, await draw(row, { ...control, seed: 12 }, B, N / B), expected));
  });

  it('XTC probability 0.5, threshold 0.1: the keyed coin gives the 50/50 mixture; control: probability 0.35', async () => {
    const opts: SamplerOptions = { temperature: 0.8, xtc: { probability: 0.5, threshold: 0.1 } };
    const on = reference.probabilities([row], { temperature: 0.8, xtc: { probability: 1, threshold: 0.1 }, seed: 0 })[0]!;
    const off = reference.probabilities([row], { temperature: 0.8 })[0]!;
    expect(keptCount(on)).toBeLessThan(V); // XTC really removes top choices here
    const mixture = on.map((p, j) => 0.5 * p + 0.5 * off[j]!);
    same(test(`${backend} xtc`, await draw(row, { ...opts, seed: 21 }, B, N / B), mixture));
    const control = { temperature: 0.8, xtc: { probability: 0.35, threshold: 0.1 }, seed: 22 };
    rejected(test(`${backend} control xtc probability 0.35`, await draw(row, control, B, N / B), mixture));
  });

  it.each([1, 2] as const)('Mirostat v%s at its first step (μ = 2τ); control: τ that keeps fewer tokens', async (version) => {
    const opts: SamplerOptions = { temperature: 1, mirostat: { version, tau: 2.5 } };
    const expected = reference.probabilities([row], opts)[0]!;
    expect(keptCount(expected)).toBeGreaterThan(2);
    expect(keptCount(expected)).toBeLessThan(V);
    // One call per sampler: every row is at step 0, μ = 2τ (later steps: test/chain-samplers.test.ts).
    const first = async (o: SamplerOptions, seed: number): Promise<TokenCounts> => {
      const counts = new TokenCounts(V);
      for (let s = 0; s < N / B; s++) {
        const c = await draw(row, { ...o, seed: seed + s }, B, 1);
        counts.add(expandCounts(c));
      }
      return counts;
    };
    same(test(`${backend} mirostat v${version}`, await first(opts, 31), expected));
    let tau = 2.5;
    while (keptCount(reference.probabilities([row], { ...opts, mirostat: { version, tau } })[0]!) >= keptCount(expected)) tau -= 0.05;
    rejected(test(`${backend} control mirostat v${version} tau ${tau.toFixed(2)}`, await first({ ...opts, mirostat: { version, tau } }, 41), expected));
  });

  it.each(['llama.cpp', 'hf', 'vllm'] as const)("a mixed chain under order '%s'; control: tested against another order", async (order) => {
    // Kept: 13 (llama.cpp), 10 (hf), 8 (vllm) tokens; the three distributions differ pairwise.
    const opts: SamplerOptions = { temperature: 0.8, topK: 20, topP: 0.9, minP: 0.02, order };
    const expected = reference.probabilities([row], opts)[0]!;
    const draws = await draw(row, { ...opts, seed: 51 }, B, N / B);
    same(test(`${backend} order ${order}`, draws, expected));
    const other = order === 'llama.cpp' ? 'hf' : order === 'hf' ? 'vllm' : 'llama.cpp';
    const wrong = reference.probabilities([row], { ...opts, order: other })[0]!;
    expect(Array.from(wrong)).not.toEqual(Array.from(expected));
    rejected(test(`${backend} control order ${order} vs ${other}`, draws, wrong));
  });
});

/** The draws behind counts, as token ids (to pool several samplers' counts). */
function expandCounts(c: TokenCounts): number[] {
  const out: number[] = [];
  c.counts.forEach((n, j) => {
    for (let i = 0; i < n; i++) out.push(j);
  });
  return out;
}
