// ε- and η-cutoff (issue 11): Hugging Face's test vectors, hand-computed edge rows, and exact
// agreement of kept sets and tokens with the float64 reference on every backend.
import fc from 'fast-check';
import { maskedLogits, shapeArbs } from './helpers/fuzz-arbitraries.js';
import { describe, expect, it } from 'vitest';
import { epsilonCutoff, etaCutoff, reference, type SamplerOptions } from '../src/index.js';
import { BACKENDS, isSoftwareGpu } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { expectReferenceAgreement, kept, processed } from './helpers/chain.js';

// huggingface/transformers@5ea83b0e4bed678bda24e6a1512b7afae30f359a
// tests/generation/test_logits_process.py, test_epsilon_dist_warper / test_eta_dist_warper:
// logits = ln(probs); the warper masks (it does not renormalise), so the kept sets are compared.
// The ramp rows (arange(10) − 5, the second ×100) are the tests' edge cases; the source asserts
// them with min_tokens_to_keep = 2 ([3, 2] for ε 0.05); without it (not supported here yet) the
// counts below are derived by hand from the rule: ε 0.05 keeps q ≥ 0.05 of
// softmax(ramp) = 0.632, 0.233, 0.086, 0.031, … → 3, and 1 on the ×100 row; η 0.1 has
// H ≈ 1.04 on the first row, cut min(0.1, √0.1·e^−1.04 ≈ 0.11) = 0.1 → 2, and 1 on the ×100 row.
const ramp = Array.from({ length: 10 }, (_, j) => j - 5);
const HF_CUTOFF = [
  {
    name: 'epsilon 0.1',
    opts: { epsilonCutoff: 0.1 },
    logits: [
      [0.87, 0.099, 0.001, 0.03],
      [0.4, 0.299, 0.101, 0.2],
    ].map((r) => r.map(Math.log)),
    kept: [[0], [0, 1, 2, 3]],
  },
  {
    name: 'eta 0.0625',
    opts: { etaCutoff: 0.0625 },
    logits: [
      [0, 0.1, 0.8, 0.1],
      [0.01, 0.04, 0.9, 0.05],
    ].map((r) => r.map(Math.log)),
    kept: [[1, 2, 3], [2]],
  },
  { name: 'epsilon 0.05, ramp (derived)', opts: { epsilonCutoff: 0.05 }, logits: [ramp, ramp.map((v) => v * 100)], kept: [[7, 8, 9], [9]] },
  { name: 'eta 0.1, ramp (derived)', opts: { etaCutoff: 0.1 }, logits: [ramp, ramp.map((v) => v * 100)], kept: [[8, 9], [9]] },
];

describe.each(BACKENDS)('ε- and η-cutoff on %s', (backend) => {
  backendSuite(backend);

  it.each(HF_CUTOFF)('transformers $name', async (c) => {
    expect(reference.process(c.logits, c.opts).map(kept)).toEqual(c.kept);
    expect((await processed(c.opts, c.logits)).map(kept)).toEqual(c.kept);
  });

  it('hand-computed rows: the cut follows the temperature, the maxima always stay, invalid rows untouched', async () => {
    // Row 0: q ∝ e^(0, 1, 2) at T = 1: 0.090, 0.245, 0.665; ε 0.1 keeps 1, 2. At T = 0.5:
    // 0.016, 0.117, 0.867: keeps 1, 2. Row 1 at T = 0.25: 0.0003, 0.018, 0.982: keeps 2 only.
    // Row 2: ε 0.9 drops every token but the maxima (two tied: both stay).
    // Row 3: NaN: left for the invalid-row rule. Row 4: nothing finite: unchanged.
    const NI = -Infinity;
    const rows = [
      [0, 1, 2, NI],
      [0, 1, 2, NI],
      [3, 1, 3, 0],
      [0, NaN, 1, 2],
      [NI, NI, NI, NI],
    ];
    const opts: SamplerOptions = { temperature: [0.5, 0.25, 1, 1, 1], epsilonCutoff: [0.1, 0.1, 0.9, 0.1, 0.1] };
    const want = reference.process(rows, opts);
    expect(want.map(kept)).toEqual([[1, 2], [2], [0, 2], [0, 2, 3], []]);
    const got = await processed(opts, rows);
    expect(got.map(kept)).toEqual(want.map(kept));
    expect(Number.isNaN(got[3]![1])).toBe(true);
    expect(epsilonCutoff(0).name).toBe('?epsilon-cutoff');
    expect(etaCutoff([0, 0.1]).name).toBe('eta-cutoff');
  });

  // Random rows, per-row ε / η and temperatures, with top-k / top-p / min-p / top-nσ before
  // them: the kept sets of process() and the tokens of sample() equal the reference's.
  it('property: kept sets and tokens equal the reference after the other filters', async () => {
    const gpu = isSoftwareGpu(backend);
    const arb = fc.record({
      ...shapeArbs(gpu),
      logits: maskedLogits(12, 240),
      eps: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.5, noNaN: true })), { minLength: 4, maxLength: 4 }),
      eta: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.5, noNaN: true })), { minLength: 4, maxLength: 4 }),
      T: fc.oneof(fc.constant(1), fc.constant(0), fc.double({ min: 0.2, max: 3, noNaN: true })),
      topK: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 10 })),
      topP: fc.oneof(fc.constant(1), fc.double({ min: 0.3, max: 0.99, noNaN: true })),
      topNSigma: fc.oneof(fc.constant(0), fc.double({ min: 0.5, max: 3, noNaN: true })),
    });
    let compared = 0;
    await fc.assert(
      fc.asyncProperty(arb, async (c) => {
        const rows = Array.from({ length: c.B }, (_, r) => Array.from({ length: c.V }, (_, j) => Math.fround(c.logits[(r * 61 + j) % 240]!)));
        const opts: SamplerOptions = {
          temperature: c.T,
          epsilonCutoff: c.eps.slice(0, c.B),
          etaCutoff: c.eta.slice(0, c.B),
          topK: c.topK,
          topP: c.topP,
          topNSigma: c.topNSigma,
          seed: c.seed,
        };
        if (await expectReferenceAgreement(opts, rows)) compared++;
      }),
      { seed: 0x5eed0061, numRuns: gpu ? 12 : 100 },
    );
    expect(compared).toBeGreaterThan(gpu ? 5 : 40);
  });
});
