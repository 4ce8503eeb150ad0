// Top-nσ (issue 11, first sampler): llama.cpp's test vectors, hand-computed edge rows, and
// exact agreement of kept sets and tokens with the float64 reference on every backend.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { maskedLogits, shapeArbs } from './helpers/fuzz-arbitraries.js';
import { describe, expect, it } from 'vitest';
import { createSampler, reference, topNSigma, type SamplerOptions } from '../src/index.js';
import { BACKENDS, defaultPath, isSoftwareGpu } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { expectReferenceAgreement, kept, processed } from './helpers/chain.js';

// ggml-org/llama.cpp@f0817df540977d3e3bd9038e7e108fa4f3b4bbde tests/test-sampling.cpp,
// test_top_n_sigma: logits = ln(probs), the sampler, then dist's softmax over all tokens in
// token order; |p − expected| < 1e-5. n = 0 is a no-op there (PR 13345), as here.
const LLAMA_TOP_N_SIGMA = [
  { probs: [0.1, 0.2, 0.3, 0.4], n: 1, expected: [0, 0, 0.428571, 0.571429] },
  { probs: [0.1, 0.2, 0.3, 0.4], n: 0, expected: [0.1, 0.2, 0.3, 0.4] },
  { probs: [0.1, 0.2, 0.3, 0.4], n: 3, expected: [0.1, 0.2, 0.3, 0.4] },
];

describe.each(BACKENDS)('top-nσ on %s', (backend) => {
  backendSuite(backend);

  it.each(LLAMA_TOP_N_SIGMA)('llama.cpp test_top_n_sigma n = $n', async (c) => {
    const logits = [c.probs.map((p) => Math.log(p))];
    const want = reference.probabilities(logits, { topNSigma: c.n })[0]!;
    c.expected.forEach((e, j) => expect(Math.abs(want[j]! - e), `reference, token ${j}`).toBeLessThan(1e-5));
    const s = createSampler({ topNSigma: c.n });
    const x = tf.tensor2d(logits);
    const p = s.probabilities(x);
    const got = (await p.data()) as Float32Array;
    tf.dispose([x, p]);
    s.dispose();
    c.expected.forEach((e, j) => expect(Math.abs(got[j]! - e), `tensor, token ${j}`).toBeLessThan(1e-5));
  });

  it('hand-computed rows: −Infinity left out of σ, per-row n, ties at the cut kept, invalid rows untouched', async () => {
    // Row 0: finite logits 0, 1, 2, 3 (mean 1.5, σ = √1.25 ≈ 1.118): n = 1 keeps ≥ 1.882 → 2, 3.
    // Row 1: same values, n = 2 keeps ≥ 0.764 → 1, 2, 3. Row 2: n = 0 (off) keeps all.
    // Row 3: logits 0, 0, 1, 1 (mean 0.5, σ 0.5), n = 2 keeps ≥ 0: everything (ties at the cut).
    // Row 4: NaN: left for the invalid-row rule. Row 5: all −Infinity: unchanged.
    const NI = -Infinity;
    const rows = [
      [0, NI, 1, 2, 3],
      [0, 1, NI, 2, 3],
      [0, 1, 2, 3, NI],
      [0, 0, 1, 1, NI],
      [0, NaN, 1, 2, 3],
      [NI, NI, NI, NI, NI],
    ];
    const opts: SamplerOptions = { topNSigma: [1, 2, 0, 2, 1, 1] };
    const want = reference.process(rows, opts);
    expect(want.map(kept)).toEqual([[3, 4], [1, 3, 4], [0, 1, 2, 3], [0, 1, 2, 3], [0, 2, 3, 4], []]);
    expect(Number.isNaN(want[4]![1])).toBe(true);
    const got = await processed(opts, rows);
    expect(got.map(kept)).toEqual(want.map(kept));
    expect(Number.isNaN(got[4]![1])).toBe(true);
  });

  it('the kept set does not depend on the temperature (both sides of the cut scale by 1/T)', async () => {
    const rows = [Array.from({ length: 40 }, (_, j) => Math.sin(j * 1.7) * 3 + (j % 5))];
    const at = async (T: number): Promise<number[]> => kept((await processed({ temperature: T, topNSigma: 0.8 }, rows))[0]!);
    const k = await at(1);
    expect(k.length).toBeGreaterThan(1);
    expect(k.length).toBeLessThan(40);
    expect(await at(0.3)).toEqual(k);
    expect(await at(2.5)).toEqual(k);
    expect(kept(reference.process(rows, { temperature: 2.5, topNSigma: 0.8 })[0]!)).toEqual(k);
  });

  it('runs in the fused kernels (a floor under the row) and names itself in the chain', () => {
    const s = createSampler({ topK: 5, topNSigma: 1, seed: 1 });
    expect(s.name).toBe('top-n-sigma → top-k → gumbel');
    const x = tf.tensor2d([[1, 2, 3, 4, 5, 6, 7, 8]]);
    s.sample(x).dispose();
    expect(s.lastPath).toBe(defaultPath(backend));
    x.dispose();
    s.dispose();
    expect(topNSigma(0).name).toBe('?top-n-sigma');
  });

  // Random rows, per-row n and temperatures, with top-k / top-p / min-p in both orders: the kept
  // sets of process() and the tokens of sample() equal the reference's, row for row.
  it('property: kept sets and tokens equal the reference, in the default order and after top-k', async () => {
    const gpu = isSoftwareGpu(backend);
    const arb = fc.record({
      ...shapeArbs(gpu),
      logits: maskedLogits(20, 240),
      n: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0.05, max: 3, noNaN: true })), { minLength: 4, maxLength: 4 }),
      T: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0.2, max: 3, noNaN: true })),
      topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })),
      topP: fc.oneof(fc.constant(1), fc.double({ min: 0.3, max: 0.99, noNaN: true })),
      minP: fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 0.3, noNaN: true })),
      late: fc.boolean(),
    });
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const rows = Array.from({ length: c.B }, (_, r) => Array.from({ length: c.V }, (_, j) => Math.fround(c.logits[(r * 61 + j) % 240]!)));
        const opts: SamplerOptions = {
          temperature: c.T,
          topNSigma: c.n.slice(0, c.B),
          topK: c.topK,
          topP: c.topP,
          minP: c.minP,
          seed: c.seed,
          ...(c.late ? { order: ['temperature', 'top-k', 'top-n-sigma', 'top-p', 'min-p'] as const } : {}),
        };
        if (await expectReferenceAgreement(opts, rows)) compared++;
      }),
      { seed: 0x5eed0051, numRuns: gpu ? 12 : 100 },
    );
    expect(compared).toBeGreaterThan(gpu ? 5 : 40);
  });
});
