// One plan per call: a sampler resolves its per-row options once per batch size (plan.ts) and
// splits each 1/T array into its float32 pair once; every path of a call (fused kernels, the GPU
// chain, the tensor processors, the history editors) reads those. Counted at the library's own
// counters, on every backend, on the fused and the portable paths.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createSampler, type LogitsProcessor, type Sampler, type SamplerOptions } from '../src/index.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { PLAN_COUNTS } from '../src/plan.js';
import { BACKENDS, setFused } from './helpers/backend.js';
import { flatten, makeRows } from './helpers/logits.js';
import { backendSuite } from './helpers/suite.js';

const B = 3;
const V = 300;

const shift: LogitsProcessor = { name: 'shift', apply: (s) => ({ ...s, logits: tf.sub(s.logits, tf.scalar(0.25)) as tf.Tensor2D }) };

/** Per-row arrays for every kind of option: plain, composite, history, minTokensToKeep. */
const SETS: Array<[string, SamplerOptions]> = [
  ['T, top-k, top-p, min-p per row', { temperature: [0.7, 1, 0], topK: [20, 0, 5], topP: [0.9, 1, 0.5], minP: [0, 0.05, 0.1], seed: 1 }],
  [
    'bands, XTC, minTokensToKeep per row',
    {
      topNSigma: [2, 0, 3],
      typicalP: [0.9, 1, 0.8],
      epsilonCutoff: 1e-4,
      etaCutoff: [1e-3, 0, 0],
      xtc: [
        { probability: 1, threshold: 0.1 },
        { probability: 0, threshold: 0.1 },
        { probability: 1, threshold: 0.2 },
      ],
      minTokensToKeep: [1, 2, 3],
      seed: 2,
    },
  ],
  [
    'Mirostat v2',
    {
      temperature: 0.9,
      mirostat: [
        { version: 2, tau: 4 },
        { version: 2, tau: 5 },
        { version: 2, tau: 6 },
      ],
      seed: 3,
    },
  ],
  ['dynamic temperature', { temperature: [0.8, 1, 1.2], dynamicTemperature: [{ range: 0.3 }, { range: 0 }, { range: 0.5 }], topK: 40, seed: 4 }],
  [
    'penalties, n-grams, min length per row',
    {
      repetitionPenalty: [1.2, 1, 1.1],
      frequencyPenalty: [0.5, 0, 0.1],
      penaltyLastN: [8, 64, 2],
      noRepeatNgramSize: [2, 0, 3],
      minNewTokens: [2, 0, 1],
      stopTokens: [0],
      topK: 30,
      seed: 5,
    },
  ],
  ['a user processor (the portable chain)', { processors: [shift], temperature: [0.8, 1, 1.5], topP: 0.9, seed: 6 }],
];

const rows = makeRows('peaky', B, V, 'plan');

function logits(): tf.Tensor2D {
  return tf.tensor2d(flatten(rows), [B, V]);
}

/** Counts made by one call. */
async function counted(run: () => Promise<unknown>): Promise<{ resolutions: number; splits: number }> {
  const before = { ...PLAN_COUNTS };
  await run();
  return { resolutions: PLAN_COUNTS.resolutions - before.resolutions, splits: PLAN_COUNTS.splits - before.splits };
}

const begin = (s: Sampler, o: SamplerOptions): void => {
  if (o.repetitionPenalty !== undefined) s.begin([[1, 2, 3], [4], [5, 5]]);
  else s.begin([[], [], []]);
};

describe.each(BACKENDS)('one plan per call on %s', (backend) => {
  backendSuite(backend);

  it.each(SETS)('%s: the first call resolves the options; later calls of every kind resolve none and split no 1/T twice', async (_name, options) => {
    registerFusedFlag();
    const was = tf.env().getBool('TFJS_SAMPLING_FUSED');
    for (const fused of [true, false]) {
      setFused(fused);
      try {
        const s = createSampler(options);
        begin(s, options);
        const x = logits();
        try {
          const first = await counted(() => s.sampleIds(x));
          expect(first.resolutions).toBeGreaterThan(0);
          // The counter counts: the GPU chain splits the plan's 1/T, the tensor chain its
          // temperature's. (The cpu and wasm kernels read 1/T in float64: nothing to split.)
          if (!/^fused:(cpu|wasm)$/.test(s.lastPath)) expect(first.splits, `first call on ${s.lastPath}: no 1/T split`).toBeGreaterThan(0);
          const calls: Array<[string, () => Promise<unknown>]> = [
            ['sampleIds', () => s.sampleIds(x)],
            ['sampleIdsWithLogprobs', () => s.sampleIdsWithLogprobs(x, undefined, { topLogprobs: 2 })],
            ['process', async () => tf.dispose(s.process(x))],
            ['probabilities', async () => tf.dispose(s.probabilities(x))],
          ];
          const splits: Record<string, number> = {};
          const paths: Record<string, string> = {};
          for (const [name, run] of calls) {
            const c = await counted(run);
            paths[name] = s.lastPath;
            const again = await counted(run);
            expect(c.resolutions, `${name}: options resolved again`).toBe(0);
            expect(again.resolutions, `${name}: options resolved again`).toBe(0);
            // A call splits only the 1/T arrays it makes itself: as many on every call.
            expect(again.splits, `${name} on ${s.lastPath}: more 1/T splits than the call before`).toBe(c.splits);
            // The fused paths read the plan's 1/T, split once per batch size (on the first call).
            if (name === 'sampleIds' && s.lastPath.startsWith('fused')) expect(c.splits, `${name} on ${s.lastPath}: a 1/T split again`).toBe(0);
            splits[name] = c.splits;
          }
          // process() and probabilities() run the tensor chain once, whose temperature makes its
          // 1/T afresh (dynamic temperature a second): each split once, alike in both, and alike
          // in a sampleIds call that took the same chain.
          expect(splits.process, 'process: no 1/T split').toBeGreaterThan(0);
          expect(splits.probabilities, 'probabilities and process split differently').toBe(splits.process);
          if (!paths.sampleIds!.startsWith('fused')) expect(splits.sampleIds, `sampleIds on ${paths.sampleIds}: not as process`).toBe(splits.process);
          s.dispose();
        } finally {
          x.dispose();
        }
      } finally {
        setFused(was);
      }
    }
  });

  it('a batch size change resolves again (the counter counts)', async () => {
    const s = createSampler({ temperature: 0.8, topK: 10, topP: 0.9, seed: 9 });
    const x = logits();
    const y = tf.slice(x, [0, 0], [2, V]);
    try {
      await s.sampleIds(x);
      expect((await counted(() => s.sampleIds(x))).resolutions).toBe(0);
      expect((await counted(() => s.sampleIds(y))).resolutions).toBeGreaterThan(0);
      expect((await counted(() => s.sampleIds(y))).resolutions).toBe(0);
    } finally {
      tf.dispose([x, y]);
      s.dispose();
    }
  });
});
