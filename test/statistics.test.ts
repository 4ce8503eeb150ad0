// Statistical equivalence: the tensor sampler draws from the distribution the float64 reference
// computes. For each case ≥ 100,000 tokens are drawn on the backend and compared with
// `reference.probabilities` by a chi-square goodness-of-fit test at α = 1e-6; negative controls
// (a sampler that is slightly wrong) run through the very same test and must be rejected.
// Every seed is fixed, so the suite is deterministic: it cannot flake.
import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSampler, reference, type SamplerOptions } from '../src/index.js';
import { BACKENDS, coveredElsewhere, isSoftwareGpu, useBackend } from './helpers/backend.js';
import { TokenCounts, chiSquareTest, chiSquareUpperTail, formatChiSquare, type ChiSquareResult } from './helpers/chisquare.js';

const ALPHA = 1e-6;
const FULL_DRAWS = 100_000;
/** Draws per case: 100,000 on cpu / wasm / tensorflow; 20,000 on software GPU adapters, which
 * are ~10× slower per element than wasm here (the negative controls stay rejected by a wide margin). */
let MIN_DRAWS = FULL_DRAWS;

// ---------------------------------------------------------------------------------------------
// Rows (float32, built from fixed seeds)

function rng(seed: string): () => number {
  return seedrandom(`statistics:${seed}`);
}

function permutation(V: number, r: () => number): number[] {
  const a = Array.from({ length: V }, (_, i) => i);
  for (let i = V - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** Zipf-like logits −s·ln(rank + 1) (+ optional jitter), ranks shuffled over the vocabulary. */
function zipfRow(V: number, s: number, jitter: number, seed: string): Float32Array {
  const r = rng(seed);
  const rank = permutation(V, r);
  return Float32Array.from(rank, (k) => -s * Math.log(k + 1) + jitter * (r() - 0.5));
}

/** Near-equal logits: uniform in [0, spread). */
function flatRow(V: number, spread: number, seed: string): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: V }, () => spread * r());
}

/** Indices of `row` sorted by logit, largest first (ties by index). */
function byLogit(row: Float32Array): number[] {
  return Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
}

/**
 * Two rows with −Infinity masks for `{ topK: 12, minP: 0.1 }`:
 * - `topK`: finite logits spread over < 1 nat, so min-p (threshold max + T·ln 0.1 ≈ max − 2.8)
 *   keeps all of them and top-k decides; the 13th largest logit is set equal to the 12th, so the
 *   tie at the top-k boundary is kept (13 tokens).
 * - `minP`: steep finite logits, so min-p cuts inside the top-12 and decides.
 */
function maskedRows(V: number): { topK: Float32Array; minP: Float32Array } {
  const r = rng('masked');
  const masked = new Set(permutation(V, r).slice(0, Math.floor(V / 4)));
  masked.add(0).add(V - 1); // masks at both ends of the vocabulary
  const a = Float32Array.from({ length: V }, (_, j) => (masked.has(j) ? -Infinity : 0.9 * r()));
  const order = byLogit(a);
  a[order[12]!] = a[order[11]!]!; // tie at the top-k boundary
  const b = Float32Array.from({ length: V }, (_, j) => (masked.has(j) ? -Infinity : 6 * r()));
  return { topK: a, minP: b };
}

// ---------------------------------------------------------------------------------------------
// Drawing and testing

interface Drawn {
  /** counts[g]: token counts of rows r with r % groups === g. */
  counts: TokenCounts[];
  /** Joint counts of (row 2i, row 2i+1) pairs, when asked for (index a·V + b). */
  pairs?: TokenCounts;
  ms: number;
}

/**
 * Draws `calls` steps of a `[batch, V]` batch that repeats `rows` (row r is `rows[r % rows.length]`).
 * With one scalar seed, row r has its own random stream (seed, r) and each call is a new step, so
 * every drawn token is an independent draw from its row's distribution. Checks that the loop
 * leaves no tensor behind.
 */
async function draw(rows: readonly Float32Array[], options: SamplerOptions, batch: number, calls: number, withPairs = false): Promise<Drawn> {
  const V = rows[0]!.length;
  const groups = rows.length;
  expect(batch % groups).toBe(0);
  const counts = rows.map(() => new TokenCounts(V));
  const pairs = withPairs ? new TokenCounts(V * V) : undefined;
  const before = tf.memory().numTensors;
  const t0 = performance.now();
  const logits = tf.tidy(() => {
    const flat = new Float32Array(groups * V);
    rows.forEach((row, g) => flat.set(row, g * V));
    return tf.tile(tf.tensor2d(flat, [groups, V]), [batch / groups, 1]);
  });
  const sampler = createSampler(options);
  let wrongLength = 0;
  for (let c = 0; c < calls; c++) {
    const ids = sampler.sample(logits);
    const data = (await ids.data()) as Int32Array;
    ids.dispose();
    if (data.length !== batch) wrongLength++;
    if (groups === 1) counts[0]!.add(data);
    else for (let r = 0; r < batch; r++) counts[r % groups]!.add([data[r]!]);
    if (pairs) {
      for (let r = 0; r + 1 < batch; r += 2) {
        const a = data[r]!;
        const b = data[r + 1]!;
        pairs.add([a >= 0 && a < V && b >= 0 && b < V ? a * V + b : -1]);
      }
    }
  }
  logits.dispose();
  const ms = performance.now() - t0;
  expect(tf.memory().numTensors).toBe(before);
  expect(wrongLength).toBe(0);
  for (const c of counts) expect(c.outOfRange).toBe(0);
  return pairs ? { counts, pairs, ms } : { counts, ms };
}

function runChiSquare(label: string, counts: TokenCounts, expected: Float64Array, ms?: number): ChiSquareResult {
  const result = chiSquareTest(counts.counts, expected);
  const time = ms === undefined ? '' : ` [${(ms / 1000).toFixed(1)} s]`;
  console.log(`chi2 ${label}: ${formatChiSquare(result)}${time}`);
  return result;
}

/** A positive case: enough draws, no draw of an impossible token, p > α. */
function expectSameDistribution(result: ChiSquareResult, minDraws = MIN_DRAWS): void {
  expect(result.draws).toBeGreaterThanOrEqual(minDraws);
  expect(result.impossible).toEqual([]);
  expect(result.df).toBeGreaterThan(0);
  expect(result.pValue).toBeGreaterThan(ALPHA);
}

/** A negative control: the same test must reject. */
function expectRejected(result: ChiSquareResult, minDraws = MIN_DRAWS): void {
  expect(result.draws).toBeGreaterThanOrEqual(minDraws);
  expect(result.impossible.length > 0 || result.pValue < ALPHA).toBe(true);
}

/** Kept-set mass strictly above token b under `options` without top-p (the rule's Σ{q_i > q_b}). */
function massAbove(row: Float32Array, options: SamplerOptions, b: number): number {
  const { topP: _drop, ...rest } = options;
  const q = reference.probabilities([row], rest)[0]!;
  let above = 0;
  let total = 0;
  for (let i = 0; i < q.length; i++) {
    total += q[i]!;
    if (q[i]! > q[b]!) above += q[i]!;
  }
  return above / total;
}

/** The kept token of smallest probability (the top-p boundary token), lowest index among ties. */
function boundaryToken(probs: Float64Array): number {
  let b = -1;
  for (let i = 0; i < probs.length; i++) if (probs[i]! > 0 && (b < 0 || probs[i]! < probs[b]!)) b = i;
  return b;
}

// ---------------------------------------------------------------------------------------------
// The helper itself

describe('chi-square helper', () => {
  it('matches known chi-square quantiles', () => {
    expect(chiSquareUpperTail(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquareUpperTail(6.634896601021214, 1)).toBeCloseTo(0.01, 12);
    expect(chiSquareUpperTail(23.209251158954356, 10)).toBeCloseTo(0.01, 12);
    expect(chiSquareUpperTail(124.34211340400407, 100)).toBeCloseTo(0.05, 9);
    for (const x of [0.5, 3, 27.631021115928547, 60]) {
      // df = 2: Q(1, x/2) = exp(−x/2) exactly
      expect(chiSquareUpperTail(x, 2) / Math.exp(-x / 2)).toBeCloseTo(1, 12);
    }
    expect(chiSquareUpperTail(0, 5)).toBe(1);
  });

  it('computes the statistic, pools small bins and reports impossible draws', () => {
    // E = 25, 25, 50 → (25/25) + (25/25) + 0 = 2 on 2 df → p = e^-1
    const a = chiSquareTest([30, 20, 50], [0.25, 0.25, 0.5]);
    expect(a.statistic).toBeCloseTo(2, 12);
    expect(a.df).toBe(2);
    expect(a.pValue).toBeCloseTo(Math.exp(-1), 12);
    expect(a.impossible).toEqual([]);
    // Perfect fit.
    expect(chiSquareTest([100, 300], [0.25, 0.75]).pValue).toBe(1);
    // Two tokens with E = 0.05 each pool into one bin; still < 5, so the smallest bin joins them.
    const b = chiSquareTest([500, 499, 1, 0], [0.5, 0.4999, 0.00005, 0.00005]);
    expect(b.pooledTokens).toBe(2);
    expect(b.bins).toBe(2);
    expect(b.df).toBe(1);
    expect(b.pooledExpected).toBeCloseTo(500, 6);
    // Zero-probability tokens form no bin; drawing one is reported.
    const c = chiSquareTest([10, 10, 1], [0.5, 0.5, 0]);
    expect(c.impossible).toEqual([{ token: 2, count: 1 }]);
    expect(c.df).toBe(1);
    expect(c.statistic).toBe(0);
    expect(() => chiSquareTest([1, 2], [0.5, 0.25, 0.25])).toThrow();
  });

  it('accepts a seeded uniform sample and rejects a 2% bias', () => {
    const V = 10;
    const N = 200_000;
    const r = seedrandom('statistics:uniform');
    const uniform = new TokenCounts(V);
    const biased = new TokenCounts(V);
    const q = [0.12, ...Array.from({ length: V - 1 }, () => 0.88 / (V - 1))];
    const cdf = q.map((_, i) => q.slice(0, i + 1).reduce((s, v) => s + v, 0));
    for (let i = 0; i < N; i++) {
      uniform.add([Math.floor(r() * V)]);
      const u = r();
      biased.add([
        Math.max(
          0,
          cdf.findIndex((c) => u < c),
        ),
      ]);
    }
    const p = new Float64Array(V).fill(1 / V);
    const ok = runChiSquare('helper uniform', uniform, p);
    expect(ok.df).toBe(V - 1);
    expect(ok.pValue).toBeGreaterThan(ALPHA);
    expect(runChiSquare('helper biased (control)', biased, p).pValue).toBeLessThan(ALPHA);
  });
});

// ---------------------------------------------------------------------------------------------
// The tensor sampler against the reference, on every backend

describe.each(BACKENDS)('statistical equivalence on %s', (name) => {
  const elsewhere = coveredElsewhere('statistics', name);
  if (elsewhere) {
    it.skip(`skipped here: ${elsewhere}`, () => {});
    return;
  }
  const gpu = isSoftwareGpu(name);
  const steps = (n: number): number => (gpu ? Math.max(1, Math.round((n * 20_000) / FULL_DRAWS)) : n);
  // Cases with top-k / top-p / min-p: 5,000 draws on software GPU adapters, where the per-row
  // threshold kernels cost ~1 ms a row (SwiftShader: a workgroup per row, its barriers run as
  // fibers; measured on Node webgpu at V = 24, linear in B). Their negative control (a top-p
  // that drops the boundary token) gave p = 2e-86 at 10,000 draws, and its statistic grows
  // linearly with them: about 1e-40 at 5,000, printed each run. Node webgpu, which runs this
  // suite, shares CI's two cores at a lower priority: 54 s alone at 10,000, ~1,000 s in a run.
  const FILTER_DRAWS = gpu ? 5_000 : FULL_DRAWS;
  const filterSteps = (n: number): number => (gpu ? Math.max(1, Math.round((n * FILTER_DRAWS) / FULL_DRAWS)) : n);
  /** The batch of a one-row filter case: 10,000 rows a step, FILTER_DRAWS in one step on the GPUs. */
  const filterBatch = gpu ? FILTER_DRAWS : 10_000;
  beforeAll(async () => {
    MIN_DRAWS = gpu ? 20_000 : FULL_DRAWS;
    await useBackend(name);
    expect(tf.getBackend()).toBe(name);
  });
  beforeEach(() => {
    expect(tf.getBackend()).toBe(name); // a failed wasm init would silently fall back to cpu
  });

  // The cpu backend runs every op in plain JS (≈ 0.3–2.5 µs per element per sample here), wasm
  // ≈ 50–150 ns (mostly the Gumbel noise, computed in JS). Shapes are sized so that each backend
  // finishes in well under 90 s on a 2-core machine; the larger-V case uses V = 2048 off cpu and
  // V = 128 on cpu (measured there: 100k draws take ≈ 18 s at V = 128, 32 s at V = 256 and would
  // take minutes at V = 2048). wasm-portable (the tfjs-op chain: a tf.topk of every row) uses
  // V = 512: 39 s at 2048 there, where fused wasm takes 4 s.
  const portable = typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_FUSED === '0';
  const BIG_V = name === 'cpu' ? 128 : gpu ? 256 : portable ? 512 : 2048;

  // Shared rows and options.
  const peaky = zipfRow(64, 1.1, 0, 'peaky');
  const peakyOptions: SamplerOptions = { temperature: 0.8 };
  const flat = flatRow(24, 0.15, 'flat');
  const flatOptions: SamplerOptions = { topP: 0.9 };

  it('draws on the selected backend', () => {
    expect(tf.getBackend()).toBe(name);
  });

  it('peaky: Zipf logits, temperature 0.8', async () => {
    const { counts, ms } = await draw([peaky], { ...peakyOptions, seed: 101 }, 10_000, steps(10));
    const expected = reference.probabilities([peaky], peakyOptions)[0]!;
    expectSameDistribution(runChiSquare(`${name} peaky`, counts[0]!, expected, ms));
  });

  it('flat: near-equal logits, top-p 0.9 (the boundary token decides)', async () => {
    const expected = reference.probabilities([flat], flatOptions)[0]!;
    const kept = expected.filter((p) => p > 0).length;
    expect(kept).toBeGreaterThan(1);
    expect(kept).toBeLessThan(flat.length); // top-p really cuts
    const { counts, ms } = await draw([flat], { ...flatOptions, seed: 202 }, filterBatch, filterSteps(10));
    expectSameDistribution(runChiSquare(`${name} flat`, counts[0]!, expected, ms), FILTER_DRAWS);
  });

  it('masked: −Infinity logits with top-k (tie at the boundary) and min-p', async () => {
    const rows = maskedRows(32);
    const options: SamplerOptions = { temperature: 1.2, topK: 12, minP: 0.1 };
    const pk = reference.probabilities([rows.topK], options)[0]!;
    const pm = reference.probabilities([rows.minP], options)[0]!;
    // Row 0: top-k decides and keeps the boundary tie; row 1: min-p decides.
    expect(pk.filter((p) => p > 0).length).toBe(13);
    expect(reference.probabilities([rows.topK], { temperature: 1.2, topK: 12 })[0]).toEqual(pk);
    const minPKept = pm.filter((p) => p > 0).length;
    expect(minPKept).toBeLessThan(12);
    expect(minPKept).toBeGreaterThan(2);
    // Rows alternate [topK, minP, topK, …]: 2 × 100,000 draws.
    const { counts, ms } = await draw([rows.topK, rows.minP], { ...options, seed: 303 }, 2 * filterBatch, filterSteps(10));
    expectSameDistribution(runChiSquare(`${name} masked top-k`, counts[0]!, pk, ms / 2), FILTER_DRAWS);
    expectSameDistribution(runChiSquare(`${name} masked min-p`, counts[1]!, pm, ms / 2), FILTER_DRAWS);
  });

  it(`larger V (${BIG_V}): temperature 0.9, top-k V/8, top-p 0.95`, async () => {
    const row = zipfRow(BIG_V, 1.0, 0.5, 'big');
    const options: SamplerOptions = { temperature: 0.9, topK: BIG_V / 8, topP: 0.95 };
    const expected = reference.probabilities([row], options)[0]!;
    const kept = expected.filter((p) => p > 0).length;
    expect(kept).toBeLessThan(BIG_V / 8); // top-p cuts inside the top-k set
    const batch = name === 'cpu' ? 2_000 : gpu ? FILTER_DRAWS : 1_000;
    const { counts, ms } = await draw([row], { ...options, seed: 404 }, batch, FILTER_DRAWS / batch);
    expectSameDistribution(runChiSquare(`${name} larger-V`, counts[0]!, expected, ms), FILTER_DRAWS);
  });

  it('control: a sampler with temperature off by 5% is rejected', async () => {
    const expected = reference.probabilities([peaky], peakyOptions)[0]!;
    const { counts, ms } = await draw([peaky], { temperature: 0.8 * 1.05, seed: 505 }, 10_000, steps(10));
    expectRejected(runChiSquare(`${name} control temperature×1.05`, counts[0]!, expected, ms));
  });

  it('control: a top-p that drops the boundary token is rejected', async () => {
    const expected = reference.probabilities([flat], flatOptions)[0]!;
    const b = boundaryToken(expected);
    expect(expected[b]).toBeGreaterThan(0.03); // ≈ 3,900 expected draws: easily detectable
    // p' = the mass strictly above the boundary token, so the rule Σ{q_i > q_b} < p' drops b and
    // keeps every other token. Less 1e-9, so that the control does not hinge on last-ulp
    // rounding of an exact tie between p' and a cumulative sum (float64 here, float32 pairs on
    // the tensor path).
    const pPrime = massAbove(flat, flatOptions, b) - 1e-9;
    const control: SamplerOptions = { topP: pPrime };
    const ctlRef = reference.probabilities([flat], control)[0]!;
    expect(ctlRef[b]).toBe(0);
    for (let j = 0; j < flat.length; j++) if (j !== b) expect(ctlRef[j]! > 0).toBe(expected[j]! > 0);
    const before = tf.memory().numTensors;
    const input = tf.tensor2d(flat, [1, flat.length]);
    const probs = createSampler(control).probabilities(input);
    expect((await probs.data())[b]).toBe(0); // the tensor path drops it too
    tf.dispose([input, probs]);
    expect(tf.memory().numTensors).toBe(before);
    const { counts, ms } = await draw([flat], { ...control, seed: 606 }, filterBatch, filterSteps(10));
    expect(counts[0]!.counts[b]).toBe(0); // the control really never draws the boundary token
    expectRejected(runChiSquare(`${name} control top-p drops boundary`, counts[0]!, expected, ms), FILTER_DRAWS);
  });

  it('draw "multinomial" (stock tf.multinomial): per-row marginal', async () => {
    // Zipf over V = 10 by index, the last two indices masked with −Infinity (tf.multinomial's
    // cpu kernel gives the last index whatever mass its float32 CDF leaves over, so a masked last
    // index is the place a stray draw would show). Temperature only: it costs no tensor op, which
    // keeps the 100,000 single-row calls on cpu affordable.
    const V = 10;
    const row = Float32Array.from({ length: V }, (_, i) => (i >= V - 2 ? -Infinity : -1.1 * Math.log(i + 1)));
    const options: SamplerOptions = { temperature: 0.8, draw: 'multinomial' };
    const expected = reference.probabilities([row], options)[0]!;
    expect(expected[V - 1]).toBe(0);

    if (name === 'webgpu' || name === 'webgl') {
      // The library refuses the stock op here; the same chi-square shows why: the GPU kernels'
      // shader hash is biased (rows ≥ 1 of tiled batches, seeds in (0, 1) as tfjs expects; on
      // webgpu row 0 always gets token 0, tfjs 8057).
      const x = tf.tensor2d(row, [1, V]);
      const refusing = createSampler({ ...options, seed: 1 });
      const before = tf.memory().numTensors;
      expect(() => refusing.sample(x)).toThrow(new RegExp(`multinomial.*${name}`));
      expect(tf.memory().numTensors, 'the refused call left tensors behind').toBe(before);
      refusing.dispose();
      const logits = tf.tile(x, [2_001, 1]) as tf.Tensor2D;
      const counts = new TokenCounts(V);
      for (let call = 0; call < 10; call++) {
        const ids = tf.multinomial(logits, 1, (0.1 + call * 0.0791) % 1, false);
        counts.add((await ids.data()).slice(1));
        ids.dispose();
      }
      tf.dispose([x, logits]);
      const result = runChiSquare(`${name} stock tf.multinomial (refused by the library)`, counts, expected);
      expect(result.pValue).toBeLessThan(ALPHA);
      return;
    }

    // Measured caveat: the cpu kernel re-seeds its generator for every row of a call, so all rows
    // of one call share one random number; tiled identical rows then all get the same token. The
    // wasm kernel draws the rows of a call in sequence from one mt19937, so they are independent.
    const probe = await draw([row], { ...options, seed: 707 }, 64, 1);
    const distinct = probe.counts[0]!.counts.filter((c) => c > 0).length;
    console.log(`multinomial ${name}: one call of 64 tiled rows gives ${distinct} distinct token(s)`);
    // Measured: cpu, webgl and webgpu give one token per call to tiled rows; wasm draws the rows
    // of a call independently.
    const independentRows = distinct > 1;
    if (name === 'cpu') expect(distinct).toBe(1);
    if (name === 'wasm') expect(distinct).toBeGreaterThan(1);

    if (independentRows) {
      // 2,000 rows × 100 calls (200,000 draws); the joint counts of the 100,000 row pairs
      // (2i, 2i+1) against p ⊗ p prove the rows of a call independent, with the same test.
      const { counts, pairs, ms } = await draw([row], { ...options, seed: 708 }, gpu ? 20_000 : 2_000, gpu ? 2 : 100, true);
      expectSameDistribution(runChiSquare(`${name} multinomial`, counts[0]!, expected, ms));
      const joint = new Float64Array(V * V);
      for (let a = 0; a < V; a++) for (let b = 0; b < V; b++) joint[a * V + b] = expected[a]! * expected[b]!;
      expect(pairs!.outOfRange).toBe(0);
      expectSameDistribution(runChiSquare(`${name} multinomial row pairs (independence)`, pairs!, joint));
    } else {
      // One row per call, 100,000 calls: every draw comes from its own call (its own seed), so
      // the per-row marginal is tested honestly. ≈ 0.2 ms per call on cpu.
      // On software GPUs a call costs milliseconds: 5,000 calls there (gross errors only).
      const calls = gpu ? 5_000 : MIN_DRAWS;
      const { counts, ms } = await draw([row], { ...options, seed: 709 }, 1, calls);
      expectSameDistribution(runChiSquare(`${name} multinomial`, counts[0]!, expected, ms), calls);
    }
  });
});
