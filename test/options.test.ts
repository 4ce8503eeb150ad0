// Option handling at the edges JavaScript allows (holes in sparse arrays, DataViews, bigints,
// inherited names, misspelt context keys): every bad option gives a SamplingError naming the
// argument, the rule and the value at createSampler (not later, not with a misleading rule), and a
// per-row object array means the same thing however its off rows are written.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createSampler, presetOptions, reference, type SamplerOptions } from '../src/index.js';
import { validateDynamicTemperature, validateMirostat, validateXtc } from '../src/chain-options.js';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { caught } from './helpers/errors.js';

const ROWS = [
  [0, 1, 2, 3],
  [3, 2, 1, 0],
];

describe.each(BACKENDS)('Sampler options (review) on %s', (backend) => {
  backendSuite(backend);

  it('a hole in a per-row xtc / mirostat / dynamicTemperature array is an off row, as undefined is', async () => {
    // eslint-style holes: [a, ,] has length 2 and no entry 1.
    const sparse = <T>(first: T): T[] => {
      const a: T[] = [first];
      a.length = 2;
      return a;
    };
    expect(validateXtc(sparse({ probability: 1 }))).toEqual(validateXtc([{ probability: 1 }, undefined]));
    expect(validateMirostat(sparse({ version: 2 }))).toEqual(validateMirostat([{ version: 2 }, undefined]));
    expect(validateDynamicTemperature(sparse({ range: 0.5 }))).toEqual(validateDynamicTemperature([{ range: 0.5 }, undefined]));
    // The tensor path read the hole as Mirostat version NaN: row 1 became one-hot, while the
    // reference (and an explicit undefined) leave it off.
    const x = tf.tensor2d(ROWS);
    try {
      for (const opts of [
        { mirostat: sparse({ version: 2 as const }) },
        { xtc: sparse({ probability: 1, threshold: 0.1 }) },
        { temperature: 0.8, dynamicTemperature: sparse({ range: 0.5 }) },
      ] as SamplerOptions[]) {
        const p = createSampler({ ...opts, seed: 1 }).probabilities(x);
        const got = (await p.array()) as number[][];
        p.dispose();
        const want = reference.probabilities(ROWS, { ...opts, seed: 1 });
        for (let r = 0; r < ROWS.length; r++) for (let j = 0; j < 4; j++) expect(got[r]![j]).toBeCloseTo(want[r]![j]!, 5);
      }
    } finally {
      x.dispose();
    }
  });

  it('order: an inherited property name is not a named order (rule and value name the string)', () => {
    for (const name of ['toString', 'constructor', 'hasOwnProperty', '__proto__']) {
      const e = caught(() => createSampler({ order: name as 'hf' }));
      expect(e.argument).toBe('order');
      expect(e.message).toBe(`\`order\` must be an array of names or one of "llama.cpp", "hf", "vllm", but is ${JSON.stringify(name)}`);
    }
  });

  it('order: a hole in a sparse array is not a name', () => {
    const order = ['top-k', 'top-p'] as ('top-k' | 'top-p')[];
    order.length = 3; // ['top-k', 'top-p', <hole>]
    const e = caught(() => createSampler({ topK: 2, order }));
    expect(e.argument).toBe('order');
    expect(e.rule).toContain('must list distinct names');
    expect(e.message).toContain('["top-k", "top-p", undefined]');
  });

  it('a DataView is not a per-row array: rejected at createSampler, not read as an empty array', () => {
    const view = new DataView(new ArrayBuffer(8));
    for (const name of ['temperature', 'topK', 'seed', 'repetitionPenalty'] as const) {
      const e = caught(() => createSampler({ [name]: view } as SamplerOptions));
      expect(e.argument).toBe(name);
      expect(e.message).toBe(`\`${name}\` must be a number or an array with one number per row, but is a DataView of 8 bytes`);
    }
  });

  it('a bigint is shown as a bigint in the message (0n, not 0)', () => {
    const e = caught(() => createSampler({ temperature: BigInt64Array.of(0n) as unknown as number[] }));
    expect(e.argument).toBe('temperature[0]');
    expect(e.message).toBe('`temperature[0]` must be a finite number >= 0 (0 means greedy), but is 0n');
    const x = tf.tensor2d(ROWS);
    try {
      const s = createSampler({ seed: 1 });
      const f = caught(() => s.sample(x, { seeds: BigInt64Array.of(1n, 2n) as unknown as number[] }));
      expect(f.message).toBe('`context.seeds[0]` must be a finite number, but is 1n');
    } finally {
      x.dispose();
    }
  });

  it('presetOptions: an array of overrides is not an object of options', () => {
    const e = caught(() => presetOptions('code', [] as unknown as SamplerOptions));
    expect(e.argument).toBe('overrides');
    expect(e.message).toBe('`overrides` must be an object of sampler options, but is []');
  });

  it('draw "multinomial" with per-row seeds: rejected wherever options are validated', () => {
    const opts: SamplerOptions = { draw: 'multinomial', seed: [1, 2] };
    const want = '`seed` must be one number with draw "multinomial" (tf.multinomial takes one seed per call), but is [1, 2]';
    expect(caught(() => createSampler(opts)).message).toBe(want);
    expect(caught(() => presetOptions('code', opts)).message).toBe(want);
    expect(caught(() => reference.probabilities(ROWS, opts)).message).toBe(want);
  });

  it('a hole in a per-row logitBias / allowedTokens / badWords / dry array: a typed error at createSampler, or an off row (dry)', async () => {
    const sparse = <T>(first: T): T[] => {
      const a: T[] = [first];
      a.length = 2;
      return a;
    };
    // Each was accepted and then failed at the first call with a TypeError or a RangeError.
    expect(caught(() => createSampler({ logitBias: sparse({ 0: 5 }) })).argument).toBe('logitBias[1]');
    expect(caught(() => createSampler({ allowedTokens: sparse([1]) })).argument).toBe('allowedTokens[1]');
    expect(caught(() => createSampler({ badWords: sparse([1]) })).argument).toBe('badWords[1]');
    const before = tf.memory().numTensors;
    const holed = createSampler({ dry: sparse({ multiplier: 0.8 }), temperature: 0 });
    const written = createSampler({ dry: [{ multiplier: 0.8 }, undefined], temperature: 0 });
    for (const s of [holed, written])
      s.begin([
        [1, 2, 1],
        [1, 2, 1],
      ]);
    const x = tf.tensor2d(ROWS);
    const a = Array.from(await holed.sampleIds(x));
    const b = Array.from(await written.sampleIds(x));
    expect(a).toEqual(b);
    x.dispose();
    holed.dispose();
    written.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a DataView is no token list (stopTokens, allowedTokens) and no prompt (begin)', () => {
    const view = new DataView(new ArrayBuffer(8));
    expect(caught(() => createSampler({ stopTokens: view as unknown as number[] })).argument).toBe('stopTokens');
    expect(caught(() => createSampler({ allowedTokens: view as unknown as number[] })).argument).toBe('allowedTokens');
    const s = createSampler({ repetitionPenalty: 1.2 });
    expect(caught(() => s.begin([view as unknown as number[]])).argument).toBe('prompts[0]');
    s.dispose();
  });

  it('the call context: an array or an unknown key ({ step }) is a typed error naming the known keys, nothing left behind', () => {
    const s = createSampler({ temperature: 1, seed: 1 });
    const x = tf.tensor2d(ROWS);
    const before = tf.memory().numTensors;
    const arr = caught(() => s.sample(x, [] as never));
    expect(arr.message).toBe('`context` must be an object { history?, mask?, accept?, steps?, seeds? }, but is []');
    const typo = caught(() => s.sample(x, { step: [1, 2] } as never));
    expect(typo.message).toBe('`context` must only use known keys (history, mask, accept, steps, seeds), but is "step"');
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    s.dispose();
  });

  it('sample(): a processor whose accept throws leaves no tensor behind (the drawn ids are freed)', () => {
    const throwing = {
      name: 'throws-on-accept',
      apply: (st: never) => st,
      accept: () => {
        throw new Error('accept failed');
      },
    };
    const s = createSampler({ processors: [throwing as never], order: [], seed: 1 });
    const x = tf.tensor2d(ROWS);
    const before = tf.memory().numTensors;
    expect(() => s.sample(x)).toThrow('accept failed');
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    s.dispose();
  });
});
