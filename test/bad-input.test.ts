/// <reference types="vite/client" />
// Bad input, exhaustively: one test per row of docs/bad-input.md. Every public entry point, every
// class of bad argument (NaN, ±Infinity, negative, non-integer, out of range, wrong type, per-row
// length mismatch, empty arrays, typed arrays, wrong rank or dtype, disposed tensors, not a tensor,
// empty vocabulary, bad history, bad prompts, bad model outputs, invalid rows). Each row asserts
// the error class, the argument named, the exact message (which names the argument and shows the
// offending value), that tf.memory().numTensors is unchanged, and for invalid rows that no
// plausible token comes out.
//
// The table lives here; docs/bad-input.md is rendered from it, and a test fails when the file is
// not exactly what this data renders. After changing a row (or when src/ changes a message):
//   TFJS_SAMPLING_WRITE_DOCS=1 TFJS_SAMPLING_ONLY=cpu TFJS_SAMPLING_INCLUDE=test/bad-input.test.ts npx vitest run
// rewrites docs/bad-input.md; the per-row tests show the real message when one in MESSAGES is
// stale, and TFJS_SAMPLING_BAD_INPUT_PRINT=1 prints every row's real message (Node projects).
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import {
  INVALID_CODE,
  InvalidRowsError,
  SamplingError,
  createSampler,
  distributionStats,
  entropy,
  generate,
  score,
  minP,
  topNSigma,
  epsilonCutoff,
  typicalP,
  xtc,
  mirostat,
  etaCutoff,
  presetOptions,
  readDistributionStats,
  readIds,
  reference,
  selectBackend,
  softmax,
  taskPreset,
  temperature,
  topK,
  topP,
  type LogitsProcessor,
  type SamplerOptions,
  type SamplingState,
} from '../src/index.js';
import doc from '../docs/bad-input.md?raw';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';

type ErrorClass = 'SamplingError' | 'InvalidRowsError' | 'Error' | 'none';

interface Row {
  /** The public entry point called. */
  entry: string;
  /** The bad input, as code (unique per entry). */
  input: string;
  /**
   * What it raises: `SamplingError` (never an `InvalidRowsError`), `InvalidRowsError`, a plain
   * `Error` (environment failures only), or `none` when the input is accepted as documented.
   */
  error: ErrorClass;
  /** For errors: `err.argument`, also quoted in the message as `` `argument` ``. */
  argument?: string;
  /** For errors: the offending value as the message shows it. */
  value?: string;
  /** For `none`: what happens instead of an error (the `accept` check asserts it). */
  outcome?: string;
  /** Tensors the call needs: created before counting, disposed after. */
  setup?: () => tf.Tensor[];
  /** The call (sync or async). */
  call: (...t: tf.Tensor[]) => unknown;
  /** For `none`: checks (and disposes) the result. */
  accept?: (result: unknown, backend: string) => void | Promise<void>;
  /** Only on these backends (default: every backend). */
  backends?: readonly string[];
}

/** A known hole: the test asserts what should happen (`it.fails` until src/ is fixed). */
interface Hole extends Row {
  /** What happens now, observed by running the call. */
  now: string;
  /** Suggested fix. */
  fix: string;
}

// ---------------------------------------------------------------------------------------------
// Helpers for the rows.

const s = (o: SamplerOptions = {}): ReturnType<typeof createSampler> => createSampler({ seed: 1, ...o });
const bad = (v: unknown): never => v as never;
const f32 = (rows: number[][]): tf.Tensor2D => tf.tensor2d(rows, undefined, 'float32');
const disposed = (t: tf.Tensor): tf.Tensor => {
  t.dispose();
  return t;
};
const zerosModel = (tokens: tf.Tensor2D): tf.Tensor => tf.zeros([tokens.shape[0], 4]);
const GEN = { prompts: [[1, 2]], padId: 0, maxNewTokens: 2 } as const;
const gen = (over: Record<string, unknown>, model: unknown = zerosModel): Promise<unknown> => generate(bad(model), bad({ ...GEN, ...over }));
/** A grammar engine of 3 tokens that never compiles anything (the option's checks come first). */
const fakeEngine = { vocabSize: 3, cached: 0, compile: async () => ({}), matcher: async () => ({}), dispose: () => {} };
/** A step function returning what `make` builds (created inside the call, freed by generate). */
const returning = (make: (b: number) => unknown) => (tokens: tf.Tensor2D) => make(tokens.shape[0]);

/** Adds `value` at token `at` of every row (tensor and reference twin). */
function adder(name: string, at: number, value: number): LogitsProcessor {
  return {
    name,
    apply: (state: SamplingState) => {
      const delta = new Float32Array(state.vocab);
      delta[at] = value;
      return { ...state, logits: tf.add(state.logits, tf.tensor2d(delta, [1, state.vocab])) as tf.Tensor2D };
    },
    reference: (state) => ({ ...state, logits: state.logits.map((r) => r.map((v, j) => (j === at ? v + value : v))) }),
  };
}
const banAll: LogitsProcessor = {
  name: 'ban-all',
  apply: (state) => ({ ...state, logits: tf.fill([state.batch, state.vocab], -Infinity) as tf.Tensor2D }),
  reference: (state) => ({ ...state, logits: state.logits.map((r) => r.map(() => -Infinity)) }),
};
/** A processor whose `apply` returns what `make` builds from the state. */
const returningState = (make: (state: SamplingState) => unknown): LogitsProcessor => ({ name: 'bad-output', apply: (state) => make(state) as SamplingState });
/** Records the history each call sees. */
const historySeen: unknown[] = [];
const historyProbe: LogitsProcessor = {
  name: 'top-k',
  apply: (state) => {
    historySeen.push(state.history ? state.history.shape : 'none');
    return state;
  },
};
const noTwin: LogitsProcessor = { name: 'no-twin', apply: (state) => state };

const expectTensor = (r: unknown, dtype: string, shape: number[]): tf.Tensor => {
  expect(r).toBeInstanceOf(tf.Tensor);
  const t = r as tf.Tensor;
  expect(t.dtype).toBe(dtype);
  expect(t.shape).toEqual(shape);
  return t;
};
/** sample() of invalid rows: every listed row gets a negative code, never a token id. */
const codes =
  (expected: (number | 'negative')[]) =>
  async (r: unknown): Promise<void> => {
    const t = expectTensor(r, 'int32', [expected.length]);
    const ids = Array.from(await t.data());
    t.dispose();
    ids.forEach((id, i) => {
      const want = expected[i]!;
      if (want === 'negative') expect(id).toBeLessThan(0);
      else expect(id).toBe(want);
    });
  };
const nanRows = async (r: unknown): Promise<void> => {
  const t = r as tf.Tensor;
  const values = Array.from(await t.data());
  t.dispose();
  expect(values.length).toBeGreaterThan(0);
  expect(values.every(Number.isNaN)).toBe(true);
};
/** What a tensor of a second tfjs-core copy looks like here: a tensor's fields, another class. */
const foreignCopy = (t: tf.Tensor): unknown => {
  const o: Record<string, unknown> = {};
  for (const k of ['shape', 'dtype', 'rank', 'dataId', 'size', 'strides', 'id']) o[k] = (t as unknown as Record<string, unknown>)[k];
  Object.defineProperty(o, 'isDisposed', { get: () => t.isDisposed });
  return o;
};

// ---------------------------------------------------------------------------------------------
// createSampler(options): everything is checked at construction.

const CREATE: [input: string, options: unknown, argument: string, value: string][] = [
  ['null', null, 'options', 'null'],
  ['42', 42, 'options', '42'],
  ["'greedy'", 'greedy', 'options', '"greedy"'],
  ['{ top_p: 0.9 } (unknown name)', { top_p: 0.9 }, 'options', '"top_p"'],
  ['{ temprature: 0.5 } (misspelt)', { temprature: 0.5 }, 'options', '"temprature"'],
  ['temperature: NaN', { temperature: NaN }, 'temperature', 'NaN'],
  ['temperature: Infinity', { temperature: Infinity }, 'temperature', 'Infinity'],
  ['temperature: -Infinity', { temperature: -Infinity }, 'temperature', '-Infinity'],
  ['temperature: -0.5', { temperature: -0.5 }, 'temperature', '-0.5'],
  ["temperature: '0.7'", { temperature: '0.7' }, 'temperature', '"0.7"'],
  ['temperature: null', { temperature: null }, 'temperature', 'null'],
  ['temperature: true', { temperature: true }, 'temperature', 'true'],
  ['temperature: {}', { temperature: {} }, 'temperature', '{}'],
  ['temperature: []', { temperature: [] }, 'temperature', '[]'],
  ['temperature: [1, NaN]', { temperature: [1, NaN] }, 'temperature[1]', 'NaN'],
  ["temperature: [1, '1']", { temperature: [1, '1'] }, 'temperature[1]', '"1"'],
  ['temperature: Float32Array [1, -1]', { temperature: Float32Array.of(1, -1) }, 'temperature[1]', '-1'],
  ['topK: 1.5', { topK: 1.5 }, 'topK', '1.5'],
  ['topK: -1', { topK: -1 }, 'topK', '-1'],
  ['topK: NaN', { topK: NaN }, 'topK', 'NaN'],
  ['topK: Infinity', { topK: Infinity }, 'topK', 'Infinity'],
  ['topK: -Infinity', { topK: -Infinity }, 'topK', '-Infinity'],
  ["topK: '40'", { topK: '40' }, 'topK', '"40"'],
  ['topK: null', { topK: null }, 'topK', 'null'],
  ['topK: []', { topK: [] }, 'topK', '[]'],
  ['topK: [1, 2.5]', { topK: [1, 2.5] }, 'topK[1]', '2.5'],
  ['topK: Int32Array [5, -5]', { topK: Int32Array.of(5, -5) }, 'topK[1]', '-5'],
  ['topP: 0', { topP: 0 }, 'topP', '0'],
  ['topP: -0.1', { topP: -0.1 }, 'topP', '-0.1'],
  ['topP: 1.1', { topP: 1.1 }, 'topP', '1.1'],
  ['topP: NaN', { topP: NaN }, 'topP', 'NaN'],
  ['topP: Infinity', { topP: Infinity }, 'topP', 'Infinity'],
  ['topP: -Infinity', { topP: -Infinity }, 'topP', '-Infinity'],
  ["topP: '0.9'", { topP: '0.9' }, 'topP', '"0.9"'],
  ['topP: []', { topP: [] }, 'topP', '[]'],
  ['topP: [0.9, 0]', { topP: [0.9, 0] }, 'topP[1]', '0'],
  ['topP: Float32Array [0.5, 2]', { topP: Float32Array.of(0.5, 2) }, 'topP[1]', '2'],
  ['minP: -0.1', { minP: -0.1 }, 'minP', '-0.1'],
  ['minP: 1.5', { minP: 1.5 }, 'minP', '1.5'],
  ['minP: NaN', { minP: NaN }, 'minP', 'NaN'],
  ['minP: Infinity', { minP: Infinity }, 'minP', 'Infinity'],
  ['minP: -Infinity', { minP: -Infinity }, 'minP', '-Infinity'],
  ["minP: '0.1'", { minP: '0.1' }, 'minP', '"0.1"'],
  ['minP: []', { minP: [] }, 'minP', '[]'],
  ['minP: [0.1, NaN]', { minP: [0.1, NaN] }, 'minP[1]', 'NaN'],
  ['minP: Float64Array [0.1, -1]', { minP: Float64Array.of(0.1, -1) }, 'minP[1]', '-1'],
  ['topNSigma: -1', { topNSigma: -1 }, 'topNSigma', '-1'],
  ['topNSigma: NaN', { topNSigma: NaN }, 'topNSigma', 'NaN'],
  ['topNSigma: Infinity', { topNSigma: Infinity }, 'topNSigma', 'Infinity'],
  ['topNSigma: [1, -0.5]', { topNSigma: [1, -0.5] }, 'topNSigma[1]', '-0.5'],
  ['epsilonCutoff: 1', { epsilonCutoff: 1 }, 'epsilonCutoff', '1'],
  ['epsilonCutoff: -0.1', { epsilonCutoff: -0.1 }, 'epsilonCutoff', '-0.1'],
  ['etaCutoff: NaN', { etaCutoff: NaN }, 'etaCutoff', 'NaN'],
  ['etaCutoff: [0.1, 1.5]', { etaCutoff: [0.1, 1.5] }, 'etaCutoff[1]', '1.5'],
  ['typicalP: 0', { typicalP: 0 }, 'typicalP', '0'],
  ['typicalP: [0.9, 1.5]', { typicalP: [0.9, 1.5] }, 'typicalP[1]', '1.5'],
  ['minTokensToKeep: 0', { minTokensToKeep: 0 }, 'minTokensToKeep', '0'],
  ['minTokensToKeep: 1.5', { minTokensToKeep: 1.5 }, 'minTokensToKeep', '1.5'],
  ['minTokensToKeep: 2 ** 31', { minTokensToKeep: 2 ** 31 }, 'minTokensToKeep', '2147483648'],
  ['xtc: 0.5 (not an object)', { xtc: 0.5 }, 'xtc', '0.5'],
  ['xtc: []', { xtc: [] }, 'xtc', '[]'],
  ['xtc: { probability: 2 }', { xtc: { probability: 2 } }, 'xtc.probability', '2'],
  ['xtc: { probability: 0.5, threshold: -1 }', { xtc: { probability: 0.5, threshold: -1 } }, 'xtc.threshold', '-1'],
  ['xtc: { probability: 0.5, thresh: 0.1 }', { xtc: { probability: 0.5, thresh: 0.1 } }, 'xtc', '"thresh"'],
  ['xtc: [undefined, { threshold: 0.1 }]', { xtc: [undefined, { threshold: 0.1 }] }, 'xtc[1].probability', 'undefined'],
  ['dynamicTemperature: { range: -1 }', { dynamicTemperature: { range: -1 } }, 'dynamicTemperature.range', '-1'],
  ['dynamicTemperature: { range: 0.5, exponent: NaN }', { dynamicTemperature: { range: 0.5, exponent: NaN } }, 'dynamicTemperature.exponent', 'NaN'],
  ['mirostat: { version: 3 }', { mirostat: { version: 3 } }, 'mirostat.version', '3'],
  ['mirostat: { version: 2, tau: -1 }', { mirostat: { version: 2, tau: -1 } }, 'mirostat.tau', '-1'],
  ["mirostat: [{ version: 2 }, 'v2']", { mirostat: [{ version: 2 }, 'v2'] }, 'mirostat[1]', '"v2"'],
  ["order: 'llama' (no such named order)", { order: 'llama' }, 'order', '"llama"'],
  ["order: 'vllm' with typicalP 0.9", { order: 'vllm', typicalP: 0.9 }, 'order', '"typicalP"'],
  ["order: 'hf' with dynamicTemperature", { order: 'hf', dynamicTemperature: { range: 0.5 } }, 'order', '"dynamicTemperature"'],
  ["order: 'vllm' with minTokensToKeep 3", { order: 'vllm', topK: 5, minTokensToKeep: 3 }, 'order', '"minTokensToKeep"'],
  ["order: ['mirostat', 'top-k'] (Mirostat not last)", { order: ['mirostat', 'top-k'], topK: 5, mirostat: { version: 2 } }, 'order', '["mirostat", "top-k"]'],
  ['seed: NaN', { seed: NaN }, 'seed', 'NaN'],
  ['seed: Infinity', { seed: Infinity }, 'seed', 'Infinity'],
  ['seed: -Infinity', { seed: -Infinity }, 'seed', '-Infinity'],
  ["seed: '42'", { seed: '42' }, 'seed', '"42"'],
  ['seed: null', { seed: null }, 'seed', 'null'],
  ['seed: []', { seed: [] }, 'seed', '[]'],
  ['seed: [1, NaN]', { seed: [1, NaN] }, 'seed[1]', 'NaN'],
  ["order: 'temperature' (not an array)", { order: 'temperature' }, 'order', '"temperature"'],
  ["order: ['top-p', 'nucleus']", { order: ['top-p', 'nucleus'] }, 'order', '"nucleus"'],
  ["order: ['top-p', 'top-p']", { order: ['top-p', 'top-p'] }, 'order', '["top-p", "top-p"]'],
  ["topP: 0.9, order: ['temperature'] (top-p left out)", { topP: 0.9, order: ['temperature'] }, 'order', '["temperature"]'],
  ['processors: {} (not an array)', { processors: {} }, 'processors', '{}'],
  ['processors: [null]', { processors: [null] }, 'processors[0]', 'null'],
  ['processors: [42]', { processors: [42] }, 'processors[0]', '42'],
  ["processors: [{ name: 'x' }] (no apply)", { processors: [{ name: 'x' }] }, 'processors[0]', '{"name":"x"}'],
  ['processors: [{ apply }] (no name)', { processors: [{ apply: () => undefined }] }, 'processors[0]', '{}'],
  ['processors: [{ name, apply, accept: 42 }]', { processors: [{ name: 'x', apply: (st: unknown) => st, accept: 42 }] }, 'processors[0].accept', '42'],
  ["processors: [{ name, apply, clone: 'copy' }]", { processors: [{ name: 'x', apply: (st: unknown) => st, clone: 'copy' }] }, 'processors[0].clone', '"copy"'],
  ["order: 'toString' (an Object.prototype name)", { order: 'toString' }, 'order', '"toString"'],
  ["order: ['top-k', <hole>] (a sparse array)", { order: Object.assign(['top-k'], { length: 2 }) }, 'order', '["top-k", undefined]'],
  ['temperature: a DataView', { temperature: new DataView(new ArrayBuffer(8)) }, 'temperature', 'a DataView of 8 bytes'],
  ['temperature: BigInt64Array [0n]', { temperature: BigInt64Array.of(0n) }, 'temperature[0]', '0n'],
  ["draw: 'inverse-cdf'", { draw: 'inverse-cdf' }, 'draw', '"inverse-cdf"'],
  ['draw: 42', { draw: 42 }, 'draw', '42'],
  ["draw: 'multinomial', seed: [1, 2]", { draw: 'multinomial', seed: [1, 2] }, 'seed', '[1, 2]'],
  ["invalidRows: 'skip'", { invalidRows: 'skip' }, 'invalidRows', '"skip"'],
  ['invalidRows: true', { invalidRows: true }, 'invalidRows', 'true'],
  ['repetitionPenalty: 0', { repetitionPenalty: 0 }, 'repetitionPenalty', '0'],
  ['repetitionPenalty: [1, NaN]', { repetitionPenalty: [1, NaN] }, 'repetitionPenalty[1]', 'NaN'],
  ['frequencyPenalty: Infinity', { frequencyPenalty: Infinity }, 'frequencyPenalty', 'Infinity'],
  ["presencePenalty: '0.5'", { presencePenalty: '0.5' }, 'presencePenalty', '"0.5"'],
  ['penaltyLastN: 0', { penaltyLastN: 0 }, 'penaltyLastN', '0'],
  ['penaltyLastN: 2.5', { penaltyLastN: 2.5 }, 'penaltyLastN', '2.5'],
  ['penalizePrompt: { prompt: true }', { penalizePrompt: { prompt: true } }, 'penalizePrompt', '"prompt"'],
  ['penalizePrompt: { frequency: 1 }', { penalizePrompt: { frequency: 1 } }, 'penalizePrompt.frequency', '1'],
  ['noRepeatNgramSize: -1', { noRepeatNgramSize: -1 }, 'noRepeatNgramSize', '-1'],
  ['badWords: [[]]', { badWords: [[]] }, 'badWords[0]', '[]'],
  ['badWords: [[1.5]]', { badWords: [[1.5]] }, 'badWords[0][0]', '1.5'],
  ['logitBias: { 1: NaN }', { logitBias: { 1: NaN } }, 'logitBias[1]', 'NaN'],
  ["logitBias: { '1.0': 3 } (token 1 written otherwise)", { logitBias: { '1.0': 3 } }, 'logitBias', '"1.0"'],
  ["logitBias: { 1: 2, '01': 3 }", { logitBias: { 1: 2, '01': 3 } }, 'logitBias', '"01"'],
  ['logitBias: Map { 1.5 => 1 }', { logitBias: new Map([[1.5, 1]]) }, 'logitBias', '1.5'],
  ['logitBias: []', { logitBias: [] }, 'logitBias', '[]'],
  ['logitBias: [{ 0: 5 }, <hole>] (a sparse array)', { logitBias: Object.assign([{ 0: 5 }], { length: 2 }) }, 'logitBias[1]', 'undefined'],
  ['badWords: [[1], <hole>] (a sparse array)', { badWords: Object.assign([[1]], { length: 2 }) }, 'badWords[1]', 'undefined'],
  ['allowedTokens: [[1], <hole>] (a sparse array)', { allowedTokens: Object.assign([[1]], { length: 2 }) }, 'allowedTokens[1]', 'undefined'],
  ['stopTokens: a DataView', { stopTokens: new DataView(new ArrayBuffer(8)) }, 'stopTokens', 'a DataView of 8 bytes'],
  ['minNewTokens: 3 (no stopTokens)', { minNewTokens: 3 }, 'stopTokens', 'none'],
  ['stopTokens: [-1]', { stopTokens: [-1] }, 'stopTokens[0]', '-1'],
  ['allowedTokens: []', { allowedTokens: [] }, 'allowedTokens', '[]'],
  ['dry: 0.8 (not an object)', { dry: 0.8 }, 'dry', '0.8'],
  ['dry: []', { dry: [] }, 'dry', '[]'],
  ['dry: { base: 1.75 } (no multiplier)', { dry: { base: 1.75 } }, 'dry.multiplier', 'undefined'],
  ['dry: { multiplier: -0.5 }', { dry: { multiplier: -0.5 } }, 'dry.multiplier', '-0.5'],
  ['dry: { multiplier: 0.8, base: 0.5 }', { dry: { multiplier: 0.8, base: 0.5 } }, 'dry.base', '0.5'],
  ['dry: { multiplier: 0, base: 0.5 } (off, still checked)', { dry: { multiplier: 0, base: 0.5 } }, 'dry.base', '0.5'],
  ['dry: { multiplier: 0.8, allowedLength: 1.5 }', { dry: { multiplier: 0.8, allowedLength: 1.5 } }, 'dry.allowedLength', '1.5'],
  ['dry: { multiplier: 0.8, penaltyLastN: -2 }', { dry: { multiplier: 0.8, penaltyLastN: -2 } }, 'dry.penaltyLastN', '-2'],
  ['dry: { multiplier: 0.8, sequenceBreakers: [[]] }', { dry: { multiplier: 0.8, sequenceBreakers: [[]] } }, 'dry.sequenceBreakers[0]', '[]'],
  [
    "dry: { multiplier: 0.8, sequenceBreakers: ['\\n'] } (a string)",
    { dry: { multiplier: 0.8, sequenceBreakers: ['\n'] } },
    'dry.sequenceBreakers[0]',
    '"\\n"',
  ],
  ['dry: { multiplier: 0.8, allowed_length: 2 } (unknown name)', { dry: { multiplier: 0.8, allowed_length: 2 } }, 'dry', '"allowed_length"'],
  ['dry: [{ multiplier: 0.8 }, null]', { dry: [{ multiplier: 0.8 }, null] }, 'dry[1]', 'null'],
  ["penalizePrompt: { dry: 'yes' }", { penalizePrompt: { dry: 'yes' } }, 'penalizePrompt.dry', '"yes"'],
];

const CREATE_ACCEPTED: Row[] = [
  {
    entry: 'createSampler',
    input: 'dry: [{ multiplier: 0 }, undefined]',
    error: 'none',
    outcome: 'accepted: DRY off in every row (multiplier 0, as llama.cpp), left out of the chain',
    call: () => s({ dry: [{ multiplier: 0 }, undefined] }).name,
    accept: (r) => expect(r).not.toMatch(/dry/),
  },
  {
    entry: 'createSampler',
    input: 'temperature: -0',
    error: 'none',
    outcome: 'accepted: -0 ≥ 0, greedy like 0',
    setup: () => [f32([[0, 3, 1]])],
    call: (x) => s({ temperature: -0 }).sample(x!),
    accept: codes([1]),
  },
  {
    entry: 'createSampler',
    input: 'topK: 1e9 (k ≥ V)',
    error: 'none',
    outcome: 'accepted: top-k off for that row',
    setup: () => [f32([[0, 3, 1]])],
    call: (x) => s({ topK: 1e9 }).probabilities(x!),
    accept: async (r) => {
      const t = expectTensor(r, 'float32', [1, 3]);
      expect((await t.data()).every((p) => p > 0)).toBe(true);
      t.dispose();
    },
  },
  {
    entry: 'createSampler',
    input: 'draw: null, invalidRows: null, order: null, processors: null',
    error: 'none',
    outcome: 'accepted: null means the default (unlike the numeric options, where null is an error)',
    call: () => s(bad({ draw: null, invalidRows: null, order: null, processors: null })).name,
    accept: (r) => expect(r).toBe('gumbel'),
  },
  {
    entry: 'createSampler',
    input: 'topP: [0.5, 0.5], array mutated after createSampler',
    error: 'none',
    outcome: 'the sampler keeps the values it validated (a copy)',
    setup: () => [
      f32([
        [0, 1, 2],
        [2, 1, 0],
      ]),
    ],
    call: async (x) => {
      const p = [0.5, 0.5];
      const sampler = s({ topP: p, temperature: 3 });
      p[1] = 7;
      p.push(0.5);
      return [Array.from(await sampler.sampleIds(x!)), Array.from(await s({ topP: [0.5, 0.5], temperature: 3 }).sampleIds(x!))];
    },
    accept: (r) => {
      const [got, want] = r as [number[], number[]];
      expect(got).toEqual(want);
    },
  },
  {
    entry: 'createSampler',
    input: 'temperature: Float32Array [1, 1], set to -1 after createSampler',
    error: 'none',
    outcome: 'the sampler keeps the values it validated (a copy)',
    setup: () => [
      f32([
        [0, 1, 2],
        [2, 1, 0],
      ]),
    ],
    call: async (x) => {
      const t = Float32Array.of(0, 0);
      const sampler = s({ temperature: t });
      t[1] = -1;
      return Array.from(await sampler.sampleIds(x!));
    },
    accept: (r) => expect(r).toEqual([2, 0]),
  },
];

// ---------------------------------------------------------------------------------------------
// sampler.sample / sampleIds / probabilities / process: the logits and the per-call context.

const METHODS = ['sample', 'sampleIds', 'probabilities', 'process'] as const;
type Method = (typeof METHODS)[number];
/** Calls one sampler method; a call that throws must not advance the sampler's step. */
const callMethod = (m: Method, o: SamplerOptions, logits: unknown, context?: unknown): unknown => {
  const sampler = s(o);
  const stepUnchanged = (e: unknown): never => {
    expect(sampler.step, 'a failed call must not advance the step').toBe(0);
    throw e;
  };
  try {
    const r = (sampler[m] as (x: unknown, c?: unknown) => unknown)(logits, context);
    return r instanceof Promise ? r.catch(stepUnchanged) : r;
  } catch (e) {
    return stepUnchanged(e);
  }
};

const LOGITS: [input: string, setup: () => tf.Tensor[], pick: (t: tf.Tensor[]) => unknown, value: string][] = [
  ['[[1, 2]] (an array, not a tensor)', () => [], () => [[1, 2]], 'an array of length 1'],
  ['undefined', () => [], () => undefined, 'undefined'],
  ['null', () => [], () => null, 'null'],
  ['3 (a number)', () => [], () => 3, 'number 3'],
  ["{ shape: [1, 3], dtype: 'float32', rank: 2 } (tensor-like, not a tensor)", () => [], () => ({ shape: [1, 3], dtype: 'float32', rank: 2 }), 'a Object'],
  ['a disposed tensor', () => [], () => disposed(tf.zeros([1, 3])), 'a disposed tensor of shape [1,3]'],
  ['int32 [2, 3]', () => [tf.zeros([2, 3], 'int32')], (t) => t[0], '"int32"'],
  ['bool [1, 2]', () => [tf.tensor2d([[1, 0]], undefined, 'bool')], (t) => t[0], '"bool"'],
  ["string ['a', 'b']", () => [tf.tensor(['a', 'b'])], (t) => t[0], '"string"'],
  ['rank 0 (scalar)', () => [tf.scalar(1)], (t) => t[0], 'rank 0'],
  ['rank 3 [2, 2, 2]', () => [tf.zeros([2, 2, 2])], (t) => t[0], 'rank 3'],
  ['[2, 0] (empty vocabulary)', () => [tf.zeros([2, 0])], (t) => t[0], 'shape [2,0]'],
  ['[0] (rank 1, empty vocabulary)', () => [tf.zeros([0])], (t) => t[0], 'shape [0]'],
  ['[0, 0]', () => [tf.zeros([0, 0])], (t) => t[0], 'shape [0,0]'],
];

const PER_CALL: Row[] = [];
for (const m of METHODS) {
  const entry = `sampler.${m}`;
  for (const [input, setup, pick, value] of LOGITS) {
    PER_CALL.push({ entry, input: `logits: ${input}`, error: 'SamplingError', argument: 'logits', value, setup, call: (...t) => callMethod(m, {}, pick(t)) });
  }
  PER_CALL.push({
    entry,
    input: 'logits: [0, 5] (B = 0)',
    error: 'none',
    outcome: m === 'sample' ? 'int32 [0]' : m === 'sampleIds' ? 'an empty Int32Array' : 'float32 [0, 5]',
    setup: () => [tf.zeros([0, 5])],
    call: (x) => callMethod(m, {}, x),
    accept: (r) => {
      if (m === 'sampleIds') expect(r).toEqual(new Int32Array(0));
      else expectTensor(r, m === 'sample' ? 'int32' : 'float32', m === 'sample' ? [0] : [0, 5]).dispose();
    },
  });
}
// Per-row arrays are checked against B on every call (the batch is unknown at construction).
for (const [name, value] of [
  ['temperature', [1, 1]],
  ['topK', Int32Array.of(1, 2)],
  ['topP', [0.5, 0.9]],
  ['minP', Float32Array.of(0.1, 0.1)],
  ['topNSigma', [1, 1]],
  ['epsilonCutoff', [0.1, 0.1]],
  ['etaCutoff', [0.1, 0.1]],
  ['typicalP', [0.5, 0.9]],
  ['minTokensToKeep', [1, 2]],
  ['seed', [1, 2]],
] as const) {
  PER_CALL.push({
    entry: 'sampler.sample',
    input: `${name}: ${ArrayBuffer.isView(value) ? `${value.constructor.name} ` : ''}[${Array.from(value)
      .map((v) => Math.round(v * 10) / 10)
      .join(', ')}], logits [3, 4]`,
    error: 'SamplingError',
    argument: name,
    value: 'an array of length 2',
    setup: () => [tf.zeros([3, 4])],
    call: (x) => callMethod('sample', { [name]: value }, x),
  });
}
// DRY's breakers and per-row entries are checked against V and B on every call.
PER_CALL.push(
  {
    entry: 'sampler.sample',
    input: 'dry: { multiplier: 0.8, sequenceBreakers: [[2, 9]] }, logits [1, 4]',
    error: 'SamplingError',
    argument: 'dry.sequenceBreakers[0][1]',
    value: '9',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => callMethod('sample', { dry: { multiplier: 0.8, sequenceBreakers: [[2, 9]] } }, x),
  },
  {
    entry: 'sampler.sample',
    input: 'dry: [{ multiplier: 0.8 }, undefined], logits [3, 4]',
    error: 'SamplingError',
    argument: 'dry',
    value: 'an array of length 2',
    setup: () => [tf.zeros([3, 4])],
    call: (x) => callMethod('sample', { dry: [{ multiplier: 0.8 }, undefined] }, x),
  },
);
for (const m of ['sampleIds', 'probabilities', 'process'] as const) {
  PER_CALL.push({
    entry: `sampler.${m}`,
    input: 'topP: [0.5, 0.9], logits [3, 4]',
    error: 'SamplingError',
    argument: 'topP',
    value: 'an array of length 2',
    setup: () => [tf.zeros([3, 4])],
    call: (x) => callMethod(m, { topP: [0.5, 0.9] }, x),
  });
}
PER_CALL.push(
  {
    entry: 'sampler.sample',
    input: 'topP: [0.5, 0.9], logits rank 1 [4] (B = 1)',
    error: 'SamplingError',
    argument: 'topP',
    value: 'an array of length 2',
    setup: () => [tf.zeros([4])],
    call: (x) => callMethod('sample', { topP: [0.5, 0.9] }, x),
  },
  {
    entry: 'sampler.sample',
    input: 'topP: [0.5, 0.9], logits [0, 4] (B = 0)',
    error: 'SamplingError',
    argument: 'topP',
    value: 'an array of length 2',
    setup: () => [tf.zeros([0, 4])],
    call: (x) => callMethod('sample', { topP: [0.5, 0.9] }, x),
  },
  {
    entry: 'sampler.sample',
    input: 'processors: [topP([0.5, 0.5])], logits [3, 4]',
    error: 'SamplingError',
    argument: 'topP',
    value: 'an array of length 2',
    setup: () => [tf.zeros([3, 4])],
    call: (x) => s({ processors: [topP([0.5, 0.5])] }).sample(x!),
  },
);

// What a user processor returns is checked after each call.
PER_CALL.push(
  {
    entry: 'sampler.sample',
    input: 'processors: [a processor whose apply returns undefined], logits [1, 4]',
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'undefined',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s({ processors: [returningState(() => undefined)] }).sample(x!),
  },
  {
    entry: 'sampler.sample',
    input: 'processors: [a processor returning logits [1, 5] for [1, 4]], logits [1, 4]',
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'logits float32 [1, 5]',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s({ processors: [returningState((st) => ({ ...st, logits: tf.zeros([1, 5]) }))] }).sample(x!),
  },
  {
    entry: 'sampler.sample',
    input: 'processors: [a processor returning int32 logits], logits [1, 4]',
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'logits int32 [1, 4]',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s({ processors: [returningState((st) => ({ ...st, logits: tf.zeros([1, 4], 'int32') }))] }).sample(x!),
  },
);

const HISTORY: [input: string, setup: () => tf.Tensor[], value: string][] = [
  ['[[1, 2]] (an array)', () => [], 'object'],
  ['float32 [1, 2]', () => [tf.zeros([1, 2])], 'a float32 tensor of shape [1, 2]'],
  ['bool [1, 2]', () => [tf.zeros([1, 2], 'bool')], 'a bool tensor of shape [1, 2]'],
  ['int32 rank 1 [2]', () => [tf.zeros([2], 'int32')], 'a int32 tensor of shape [2]'],
  ['int32 rank 3 [1, 2, 1]', () => [tf.zeros([1, 2, 1], 'int32')], 'a int32 tensor of shape [1, 2, 1]'],
  ['a disposed int32 [1, 2] tensor', () => [disposed(tf.zeros([1, 2], 'int32'))], 'a disposed tensor of shape [1, 2]'],
];
for (const [input, setup, value] of HISTORY) {
  PER_CALL.push({
    entry: 'sampler.sample',
    input: `history: ${input}, logits [1, 4]`,
    error: 'SamplingError',
    argument: 'history',
    value,
    setup: () => [tf.zeros([1, 4]), ...setup()],
    call: (x, h) => callMethod('sample', {}, x, { history: h ?? [[1, 2]] }),
  });
}
for (const m of METHODS) {
  PER_CALL.push({
    entry: `sampler.${m}`,
    input: 'history: int32 [2, 3], logits [1, 4] (batch mismatch)',
    error: 'SamplingError',
    argument: 'history',
    value: 'shape [2, 3]',
    setup: () => [tf.zeros([1, 4]), tf.zeros([2, 3], 'int32')],
    call: (x, h) => callMethod(m, {}, x, { history: h }),
  });
}
PER_CALL.push(
  {
    entry: 'sampler.sample',
    input: "draw: 'multinomial' on webgl",
    error: 'SamplingError',
    argument: 'draw',
    value: '"multinomial"',
    backends: ['webgl'],
    setup: () => [tf.zeros([1, 4])],
    call: (x) => callMethod('sample', { draw: 'multinomial' }, x),
  },
  {
    entry: 'sampler.sample',
    input: "draw: 'multinomial' on webgpu",
    error: 'SamplingError',
    argument: 'draw',
    value: '"multinomial"',
    backends: ['webgpu'],
    setup: () => [tf.zeros([1, 4])],
    call: (x) => callMethod('sample', { draw: 'multinomial' }, x),
  },
);

// ---------------------------------------------------------------------------------------------
// Invalid rows (NaN, +Infinity, no finite logit), from the input or made by a processor: under the
// default invalidRows 'error', never an ordinary-looking token.

const INVALID_INPUTS: [input: string, rows: number[][], cause: string, code: number][] = [
  ['[[0, NaN, 1]]', [[0, NaN, 1]], 'NaN', INVALID_CODE.nan],
  ['[[0, Infinity, 1]]', [[0, Infinity, 1]], '+Infinity', INVALID_CODE['positive-infinity']],
  ['[[-Infinity, -Infinity, -Infinity]]', [[-Infinity, -Infinity, -Infinity]], 'no finite logit', INVALID_CODE['no-finite-logit']],
];
const INVALID: Row[] = [];
for (const [input, rows, cause, code] of INVALID_INPUTS) {
  INVALID.push(
    {
      entry: 'sampler.sample',
      input: `logits ${input}`,
      error: 'none',
      outcome: `no error: id ${code} (a negative code; readIds throws)`,
      setup: () => [f32(rows)],
      call: (x) => s({ topK: 2 }).sample(x!),
      accept: codes([code]),
    },
    {
      entry: 'sampler.sampleIds',
      input: `logits ${input}`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause}`,
      setup: () => [f32(rows)],
      call: (x) => s({ topK: 2 }).sampleIds(x!),
    },
    {
      entry: 'sampler.probabilities',
      input: `logits ${input}`,
      error: 'none',
      outcome: 'no error: the row is all NaN',
      setup: () => [f32(rows)],
      call: (x) => s({ topK: 2 }).probabilities(x!),
      accept: nanRows,
    },
    {
      entry: 'generate',
      input: `model returns ${input}`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause}`,
      call: () =>
        gen(
          { prompts: [[1]] },
          returning(() => f32(rows)),
        ),
    },
    {
      entry: 'reference.sample',
      input: `rows ${input}`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause}`,
      call: () => reference.sample(rows, { seed: 1 }),
    },
    {
      entry: 'reference.probabilities',
      input: `rows ${input}`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause}`,
      call: () => reference.probabilities(rows),
    },
  );
}
// A processor that makes a valid row invalid (issue 9, hole 1): the same rule on the processed row.
for (const [what, proc, cause] of [
  ['adds +Infinity to token 0', adder('add-inf', 0, Infinity), '+Infinity'],
  ['adds NaN to token 1', adder('add-nan', 1, NaN), 'NaN'],
] as const) {
  INVALID.push(
    {
      entry: 'sampler.sample',
      input: `processors: [a processor that ${what}], logits [[3, 1, 0, 2]]`,
      error: 'none',
      outcome: 'no error: a negative code (made by a processor), never a token',
      setup: () => [f32([[3, 1, 0, 2]])],
      call: (x) => s({ processors: [proc] }).sample(x!),
      accept: codes(['negative']),
    },
    {
      entry: 'sampler.sampleIds',
      input: `processors: [a processor that ${what}], logits [[3, 1, 0, 2]]`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause} produced by a processor`,
      setup: () => [f32([[3, 1, 0, 2]])],
      call: (x) => s({ processors: [proc] }).sampleIds(x!),
    },
    {
      entry: 'sampler.probabilities',
      input: `processors: [a processor that ${what}], logits [[3, 1, 0, 2]]`,
      error: 'none',
      outcome: 'no error: the row is all NaN',
      setup: () => [f32([[3, 1, 0, 2]])],
      call: (x) => s({ processors: [proc] }).probabilities(x!),
      accept: nanRows,
    },
    {
      entry: 'reference.sample',
      input: `processors: [a processor that ${what}], rows [[3, 1, 0, 2]]`,
      error: 'InvalidRowsError',
      argument: 'logits',
      value: `row 0: ${cause} produced by a processor`,
      call: () => reference.sample([[3, 1, 0, 2]], { seed: 1, processors: [proc] }),
    },
  );
}
INVALID.push(
  {
    entry: 'sampler.sample',
    input: 'logits [[0, 1, 2], [0, NaN, 2], [5, 1, 0]] (one bad row)',
    error: 'none',
    outcome: 'no error: ids [token, -1, token]; only the bad row is marked',
    setup: () => [
      f32([
        [0, 1, 2],
        [0, NaN, 2],
        [5, 1, 0],
      ]),
    ],
    call: (x) => s({ temperature: 0 }).sample(x!),
    accept: codes([2, INVALID_CODE.nan, 0]),
  },
  {
    entry: 'sampler.sampleIds',
    input: 'logits [[0, 1, 2], [0, NaN, 2], [Infinity, 1, 0]]',
    error: 'InvalidRowsError',
    argument: 'logits',
    value: 'row 1: NaN; row 2: +Infinity',
    setup: () => [
      f32([
        [0, 1, 2],
        [0, NaN, 2],
        [Infinity, 1, 0],
      ]),
    ],
    call: (x) => s().sampleIds(x!),
  },
  {
    entry: 'sampler.sample',
    input: "logits [[0, NaN, 1]], draw: 'multinomial'",
    error: 'none',
    outcome: 'no error: id -1',
    backends: ['cpu', 'wasm', 'tensorflow'],
    setup: () => [f32([[0, NaN, 1]])],
    call: (x) => s({ draw: 'multinomial' }).sample(x!),
    accept: codes([INVALID_CODE.nan]),
  },
  {
    entry: 'sampler.sampleIds',
    input: 'processors: [a processor that masks every token], logits [[0, 1, 2]]',
    error: 'InvalidRowsError',
    argument: 'logits',
    value: 'row 0: no finite logit',
    setup: () => [f32([[0, 1, 2]])],
    call: (x) => s({ processors: [banAll] }).sampleIds(x!),
  },
  {
    entry: 'readIds',
    input: 'int32 ids [3, -2]',
    error: 'InvalidRowsError',
    argument: 'logits',
    value: 'row 1: +Infinity',
    setup: () => [tf.tensor1d([3, -2], 'int32')],
    call: (x) => readIds(x!),
  },
  {
    entry: 'reference.process',
    input: 'rows [[0, NaN, 1]]',
    error: 'none',
    outcome: 'no error: the processed row (NaN stays NaN), as sampler.process',
    call: () => reference.process([[0, NaN, 1]]),
    accept: (r) => expect(Number.isNaN((r as Float64Array[])[0]![1])).toBe(true),
  },
);

/** process() of an invalid row: no token is drawn, but the row must not look valid either. */
const processRow = (input: string, rows: number[][]): Row => ({
  entry: 'sampler.process',
  input: `logits ${input}`,
  error: 'none',
  outcome: 'no error: the processed logits, and the row still holds a NaN or +Infinity (it must not look valid)',
  setup: () => [f32(rows)],
  call: (x) => s().process(x!),
  accept: async (r) => {
    const t = expectTensor(r, 'float32', [1, 3]);
    const values = Array.from(await t.data());
    t.dispose();
    expect(
      values.some((v) => Number.isNaN(v) || v === Infinity),
      `row ${JSON.stringify(values)} looks valid`,
    ).toBe(true);
  },
});
INVALID.push(processRow('[[0, NaN, 1]]', [[0, NaN, 1]]), processRow('[[0, Infinity, 1]]', [[0, Infinity, 1]]));

// ---------------------------------------------------------------------------------------------
// generate(model, options).

// sampler.sampleWithLogprobs / sampleIdsWithLogprobs: the logprobs options (V = 3 here).
const LOGPROBS: Row[] = (['sampleWithLogprobs', 'sampleIdsWithLogprobs'] as const).flatMap((m) =>
  (
    [
      ['options: 3', 3, 'logprobs', '3'],
      ['options: { topLogprobs: -1 }', { topLogprobs: -1 }, 'topLogprobs', '-1'],
      ['options: { topLogprobs: 2.5 }', { topLogprobs: 2.5 }, 'topLogprobs', '2.5'],
      ['options: { topLogprobs: 4 } past V = 3', { topLogprobs: 4 }, 'topLogprobs', '4'],
      ['options: { topLogprobs: NaN }', { topLogprobs: NaN }, 'topLogprobs', 'NaN'],
      ["options: { mode: 'logits' }", { mode: 'logits' }, 'mode', '"logits"'],
      ['options: { raw: false } (mode raw)', { raw: false }, 'raw', 'false'],
      ["options: { mode: 'processed', raw: 0 }", { mode: 'processed', raw: 0 }, 'raw', '0'],
    ] as const
  ).map(
    ([input, options, argument, value]): Row => ({
      entry: `sampler.${m}`,
      input,
      error: 'SamplingError',
      argument,
      value,
      setup: () => [tf.tensor2d([[1, 2, 3]])],
      call: (x) => {
        const sampler = s({});
        const stepUnchanged = (e: unknown): never => {
          expect(sampler.step, 'a failed call must not advance the step').toBe(0);
          throw e;
        };
        try {
          const r = (sampler[m] as (x: unknown, c: unknown, o: unknown) => unknown)(x, undefined, bad(options));
          return r instanceof Promise ? r.catch(stepUnchanged) : r;
        } catch (e) {
          return stepUnchanged(e);
        }
      },
    }),
  ),
);

// score: the continuations (the rest is generate's validation).
const SCORE: Row[] = (
  [
    ['continuations: undefined (missing)', undefined, 'continuations', 'undefined'],
    ["continuations: 'abc'", 'abc', 'continuations', '"abc"'],
    ['continuations: [[1], [2]] for 1 prompt', [[1], [2]], 'continuations', '2 arrays'],
    ['continuations: [5]', [5], 'continuations[0]', '5'],
    ['continuations: [[1, -1]]', [[1, -1]], 'continuations[0][1]', '-1'],
    ['continuations: [[1.5]]', [[1.5]], 'continuations[0][0]', '1.5'],
    ['continuations: [[4]] past V = 4', [[4]], 'continuations[0][0]', '4'],
  ] as const
).map(
  ([input, continuations, argument, value]): Row => ({
    entry: 'score',
    input,
    error: 'SamplingError',
    argument,
    value,
    call: () => score(bad(zerosModel), bad({ prompts: [[1, 2]], padId: 0, continuations })),
  }),
);
SCORE.push({
  entry: 'score',
  input: 'grammar: { … } (generate only)',
  error: 'SamplingError',
  argument: 'grammar',
  value: 'given',
  call: () => score(bad(zerosModel), bad({ prompts: [[1, 2]], padId: 0, continuations: [[1]], grammar: { engine: fakeEngine, rows: { regex: 'a' } } })),
});
SCORE.push({
  entry: 'score',
  input: 'draft: { … } (generate only)',
  error: 'SamplingError',
  argument: 'draft',
  value: 'given',
  call: () => score(bad(zerosModel), bad({ prompts: [[1, 2]], padId: 0, continuations: [[1]], feed: 'new', draft: { model: zerosModel, tokens: 2 } })),
});

SCORE.push({
  entry: 'score',
  input: 'stopTokens: [1] (generate only)',
  error: 'SamplingError',
  argument: 'stopTokens',
  value: 'given',
  call: () => score(bad(zerosModel), bad({ prompts: [[1, 2]], padId: 0, continuations: [[1]], stopTokens: [1] })),
});

const GENERATE: Row[] = [
  ...(
    [
      ['model: null', null, 'null'],
      ['model: 42', 42, '"number"'],
      ["model: 'gpt'", 'gpt', '"string"'],
      ['model: {} (no predict)', {}, '"object"'],
      ['model: { predict: 5 }', { predict: 5 }, '"object"'],
    ] as const
  ).map(([input, model, value]): Row => ({ entry: 'generate', input, error: 'SamplingError', argument: 'model', value, call: () => gen({}, model) })),
  ...(
    [
      ['options: undefined', undefined, 'undefined'],
      ['options: null', null, 'null'],
      ['options: 5', 5, '5'],
    ] as const
  ).map(
    ([input, options, value]): Row => ({
      entry: 'generate',
      input,
      error: 'SamplingError',
      argument: 'options',
      value,
      call: () => generate(zerosModel, bad(options)),
    }),
  ),
  ...(
    [
      ['prompts: 42', { prompts: 42 }, 'prompts', '42'],
      ['prompts: [5] (a row is not an array)', { prompts: [5] }, 'prompts[0]', '5'],
      ['prompts: [[1, -1]]', { prompts: [[1, -1]] }, 'prompts[0][1]', '-1'],
      ['prompts: [[1.5]]', { prompts: [[1.5]] }, 'prompts[0][0]', '1.5'],
      ['prompts: [[NaN]]', { prompts: [[NaN]] }, 'prompts[0][0]', 'NaN'],
      ["prompts: [['1']]", { prompts: [['1']] }, 'prompts[0][0]', '"1"'],
      ['prompts: [[2 ** 31]]', { prompts: [[2 ** 31]] }, 'prompts[0][0]', '2147483648'],
      ['prompts: [[1], Float32Array [0.5]]', { prompts: [[1], Float32Array.of(0.5)] }, 'prompts[1][0]', '0.5'],
      ['promptLengths: [1] with array prompts', { promptLengths: [1] }, 'promptLengths', '[1]'],
      ['padId: undefined (missing)', { padId: undefined }, 'padId', 'undefined'],
      ['padId: -1', { padId: -1 }, 'padId', '-1'],
      ['padId: 1.5', { padId: 1.5 }, 'padId', '1.5'],
      ['padId: NaN', { padId: NaN }, 'padId', 'NaN'],
      ["padId: '0'", { padId: '0' }, 'padId', '"0"'],
      ['padId: 2 ** 31', { padId: 2 ** 31 }, 'padId', '2147483648'],
      ['maxNewTokens: undefined (missing)', { maxNewTokens: undefined }, 'maxNewTokens', 'undefined'],
      ['maxNewTokens: -1', { maxNewTokens: -1 }, 'maxNewTokens', '-1'],
      ['maxNewTokens: 1.5', { maxNewTokens: 1.5 }, 'maxNewTokens', '1.5'],
      ['maxNewTokens: NaN', { maxNewTokens: NaN }, 'maxNewTokens', 'NaN'],
      ['maxNewTokens: Infinity', { maxNewTokens: Infinity }, 'maxNewTokens', 'Infinity'],
      ["maxNewTokens: '5'", { maxNewTokens: '5' }, 'maxNewTokens', '"5"'],
      ['maxNewTokens: []', { maxNewTokens: [] }, 'maxNewTokens', '[]'],
      ['maxNewTokens: [1, 2] for 1 prompt', { maxNewTokens: [1, 2] }, 'maxNewTokens', 'an array of length 2'],
      ['maxNewTokens: [2, -1] for 2 prompts', { prompts: [[1], [2]], maxNewTokens: [2, -1] }, 'maxNewTokens[1]', '-1'],
      ["stopTokens: 'x'", { stopTokens: 'x' }, 'stopTokens', '"x"'],
      ['stopTokens: 5', { stopTokens: 5 }, 'stopTokens', '5'],
      ['stopTokens: [-1]', { stopTokens: [-1] }, 'stopTokens[0]', '-1'],
      ['stopTokens: [1.5]', { stopTokens: [1.5] }, 'stopTokens[0]', '1.5'],
      ['stopTokens: [[1], [2]] for 1 prompt', { stopTokens: [[1], [2]] }, 'stopTokens', '2 lists'],
      ['stopTokens: [[1], 2] (mixed)', { stopTokens: [[1], 2] }, 'stopTokens[0]', '[1]'],
      ['stopTokens: [[1], [NaN]] for 2 prompts', { prompts: [[1], [2]], stopTokens: [[1], [NaN]] }, 'stopTokens[1][0]', 'NaN'],
      ['contextLength: 0', { contextLength: 0 }, 'contextLength', '0'],
      ['contextLength: -1', { contextLength: -1 }, 'contextLength', '-1'],
      ['contextLength: 1.5', { contextLength: 1.5 }, 'contextLength', '1.5'],
      ['contextLength: NaN', { contextLength: NaN }, 'contextLength', 'NaN'],
      ['contextLength: Infinity', { contextLength: Infinity }, 'contextLength', 'Infinity'],
      ["contextLength: '4'", { contextLength: '4' }, 'contextLength', '"4"'],
      ['signal: {}', { signal: {} }, 'signal', '{}'],
      ["signal: 'stop'", { signal: 'stop' }, 'signal', '"stop"'],
      ['sampler: 42', { sampler: 42 }, 'sampler', '42'],
      ["sampler: 'greedy'", { sampler: 'greedy' }, 'sampler', '"greedy"'],
      ['sampler: { topP: 2 }', { sampler: { topP: 2 } }, 'topP', '2'],
      ['sampler: { temperature: [1, 1] } for 1 prompt', { sampler: { temperature: [1, 1] } }, 'temperature', 'an array of length 2'],
      ['onStep: 5', { onStep: 5 }, 'onStep', 'number'],
      ['logprobs: 3', { logprobs: 3 }, 'logprobs', '3'],
      ['logprobs: { topLogprobs: -1 }', { logprobs: { topLogprobs: -1 } }, 'logprobs.topLogprobs', '-1'],
      ['logprobs: { topLogprobs: 1.5 }', { logprobs: { topLogprobs: 1.5 } }, 'logprobs.topLogprobs', '1.5'],
      ["logprobs: { mode: 'logits' }", { logprobs: { mode: 'logits' } }, 'logprobs.mode', '"logits"'],
      ['logprobs: { raw: false } (mode raw)', { logprobs: { raw: false } }, 'logprobs.raw', 'false'],
      ['logprobs: { topLogprobs: 99 } past the vocabulary', { logprobs: { topLogprobs: 99 } }, 'topLogprobs', '99'],
      ["stopSequences: 'x'", { stopSequences: 'x' }, 'stopSequences', '"x"'],
      ['stopSequences: [[1], []]', { stopSequences: [[1], []] }, 'stopSequences[1]', '[]'],
      ['stopSequences: [[1, -1]]', { stopSequences: [[1, -1]] }, 'stopSequences[0]', '[1, -1]'],
      ['stopSequences: [[[1]], [[2]]] for 1 prompt', { stopSequences: [[[1]], [[2]]] }, 'stopSequences', '2 lists'],
      ["stopStrings: ['x'] without detokenize", { stopStrings: ['x'] }, 'detokenize', 'undefined'],
      ["stopStrings: ['']", { stopStrings: [''], detokenize: () => '' }, 'stopStrings[0]', '""'],
      ['stopStrings: [5]', { stopStrings: [5], detokenize: () => '' }, 'stopStrings[0]', '5'],
      ["detokenize: 'abc'", { detokenize: 'abc' }, 'detokenize', '"abc"'],
      ['detokenize: () => undefined (returns no string)', { detokenize: () => undefined }, 'detokenize', 'undefined'],
      ["keepStop: 'no'", { keepStop: 'no' }, 'keepStop', '"no"'],
      ["feed: 'all'", { feed: 'all' }, 'feed', '"all"'],
      ["feed: 'new' with contextLength 1", { feed: 'new', contextLength: 1 }, 'contextLength', '1'],
      ['seeds: [1] without queue', { seeds: [1] }, 'seeds', '[1]'],
      ['queue: 5', { queue: 5, seeds: [1] }, 'queue', '5'],
      ['queue: [] without seeds', { queue: [] }, 'seeds', 'undefined'],
      ['queue: [] with seeds: [NaN]', { queue: [], seeds: [NaN] }, 'seeds[0]', 'NaN'],
      ['queue: [null]', { queue: [null], seeds: [1] }, 'queue[0]', 'null'],
      ['queue: [{ prompt: [] }]', { queue: [{ prompt: [], seed: 1 }], seeds: [1] }, 'queue[0].prompt', 'an empty array'],
      ['queue: [{ prompt: [1, -1] }]', { queue: [{ prompt: [1, -1], seed: 1 }], seeds: [1] }, 'queue[0].prompt[1]', '-1'],
      ["queue: [{ seed: 'a' }]", { queue: [{ prompt: [1], seed: 'a' }], seeds: [1] }, 'queue[0].seed', '"a"'],
      ['queue: [{ maxNewTokens: -1 }]', { queue: [{ prompt: [1], seed: 1, maxNewTokens: -1 }], seeds: [1] }, 'queue[0].maxNewTokens', '-1'],
      [
        'queue with maxNewTokens per row and none in the request',
        { queue: [{ prompt: [1], seed: 1 }], seeds: [1], maxNewTokens: [2] },
        'queue[0].maxNewTokens',
        'undefined',
      ],
      ['queue with stopTokens per row', { queue: [], seeds: [1], stopTokens: [[1]] }, 'stopTokens', 'one list per row'],
      ['io for a step function', { io: { inputs: { x: 'tokens' } } }, 'io', 'a step function'],
      ['grammar: 5', { grammar: 5 }, 'grammar', '5'],
      ['grammar: { engine: {} }', { grammar: { engine: {}, rows: { regex: 'a' } } }, 'grammar.engine', 'object'],
      ['grammar: { rows: undefined }', { grammar: { engine: fakeEngine } }, 'grammar.rows', 'undefined'],
      ["grammar: { rows: { regex: '' } }", { grammar: { engine: fakeEngine, rows: { regex: '' } } }, 'grammar.rows.regex', '""'],
      [
        "grammar: { rows: { regex: 'a', choice: ['a'] } }",
        { grammar: { engine: fakeEngine, rows: { regex: 'a', choice: ['a'] } } },
        'grammar.rows',
        '{"regex":"a","choice":["a"]}',
      ],
      ["grammar: { rows: { choice: ['a', 1] } }", { grammar: { engine: fakeEngine, rows: { choice: ['a', 1] } } }, 'grammar.rows.choice[1]', '1'],
      ["grammar: { rows: { jsonSchema: '{x' } }", { grammar: { engine: fakeEngine, rows: { jsonSchema: '{x' } } }, 'grammar.rows.jsonSchema', '"{x"'],
      ['grammar: { rows: [null, null] } for 1 prompt', { grammar: { engine: fakeEngine, rows: [null, null] } }, 'grammar.rows', 'an array of length 2'],
      ["grammar: { end: 'eos' }", { grammar: { engine: fakeEngine, rows: { regex: 'a' }, end: 'eos' } }, 'grammar.end', '"eos"'],
      ["grammar: { end: 'stopToken' } without stopTokens", { grammar: { engine: fakeEngine, rows: { regex: 'a' }, end: 'stopToken' } }, 'stopTokens', '[]'],
      ['grammar of 3 tokens for logits of 4', { grammar: { engine: fakeEngine, rows: { regex: 'a' } } }, 'grammar.engine', 'an engine of 3 tokens'],
      ['grammar per row with queue', { queue: [], seeds: [1], grammar: { engine: fakeEngine, rows: [null] } }, 'grammar.rows', 'one grammar per row'],
      [
        'queue: [{ grammar }] without the grammar option',
        { queue: [{ prompt: [1], seed: 1, grammar: { regex: 'a' } }], seeds: [1] },
        'queue[0].grammar',
        'a grammar',
      ],
      [
        'queue: [{ grammar: { regex: 5 } }]',
        { queue: [{ prompt: [1], seed: 1, grammar: { regex: 5 } }], seeds: [1], grammar: { engine: fakeEngine, rows: null } },
        'queue[0].grammar.regex',
        '5',
      ],
      ['draft: 5', { draft: 5, feed: 'new' }, 'draft', '5'],
      ['draft: { model: 5 }', { draft: { model: 5, tokens: 2 }, feed: 'new' }, 'draft.model', 'number'],
      ['draft: { tokens: 0 }', { draft: { model: zerosModel, tokens: 0 }, feed: 'new' }, 'draft.tokens', '0'],
      ['draft: { tokens: 33 }', { draft: { model: zerosModel, tokens: 33 }, feed: 'new' }, 'draft.tokens', '33'],
      ["draft: { mode: 'greedy' }", { draft: { model: zerosModel, tokens: 2, mode: 'greedy' }, feed: 'new' }, 'draft.mode', '"greedy"'],
      ["draft: { adaptive: 'yes' }", { draft: { model: zerosModel, tokens: 2, adaptive: 'yes' }, feed: 'new' }, 'draft.adaptive', '"yes"'],
      [
        'draft: { contextLength: 4 } for a step function',
        { draft: { model: zerosModel, tokens: 2, contextLength: 4 }, feed: 'new' },
        'draft.contextLength',
        '4',
      ],
      ["draft without feed: 'new'", { draft: { model: zerosModel, tokens: 2 } }, 'feed', 'undefined'],
      ['draft with queue', { draft: { model: zerosModel, tokens: 2 }, feed: 'new', queue: [], seeds: [1] }, 'queue', 'a queue'],
      ['draft with grammar', { draft: { model: zerosModel, tokens: 2 }, feed: 'new', grammar: { engine: fakeEngine, rows: null } }, 'grammar', 'a grammar'],
      [
        "draft: { mode: 'rejection' } with Mirostat",
        { draft: { model: zerosModel, tokens: 2, mode: 'rejection' }, feed: 'new', sampler: { mirostat: { version: 2 } } },
        'sampler.mirostat',
        'mirostat on',
      ],
      [
        'draft with a user processor',
        { draft: { model: zerosModel, tokens: 2 }, feed: 'new', sampler: { processors: [adder('plus', 0, 1)] } },
        'sampler.processors[0]',
        'a user processor',
      ],
      ['draft with an empty prompt', { draft: { model: zerosModel, tokens: 2 }, feed: 'new', prompts: [[]] }, 'prompts[0]', 'an empty prompt'],
      [
        "draft with draw: 'multinomial'",
        { draft: { model: zerosModel, tokens: 2 }, feed: 'new', sampler: { draw: 'multinomial' } },
        'sampler.draw',
        '"multinomial"',
      ],
    ] as const
  ).map(([input, over, argument, value]): Row => ({ entry: 'generate', input, error: 'SamplingError', argument, value, call: () => gen(over) })),
  {
    entry: 'generate',
    input: 'draft with a predict model as the target',
    error: 'SamplingError',
    argument: 'model',
    value: 'a predict model',
    call: () => gen({ draft: { model: zerosModel, tokens: 2 } }, { predict: (x: tf.Tensor) => tf.zeros([x.shape[0], 4]) }),
  },
  ...(
    [
      ['prompts: float32 tensor [1, 2]', () => [tf.zeros([1, 2])], 'a float32 tensor of shape [1, 2]'],
      ['prompts: bool tensor [1, 2]', () => [tf.zeros([1, 2], 'bool')], 'a bool tensor of shape [1, 2]'],
      ['prompts: int32 tensor rank 1 [2]', () => [tf.zeros([2], 'int32')], 'a int32 tensor of shape [2]'],
      ['prompts: int32 tensor rank 3 [1, 2, 1]', () => [tf.zeros([1, 2, 1], 'int32')], 'a int32 tensor of shape [1, 2, 1]'],
      ['prompts: a disposed int32 tensor [1, 2]', () => [disposed(tf.zeros([1, 2], 'int32'))], 'a disposed tensor of shape [1, 2]'],
    ] as const
  ).map(
    ([input, setup, value]): Row => ({
      entry: 'generate',
      input,
      error: 'SamplingError',
      argument: 'prompts',
      value,
      setup: () => setup().filter((t) => !t.isDisposed),
      call: (p) => gen({ prompts: p ?? setup()[0] }),
    }),
  ),
  {
    entry: 'generate',
    input: 'prompts: int32 tensor [[1, -4]]',
    error: 'SamplingError',
    argument: 'prompts[0][1]',
    value: '-4',
    setup: () => [tf.tensor2d([[1, -4]], undefined, 'int32')],
    call: (p) => gen({ prompts: p }),
  },
  {
    entry: 'generate',
    input: 'prompts: int32 tensor [1, 2], promptLengths: [1, 1]',
    error: 'SamplingError',
    argument: 'promptLengths',
    value: '[1, 1]',
    setup: () => [tf.tensor2d([[1, 2]], undefined, 'int32')],
    call: (p) => gen({ prompts: p, promptLengths: [1, 1] }),
  },
  {
    entry: 'generate',
    input: 'prompts: int32 tensor [1, 2], promptLengths: [3]',
    error: 'SamplingError',
    argument: 'promptLengths[0]',
    value: '3',
    setup: () => [tf.tensor2d([[1, 2]], undefined, 'int32')],
    call: (p) => gen({ prompts: p, promptLengths: [3] }),
  },
  {
    entry: 'generate',
    input: 'prompts: int32 tensor [1, 2], promptLengths: 2 (not an array)',
    error: 'SamplingError',
    argument: 'promptLengths',
    value: '2',
    setup: () => [tf.tensor2d([[1, 2]], undefined, 'int32')],
    call: (p) => gen({ prompts: p, promptLengths: 2 }),
  },
  {
    entry: 'generate',
    input: 'prompts: { shape: [1, 2], dtype: "int32" } (looks like a tensor)',
    error: 'SamplingError',
    argument: 'prompts',
    value: '{"shape":[1,2],"dtype":"int32"}',
    call: () => gen({ prompts: { shape: [1, 2], dtype: 'int32' } }),
  },
  {
    entry: 'generate',
    input: 'prompts: int32 tensor [0, 2] (B = 0)',
    error: 'none',
    outcome: 'accepted: no step runs, empty result',
    setup: () => [tf.zeros([0, 2], 'int32')],
    call: (p) => gen({ prompts: p }),
    accept: (r) => expect(r).toMatchObject({ tokens: [], sequences: [], steps: 0 }),
  },
  {
    entry: 'generate',
    input: 'maxNewTokens: 0',
    error: 'none',
    outcome: 'accepted: no step runs, the prompts come back',
    call: () => gen({ maxNewTokens: 0 }),
    accept: (r) => expect(r).toMatchObject({ tokens: [[]], sequences: [[1, 2]], steps: 0 }),
  },
  {
    entry: 'generate',
    input: 'sampler: createSampler({ temperature: [1, 1] }) for 1 prompt',
    error: 'SamplingError',
    argument: 'temperature',
    value: 'an array of length 2',
    call: () => gen({ sampler: createSampler({ temperature: [1, 1] }) }),
  },
  {
    entry: 'generate',
    input: 'prompts: [] (B = 0)',
    error: 'none',
    outcome: 'accepted: no step runs, empty result',
    call: () => gen({ prompts: [] }),
    accept: (r) => expect(r).toMatchObject({ tokens: [], sequences: [], steps: 0 }),
  },
  {
    entry: 'generate',
    input: 'signal: an aborted AbortSignal',
    error: 'none',
    outcome: "rejects with the signal's reason (an AbortError DOMException), before any step",
    call: () =>
      gen({ signal: AbortSignal.abort() }).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
    accept: (r) => {
      expect(r).not.toBeInstanceOf(SamplingError);
      expect((r as Error).name).toBe('AbortError');
    },
  },
  // What the model gives back.
  ...(
    [
      ['model returns null', returning(() => null), 'null'],
      ['model returns 5', returning(() => 5), 'number'],
      ['model returns [[0, 1]] (an array)', returning(() => [[0, 1]]), 'an array of 1'],
      ['model returns { logits: [[0, 1]] }', returning(() => ({ logits: [[0, 1]] })), 'an object without a logits tensor'],
      ['model returns int32 [1, 4]', returning((b) => tf.zeros([b, 4], 'int32')), 'a int32 tensor of shape [1, 4]'],
      ['model returns float32 rank 1 [4]', returning(() => tf.zeros([4])), 'a float32 tensor of shape [4]'],
      ['model returns float32 rank 4 [1, 1, 1, 4]', returning((b) => tf.zeros([b, 1, 1, 4])), 'a float32 tensor of shape [1, 1, 1, 4]'],
      ['model returns float32 [2, 4] for 1 prompt', returning(() => tf.zeros([2, 4])), 'a float32 tensor of shape [2, 4]'],
      ['predict() returns two tensors', { predict: () => [tf.zeros([1, 4]), tf.zeros([1, 4])] }, '2 tensors'],
      ['predict() returns 5', { predict: () => 5 }, 'number'],
      ['predict() returns int32 [1, 4]', { predict: () => tf.zeros([1, 4], 'int32') }, 'a int32 tensor of shape [1, 4]'],
    ] as const
  ).map(([input, model, value]): Row => ({ entry: 'generate', input, error: 'SamplingError', argument: 'model', value, call: () => gen({}, model) })),
  {
    entry: 'generate',
    input: "model throws Error('boom')",
    error: 'none',
    outcome: "rejects with the model's own error, unchanged",
    call: () =>
      gen({}, () => {
        throw new Error('boom');
      }).then(
        () => 'resolved',
        (e: unknown) => e,
      ),
    accept: (r) => {
      expect(r).not.toBeInstanceOf(SamplingError);
      expect((r as Error).message).toBe('boom');
    },
  },
];

// ---------------------------------------------------------------------------------------------
// The float64 reference.

const REFERENCE: Row[] = [];
for (const fn of ['sample', 'probabilities', 'process'] as const) {
  const entry = `reference.${fn}`;
  const run = (rows: unknown, options: SamplerOptions = {}): unknown => reference[fn](bad(rows), { seed: 1, ...options });
  REFERENCE.push(
    ...(
      [
        ['rows: [] (no rows)', [], 'rows', '[]'],
        ['rows: [[]] (empty row)', [[]], 'rows', '"rows of length 0"'],
        ['rows: [[1, 2], [1]] (ragged)', [[1, 2], [1]], 'rows[1]', '1'],
        ['rows: Float32Array [1, 2] (one flat row)', Float32Array.of(1, 2), 'rows', '[1, 2]'],
        ["rows: 'abc'", 'abc', 'rows', '"abc"'],
        ['rows: undefined', undefined, 'rows', 'undefined'],
        ['rows: [5] (a row is not an array)', [5], 'rows[0]', '5'],
        ["rows: [[1, 'a']]", [[1, 'a']], 'rows[0][1]', '"a"'],
      ] as const
    ).map(([input, rows, argument, value]): Row => ({ entry, input, error: 'SamplingError', argument, value, call: () => run(rows) })),
    {
      entry,
      input: 'topP: NaN (same checks as createSampler)',
      error: 'SamplingError',
      argument: 'topP',
      value: 'NaN',
      call: () => run([[0, 1]], { topP: NaN }),
    },
    {
      entry,
      input: 'temperature: [1, 1] for 1 row',
      error: 'SamplingError',
      argument: 'temperature',
      value: 'an array of length 2',
      call: () => run([[0, 1]], { temperature: [1, 1] }),
    },
    {
      entry,
      input: 'processors: [a processor without a reference twin]',
      error: 'SamplingError',
      argument: 'processors[0]',
      value: '"no-twin"',
      call: () => run([[0, 1]], { processors: [noTwin] }),
    },
  );
}
REFERENCE.push(
  ...(
    [
      ['no seed', () => reference.sample([[0, 1]]), 'seed', 'undefined'],
      ['step: -1', () => reference.sample([[0, 1]], { seed: 1 }, -1), 'step', '-1'],
      ['step: 1.5', () => reference.sample([[0, 1]], { seed: 1 }, 1.5), 'step', '1.5'],
      ['step: NaN', () => reference.sample([[0, 1]], { seed: 1 }, NaN), 'step', 'NaN'],
      ["step: '1'", () => reference.sample([[0, 1]], { seed: 1 }, bad('1')), 'step', '"1"'],
      [
        'step: [0] for 2 rows',
        () =>
          reference.sample(
            [
              [0, 1],
              [1, 0],
            ],
            { seed: 1 },
            [0],
          ),
        'step',
        '[0]',
      ],
      [
        'step: [0, -1]',
        () =>
          reference.sample(
            [
              [0, 1],
              [1, 0],
            ],
            { seed: 1 },
            [0, -1],
          ),
        'step[1]',
        '-1',
      ],
    ] as const
  ).map(([input, call, argument, value]): Row => ({ entry: 'reference.sample', input, error: 'SamplingError', argument, value, call })),
  {
    entry: 'reference.probabilities',
    input: 'history: 5',
    error: 'SamplingError',
    argument: 'history',
    value: '5',
    call: () => reference.probabilities([[0, 1]], {}, { history: bad(5) }),
  },
  {
    entry: 'reference.probabilities',
    input: 'history: [[1], [2]] for 1 row',
    error: 'SamplingError',
    argument: 'history',
    value: '[[1], [2]]',
    call: () => reference.probabilities([[0, 1]], {}, { history: [[1], [2]] }),
  },
);

// ---------------------------------------------------------------------------------------------
// Stats helpers, presets, processor factories, readIds, selectBackend.

const OTHER: Row[] = [
  ...(
    [
      ['context.steps: [0] for 2 rows', { steps: [0] }, 'context.steps', '1 numbers'],
      ['context.steps: [0, -1]', { steps: [0, -1] }, 'context.steps[1]', '-1'],
      ['context.steps: [0, 1.5]', { steps: [0, 1.5] }, 'context.steps[1]', '1.5'],
      ['context.steps: [0, 2 ** 32]', { steps: [0, 2 ** 32] }, 'context.steps[1]', '4294967296'],
      ["context.steps: '0'", { steps: '0' }, 'context.steps', '"0"'],
      ['context.seeds: [1, NaN]', { seeds: [1, NaN] }, 'context.seeds[1]', 'NaN'],
    ] as const
  ).map(
    ([input, context, argument, value]): Row => ({
      entry: 'sampler.sample',
      input,
      error: 'SamplingError',
      argument,
      value,
      setup: () => [
        tf.tensor2d([
          [1, 2, 3],
          [3, 2, 1],
        ]),
      ],
      call: (x) => s({ seed: 1 }).sample(x as tf.Tensor2D, bad(context)),
    }),
  ),
  {
    entry: 'sampler.sample',
    input: "context.steps with draw: 'multinomial'",
    error: 'SamplingError',
    argument: 'context.steps',
    value: 'per-row values',
    setup: () => [tf.tensor2d([[1, 2, 3]])],
    call: (x) => s({ seed: 1, draw: 'multinomial' }).sample(x as tf.Tensor2D, { steps: [0] }),
  },
  ...(
    [
      ['rows: [2] for 2 begun rows', [2], [[1]], 'rows[0]', '2'],
      ['rows: [0, 0]', [0, 0], [[1], [1]], 'rows[1]', '0'],
      ["rows: 'all'", 'all', [[1]], 'rows', '"all"'],
      ['prompts: [] for 1 row', [0], [], 'prompts', '[]'],
      ['prompts: [[1, -1]]', [0], [[1, -1]], 'prompts[0][1]', '-1'],
    ] as const
  ).map(
    ([input, rows, prompts, argument, value]): Row => ({
      entry: 'sampler.restartRows',
      input,
      error: 'SamplingError',
      argument,
      value,
      call: () => {
        const sampler = s({ repetitionPenalty: 1.2, seed: 1 });
        sampler.begin([[1], [2]]);
        sampler.restartRows(bad(rows), bad(prompts));
      },
    }),
  ),
  {
    entry: 'sampler.restartRows',
    input: 'processors: [a processor with accept() and no restartRows()]',
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'no restartRows method',
    call: () =>
      s({
        processors: [
          {
            name: 'counter',
            apply: (st) => st,
            accept: () => {},
            clone() {
              return this;
            },
          },
        ],
      }).restartRows([0], [[1]]),
  },
  {
    entry: 'sampler.clone',
    input: 'processors: [a processor with accept() and no clone()]',
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'no clone method',
    call: () => s({ processors: [{ name: 'counter', apply: (st) => st, accept: () => {} }] }).clone(),
  },
  {
    entry: 'sampler.clone',
    input: 'processors: [a processor whose clone() returns 42]',
    error: 'SamplingError',
    argument: 'processors[0].clone()',
    value: '42',
    call: () => s({ processors: [{ name: 'bad', apply: (st) => st, accept: () => {}, clone: () => 42 as unknown as LogitsProcessor }] }).clone(),
  },
];
for (const [entry, fn, arg] of [
  ['softmax', (x: unknown) => softmax(bad(x)), 'logits'],
  ['entropy', (x: unknown) => entropy(bad(x)), 'probs'],
  ['distributionStats', (x: unknown) => distributionStats(bad(x)), 'probs'],
  ['readDistributionStats', (x: unknown) => readDistributionStats(bad(x)), 'probs'],
] as const) {
  for (const [input, setup, pick, value] of LOGITS.filter(([i]) => /array|null|disposed|int32|rank 3|\[2, 0\]/.test(i))) {
    OTHER.push({ entry, input: `${arg}: ${input}`, error: 'SamplingError', argument: arg, value, setup, call: (...t) => fn(pick(t)) });
  }
}
OTHER.push(
  ...(
    [
      ['temperature: NaN', NaN, 'temperature', 'NaN'],
      ['temperature: -1', -1, 'temperature', '-1'],
      ['temperature: Infinity', Infinity, 'temperature', 'Infinity'],
      ["temperature: '1'", '1', 'temperature', '"1"'],
      ['temperature: []', [], 'temperature', '[]'],
      ['temperature: [1] for logits [2, 3]', [1], 'temperature', 'an array of length 1'],
      ['temperature: [1, NaN]', [1, NaN], 'temperature[1]', 'NaN'],
    ] as const
  ).map(
    ([input, t, argument, value]): Row => ({
      entry: 'softmax',
      input,
      error: 'SamplingError',
      argument,
      value,
      setup: () => [tf.zeros([2, 3])],
      call: (x) => softmax(x as tf.Tensor2D, bad(t)),
    }),
  ),
  {
    entry: 'entropy',
    input: "unit: 'bit'",
    error: 'SamplingError',
    argument: 'unit',
    value: '"bit"',
    setup: () => [tf.fill([1, 2], 0.5)],
    call: (x) => entropy(x as tf.Tensor2D, bad('bit')),
  },
  { entry: 'presetOptions', input: "task: 'poetry'", error: 'SamplingError', argument: 'task', value: '"poetry"', call: () => presetOptions(bad('poetry')) },
  {
    entry: 'presetOptions',
    input: "task: 'code', overrides: null",
    error: 'SamplingError',
    argument: 'overrides',
    value: 'null',
    call: () => presetOptions('code', bad(null)),
  },
  {
    entry: 'presetOptions',
    input: "task: 'code', overrides: { topP: 2 }",
    error: 'SamplingError',
    argument: 'topP',
    value: '2',
    call: () => presetOptions('code', { topP: 2 }),
  },
  { entry: 'taskPreset', input: 'task: 42', error: 'SamplingError', argument: 'task', value: '42', call: () => taskPreset(bad(42)) },
  { entry: 'temperature', input: 't: -1', error: 'SamplingError', argument: 'temperature', value: '-1', call: () => temperature(-1) },
  { entry: 'topK', input: 'k: 2.5', error: 'SamplingError', argument: 'topK', value: '2.5', call: () => topK(2.5) },
  { entry: 'topK', input: "k: '5'", error: 'SamplingError', argument: 'topK', value: '"5"', call: () => topK(bad('5')) },
  { entry: 'topP', input: 'p: 0', error: 'SamplingError', argument: 'topP', value: '0', call: () => topP(0) },
  { entry: 'topP', input: 'p: [0.5, NaN]', error: 'SamplingError', argument: 'topP[1]', value: 'NaN', call: () => topP([0.5, NaN]) },
  { entry: 'minP', input: 'm: 2', error: 'SamplingError', argument: 'minP', value: '2', call: () => minP(2) },
  { entry: 'topNSigma', input: 'n: -1', error: 'SamplingError', argument: 'topNSigma', value: '-1', call: () => topNSigma(-1) },
  { entry: 'epsilonCutoff', input: 'e: 1', error: 'SamplingError', argument: 'epsilonCutoff', value: '1', call: () => epsilonCutoff(1) },
  { entry: 'etaCutoff', input: 'e: -1', error: 'SamplingError', argument: 'etaCutoff', value: '-1', call: () => etaCutoff(-1) },
  { entry: 'typicalP', input: 'p: 0', error: 'SamplingError', argument: 'typicalP', value: '0', call: () => typicalP(0) },
  { entry: 'typicalP', input: 'p: 0.9, minTokensToKeep: 0', error: 'SamplingError', argument: 'minTokensToKeep', value: '0', call: () => typicalP(0.9, 0) },
  { entry: 'xtc', input: '{ probability: -1 }', error: 'SamplingError', argument: 'xtc.probability', value: '-1', call: () => xtc({ probability: -1 }) },
  { entry: 'mirostat', input: '{ version: 0 }', error: 'SamplingError', argument: 'mirostat.version', value: '0', call: () => mirostat({ version: bad(0) }) },
  {
    entry: 'selectBackend',
    input: "candidates: ['no-such-backend']",
    error: 'Error',
    value: 'no-such-backend: the no-such-backend backend is not registered',
    call: () => selectBackend({ candidates: ['no-such-backend'] }),
  },
);

// Found by this table and fixed in src/ (they were known holes).
const FIXED: Row[] = [
  {
    entry: 'generate',
    input: 'model returns float32 [1, 0] (empty vocabulary)',
    error: 'SamplingError',
    argument: 'model',
    value: '[1, 0]',
    call: () =>
      gen(
        {},
        returning((b) => tf.zeros([b, 0])),
      ),
  },
  {
    entry: 'generate',
    input: 'model returns float32 [1, 0, 4] (no position)',
    error: 'SamplingError',
    argument: 'model',
    call: () =>
      gen(
        {},
        returning((b) => tf.zeros([b, 0, 4])),
      ),
  },
  {
    entry: 'generate',
    input: 'model returns a disposed tensor',
    error: 'SamplingError',
    argument: 'model',
    value: 'disposed',
    call: () => gen({}, () => disposed(tf.zeros([1, 4]))),
  },
  {
    entry: 'generate',
    input: 'sampler: { temprature: 1 } (misspelt)',
    error: 'SamplingError',
    argument: 'sampler',
    value: '"temprature"',
    call: () => gen({ sampler: { temprature: 1 } }),
  },
  {
    entry: 'readIds',
    input: 'ids: null',
    error: 'SamplingError',
    argument: 'ids',
    value: 'null',
    call: () => readIds(bad(null)),
  },
  {
    entry: 'generate',
    input: "sampler: { processors: [a history processor named 'top-k'] }, a predict() model",
    error: 'none',
    outcome: 'the processor sees state.history (int32 [1, 2])',
    call: async () => {
      historySeen.length = 0;
      await generate({ predict: (t: tf.Tensor) => tf.zeros([t.shape[0]!, 4]) }, { ...GEN, maxNewTokens: 1, sampler: { seed: 1, processors: [historyProbe] } });
      return [...historySeen];
    },
    accept: (r) => expect(r).toEqual([[1, 2]]),
  },
  ...(
    [
      ['sampler.sample', 'logits', (x: tf.Tensor) => s().sample(bad(foreignCopy(x)))],
      ['sampler.probabilities', 'logits', (x: tf.Tensor) => s().probabilities(bad(foreignCopy(x)))],
      ['softmax', 'logits', (x: tf.Tensor) => softmax(bad(foreignCopy(x)))],
      ['sampler.sample', 'history', (x: tf.Tensor, h: tf.Tensor) => s().sample(x, { history: bad(foreignCopy(h)) })],
    ] as const
  ).map(
    ([entry, argument, fn]): Row => ({
      entry,
      input: `${argument}: a tensor of another copy of @tensorflow/tfjs-core (simulated: a tensor's fields, not this copy's class)`,
      error: 'SamplingError',
      argument,
      value: 'a tensor of another installed copy',
      setup: () => [f32([[0, 5, 1]]), tf.zeros([1, 1], 'int32')],
      call: (x, h) => fn(x!, h!),
    }),
  ),
  {
    entry: 'sampler.sample',
    input: 'context: 5, logits [1, 4]',
    error: 'SamplingError',
    argument: 'context',
    value: '5',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s().sample(x!, bad(5)),
  },
  {
    entry: 'sampler.sample',
    input: 'context: [] (an array), logits [1, 4]',
    error: 'SamplingError',
    argument: 'context',
    value: '[]',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s().sample(x!, bad([])),
  },
  {
    entry: 'sampler.sample',
    input: 'context: { step: [3] } (a misspelt key), logits [1, 4]',
    error: 'SamplingError',
    argument: 'context',
    value: '"step"',
    setup: () => [tf.zeros([1, 4])],
    call: (x) => s().sample(x!, bad({ step: [3] })),
  },
  {
    entry: 'sampler.sample',
    input: "processors: [a processor that disposes its input state's logits], logits [1, 4]",
    error: 'SamplingError',
    argument: 'processors[0]',
    value: 'logits disposed',
    setup: () => [tf.zeros([1, 4])],
    call: (x) =>
      s({
        processors: [
          returningState((st) => {
            st.logits.dispose();
            return st;
          }),
        ],
      }).sample(x!),
  },
  {
    entry: 'presetOptions',
    input: "task: 'code', overrides: { top_p: 0.9 }",
    error: 'SamplingError',
    argument: 'overrides',
    value: '"top_p"',
    call: () => presetOptions('code', bad({ top_p: 0.9 })),
  },
  {
    entry: 'reference.sample',
    input: "draw: 'multinomial', seed: 1",
    error: 'SamplingError',
    argument: 'draw',
    value: '"multinomial"',
    call: () => reference.sample([[0, 1, 2]], { seed: 1, draw: 'multinomial' }),
  },
  {
    entry: 'selectBackend',
    input: 'options: null',
    error: 'SamplingError',
    argument: 'options',
    value: 'null',
    call: () => selectBackend(bad(null)),
  },
  {
    entry: 'selectBackend',
    input: 'candidates: []',
    error: 'SamplingError',
    argument: 'candidates',
    value: '[]',
    call: () => selectBackend({ candidates: [] }),
  },
  {
    entry: 'selectBackend',
    input: "candidates: 'cpu' (a string)",
    error: 'SamplingError',
    argument: 'candidates',
    value: '"cpu"',
    call: () => selectBackend({ candidates: bad('cpu') }),
  },
  {
    entry: 'selectBackend',
    input: 'candidates: [42]',
    error: 'SamplingError',
    argument: 'candidates',
    value: '[42]',
    call: () => selectBackend({ candidates: bad([42]) }),
  },
  {
    entry: 'selectBackend',
    input: "wasmPaths: '/wasm' (no trailing slash), candidates: ['no-such-backend']",
    error: 'SamplingError',
    argument: 'wasmPaths',
    value: '"/wasm"',
    call: () => selectBackend({ candidates: ['no-such-backend'], wasmPaths: '/wasm' }),
  },
];

// ---------------------------------------------------------------------------------------------
// Known holes: bad input that is not handled correctly yet. Each test asserts what should happen.

const HOLES: Hole[] = [];

/** Every row, in table order. */
const ROWS: Row[] = [
  ...CREATE.map(
    ([input, options, argument, value]): Row => ({
      entry: 'createSampler',
      input,
      error: 'SamplingError',
      argument,
      value,
      call: () => {
        // The reference shares the validation: the same options give the same message there
        // (except the multinomial seed rule, which only the tensor draw has).
        let fromReference = '(no error)';
        try {
          reference.probabilities([[0, 1]], bad(options));
        } catch (e) {
          fromReference = (e as Error).message;
        }
        try {
          createSampler(bad(options));
        } catch (e) {
          if ((options as SamplerOptions | null)?.draw !== 'multinomial') expect(fromReference).toBe((e as Error).message);
          throw e;
        }
      },
    }),
  ),
  ...CREATE_ACCEPTED,
  ...PER_CALL,
  ...LOGPROBS,
  ...INVALID,
  ...GENERATE,
  ...SCORE,
  ...REFERENCE,
  ...OTHER,
  ...FIXED,
];

// ---------------------------------------------------------------------------------------------
// The exact messages, by `${entry} | ${input}` (generated by running each call, never invented).

const MESSAGES: Record<string, string> = {
  'sampler.sampleWithLogprobs | options: 3': '`logprobs` must be an object { topLogprobs?, mode?, raw? }, but is 3',
  'sampler.sampleWithLogprobs | options: { topLogprobs: -1 }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is -1',
  'sampler.sampleWithLogprobs | options: { topLogprobs: 2.5 }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is 2.5',
  'sampler.sampleWithLogprobs | options: { topLogprobs: 4 } past V = 3': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is 4',
  'sampler.sampleWithLogprobs | options: { topLogprobs: NaN }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is NaN',
  "sampler.sampleWithLogprobs | options: { mode: 'logits' }": '`mode` must be "raw" or "processed", but is "logits"',
  'sampler.sampleIdsWithLogprobs | options: 3': '`logprobs` must be an object { topLogprobs?, mode?, raw? }, but is 3',
  'sampler.sampleIdsWithLogprobs | options: { topLogprobs: -1 }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is -1',
  'sampler.sampleIdsWithLogprobs | options: { topLogprobs: 2.5 }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is 2.5',
  'sampler.sampleIdsWithLogprobs | options: { topLogprobs: 4 } past V = 3': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is 4',
  'sampler.sampleIdsWithLogprobs | options: { topLogprobs: NaN }': '`topLogprobs` must be an integer in [0, 3] (the vocabulary size), but is NaN',
  "sampler.sampleIdsWithLogprobs | options: { mode: 'logits' }": '`mode` must be "raw" or "processed", but is "logits"',
  'generate | logprobs: 3': '`logprobs` must be true, false or { topLogprobs?, mode?, raw? }, but is 3',
  'generate | logprobs: { topLogprobs: -1 }': '`logprobs.topLogprobs` must be an integer >= 0, but is -1',
  'generate | logprobs: { topLogprobs: 1.5 }': '`logprobs.topLogprobs` must be an integer >= 0, but is 1.5',
  "generate | logprobs: { mode: 'logits' }": '`logprobs.mode` must be "raw" or "processed", but is "logits"',
  'sampler.sampleWithLogprobs | options: { raw: false } (mode raw)':
    '`raw` may be false only with mode "processed" (the alternatives of mode "raw" are raw log-probabilities), but is false',
  "sampler.sampleWithLogprobs | options: { mode: 'processed', raw: 0 }": '`raw` must be a boolean, but is 0',
  'sampler.sampleIdsWithLogprobs | options: { raw: false } (mode raw)':
    '`raw` may be false only with mode "processed" (the alternatives of mode "raw" are raw log-probabilities), but is false',
  "sampler.sampleIdsWithLogprobs | options: { mode: 'processed', raw: 0 }": '`raw` must be a boolean, but is 0',
  'generate | logprobs: { raw: false } (mode raw)':
    '`logprobs.raw` may be false only with mode "processed" (the alternatives of mode "raw" are raw log-probabilities), but is false',
  'generate | logprobs: { topLogprobs: 99 } past the vocabulary': '`topLogprobs` must be an integer in [0, 4] (the vocabulary size), but is 99',
  "generate | stopSequences: 'x'": '`stopSequences` must be an array of stop sequences (arrays of token ids), or one such array per row, but is "x"',
  'generate | stopSequences: [[1], []]': '`stopSequences[1]` must be a non-empty array of token ids, but is []',
  'generate | stopSequences: [[1, -1]]': '`stopSequences[0]` must be a non-empty array of token ids, but is [1, -1]',
  'generate | stopSequences: [[[1]], [[2]]] for 1 prompt': '`stopSequences` must have one list per row (batch size 1) when given per row, but is 2 lists',
  "generate | stopStrings: ['x'] without detokenize": '`detokenize` must be given with stopStrings (the text is matched, not the tokens), but is undefined',
  "generate | stopStrings: ['']": '`stopStrings[0]` must be a non-empty string, but is ""',
  'generate | stopStrings: [5]': '`stopStrings[0]` must be a non-empty string, but is 5',
  'generate | detokenize: () => undefined (returns no string)': '`detokenize` must return a string (the text of the tokens), but is undefined',
  "generate | detokenize: 'abc'": '`detokenize` must be a function (tokens, row) => string, but is "abc"',
  "generate | keepStop: 'no'": '`keepStop` must be a boolean, but is "no"',
  "generate | feed: 'all'": '`feed` must be "window" or "new", but is "all"',
  "generate | feed: 'new' with contextLength 1": '`contextLength` must not be given with feed "new" (the step function gets the new tokens only), but is 1',
  'score | continuations: undefined (missing)': '`continuations` must be an array of token-id arrays (one per row), but is undefined',
  "score | continuations: 'abc'": '`continuations` must be an array of token-id arrays (one per row), but is "abc"',
  'score | continuations: [[1], [2]] for 1 prompt': '`continuations` must have one token array per prompt (batch size 1), but is 2 arrays',
  'score | continuations: [5]': '`continuations[0]` must be an array of token ids, but is 5',
  'score | continuations: [[1, -1]]': '`continuations[0][1]` must be an integer token id >= 0, but is -1',
  'score | continuations: [[1.5]]': '`continuations[0][0]` must be an integer token id >= 0, but is 1.5',
  'score | continuations: [[4]] past V = 4': '`continuations[0][0]` must be a token id < the vocabulary size 4, but is 4',
  'createSampler | processors: [{ name, apply, accept: 42 }]': '`processors[0].accept` must be a function when given, but is 42',
  "createSampler | processors: [{ name, apply, clone: 'copy' }]": '`processors[0].clone` must be a function when given, but is "copy"',
  'sampler.clone | processors: [a processor with accept() and no clone()]':
    '`processors[0]` ("counter") must implement clone() for Sampler.clone(): it keeps state across steps (it has accept or reset), but is no clone method',
  'sampler.clone | processors: [a processor whose clone() returns 42]':
    '`processors[0].clone()` must return a LogitsProcessor ({ name, apply(state) }), but is 42',
  'createSampler | repetitionPenalty: 0': '`repetitionPenalty` must be a number in [1e-30, 1e30] (1 switches it off; > 1 discourages repeats), but is 0',
  'createSampler | repetitionPenalty: [1, NaN]':
    '`repetitionPenalty[1]` must be a number in [1e-30, 1e30] (1 switches it off; > 1 discourages repeats), but is NaN',
  'createSampler | frequencyPenalty: Infinity': '`frequencyPenalty` must be a finite number in [-1e30, 1e30] (0 switches it off), but is Infinity',
  "createSampler | presencePenalty: '0.5'": '`presencePenalty` must be a number or an array with one number per row, but is "0.5"',
  'createSampler | penaltyLastN: 0': '`penaltyLastN` must be an integer in [1, 2^20] or Infinity (the whole history, the default), but is 0',
  'createSampler | penaltyLastN: 2.5': '`penaltyLastN` must be an integer in [1, 2^20] or Infinity (the whole history, the default), but is 2.5',
  'createSampler | penalizePrompt: { prompt: true }': '`penalizePrompt` must only name repetition, frequency, presence, dry, but is "prompt"',
  'createSampler | penalizePrompt: { frequency: 1 }': '`penalizePrompt.frequency` must be a boolean, but is 1',
  'createSampler | noRepeatNgramSize: -1': '`noRepeatNgramSize` must be an integer in [0, 64] (0 switches it off), but is -1',
  'createSampler | badWords: [[]]': '`badWords[0]` must not be empty, but is []',
  'createSampler | badWords: [[1.5]]': '`badWords[0][0]` must be a token id (an integer >= 0), but is 1.5',
  'createSampler | logitBias: { 1: NaN }': '`logitBias[1]` must be a finite number or -Infinity (a ban), but is NaN',
  "createSampler | logitBias: { '1.0': 3 } (token 1 written otherwise)":
    '`logitBias` must use token ids as keys (integers >= 0; in an object, written as "1", not "1.0" or "01"), but is "1.0"',
  "createSampler | logitBias: { 1: 2, '01': 3 }":
    '`logitBias` must use token ids as keys (integers >= 0; in an object, written as "1", not "1.0" or "01"), but is "01"',
  'createSampler | logitBias: Map { 1.5 => 1 }':
    '`logitBias` must use token ids as keys (integers >= 0; in an object, written as "1", not "1.0" or "01"), but is 1.5',
  'createSampler | logitBias: []': '`logitBias` must be a map, or a non-empty array with one map per row, but is []',
  'createSampler | minNewTokens: 3 (no stopTokens)': '`stopTokens` must list the tokens minNewTokens suppresses (EOS and stop tokens), but is none',
  'createSampler | stopTokens: [-1]': '`stopTokens[0]` must be a token id (an integer >= 0), but is -1',
  'createSampler | allowedTokens: []': '`allowedTokens` must be a non-empty array of token ids, or one array per row, but is []',
  'createSampler | dry: 0.8 (not an object)': '`dry` must be an object { multiplier, base?, allowedLength?, penaltyLastN?, sequenceBreakers? }, but is 0.8',
  'createSampler | dry: []': '`dry` must be an object, or a non-empty array with one object (or undefined) per row, but is []',
  'createSampler | dry: { base: 1.75 } (no multiplier)':
    '`dry.multiplier` must be a finite number in [0, 1e30] (0 switches DRY off; llama.cpp recommends 0.8), but is undefined',
  'createSampler | dry: { multiplier: -0.5 }':
    '`dry.multiplier` must be a finite number in [0, 1e30] (0 switches DRY off; llama.cpp recommends 0.8), but is -0.5',
  'createSampler | dry: { multiplier: 0.8, base: 0.5 }':
    '`dry.base` must be a number in [1, 1e30] (default 1.75), but is 0.5. llama.cpp switches DRY off for a base below 1; use multiplier 0 for that',
  'createSampler | dry: { multiplier: 0, base: 0.5 } (off, still checked)':
    '`dry.base` must be a number in [1, 1e30] (default 1.75), but is 0.5. llama.cpp switches DRY off for a base below 1; use multiplier 0 for that',
  'createSampler | dry: { multiplier: 0.8, allowedLength: 1.5 }': '`dry.allowedLength` must be an integer in [0, 2^20] (default 2), but is 1.5',
  'createSampler | dry: { multiplier: 0.8, penaltyLastN: -2 }':
    '`dry.penaltyLastN` must be an integer in [-1, 65536] (-1, the default: the whole history up to 4096 tokens; 0 switches DRY off), but is -2',
  'createSampler | dry: { multiplier: 0.8, sequenceBreakers: [[]] }': '`dry.sequenceBreakers[0]` must not be empty, but is []',
  "createSampler | dry: { multiplier: 0.8, sequenceBreakers: ['\\n'] } (a string)":
    '`dry.sequenceBreakers[0]` must be an array of token ids (integers >= 0), but is "\\n"',
  'createSampler | dry: { multiplier: 0.8, allowed_length: 2 } (unknown name)':
    '`dry` must only name multiplier, base, allowedLength, penaltyLastN, sequenceBreakers, but is "allowed_length"',
  'createSampler | dry: [{ multiplier: 0.8 }, null]':
    '`dry[1]` must be an object { multiplier, base?, allowedLength?, penaltyLastN?, sequenceBreakers? }, but is null',
  "createSampler | penalizePrompt: { dry: 'yes' }": '`penalizePrompt.dry` must be a boolean, but is "yes"',
  'sampler.sample | dry: { multiplier: 0.8, sequenceBreakers: [[2, 9]] }, logits [1, 4]':
    '`dry.sequenceBreakers[0][1]` must be a token id < vocab size 4, but is 9',
  'sampler.sample | dry: [{ multiplier: 0.8 }, undefined], logits [3, 4]': '`dry` must have one entry per row (batch size 3), but is an array of length 2',
  'generate | model returns float32 [1, 0] (empty vocabulary)':
    '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a float32 tensor of shape [1, 0]',
  'generate | model returns float32 [1, 0, 4] (no position)':
    '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a float32 tensor of shape [1, 0, 4]',
  'generate | model returns a disposed tensor':
    '`model` must return a live logits tensor (generate disposes it after sampling: return a new one each step), but is a disposed tensor of shape [1, 4]',
  'generate | sampler: { temprature: 1 } (misspelt)':
    '`sampler` must only use known option names (temperature, topK, topP, minP, topNSigma, typicalP, epsilonCutoff, etaCutoff, minTokensToKeep, xtc, dynamicTemperature, mirostat, seed, order, processors, draw, invalidRows, repetitionPenalty, frequencyPenalty, presencePenalty, penaltyLastN, penalizePrompt, noRepeatNgramSize, badWords, logitBias, minNewTokens, stopTokens, allowedTokens, dry), but is "temprature"',
  'readIds | ids: null': '`ids` must be the int32 [B] tensor sample() returned, but is null',
  'createSampler | null': '`options` must be an object, but is null',
  'createSampler | 42': '`options` must be an object, but is 42',
  "createSampler | 'greedy'": '`options` must be an object, but is "greedy"',
  'createSampler | { top_p: 0.9 } (unknown name)':
    '`options` must only use known option names (temperature, topK, topP, minP, topNSigma, typicalP, epsilonCutoff, etaCutoff, minTokensToKeep, xtc, dynamicTemperature, mirostat, seed, order, processors, draw, invalidRows, repetitionPenalty, frequencyPenalty, presencePenalty, penaltyLastN, penalizePrompt, noRepeatNgramSize, badWords, logitBias, minNewTokens, stopTokens, allowedTokens, dry), but is "top_p"',
  'createSampler | { temprature: 0.5 } (misspelt)':
    '`options` must only use known option names (temperature, topK, topP, minP, topNSigma, typicalP, epsilonCutoff, etaCutoff, minTokensToKeep, xtc, dynamicTemperature, mirostat, seed, order, processors, draw, invalidRows, repetitionPenalty, frequencyPenalty, presencePenalty, penaltyLastN, penalizePrompt, noRepeatNgramSize, badWords, logitBias, minNewTokens, stopTokens, allowedTokens, dry), but is "temprature"',
  'createSampler | temperature: NaN': '`temperature` must be a finite number >= 0 (0 means greedy), but is NaN',
  'createSampler | temperature: Infinity': '`temperature` must be a finite number >= 0 (0 means greedy), but is Infinity',
  'createSampler | temperature: -Infinity': '`temperature` must be a finite number >= 0 (0 means greedy), but is -Infinity',
  'createSampler | temperature: -0.5': '`temperature` must be a finite number >= 0 (0 means greedy), but is -0.5',
  "createSampler | temperature: '0.7'": '`temperature` must be a number or an array with one number per row, but is "0.7"',
  'createSampler | temperature: null': '`temperature` must be a number or an array with one number per row, but is null',
  'createSampler | temperature: true': '`temperature` must be a number or an array with one number per row, but is true',
  'createSampler | temperature: {}': '`temperature` must be a number or an array with one number per row, but is {}',
  'createSampler | temperature: []': '`temperature` must be a number or a non-empty array with one value per row, but is []',
  'createSampler | temperature: [1, NaN]': '`temperature[1]` must be a finite number >= 0 (0 means greedy), but is NaN',
  "createSampler | temperature: [1, '1']": '`temperature[1]` must be a finite number >= 0 (0 means greedy), but is "1"',
  'createSampler | temperature: Float32Array [1, -1]': '`temperature[1]` must be a finite number >= 0 (0 means greedy), but is -1',
  'createSampler | topK: 1.5': '`topK` must be an integer >= 0 (0 switches top-k off), but is 1.5',
  'createSampler | topK: -1': '`topK` must be an integer >= 0 (0 switches top-k off), but is -1',
  'createSampler | topK: NaN': '`topK` must be an integer >= 0 (0 switches top-k off), but is NaN',
  'createSampler | topK: Infinity': '`topK` must be an integer >= 0 (0 switches top-k off), but is Infinity',
  'createSampler | topK: -Infinity': '`topK` must be an integer >= 0 (0 switches top-k off), but is -Infinity',
  "createSampler | topK: '40'": '`topK` must be a number or an array with one number per row, but is "40"',
  'createSampler | topK: null': '`topK` must be a number or an array with one number per row, but is null',
  'createSampler | topK: []': '`topK` must be a number or a non-empty array with one value per row, but is []',
  'createSampler | topK: [1, 2.5]': '`topK[1]` must be an integer >= 0 (0 switches top-k off), but is 2.5',
  'createSampler | topK: Int32Array [5, -5]': '`topK[1]` must be an integer >= 0 (0 switches top-k off), but is -5',
  'createSampler | topP: 0': '`topP` must be in (0, 1] (1 switches top-p off), but is 0',
  'createSampler | topP: -0.1': '`topP` must be in (0, 1] (1 switches top-p off), but is -0.1',
  'createSampler | topP: 1.1': '`topP` must be in (0, 1] (1 switches top-p off), but is 1.1',
  'createSampler | topP: NaN': '`topP` must be in (0, 1] (1 switches top-p off), but is NaN',
  'createSampler | topP: Infinity': '`topP` must be in (0, 1] (1 switches top-p off), but is Infinity',
  'createSampler | topP: -Infinity': '`topP` must be in (0, 1] (1 switches top-p off), but is -Infinity',
  "createSampler | topP: '0.9'": '`topP` must be a number or an array with one number per row, but is "0.9"',
  'createSampler | topP: []': '`topP` must be a number or a non-empty array with one value per row, but is []',
  'createSampler | topP: [0.9, 0]': '`topP[1]` must be in (0, 1] (1 switches top-p off), but is 0',
  'createSampler | topP: Float32Array [0.5, 2]': '`topP[1]` must be in (0, 1] (1 switches top-p off), but is 2',
  'createSampler | minP: -0.1': '`minP` must be in [0, 1] (0 switches min-p off), but is -0.1',
  'createSampler | minP: 1.5': '`minP` must be in [0, 1] (0 switches min-p off), but is 1.5',
  'createSampler | minP: NaN': '`minP` must be in [0, 1] (0 switches min-p off), but is NaN',
  'createSampler | minP: Infinity': '`minP` must be in [0, 1] (0 switches min-p off), but is Infinity',
  'createSampler | minP: -Infinity': '`minP` must be in [0, 1] (0 switches min-p off), but is -Infinity',
  "createSampler | minP: '0.1'": '`minP` must be a number or an array with one number per row, but is "0.1"',
  'createSampler | minP: []': '`minP` must be a number or a non-empty array with one value per row, but is []',
  'createSampler | minP: [0.1, NaN]': '`minP[1]` must be in [0, 1] (0 switches min-p off), but is NaN',
  'createSampler | minP: Float64Array [0.1, -1]': '`minP[1]` must be in [0, 1] (0 switches min-p off), but is -1',
  'createSampler | topNSigma: -1': '`topNSigma` must be a finite number >= 0 (0 switches top-nσ off), but is -1',
  'createSampler | topNSigma: NaN': '`topNSigma` must be a finite number >= 0 (0 switches top-nσ off), but is NaN',
  'createSampler | topNSigma: Infinity': '`topNSigma` must be a finite number >= 0 (0 switches top-nσ off), but is Infinity',
  'createSampler | topNSigma: [1, -0.5]': '`topNSigma[1]` must be a finite number >= 0 (0 switches top-nσ off), but is -0.5',
  'createSampler | epsilonCutoff: 1': '`epsilonCutoff` must be in [0, 1) (0 switches it off), but is 1',
  'createSampler | epsilonCutoff: -0.1': '`epsilonCutoff` must be in [0, 1) (0 switches it off), but is -0.1',
  'createSampler | etaCutoff: NaN': '`etaCutoff` must be in [0, 1) (0 switches it off), but is NaN',
  'createSampler | etaCutoff: [0.1, 1.5]': '`etaCutoff[1]` must be in [0, 1) (0 switches it off), but is 1.5',
  'createSampler | seed: NaN': '`seed` must be a finite number (or one per row), but is NaN',
  'createSampler | seed: Infinity': '`seed` must be a finite number (or one per row), but is Infinity',
  'createSampler | seed: -Infinity': '`seed` must be a finite number (or one per row), but is -Infinity',
  "createSampler | seed: '42'": '`seed` must be a number or an array with one number per row, but is "42"',
  'createSampler | seed: null': '`seed` must be a number or an array with one number per row, but is null',
  'createSampler | seed: []': '`seed` must be a number or a non-empty array with one value per row, but is []',
  'createSampler | seed: [1, NaN]': '`seed[1]` must be a finite number (or one per row), but is NaN',
  "createSampler | order: 'temperature' (not an array)": '`order` must be an array of names or one of "llama.cpp", "hf", "vllm", but is "temperature"',
  "createSampler | order: ['top-p', 'nucleus']":
    '`order` must list distinct names among temperature, top-n-sigma, top-k, top-p, min-p, typical-p, epsilon-cutoff, eta-cutoff, xtc, mirostat, but is ["top-p", "nucleus"]',
  "createSampler | order: ['top-p', 'top-p']":
    '`order` must list distinct names among temperature, top-n-sigma, top-k, top-p, min-p, typical-p, epsilon-cutoff, eta-cutoff, xtc, mirostat, but is ["top-p", "top-p"]',
  "createSampler | topP: 0.9, order: ['temperature'] (top-p left out)": '`order` must include "top-p" since that option is set, but is ["temperature"]',
  'createSampler | processors: {} (not an array)': '`processors` must be an array of LogitsProcessor, but is {}',
  'createSampler | processors: [null]': '`processors[0]` must be a LogitsProcessor ({ name, apply(state) }), but is null',
  'createSampler | processors: [42]': '`processors[0]` must be a LogitsProcessor ({ name, apply(state) }), but is 42',
  "createSampler | processors: [{ name: 'x' }] (no apply)": '`processors[0]` must be a LogitsProcessor ({ name, apply(state) }), but is {"name":"x"}',
  'createSampler | processors: [{ apply }] (no name)': '`processors[0]` must be a LogitsProcessor ({ name, apply(state) }), but is {}',
  "createSampler | draw: 'inverse-cdf'": '`draw` must be "gumbel" or "multinomial", but is "inverse-cdf"',
  'createSampler | draw: 42': '`draw` must be "gumbel" or "multinomial", but is 42',
  "createSampler | draw: 'multinomial', seed: [1, 2]":
    '`seed` must be one number with draw "multinomial" (tf.multinomial takes one seed per call), but is [1, 2]',
  "createSampler | order: 'toString' (an Object.prototype name)": '`order` must be an array of names or one of "llama.cpp", "hf", "vllm", but is "toString"',
  "createSampler | order: ['top-k', <hole>] (a sparse array)":
    '`order` must list distinct names among temperature, top-n-sigma, top-k, top-p, min-p, typical-p, epsilon-cutoff, eta-cutoff, xtc, mirostat, but is ["top-k", undefined]',
  'createSampler | temperature: a DataView': '`temperature` must be a number or an array with one number per row, but is a DataView of 8 bytes',
  'createSampler | temperature: BigInt64Array [0n]': '`temperature[0]` must be a finite number >= 0 (0 means greedy), but is 0n',
  'createSampler | logitBias: [{ 0: 5 }, <hole>] (a sparse array)': '`logitBias[1]` must be a map { token: bias } (a Map or an object), but is undefined',
  'createSampler | badWords: [[1], <hole>] (a sparse array)': '`badWords[1]` must be an array of token ids (integers >= 0), but is undefined',
  'createSampler | allowedTokens: [[1], <hole>] (a sparse array)': '`allowedTokens[1]` must be an array of token ids (integers >= 0), but is undefined',
  'createSampler | stopTokens: a DataView': '`stopTokens` must be an array of token ids (integers >= 0), but is a DataView of 8 bytes',
  "createSampler | invalidRows: 'skip'": '`invalidRows` must be "error", "uniform" or "greedy", but is "skip"',
  'createSampler | invalidRows: true': '`invalidRows` must be "error", "uniform" or "greedy", but is true',
  'sampler.sample | logits: [[1, 2]] (an array, not a tensor)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'sampler.sample | logits: undefined': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is undefined',
  'sampler.sample | logits: null': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'sampler.sample | logits: 3 (a number)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is number 3',
  "sampler.sample | logits: { shape: [1, 3], dtype: 'float32', rank: 2 } (tensor-like, not a tensor)":
    '`logits` must be a tf.Tensor of shape [B, V] or [V], but is a Object',
  'sampler.sample | logits: a disposed tensor': '`logits` must not be disposed, but is a disposed tensor of shape [1,3]',
  'sampler.sample | logits: int32 [2, 3]': '`logits` must have dtype float32, but is "int32". Cast with tf.cast(logits, "float32")',
  'sampler.sample | logits: bool [1, 2]': '`logits` must have dtype float32, but is "bool". Cast with tf.cast(logits, "float32")',
  "sampler.sample | logits: string ['a', 'b']": '`logits` must have dtype float32, but is "string". Cast with tf.cast(logits, "float32")',
  'sampler.sample | logits: rank 0 (scalar)': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 0 (shape [])',
  'sampler.sample | logits: rank 3 [2, 2, 2]': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'sampler.sample | logits: [2, 0] (empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'sampler.sample | logits: [0] (rank 1, empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [0]',
  'sampler.sample | logits: [0, 0]': '`logits` must have a vocabulary V ≥ 1, but is shape [0,0]',
  'sampler.sampleIds | logits: [[1, 2]] (an array, not a tensor)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'sampler.sampleIds | logits: undefined': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is undefined',
  'sampler.sampleIds | logits: null': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'sampler.sampleIds | logits: 3 (a number)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is number 3',
  "sampler.sampleIds | logits: { shape: [1, 3], dtype: 'float32', rank: 2 } (tensor-like, not a tensor)":
    '`logits` must be a tf.Tensor of shape [B, V] or [V], but is a Object',
  'sampler.sampleIds | logits: a disposed tensor': '`logits` must not be disposed, but is a disposed tensor of shape [1,3]',
  'sampler.sampleIds | logits: int32 [2, 3]': '`logits` must have dtype float32, but is "int32". Cast with tf.cast(logits, "float32")',
  'sampler.sampleIds | logits: bool [1, 2]': '`logits` must have dtype float32, but is "bool". Cast with tf.cast(logits, "float32")',
  "sampler.sampleIds | logits: string ['a', 'b']": '`logits` must have dtype float32, but is "string". Cast with tf.cast(logits, "float32")',
  'sampler.sampleIds | logits: rank 0 (scalar)': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 0 (shape [])',
  'sampler.sampleIds | logits: rank 3 [2, 2, 2]': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'sampler.sampleIds | logits: [2, 0] (empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'sampler.sampleIds | logits: [0] (rank 1, empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [0]',
  'sampler.sampleIds | logits: [0, 0]': '`logits` must have a vocabulary V ≥ 1, but is shape [0,0]',
  'sampler.probabilities | logits: [[1, 2]] (an array, not a tensor)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'sampler.probabilities | logits: undefined': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is undefined',
  'sampler.probabilities | logits: null': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'sampler.probabilities | logits: 3 (a number)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is number 3',
  "sampler.probabilities | logits: { shape: [1, 3], dtype: 'float32', rank: 2 } (tensor-like, not a tensor)":
    '`logits` must be a tf.Tensor of shape [B, V] or [V], but is a Object',
  'sampler.probabilities | logits: a disposed tensor': '`logits` must not be disposed, but is a disposed tensor of shape [1,3]',
  'sampler.probabilities | logits: int32 [2, 3]': '`logits` must have dtype float32, but is "int32". Cast with tf.cast(logits, "float32")',
  'sampler.probabilities | logits: bool [1, 2]': '`logits` must have dtype float32, but is "bool". Cast with tf.cast(logits, "float32")',
  "sampler.probabilities | logits: string ['a', 'b']": '`logits` must have dtype float32, but is "string". Cast with tf.cast(logits, "float32")',
  'sampler.probabilities | logits: rank 0 (scalar)': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 0 (shape [])',
  'sampler.probabilities | logits: rank 3 [2, 2, 2]': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'sampler.probabilities | logits: [2, 0] (empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'sampler.probabilities | logits: [0] (rank 1, empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [0]',
  'sampler.probabilities | logits: [0, 0]': '`logits` must have a vocabulary V ≥ 1, but is shape [0,0]',
  'sampler.process | logits: [[1, 2]] (an array, not a tensor)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'sampler.process | logits: undefined': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is undefined',
  'sampler.process | logits: null': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'sampler.process | logits: 3 (a number)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is number 3',
  "sampler.process | logits: { shape: [1, 3], dtype: 'float32', rank: 2 } (tensor-like, not a tensor)":
    '`logits` must be a tf.Tensor of shape [B, V] or [V], but is a Object',
  'sampler.process | logits: a disposed tensor': '`logits` must not be disposed, but is a disposed tensor of shape [1,3]',
  'sampler.process | logits: int32 [2, 3]': '`logits` must have dtype float32, but is "int32". Cast with tf.cast(logits, "float32")',
  'sampler.process | logits: bool [1, 2]': '`logits` must have dtype float32, but is "bool". Cast with tf.cast(logits, "float32")',
  "sampler.process | logits: string ['a', 'b']": '`logits` must have dtype float32, but is "string". Cast with tf.cast(logits, "float32")',
  'sampler.process | logits: rank 0 (scalar)': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 0 (shape [])',
  'sampler.process | logits: rank 3 [2, 2, 2]': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'sampler.process | logits: [2, 0] (empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'sampler.process | logits: [0] (rank 1, empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [0]',
  'sampler.process | logits: [0, 0]': '`logits` must have a vocabulary V ≥ 1, but is shape [0,0]',
  'sampler.sample | temperature: [1, 1], logits [3, 4]': '`temperature` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | topK: Int32Array [1, 2], logits [3, 4]': '`topK` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | topP: [0.5, 0.9], logits [3, 4]': '`topP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | minP: Float32Array [0.1, 0.1], logits [3, 4]': '`minP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | topNSigma: [1, 1], logits [3, 4]': '`topNSigma` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | epsilonCutoff: [0.1, 0.1], logits [3, 4]': '`epsilonCutoff` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | etaCutoff: [0.1, 0.1], logits [3, 4]': '`etaCutoff` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | seed: [1, 2], logits [3, 4]': '`seed` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sampleIds | topP: [0.5, 0.9], logits [3, 4]': '`topP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.probabilities | topP: [0.5, 0.9], logits [3, 4]': '`topP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.process | topP: [0.5, 0.9], logits [3, 4]': '`topP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | topP: [0.5, 0.9], logits rank 1 [4] (B = 1)': '`topP` must have one value per row (batch size 1), but is an array of length 2',
  'sampler.sample | topP: [0.5, 0.9], logits [0, 4] (B = 0)': '`topP` must have one value per row (batch size 0), but is an array of length 2',
  'sampler.sample | processors: [topP([0.5, 0.5])], logits [3, 4]': '`topP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | processors: [a processor whose apply returns undefined], logits [1, 4]':
    '`processors[0]` ("bad-output") must return a SamplingState with live float32 logits [1, 4] and the same batch, vocab and invTemperature length, but is undefined',
  'sampler.sample | processors: [a processor returning logits [1, 5] for [1, 4]], logits [1, 4]':
    '`processors[0]` ("bad-output") must return a SamplingState with live float32 logits [1, 4] and the same batch, vocab and invTemperature length, but is logits float32 [1, 5]',
  'sampler.sample | processors: [a processor returning int32 logits], logits [1, 4]':
    '`processors[0]` ("bad-output") must return a SamplingState with live float32 logits [1, 4] and the same batch, vocab and invTemperature length, but is logits int32 [1, 4]',
  'sampler.sample | history: [[1, 2]] (an array), logits [1, 4]': '`history` must be an int32 tf.Tensor2D [B, T] of token ids, but is object',
  'sampler.sample | history: float32 [1, 2], logits [1, 4]':
    '`history` must be an int32 tf.Tensor2D [B, T] of token ids, but is a float32 tensor of shape [1, 2]',
  'sampler.sample | history: bool [1, 2], logits [1, 4]': '`history` must be an int32 tf.Tensor2D [B, T] of token ids, but is a bool tensor of shape [1, 2]',
  'sampler.sample | history: int32 rank 1 [2], logits [1, 4]': '`history` must be an int32 tf.Tensor2D [B, T] of token ids, but is a int32 tensor of shape [2]',
  'sampler.sample | history: int32 rank 3 [1, 2, 1], logits [1, 4]':
    '`history` must be an int32 tf.Tensor2D [B, T] of token ids, but is a int32 tensor of shape [1, 2, 1]',
  'sampler.sample | history: a disposed int32 [1, 2] tensor, logits [1, 4]': '`history` must not be disposed, but is a disposed tensor of shape [1, 2]',
  'sampler.sample | history: int32 [2, 3], logits [1, 4] (batch mismatch)': '`history` must have one row per logits row (batch size 1), but is shape [2, 3]',
  'sampler.sampleIds | history: int32 [2, 3], logits [1, 4] (batch mismatch)': '`history` must have one row per logits row (batch size 1), but is shape [2, 3]',
  'sampler.probabilities | history: int32 [2, 3], logits [1, 4] (batch mismatch)':
    '`history` must have one row per logits row (batch size 1), but is shape [2, 3]',
  'sampler.process | history: int32 [2, 3], logits [1, 4] (batch mismatch)': '`history` must have one row per logits row (batch size 1), but is shape [2, 3]',
  'sampler.sampleIds | logits [[0, NaN, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'generate | model returns [[0, NaN, 1]]':
    'step 0: `logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.sample | rows [[0, NaN, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.probabilities | rows [[0, NaN, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | logits [[0, Infinity, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'generate | model returns [[0, Infinity, 1]]':
    'step 0: `logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.sample | rows [[0, Infinity, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.probabilities | rows [[0, Infinity, 1]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | logits [[-Infinity, -Infinity, -Infinity]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: no finite logit). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'generate | model returns [[-Infinity, -Infinity, -Infinity]]':
    'step 0: `logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: no finite logit). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.sample | rows [[-Infinity, -Infinity, -Infinity]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: no finite logit). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.probabilities | rows [[-Infinity, -Infinity, -Infinity]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: no finite logit). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | processors: [a processor that adds +Infinity to token 0], logits [[3, 1, 0, 2]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity produced by a processor). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.sample | processors: [a processor that adds +Infinity to token 0], rows [[3, 1, 0, 2]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: +Infinity produced by a processor). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | processors: [a processor that adds NaN to token 1], logits [[3, 1, 0, 2]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN produced by a processor). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'reference.sample | processors: [a processor that adds NaN to token 1], rows [[3, 1, 0, 2]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: NaN produced by a processor). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | logits [[0, 1, 2], [0, NaN, 2], [Infinity, 1, 0]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 2 row(s) (row 1: NaN; row 2: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'sampler.sampleIds | processors: [a processor that masks every token], logits [[0, 1, 2]]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 0: no finite logit produced by a processor). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'readIds | int32 ids [3, -2]':
    '`logits` must have finite logits (or -Infinity masks) and at least one finite logit per row, but is invalid in 1 row(s) (row 1: +Infinity). Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
  'generate | model: null': '`model` must be a step function (tokens, context) => logits or a tfjs model with predict(), but is null',
  'generate | model: 42': '`model` must be a step function (tokens, context) => logits or a tfjs model with predict(), but is "number"',
  "generate | model: 'gpt'": '`model` must be a step function (tokens, context) => logits or a tfjs model with predict(), but is "string"',
  'generate | model: {} (no predict)': '`model` must be a step function (tokens, context) => logits or a tfjs model with predict(), but is "object"',
  'generate | model: { predict: 5 }': '`model` must be a step function (tokens, context) => logits or a tfjs model with predict(), but is "object"',
  'generate | options: undefined': '`options` must be an object, but is undefined',
  'generate | options: null': '`options` must be an object, but is null',
  'generate | options: 5': '`options` must be an object, but is 5',
  'generate | prompts: 42': '`prompts` must be an array of token-id arrays (one per row) or an int32 tf.Tensor2D, but is 42',
  'generate | prompts: [5] (a row is not an array)': '`prompts[0]` must be an array of token ids, but is 5',
  'generate | prompts: [[1, -1]]': '`prompts[0][1]` must be an integer token id >= 0, but is -1',
  'generate | prompts: [[1.5]]': '`prompts[0][0]` must be an integer token id >= 0, but is 1.5',
  'generate | prompts: [[NaN]]': '`prompts[0][0]` must be an integer token id >= 0, but is NaN',
  "generate | prompts: [['1']]": '`prompts[0][0]` must be an integer token id >= 0, but is "1"',
  'generate | prompts: [[2 ** 31]]': '`prompts[0][0]` must be an integer token id >= 0, but is 2147483648',
  'generate | prompts: [[1], Float32Array [0.5]]': '`prompts[1][0]` must be an integer token id >= 0, but is 0.5',
  'generate | promptLengths: [1] with array prompts': '`promptLengths` is only for a tensor of prompts (arrays carry their lengths), but is [1]',
  'generate | padId: undefined (missing)': '`padId` must be an integer token id >= 0, but is undefined',
  'generate | padId: -1': '`padId` must be an integer token id >= 0, but is -1',
  'generate | padId: 1.5': '`padId` must be an integer token id >= 0, but is 1.5',
  'generate | padId: NaN': '`padId` must be an integer token id >= 0, but is NaN',
  "generate | padId: '0'": '`padId` must be an integer token id >= 0, but is "0"',
  'generate | padId: 2 ** 31': '`padId` must be an integer token id >= 0, but is 2147483648',
  'generate | maxNewTokens: undefined (missing)': '`maxNewTokens` must be a number or an array with one number per row, but is undefined',
  'generate | maxNewTokens: -1': '`maxNewTokens` must be an integer >= 0, but is -1',
  'generate | maxNewTokens: 1.5': '`maxNewTokens` must be an integer >= 0, but is 1.5',
  'generate | maxNewTokens: NaN': '`maxNewTokens` must be an integer >= 0, but is NaN',
  'generate | maxNewTokens: Infinity': '`maxNewTokens` must be an integer >= 0, but is Infinity',
  "generate | maxNewTokens: '5'": '`maxNewTokens` must be a number or an array with one number per row, but is "5"',
  'generate | maxNewTokens: []': '`maxNewTokens` must be a number or a non-empty array with one value per row, but is []',
  'generate | maxNewTokens: [1, 2] for 1 prompt': '`maxNewTokens` must have one value per row (batch size 1), but is an array of length 2',
  'generate | maxNewTokens: [2, -1] for 2 prompts': '`maxNewTokens[1]` must be an integer >= 0, but is -1',
  "generate | stopTokens: 'x'": '`stopTokens` must be an array of token ids, or one such array per row, but is "x"',
  'generate | stopTokens: 5': '`stopTokens` must be an array of token ids, or one such array per row, but is 5',
  'generate | stopTokens: [-1]': '`stopTokens[0]` must be an integer token id >= 0, but is -1',
  'generate | stopTokens: [1.5]': '`stopTokens[0]` must be an integer token id >= 0, but is 1.5',
  'generate | stopTokens: [[1], [2]] for 1 prompt': '`stopTokens` must have one list per row (batch size 1) when given per row, but is 2 lists',
  'generate | stopTokens: [[1], 2] (mixed)': '`stopTokens[0]` must be an integer token id >= 0, but is [1]',
  'generate | stopTokens: [[1], [NaN]] for 2 prompts': '`stopTokens[1][0]` must be an integer token id >= 0, but is NaN',
  'generate | contextLength: 0': '`contextLength` must be an integer >= 1, but is 0',
  'generate | contextLength: -1': '`contextLength` must be an integer >= 1, but is -1',
  'generate | contextLength: 1.5': '`contextLength` must be an integer >= 1, but is 1.5',
  'generate | contextLength: NaN': '`contextLength` must be an integer >= 1, but is NaN',
  'generate | contextLength: Infinity': '`contextLength` must be an integer >= 1, but is Infinity',
  "generate | contextLength: '4'": '`contextLength` must be an integer >= 1, but is "4"',
  'generate | signal: {}': '`signal` must be an AbortSignal, but is {}',
  "generate | signal: 'stop'": '`signal` must be an AbortSignal, but is "stop"',
  'generate | sampler: 42': '`sampler` must be a Sampler or SamplerOptions, but is 42',
  "generate | sampler: 'greedy'": '`sampler` must be a Sampler or SamplerOptions, but is "greedy"',
  'generate | sampler: { topP: 2 }': '`topP` must be in (0, 1] (1 switches top-p off), but is 2',
  'generate | sampler: { temperature: [1, 1] } for 1 prompt': '`temperature` must have one value per row (batch size 1), but is an array of length 2',
  'generate | onStep: 5': '`onStep` must be a function (step) => void, but is number',
  'generate | prompts: float32 tensor [1, 2]':
    '`prompts` must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids, but is a float32 tensor of shape [1, 2]',
  'generate | prompts: bool tensor [1, 2]':
    '`prompts` must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids, but is a bool tensor of shape [1, 2]',
  'generate | prompts: int32 tensor rank 1 [2]':
    '`prompts` must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids, but is a int32 tensor of shape [2]',
  'generate | prompts: int32 tensor rank 3 [1, 2, 1]':
    '`prompts` must be an int32 tf.Tensor2D [B, P] (left-padded) or arrays of token ids, but is a int32 tensor of shape [1, 2, 1]',
  'generate | prompts: a disposed int32 tensor [1, 2]': '`prompts` must not be disposed, but is a disposed tensor of shape [1, 2]',
  'generate | prompts: int32 tensor [[1, -4]]': '`prompts[0][1]` must be an integer token id >= 0, but is -4',
  'generate | prompts: int32 tensor [1, 2], promptLengths: [1, 1]': '`promptLengths` must have one length per row (batch size 1), but is [1, 1]',
  'generate | prompts: int32 tensor [1, 2], promptLengths: [3]': '`promptLengths[0]` must be an integer in [0, 2], but is 3',
  'generate | prompts: int32 tensor [1, 2], promptLengths: 2 (not an array)': '`promptLengths` must be an array of lengths, one per row, but is 2',
  'generate | prompts: { shape: [1, 2], dtype: "int32" } (looks like a tensor)':
    '`prompts` must be an array of token-id arrays (one per row) or an int32 tf.Tensor2D, but is {"shape":[1,2],"dtype":"int32"}',
  'generate | sampler: createSampler({ temperature: [1, 1] }) for 1 prompt':
    '`temperature` must have one value per row (batch size 1), but is an array of length 2',
  'generate | model returns null': '`model` must return a logits tensor or { logits, state }, but is null',
  'generate | model returns 5': '`model` must return a logits tensor or { logits, state }, but is number',
  'generate | model returns [[0, 1]] (an array)': '`model` must return a logits tensor or { logits, state }, but is an array of 1',
  'generate | model returns { logits: [[0, 1]] }': '`model` must return a logits tensor or { logits, state }, but is an object without a logits tensor',
  'generate | model returns int32 [1, 4]': '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a int32 tensor of shape [1, 4]',
  'generate | model returns float32 rank 1 [4]': '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a float32 tensor of shape [4]',
  'generate | model returns float32 rank 4 [1, 1, 1, 4]':
    '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a float32 tensor of shape [1, 1, 1, 4]',
  'generate | model returns float32 [2, 4] for 1 prompt':
    '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a float32 tensor of shape [2, 4]',
  'generate | predict() returns two tensors': '`model` must return one logits tensor from predict(), but is 2 tensors',
  'generate | predict() returns 5': '`model` must return one logits tensor from predict(), but is number',
  'generate | predict() returns int32 [1, 4]': '`model` must return float32 logits [B, V] or [B, T, V] with B = 1, but is a int32 tensor of shape [1, 4]',
  'reference.sample | rows: [] (no rows)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is []',
  'reference.sample | rows: [[]] (empty row)': '`rows` must have a vocabulary V ≥ 1, but is "rows of length 0"',
  'reference.sample | rows: [[1, 2], [1]] (ragged)': '`rows[1]` must have length 2 like rows[0], but is 1',
  'reference.sample | rows: Float32Array [1, 2] (one flat row)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is [1, 2]',
  "reference.sample | rows: 'abc'": '`rows` must be a non-empty array of rows (number[] or Float32Array), but is "abc"',
  'reference.sample | rows: undefined': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is undefined',
  'reference.sample | rows: [5] (a row is not an array)': '`rows[0]` must be an array of logits (number[] or Float32Array), but is 5',
  "reference.sample | rows: [[1, 'a']]": '`rows[0][1]` must be a number, but is "a"',
  'reference.sample | topP: NaN (same checks as createSampler)': '`topP` must be in (0, 1] (1 switches top-p off), but is NaN',
  'reference.sample | temperature: [1, 1] for 1 row': '`temperature` must have one value per row (batch size 1), but is an array of length 2',
  'reference.sample | processors: [a processor without a reference twin]':
    '`processors[0]` must have a float64 `reference` twin to be used by the reference, but is "no-twin"',
  'reference.probabilities | rows: [] (no rows)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is []',
  'reference.probabilities | rows: [[]] (empty row)': '`rows` must have a vocabulary V ≥ 1, but is "rows of length 0"',
  'reference.probabilities | rows: [[1, 2], [1]] (ragged)': '`rows[1]` must have length 2 like rows[0], but is 1',
  'reference.probabilities | rows: Float32Array [1, 2] (one flat row)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is [1, 2]',
  "reference.probabilities | rows: 'abc'": '`rows` must be a non-empty array of rows (number[] or Float32Array), but is "abc"',
  'reference.probabilities | rows: undefined': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is undefined',
  'reference.probabilities | rows: [5] (a row is not an array)': '`rows[0]` must be an array of logits (number[] or Float32Array), but is 5',
  "reference.probabilities | rows: [[1, 'a']]": '`rows[0][1]` must be a number, but is "a"',
  'reference.probabilities | topP: NaN (same checks as createSampler)': '`topP` must be in (0, 1] (1 switches top-p off), but is NaN',
  'reference.probabilities | temperature: [1, 1] for 1 row': '`temperature` must have one value per row (batch size 1), but is an array of length 2',
  'reference.probabilities | processors: [a processor without a reference twin]':
    '`processors[0]` must have a float64 `reference` twin to be used by the reference, but is "no-twin"',
  'reference.process | rows: [] (no rows)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is []',
  'reference.process | rows: [[]] (empty row)': '`rows` must have a vocabulary V ≥ 1, but is "rows of length 0"',
  'reference.process | rows: [[1, 2], [1]] (ragged)': '`rows[1]` must have length 2 like rows[0], but is 1',
  'reference.process | rows: Float32Array [1, 2] (one flat row)': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is [1, 2]',
  "reference.process | rows: 'abc'": '`rows` must be a non-empty array of rows (number[] or Float32Array), but is "abc"',
  'reference.process | rows: undefined': '`rows` must be a non-empty array of rows (number[] or Float32Array), but is undefined',
  'reference.process | rows: [5] (a row is not an array)': '`rows[0]` must be an array of logits (number[] or Float32Array), but is 5',
  "reference.process | rows: [[1, 'a']]": '`rows[0][1]` must be a number, but is "a"',
  'reference.process | topP: NaN (same checks as createSampler)': '`topP` must be in (0, 1] (1 switches top-p off), but is NaN',
  'reference.process | temperature: [1, 1] for 1 row': '`temperature` must have one value per row (batch size 1), but is an array of length 2',
  'reference.process | processors: [a processor without a reference twin]':
    '`processors[0]` must have a float64 `reference` twin to be used by the reference, but is "no-twin"',
  'reference.sample | no seed': '`seed` must be given to reference.sample (tokens are reproduced from seeds), but is undefined',
  'reference.sample | step: -1': '`step` must be an integer in [0, 2^32), but is -1',
  'reference.sample | step: 1.5': '`step` must be an integer in [0, 2^32), but is 1.5',
  'reference.sample | step: NaN': '`step` must be an integer in [0, 2^32), but is NaN',
  "reference.sample | step: '1'": '`step` must be an integer or an array of integers, one per row (batch size 1), but is "1"',
  'reference.probabilities | history: 5': '`history` must be an array with one token array per row (batch size 1), but is 5',
  'reference.probabilities | history: [[1], [2]] for 1 row': '`history` must be an array with one token array per row (batch size 1), but is [[1], [2]]',
  'softmax | logits: [[1, 2]] (an array, not a tensor)': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'softmax | logits: null': '`logits` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'softmax | logits: a disposed tensor': '`logits` must not be disposed, but is a disposed tensor of shape [1,3]',
  'softmax | logits: int32 [2, 3]': '`logits` must have dtype float32, but is "int32". Cast with tf.cast(logits, "float32")',
  'softmax | logits: rank 3 [2, 2, 2]': '`logits` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'softmax | logits: [2, 0] (empty vocabulary)': '`logits` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'entropy | probs: [[1, 2]] (an array, not a tensor)': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'entropy | probs: null': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'entropy | probs: a disposed tensor': '`probs` must not be disposed, but is a disposed tensor of shape [1,3]',
  'entropy | probs: int32 [2, 3]': '`probs` must have dtype float32, but is "int32". Cast with tf.cast(probs, "float32")',
  'entropy | probs: rank 3 [2, 2, 2]': '`probs` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'entropy | probs: [2, 0] (empty vocabulary)': '`probs` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'distributionStats | probs: [[1, 2]] (an array, not a tensor)': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'distributionStats | probs: null': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'distributionStats | probs: a disposed tensor': '`probs` must not be disposed, but is a disposed tensor of shape [1,3]',
  'distributionStats | probs: int32 [2, 3]': '`probs` must have dtype float32, but is "int32". Cast with tf.cast(probs, "float32")',
  'distributionStats | probs: rank 3 [2, 2, 2]': '`probs` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'distributionStats | probs: [2, 0] (empty vocabulary)': '`probs` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'readDistributionStats | probs: [[1, 2]] (an array, not a tensor)': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is an array of length 1',
  'readDistributionStats | probs: null': '`probs` must be a tf.Tensor of shape [B, V] or [V], but is null',
  'readDistributionStats | probs: a disposed tensor': '`probs` must not be disposed, but is a disposed tensor of shape [1,3]',
  'readDistributionStats | probs: int32 [2, 3]': '`probs` must have dtype float32, but is "int32". Cast with tf.cast(probs, "float32")',
  'readDistributionStats | probs: rank 3 [2, 2, 2]': '`probs` must have rank 1 ([V]) or 2 ([B, V]), but is rank 3 (shape [2,2,2])',
  'readDistributionStats | probs: [2, 0] (empty vocabulary)': '`probs` must have a vocabulary V ≥ 1, but is shape [2,0]',
  'softmax | temperature: NaN': '`temperature` must be a finite number >= 0 (0 means greedy), but is NaN',
  'softmax | temperature: -1': '`temperature` must be a finite number >= 0 (0 means greedy), but is -1',
  'softmax | temperature: Infinity': '`temperature` must be a finite number >= 0 (0 means greedy), but is Infinity',
  "softmax | temperature: '1'": '`temperature` must be a number or an array with one number per row, but is "1"',
  'softmax | temperature: []': '`temperature` must be a number or a non-empty array with one value per row, but is []',
  'softmax | temperature: [1] for logits [2, 3]': '`temperature` must have one value per row (batch size 2), but is an array of length 1',
  'softmax | temperature: [1, NaN]': '`temperature[1]` must be a finite number >= 0 (0 means greedy), but is NaN',
  "entropy | unit: 'bit'": '`unit` must be "bits" or "nats", but is "bit"',
  "presetOptions | task: 'poetry'": '`task` must be one of code, translation, summarisation, dialogue, creative, brainstorming, but is "poetry"',
  "presetOptions | task: 'code', overrides: null": '`overrides` must be an object of sampler options, but is null',
  "presetOptions | task: 'code', overrides: { topP: 2 }": '`topP` must be in (0, 1] (1 switches top-p off), but is 2',
  'taskPreset | task: 42': '`task` must be one of code, translation, summarisation, dialogue, creative, brainstorming, but is 42',
  'temperature | t: -1': '`temperature` must be a finite number >= 0 (0 means greedy), but is -1',
  'topK | k: 2.5': '`topK` must be an integer >= 0 (0 switches top-k off), but is 2.5',
  "topK | k: '5'": '`topK` must be a number or an array with one number per row, but is "5"',
  'topP | p: 0': '`topP` must be in (0, 1] (1 switches top-p off), but is 0',
  'topP | p: [0.5, NaN]': '`topP[1]` must be in (0, 1] (1 switches top-p off), but is NaN',
  'minP | m: 2': '`minP` must be in [0, 1] (0 switches min-p off), but is 2',
  'topNSigma | n: -1': '`topNSigma` must be a finite number >= 0 (0 switches top-nσ off), but is -1',
  'epsilonCutoff | e: 1': '`epsilonCutoff` must be in [0, 1) (0 switches it off), but is 1',
  'etaCutoff | e: -1': '`etaCutoff` must be in [0, 1) (0 switches it off), but is -1',
  "selectBackend | candidates: ['no-such-backend']":
    'no tfjs backend initialised: no-such-backend: the no-such-backend backend is not registered (import "@tensorflow/tfjs-backend-no-such-backend")',
  "sampler.sample | logits: a tensor of another copy of @tensorflow/tfjs-core (simulated: a tensor's fields, not this copy's class)":
    '`logits` must be a tensor of the @tensorflow/tfjs-core copy this library uses, but is a tensor of another installed copy of @tensorflow/tfjs-core. Install one copy (npm dedupe)',
  "sampler.probabilities | logits: a tensor of another copy of @tensorflow/tfjs-core (simulated: a tensor's fields, not this copy's class)":
    '`logits` must be a tensor of the @tensorflow/tfjs-core copy this library uses, but is a tensor of another installed copy of @tensorflow/tfjs-core. Install one copy (npm dedupe)',
  "softmax | logits: a tensor of another copy of @tensorflow/tfjs-core (simulated: a tensor's fields, not this copy's class)":
    '`logits` must be a tensor of the @tensorflow/tfjs-core copy this library uses, but is a tensor of another installed copy of @tensorflow/tfjs-core. Install one copy (npm dedupe)',
  "sampler.sample | history: a tensor of another copy of @tensorflow/tfjs-core (simulated: a tensor's fields, not this copy's class)":
    '`history` must be a tensor of the @tensorflow/tfjs-core copy this library uses, but is a tensor of another installed copy of @tensorflow/tfjs-core. Install one copy (npm dedupe)',
  'sampler.sample | context: 5, logits [1, 4]': '`context` must be an object { history?, mask?, accept?, steps?, seeds? }, but is 5',
  'sampler.sample | context: [] (an array), logits [1, 4]': '`context` must be an object { history?, mask?, accept?, steps?, seeds? }, but is []',
  'sampler.sample | context: { step: [3] } (a misspelt key), logits [1, 4]':
    '`context` must only use known keys (history, mask, accept, steps, seeds), but is "step"',
  "sampler.sample | processors: [a processor that disposes its input state's logits], logits [1, 4]":
    '`processors[0]` ("bad-output") must return a SamplingState with live float32 logits [1, 4] and the same batch, vocab and invTemperature length, but is logits disposed',
  "presetOptions | task: 'code', overrides: { top_p: 0.9 }":
    '`overrides` must only use known option names (temperature, topK, topP, minP, topNSigma, typicalP, epsilonCutoff, etaCutoff, minTokensToKeep, xtc, dynamicTemperature, mirostat, seed, order, processors, draw, invalidRows, repetitionPenalty, frequencyPenalty, presencePenalty, penaltyLastN, penalizePrompt, noRepeatNgramSize, badWords, logitBias, minNewTokens, stopTokens, allowedTokens, dry), but is "top_p"',
  "reference.sample | draw: 'multinomial', seed: 1":
    '`draw` must be "gumbel" for reference.sample (tf.multinomial\'s tokens differ per backend and are not reproduced), but is "multinomial"',
  'selectBackend | options: null': '`options` must be an object { candidates?, allowSoftwareGpu?, wasmPaths? }, but is null',
  'selectBackend | candidates: []': '`candidates` must be a non-empty array of backend names, but is []',
  "selectBackend | candidates: 'cpu' (a string)": '`candidates` must be a non-empty array of backend names, but is "cpu"',
  'selectBackend | candidates: [42]': '`candidates` must be a non-empty array of backend names, but is [42]',
  "selectBackend | wasmPaths: '/wasm' (no trailing slash), candidates: ['no-such-backend']":
    '`wasmPaths` must be a folder path ending in "/" (without it tfjs silently falls back to cpu), but is "/wasm"',
  "sampler.sample | draw: 'multinomial' on webgpu":
    '`draw` must not be "multinomial" on the webgpu backend, where tf.multinomial\'s shader hash draws from a biased distribution (row 0 always gets token 0 on webgpu, tfjs issue 8057; measured biased on the other rows too), but is "multinomial". Use the default draw "gumbel"',
  "sampler.sample | draw: 'multinomial' on webgl":
    '`draw` must not be "multinomial" on the webgl backend, where tf.multinomial\'s shader hash draws from a biased distribution (row 0 always gets token 0 on webgpu, tfjs issue 8057; measured biased on the other rows too), but is "multinomial". Use the default draw "gumbel"',
  'createSampler | typicalP: 0': '`typicalP` must be in (0, 1] (1 switches typical-p off), but is 0',
  'createSampler | typicalP: [0.9, 1.5]': '`typicalP[1]` must be in (0, 1] (1 switches typical-p off), but is 1.5',
  'createSampler | minTokensToKeep: 0': '`minTokensToKeep` must be an integer in [1, 2^31 - 1] (default 1), but is 0',
  'createSampler | minTokensToKeep: 1.5': '`minTokensToKeep` must be an integer in [1, 2^31 - 1] (default 1), but is 1.5',
  'createSampler | minTokensToKeep: 2 ** 31': '`minTokensToKeep` must be an integer in [1, 2^31 - 1] (default 1), but is 2147483648',
  'createSampler | xtc: 0.5 (not an object)': '`xtc` must be an object { probability, threshold? }, but is 0.5',
  'createSampler | xtc: []': '`xtc` must be an object, or a non-empty array with one object (or undefined) per row, but is []',
  'createSampler | xtc: { probability: 2 }': '`xtc.probability` must be in [0, 1] (0 switches XTC off), but is 2',
  'createSampler | xtc: { probability: 0.5, threshold: -1 }': '`xtc.threshold` must be in [0, 1] (default 0.1; above 0.5 XTC does nothing), but is -1',
  'createSampler | xtc: { probability: 0.5, thresh: 0.1 }': '`xtc` must only name probability, threshold, but is "thresh"',
  'createSampler | xtc: [undefined, { threshold: 0.1 }]': '`xtc[1].probability` must be in [0, 1] (0 switches XTC off), but is undefined',
  'createSampler | dynamicTemperature: { range: -1 }':
    '`dynamicTemperature.range` must be a finite number >= 0 (0 switches dynamic temperature off), but is -1',
  'createSampler | dynamicTemperature: { range: 0.5, exponent: NaN }': '`dynamicTemperature.exponent` must be a finite number >= 0 (default 1), but is NaN',
  'createSampler | mirostat: { version: 3 }': '`mirostat.version` must be 1 or 2 (llama.cpp Mirostat v1 or v2), but is 3',
  'createSampler | mirostat: { version: 2, tau: -1 }': '`mirostat.tau` must be a finite number >= 0 (target surprise in bits, default 5), but is -1',
  "createSampler | mirostat: [{ version: 2 }, 'v2']": '`mirostat[1]` must be an object { version, tau?, eta? }, but is "v2"',
  "createSampler | order: 'llama' (no such named order)": '`order` must be an array of names or one of "llama.cpp", "hf", "vllm", but is "llama"',
  "createSampler | order: 'hf' with dynamicTemperature":
    '`order` the "hf" order has no dynamic temperature (set dynamicTemperature off, or give the order as an array), but is "dynamicTemperature"',
  "createSampler | order: 'vllm' with minTokensToKeep 3":
    '`order` the "vllm" order has no minTokensToKeep (set it to 1, or give the order as an array), but is "minTokensToKeep"',
  "createSampler | order: 'vllm' with typicalP 0.9":
    '`order` the "vllm" order has no typical-p (set typicalP off, or give the order as an array), but is "typicalP"',
  "createSampler | order: ['mirostat', 'top-k'] (Mirostat not last)":
    '`order` must put "mirostat" after every other enabled sampler (it learns from the distribution the token is drawn from), but is ["mirostat", "top-k"]',
  'sampler.sample | typicalP: [0.5, 0.9], logits [3, 4]': '`typicalP` must have one value per row (batch size 3), but is an array of length 2',
  'sampler.sample | minTokensToKeep: [1, 2], logits [3, 4]': '`minTokensToKeep` must have one value per row (batch size 3), but is an array of length 2',
  'typicalP | p: 0': '`typicalP` must be in (0, 1] (1 switches typical-p off), but is 0',
  'typicalP | p: 0.9, minTokensToKeep: 0': '`minTokensToKeep` must be an integer in [1, 2^31 - 1] (default 1), but is 0',
  'xtc | { probability: -1 }': '`xtc.probability` must be in [0, 1] (0 switches XTC off), but is -1',
  'mirostat | { version: 0 }': '`mirostat.version` must be 1 or 2 (llama.cpp Mirostat v1 or v2), but is 0',
  'generate | seeds: [1] without queue': '`seeds` is only for the queue option (give a sampler seed otherwise), but is [1]',
  'generate | queue: 5': '`queue` must be an array of requests { prompt, seed, maxNewTokens? }, but is 5',
  'generate | queue: [] without seeds': '`seeds` must be given with queue: one seed per prompt row (batch size 1), but is undefined',
  'generate | queue: [] with seeds: [NaN]': '`seeds[0]` must be a finite number, but is NaN',
  'generate | queue: [null]': '`queue[0]` must be a request { prompt, seed, maxNewTokens? }, but is null',
  'generate | queue: [{ prompt: [] }]': '`queue[0].prompt` must have at least one token (it is fed to the model), but is an empty array',
  'generate | queue: [{ prompt: [1, -1] }]': '`queue[0].prompt[1]` must be an integer token id >= 0, but is -1',
  "generate | queue: [{ seed: 'a' }]": '`queue[0].seed` must be a finite number, but is "a"',
  'generate | queue: [{ maxNewTokens: -1 }]': '`queue[0].maxNewTokens` must be an integer >= 0, but is -1',
  'generate | queue with maxNewTokens per row and none in the request': '`queue[0].maxNewTokens` must be given when maxNewTokens is per row, but is undefined',
  'generate | queue with stopTokens per row': '`stopTokens` must be one list for all rows with queue (rows change requests), but is one list per row',
  'generate | io for a step function': '`io` is for predict models (a step function makes its own inputs), but is a step function',
  'generate | grammar: 5': '`grammar` must be { engine, rows, end? }, but is 5',
  'generate | grammar: { engine: {} }': '`grammar.engine` must be a grammar engine (createGrammarEngine), but is object',
  'generate | grammar: { rows: undefined }': '`grammar.rows` must be a grammar or one grammar (or null) per row, but is undefined',
  "generate | grammar: { rows: { regex: '' } }": '`grammar.rows.regex` must be a non-empty string, but is ""',
  "generate | grammar: { rows: { regex: 'a', choice: ['a'] } }":
    '`grammar.rows` must have exactly one of jsonSchema, json, regex, ebnf, choice, but is {"regex":"a","choice":["a"]}',
  "generate | grammar: { rows: { choice: ['a', 1] } }": '`grammar.rows.choice[1]` must be a non-empty string, but is 1',
  "generate | grammar: { rows: { jsonSchema: '{x' } }": '`grammar.rows.jsonSchema` must be a JSON schema (an object or its JSON text), but is "{x"',
  'generate | grammar: { rows: [null, null] } for 1 prompt':
    '`grammar.rows` must have one grammar (or null) per row (batch size 1), but is an array of length 2',
  "generate | grammar: { end: 'eos' }": '`grammar.end` must be "stopToken" or "complete", but is "eos"',
  "generate | grammar: { end: 'stopToken' } without stopTokens":
    '`stopTokens` must be given for row 0: its grammar ends with a stop token (grammar.end "stopToken"), but is []',
  'generate | grammar of 3 tokens for logits of 4': "`grammar.engine` must have the logits' vocabulary size 4, but is an engine of 3 tokens",
  'generate | grammar per row with queue':
    '`grammar.rows` must be one grammar for all rows with queue (rows change requests; a request may bring its own), but is one grammar per row',
  'generate | queue: [{ grammar }] without the grammar option': '`queue[0].grammar` must come with the grammar option (its engine), but is a grammar',
  'generate | queue: [{ grammar: { regex: 5 } }]': '`queue[0].grammar.regex` must be a non-empty string, but is 5',
  'generate | draft: 5': '`draft` must be an object { model, tokens, mode? }, but is 5',
  'generate | draft: { model: 5 }': '`draft.model` must be a step function or a tfjs model with predict(), but is number',
  'generate | draft: { tokens: 0 }': '`draft.tokens` must be an integer in [1, 32], but is 0',
  'generate | draft: { tokens: 33 }': '`draft.tokens` must be an integer in [1, 32], but is 33',
  "generate | draft: { mode: 'greedy' }": '`draft.mode` must be "exact" or "rejection", but is "greedy"',
  "generate | draft: { adaptive: 'yes' }": '`draft.adaptive` must be a boolean, but is "yes"',
  'generate | draft: { contextLength: 4 } for a step function':
    '`draft.contextLength` is for a predict draft model (a step function keeps its own cache), but is 4',
  "generate | draft without feed: 'new'": '`feed` must be "new" with a draft (the target keeps its cache by position), but is undefined',
  'generate | draft with queue': '`queue` is not supported with a draft, but is a queue',
  'generate | draft with grammar': '`grammar` is not supported with a draft, but is a grammar',
  "generate | draft: { mode: 'rejection' } with Mirostat":
    '`sampler.mirostat` must be off with draft mode "rejection" (μ learns from the drawn token; use mode "exact"), but is mirostat on',
  'generate | draft with a user processor': '`sampler.processors[0]` ("plus") must be a built-in processor with a draft, but is a user processor',
  'generate | draft with an empty prompt': '`prompts[0]` must have at least one token with a draft, but is an empty prompt',
  'generate | draft with a predict model as the target':
    '`model` must be a step function with a draft (it scores γ + 1 positions per call), but is a predict model',
  "generate | draft with draw: 'multinomial'":
    '`sampler.draw` must be "gumbel" with a draft (the draft and the target draw with the same keyed noise), but is "multinomial"',
  'score | draft: { … } (generate only)': '`draft` is not an option of score (it scores the given tokens), but is given',
  'score | stopTokens: [1] (generate only)': '`stopTokens` is not an option of score (it scores the given tokens), but is given',
  'score | grammar: { … } (generate only)': '`grammar` is not an option of score (it scores the given tokens), but is given',
  'reference.sample | step: [0] for 2 rows': '`step` must be an integer or an array of integers, one per row (batch size 2), but is [0]',
  'reference.sample | step: [0, -1]': '`step[1]` must be an integer in [0, 2^32), but is -1',
  'sampler.sample | context.steps: [0] for 2 rows': '`context.steps` must have one number per row (batch size 2), but is 1 numbers',
  'sampler.sample | context.steps: [0, -1]': '`context.steps[1]` must be an integer in [0, 2^32), but is -1',
  'sampler.sample | context.steps: [0, 1.5]': '`context.steps[1]` must be an integer in [0, 2^32), but is 1.5',
  'sampler.sample | context.steps: [0, 2 ** 32]': '`context.steps[1]` must be an integer in [0, 2^32), but is 4294967296',
  "sampler.sample | context.steps: '0'": '`context.steps` must be an array with one number per row (batch size 2), but is "0"',
  'sampler.sample | context.seeds: [1, NaN]': '`context.seeds[1]` must be a finite number, but is NaN',
  "sampler.sample | context.steps with draw: 'multinomial'":
    '`context.steps` must not be given with draw "multinomial" (tf.multinomial takes one seed per call), but is per-row values',
  'sampler.restartRows | rows: [2] for 2 begun rows': '`rows[0]` must be a row index (an integer in [0, 2)), but is 2',
  'sampler.restartRows | rows: [0, 0]': '`rows[1]` must not repeat a row, but is 0',
  "sampler.restartRows | rows: 'all'": '`rows` must be an array of row indices, but is "all"',
  'sampler.restartRows | prompts: [] for 1 row': '`prompts` must be an array with one token array per restarted row (1), but is []',
  'sampler.restartRows | prompts: [[1, -1]]': '`prompts[0][1]` must be a token id (an integer >= 0), but is -1',
  'sampler.restartRows | processors: [a processor with accept() and no restartRows()]':
    '`processors[0]` ("counter") must implement restartRows() for Sampler.restartRows(): it keeps per-row state (it has accept), but is no restartRows method',
};

const keyOf = (r: Row): string => `${r.entry} | ${r.input}`;

// ---------------------------------------------------------------------------------------------
// The checks.

async function outcome(row: Row, backend: string): Promise<{ error: unknown; result: unknown; leaked: number }> {
  const inputs = row.setup?.() ?? [];
  const before = tf.memory().numTensors;
  let error: unknown;
  let result: unknown;
  tf.engine().startScope();
  try {
    try {
      result = await row.call(...inputs);
    } catch (e) {
      error = e;
    }
    if (error === undefined && row.accept) await row.accept(result, backend);
    return { error, result, leaked: tf.memory().numTensors - before };
  } finally {
    tf.engine().endScope(); // frees whatever a failing row left behind, so one leak is one failure
    tf.dispose(inputs);
  }
}

function checkError(row: Row, error: unknown): void {
  if (row.error === 'none') {
    expect(error, `${keyOf(row)}: expected no error`).toBeUndefined();
    return;
  }
  expect(error, `${keyOf(row)}: expected ${row.error}`).toBeInstanceOf(
    row.error === 'InvalidRowsError' ? InvalidRowsError : row.error === 'SamplingError' ? SamplingError : Error,
  );
  if (row.error === 'SamplingError') expect(error).not.toBeInstanceOf(InvalidRowsError);
  if (row.error === 'Error') expect(error).not.toBeInstanceOf(SamplingError);
  const message = (error as Error).message;
  if (row.argument !== undefined) {
    expect((error as SamplingError).argument).toBe(row.argument);
    expect(message).toContain(`\`${row.argument}\``);
  }
  if (row.value !== undefined) expect(message).toContain(row.value);
}

describe.each(BACKENDS)('bad input on %s (docs/bad-input.md)', (backend) => {
  backendSuite(backend);
  const rows = ROWS.filter((r) => !r.backends || r.backends.includes(backend));

  it.each(rows.map((r) => [keyOf(r), r] as const))('%s', async (_, row) => {
    const { error, leaked } = await outcome(row, backend);
    if (typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_BAD_INPUT_PRINT)
      console.log('MESSAGE', JSON.stringify([keyOf(row), error instanceof Error ? `${error.name}: ${error.message}` : 'none']));
    checkError(row, error);
    if (row.error !== 'none') expect((error as Error).message).toBe(MESSAGES[keyOf(row)]);
    expect(leaked, 'tensors left behind').toBe(0);
  });

  // Rows that fail today are kept here as it.fails until src/ is fixed (none at the moment).
  if (HOLES.length > 0)
    describe('known holes (see report)', () => {
      for (const hole of HOLES.filter((r) => !r.backends || r.backends.includes(backend))) {
        // Fails today (see the row's `now`); a fix in src/ flips it: then move the row to the table.
        it.fails(keyOf(hole), async () => {
          const { error, leaked } = await outcome(hole, backend);
          if (typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_BAD_INPUT_PRINT)
            console.log('HOLE', JSON.stringify([keyOf(hole), error instanceof Error ? `${error.name}: ${error.message}` : 'none', leaked]));
          checkError(hole, error);
          expect(leaked, 'tensors left behind').toBe(0);
        });
      }
    });
});

describe('docs/bad-input.md', () => {
  it('every row has a unique key and a message', () => {
    const keys = [...ROWS, ...HOLES].map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
    for (const r of ROWS) if (r.error !== 'none') expect(MESSAGES[keyOf(r)], keyOf(r)).toBeTypeOf('string');
    for (const r of ROWS) if (r.error === 'none') expect(r.outcome, keyOf(r)).toBeTypeOf('string');
  });

  it('is exactly what the table in test/bad-input.test.ts renders', async () => {
    const rendered = renderDoc();
    if (typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_WRITE_DOCS === '1') {
      const fs = 'node:fs';
      const { writeFileSync } = (await import(/* @vite-ignore */ fs)) as typeof import('node:fs');
      writeFileSync(new URL('../docs/bad-input.md', import.meta.url), rendered);
      return;
    }
    expect(doc).toBe(rendered);
  });
});

// ---------------------------------------------------------------------------------------------
// Rendering.

const cell = (text: string): string => {
  const escaped = text.replace(/\|/g, '\\|');
  return escaped.includes('`') ? `\`\` ${escaped} \`\`` : `\`${escaped}\``;
};
const plain = (text: string): string => text.replace(/\|/g, '\\|');

function renderDoc(): string {
  const out: string[] = [
    '# Bad input: what every public entry point does with it',
    '',
    '<!-- Generated from test/bad-input.test.ts: do not edit by hand. Regenerate with',
    '     TFJS_SAMPLING_WRITE_DOCS=1 TFJS_SAMPLING_ONLY=cpu TFJS_SAMPLING_INCLUDE=test/bad-input.test.ts npx vitest run -->',
    '',
    'Every row is one test case in `test/bad-input.test.ts`, run on every backend (cpu, wasm, webgpu in',
    'Node; webgl and webgpu in Chromium; the cpu and wasm portable paths). Each asserts the error class',
    '(`SamplingError`, or its subclass `InvalidRowsError` for invalid rows), `err.argument`, the exact',
    'message below, that the message quotes the argument and the offending value, and that',
    '`tf.memory().numTensors` is the same after the call as before it. Rows marked *no error* are inputs',
    'that are accepted on purpose; the test checks the stated outcome. The messages are copied from',
    'the code by running it, and the test fails when one changes.',
    '',
    'Invalid rows (NaN, +Infinity, or no finite logit left, in the input or made by a processor) never',
    'become an ordinary-looking token under the default `invalidRows: "error"`: `sample()` gives a',
    'negative code (-1 NaN, -2 +Infinity, -3 no finite logit; -4, -5, -6 when a processor produced it),',
    '`sampleIds()`, `readIds()`, `generate()` and the reference throw `InvalidRowsError`, `probabilities()`',
    'gives NaN rows.',
    '',
  ];
  const ORDER = [
    'createSampler',
    'sampler.sample',
    'sampler.sampleIds',
    'sampler.probabilities',
    'sampler.process',
    'readIds',
    'generate',
    'reference.sample',
    'reference.probabilities',
    'reference.process',
  ];
  const rank = (e: string): number => (ORDER.includes(e) ? ORDER.indexOf(e) : ORDER.length);
  const entries = [...new Set(ROWS.map((r) => r.entry))].sort((a, b) => rank(a) - rank(b));
  let n = 0;
  for (const entry of entries) {
    out.push(`## \`${entry}\``, '', '| # | Input | Error | Argument | Message or outcome |', '| --- | --- | --- | --- | --- |');
    for (const r of ROWS.filter((x) => x.entry === entry)) {
      n++;
      const where = r.backends ? ` (${r.backends.join(', ')} only)` : '';
      const err = r.error === 'none' ? '*no error*' : `\`${r.error}\``;
      const what = r.error === 'none' ? plain(r.outcome!) : cell(MESSAGES[keyOf(r)] ?? '(missing)');
      out.push(`| ${n} | ${cell(r.input)}${where} | ${err} | ${r.argument ? `\`${r.argument}\`` : ''} | ${what} |`);
    }
    out.push('');
  }
  out.push('## Known holes', '');
  if (HOLES.length === 0) {
    out.push('None: every bad input above is handled as stated.', '');
  } else {
    out.push(
      "Bad input not handled correctly yet. Each is an `it.fails` test in `describe('known holes (see report)')`",
      'that asserts the behaviour in the *should* column; a fix in `src/` flips it, and the row then moves',
      'to the tables above.',
      '',
      '| # | Entry | Input | Now | Should | Suggested fix |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    HOLES.forEach((h, i) => {
      const should =
        h.error === 'none'
          ? plain(h.outcome!)
          : `\`${h.error}\`${h.argument ? ` naming \`${h.argument}\`` : ''}${h.value ? ` and showing ${cell(h.value)}` : ''}`;
      out.push(`| H${i + 1} | \`${h.entry}\` | ${cell(h.input)} | ${plain(h.now)} | ${should} | ${plain(h.fix)} |`);
    });
    out.push('');
  }
  out.push(`${n} rows, ${HOLES.length} known holes.`, '');
  return out.join('\n');
}
