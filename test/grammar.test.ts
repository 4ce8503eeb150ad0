// Grammar-constrained generation (issue 13) on every backend: generate({ grammar }) with JSON
// schemas gives output that parses and validates (ajv) every time, from random logits; the
// bitmask path never draws a token outside the mask and draws what the reference draws (a
// property over random masks); under a mask the draws follow the model's distribution
// renormalised over the allowed tokens (chi-square against the reference, with a negative
// control); a row whose grammar allows no finite-logit token is an invalid row; still one
// read-back per step. xgrammar is loaded by the library in Node and imported by the page in
// Chromium.
import * as tf from '@tensorflow/tfjs-core';
import Ajv from 'ajv';
import fc from 'fast-check';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGrammarEngine, createSampler, generate, InvalidRowsError, reference, type GrammarEngine, type StepFunction } from '../src/index.js';
import { BACKENDS, isSoftwareGpu, xgrammarModule } from './helpers/backend.js';
import { chiSquareTest, formatChiSquare } from './helpers/chisquare.js';
import { countReadsAsync, readBacks } from './helpers/read-counter.js';
import { backendSuite } from './helpers/suite.js';
import { cachedStep, disposeCache, loadTransformer, type KVCache, type TransformerLM } from '../model/transformer.js';
import { SCHEMAS } from '../model/json/schemas.js';

/** The layout of the project's ASCII models: 0 pad, 1 unk, 2 newline (the stop token), then 0x20..0x7E. */
const ASCII_TOKENS: (string | null)[] = [null, null, '\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))];
const V = ASCII_TOKENS.length;
const NEWLINE = 2;
const text = (ids: readonly number[]): string => ids.map((i) => ASCII_TOKENS[i] ?? '').join('');

/** Logits N(0, 2²) per call, from a seed and the call count (the same on every backend: made on the host). */
function randomModel(seed: string): StepFunction {
  const r = seedrandom(seed);
  return (tokens) => {
    const B = tokens.shape[0];
    const z = new Float32Array(B * V);
    for (let i = 0; i < z.length; i++) z[i] = 2 * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    return tf.tensor2d(z, [B, V]);
  };
}

function validRate(schema: object, rows: readonly (readonly number[])[]): { valid: number; bad: string[] } {
  // multipleOfPrecision: ajv divides in binary floating point, where 1.13 / 0.01 is not an integer.
  const validate = new Ajv({ multipleOfPrecision: 9 }).compile(schema);
  let valid = 0;
  const bad: string[] = [];
  for (const row of rows) {
    let ok = false;
    try {
      ok = validate(JSON.parse(text(row))) as boolean;
    } catch {
      ok = false;
    }
    if (ok) valid++;
    else if (bad.length < 3) bad.push(text(row));
  }
  return { valid, bad };
}

const ALPHA = 1e-6;

/** The project's JSON character model (model/json): its vocabulary is ASCII_TOKENS' layout. */
async function loadJsonModel(): Promise<TransformerLM> {
  if (typeof window === 'undefined') {
    const fsIO = '../model/fs-io.js'; // Node only: not for the browser bundle
    const { loadJsonModelFromDisk } = (await import(/* @vite-ignore */ fsIO)) as typeof import('../model/fs-io.js');
    return loadJsonModelFromDisk();
  }
  return loadTransformer('/model/json/weights/model.json');
}

describe.each(BACKENDS)('grammar-constrained generation on %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);
  let engine: GrammarEngine;
  beforeAll(async () => {
    engine = await createGrammarEngine({ tokens: ASCII_TOKENS }, { xgrammar: await xgrammarModule() });
  });
  afterAll(() => engine?.dispose());

  // 1,000 generations per schema on cpu and wasm, 100 on the GPU backends (SwiftShader here) and
  // on the portable projects (the tensor-op chain: the same grammar engine and bitmasks, the
  // mask applied by tensor ops; 1,000 cost 80 s of a CI run on cpu-portable): the three schemas
  // side by side in one batch (per-row grammars), so the GPU steps are shared.
  const portable = !gpu && typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_FUSED === '0';
  const n = gpu || portable ? 100 : 1000;
  const names = Object.keys(SCHEMAS);
  it(`${n} generations per schema (${names.length} schemas, one batch) from random logits all parse and validate (ajv); without the grammar none does`, async () => {
    const rows = names.flatMap((name) => Array.from({ length: n }, () => ({ jsonSchema: SCHEMAS[name]! })));
    const options = {
      prompts: rows.map(() => [NEWLINE]),
      padId: 0,
      maxNewTokens: 300,
      stopTokens: [NEWLINE],
      keepStop: false,
      sampler: { temperature: 1, seed: 7 },
    };
    const result = await generate(randomModel('grammar:schemas'), { ...options, grammar: { engine, rows } });
    names.forEach((name, i) => {
      const { valid, bad } = validRate(SCHEMAS[name]!, result.tokens.slice(i * n, (i + 1) * n));
      console.log(`[grammar] ${backend} random logits, ${name}: ${valid}/${n} valid`);
      expect(bad, name).toEqual([]);
      expect(valid, name).toBe(n);
    });
    expect(result.finishReasons.every((f) => f === 'stop')).toBe(true);
    // Negative control: the same model and sampler without the grammar.
    const free = await generate(randomModel('grammar:schemas'), { ...options, prompts: options.prompts.slice(0, 50), maxNewTokens: 60 });
    for (const name of names) expect(validRate(SCHEMAS[name]!, free.tokens).valid, name).toBe(0);
  });

  // The trained JSON model (a transformer with a KV cache): 100 generations per schema on wasm,
  // 10 on wasm-portable, 4 on cpu (plain-JavaScript matmuls: about 1 s a step at 250 rows, wasm
  // 0.24 s; 10 took 60 s of a full CI run in each cpu project) and on the GPU backends
  // (SwiftShader: 43 s alone at 10 in Chromium's webgpu, 21 s at 4; 110 s of a CI run at 10).
  // npm run bench:grammar runs 1,000 per schema. The random-logits test above covers 1,000
  // (cpu, wasm) and 100 (GPU, portable) per schema.
  const m = gpu || backend === 'cpu' ? 4 : portable ? 10 : 100;
  it(`the JSON model: ${m} generations per schema (one batch, top-p 0.95) all parse and validate`, async () => {
    const lm = await loadJsonModel();
    try {
      expect(lm.vocab.slice(2)).toEqual(ASCII_TOKENS.slice(2));
      const rows = names.flatMap((name) => Array.from({ length: m }, () => ({ jsonSchema: SCHEMAS[name]! })));
      const result = await generate<KVCache>(cachedStep(lm), {
        prompts: rows.map(() => [NEWLINE]),
        padId: 0,
        feed: 'new',
        maxNewTokens: 300,
        stopTokens: [NEWLINE],
        keepStop: false,
        sampler: { temperature: 0.9, topP: 0.95, seed: 11 },
        grammar: { engine, rows },
      });
      disposeCache(result.state);
      names.forEach((name, i) => {
        const { valid, bad } = validRate(SCHEMAS[name]!, result.tokens.slice(i * m, (i + 1) * m));
        console.log(`[grammar] ${backend} JSON model, ${name}: ${valid}/${m} valid, e.g. ${text(result.tokens[i * m]!)}`);
        expect(bad, name).toEqual([]);
        expect(valid, name).toBe(m);
      });
    } finally {
      lm.dispose();
    }
  });

  it('regex, choice, EBNF and any-JSON rows in one batch, with a free row; "complete" rows end without a stop token', async () => {
    const rows = [
      { regex: '[0-9]{3}-[a-z]{2,4}' },
      { choice: ['yes', 'no', 'say "hi"\\'] },
      { ebnf: 'root ::= "(" num ("+" num)* ")"\nnum ::= [1-9] [0-9]?' },
      { json: true } as const,
      null,
    ];
    const result = await generate(randomModel('grammar:mixed'), {
      prompts: Array.from({ length: 5 }, () => [NEWLINE]),
      padId: 0,
      maxNewTokens: [40, 40, 40, 400, 7],
      stopTokens: [NEWLINE],
      keepStop: false,
      sampler: { temperature: 1, seed: 3 },
      grammar: { engine, rows },
    });
    const texts = result.tokens.map(text);
    expect(texts[0]).toMatch(/^[0-9]{3}-[a-z]{2,4}$/);
    expect(['yes', 'no', 'say "hi"\\']).toContain(texts[1]);
    expect(texts[2]).toMatch(/^\([1-9][0-9]?(\+[1-9][0-9]?)*\)$/);
    expect(() => JSON.parse(texts[3]!)).not.toThrow();
    expect(result.finishReasons.slice(0, 4)).toEqual(['stop', 'stop', 'stop', 'stop']);
    expect(result.tokens[4]!.length).toBe(7); // the free row
    // 'complete': no stop token; a choice ends at its last character.
    const done = await generate(randomModel('grammar:complete'), {
      prompts: [[NEWLINE], [NEWLINE]],
      padId: 0,
      maxNewTokens: 20,
      sampler: { temperature: 1, seed: 5 },
      grammar: { engine, rows: { choice: ['alpha', 'beta'] }, end: 'complete' },
    });
    done.tokens.forEach((row) => expect(['alpha', 'beta']).toContain(text(row)));
    expect(done.finishReasons).toEqual(['stop', 'stop']);
  });

  it('one read-back per step with a grammar (the bitmask is an upload)', async () => {
    const { result, reads } = await countReadsAsync(() =>
      generate(randomModel('grammar:reads'), {
        prompts: [[NEWLINE], [NEWLINE], [NEWLINE]],
        padId: 0,
        maxNewTokens: 30,
        stopTokens: [NEWLINE],
        sampler: { temperature: 1, seed: 1 },
        grammar: { engine, rows: { jsonSchema: { enum: ['on', 'off', 'auto'] } } },
      }),
    );
    expect(readBacks(reads).length).toBe(result.steps);
  });

  it('a row whose grammar allows no token with a finite logit is an invalid row: an error naming the row and the step, no tensor left', async () => {
    const x = ASCII_TOKENS.indexOf('x');
    const model: StepFunction = (tokens) => {
      const B = tokens.shape[0];
      const z = new Float32Array(B * V).fill(0);
      z[1 * V + x] = -Infinity; // row 1 may say only "x"
      return tf.tensor2d(z, [B, V]);
    };
    const before = tf.memory().numTensors;
    const err = await generate(model, {
      prompts: [[NEWLINE], [NEWLINE]],
      padId: 0,
      maxNewTokens: 5,
      stopTokens: [NEWLINE],
      grammar: { engine, rows: [{ choice: ['x', 'y'] }, { choice: ['x'] }] },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRowsError);
    const message = (err as Error).message;
    expect(message).toContain('step 0');
    expect(message).toContain('row 1');
    expect(message).toContain('the grammar allows no token the model gives a finite logit');
    expect((err as InvalidRowsError).rows.map((r) => r.row)).toEqual([1]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a queue: each request gets its own grammar (or the shared one) and the tokens it gets alone', async () => {
    // The same logits at every step and row: a request's tokens then depend on its seed, its
    // steps and its grammar only, whichever row and step it starts at.
    const table = new Float32Array(V).map((_, j) => Math.sin(j * 1.7) * 2);
    const fixed: StepFunction = (tokens) => tf.tidy(() => tf.tile(tf.tensor2d(table, [1, V]), [tokens.shape[0], 1]) as tf.Tensor2D);
    const shared = { jsonSchema: SCHEMAS['point (const, negative and exclusive bounds, nullable, enum)']! };
    const queue = [
      { prompt: [NEWLINE], seed: 21 },
      { prompt: [NEWLINE, NEWLINE], seed: 22, grammar: { choice: ['left', 'right'] } },
      { prompt: [NEWLINE], seed: 23, grammar: null },
    ];
    const base = { padId: 0, maxNewTokens: 120, stopTokens: [NEWLINE], keepStop: false, sampler: { temperature: 1.1 } } as const;
    const batched = await generate(fixed, { ...base, prompts: [[NEWLINE], [NEWLINE]], seeds: [19, 20], queue, grammar: { engine, rows: shared } });
    const requests = [
      { prompt: [NEWLINE], seed: 19, grammar: shared },
      { prompt: [NEWLINE], seed: 20, grammar: shared },
      ...queue.map((q) => ({ ...q, grammar: q.grammar === undefined ? shared : q.grammar })),
    ];
    for (let q = 0; q < requests.length; q++) {
      const { prompt, seed, grammar } = requests[q]!;
      const alone = await generate(fixed, {
        ...base,
        prompts: [prompt],
        sampler: { ...base.sampler, seed: [seed] },
        ...(grammar ? { grammar: { engine, rows: grammar } } : {}),
      });
      expect(batched.tokens[q], `request ${q}`).toEqual(alone.tokens[0]);
    }
    expect(validRate(shared.jsonSchema, batched.tokens.slice(0, 3)).valid).toBe(3);
    expect(['left', 'right']).toContain(text(batched.tokens[3]!));
  });

  it('never draws a token outside the mask, and draws what the reference draws (property over random masks)', async () => {
    const runs = gpu ? 12 : 60;
    let checked = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          B: fc.integer({ min: 1, max: 6 }),
          V: fc.integer({ min: 1, max: 300 }),
          density: fc.constantFrom(0.01, 0.3, 0.7, 0.99, 1),
          temperature: fc.constantFrom(0, 0.6, 1, 1.7),
          topK: fc.constantFrom(0, 1, 5, 40),
          seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
          step: fc.integer({ min: 0, max: 1000 }),
        }),
        async (c) => {
          const r = seedrandom(`mask-property:${c.seed}`);
          const W = Math.ceil(c.V / 32);
          const rows = Array.from({ length: c.B }, () => Array.from({ length: c.V }, () => Math.fround(4 * r() - 2)));
          const masks = Array.from({ length: c.B }, () => {
            const m = new Int32Array(W);
            for (let j = 0; j < c.V; j++) if (r() < c.density) m[j >> 5]! |= 1 << (j & 31);
            const any = Math.floor(r() * c.V);
            m[any >> 5]! |= 1 << (any & 31); // at least one allowed token
            for (let j = c.V; j < W * 32; j++) if (r() < 0.5) m[j >> 5]! |= 1 << (j & 31); // bits past V are ignored
            return m;
          });
          const opts = { temperature: c.temperature, topK: c.topK, seed: c.seed };
          const s = createSampler(opts);
          for (let i = 0; i < c.step % 3; i++) tf.tidy(() => s.sample(tf.zeros([c.B, c.V]))).dispose(); // a few steps in
          const x = tf.tensor2d(rows);
          const ids = Array.from(await s.sampleIds(x, { mask: masks }));
          x.dispose();
          s.dispose();
          ids.forEach((id, b) => expect((masks[b]![id >> 5]! >>> (id & 31)) & 1, `row ${b} drew ${id}`).toBe(1));
          expect(ids).toEqual(reference.sample(rows, opts, c.step % 3, { mask: masks }));
          checked++;
        },
      ),
      { numRuns: runs, seed: 0x6a11 },
    );
    expect(checked).toBe(runs);
  });

  it('under a mask the draws follow the model distribution renormalised over the allowed tokens (chi-square vs the reference, with a negative control)', async () => {
    const Vc = 48;
    const r = seedrandom('grammar:chi');
    const row = Array.from({ length: Vc }, (_, j) => Math.fround(-0.9 * Math.log(j + 1) + 0.3 * r()));
    const mask = new Int32Array(Math.ceil(Vc / 32));
    for (let j = 0; j < Vc; j++) if (j % 3 !== 1 || j === 1) mask[j >> 5]! |= 1 << (j & 31);
    const allowed = (j: number): boolean => ((mask[j >> 5]! >>> (j & 31)) & 1) === 1;
    const opts = { temperature: 1 };
    const expected = reference.probabilities([row], opts, { mask: [mask] })[0]!;
    // The reference is the softmax of the model's logits renormalised over the allowed tokens.
    const total = row.reduce((a, z, j) => (allowed(j) ? a + Math.exp(z) : a), 0);
    row.forEach((z, j) => expect(expected[j]).toBeCloseTo(allowed(j) ? Math.exp(z) / total : 0, 12));
    const rowsPerCall = gpu ? 2000 : 10000;
    const calls = 10;
    const draw = async (logits: number[], seed: number): Promise<Float64Array> => {
      const counts = new Float64Array(Vc);
      const s = createSampler({ ...opts, seed });
      const x = tf.tensor2d(Array.from({ length: rowsPerCall }, () => logits));
      const words = new Int32Array(rowsPerCall * mask.length);
      for (let b = 0; b < rowsPerCall; b++) words.set(mask, b * mask.length);
      for (let c = 0; c < calls; c++) for (const id of await s.sampleIds(x, { mask: words })) counts[id]!++;
      x.dispose();
      s.dispose();
      return counts;
    };
    const good = chiSquareTest(await draw(row, 41), expected);
    console.log(`[grammar] ${backend} masked draws: ${formatChiSquare(good)}`);
    expect(good.impossible).toEqual([]);
    expect(good.pValue).toBeGreaterThan(ALPHA);
    // Negative control: one allowed token's logit 0.3 higher, the same test.
    const shifted = row.slice();
    shifted[3] = shifted[3]! + 0.3;
    const control = chiSquareTest(await draw(shifted, 42), expected);
    console.log(`[grammar] ${backend} negative control: ${formatChiSquare(control)}`);
    expect(control.pValue).toBeLessThan(ALPHA);
  });
});
