// generate() over random mixes of every option family (test/helpers/option-mixes.ts) with random
// stops (tokens, sequences, strings; kept or trimmed), per-row budgets, left-padded prompts and
// log-probabilities, against a host loop of the float64 reference: the same tokens, finish
// reasons, texts and log-probabilities per row. Rows that finished are not looked at (an invalid
// finished row is no error); an active invalid row under the 'error' policy rejects the call.
// The model is a fixed table of logits keyed by the row's last token and the step.
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  InvalidRowsError,
  SamplingError,
  createSampler,
  generate,
  reference,
  type GenerateResult,
  type SamplerOptions,
  type StepFunction,
} from '../src/index.js';
import { BACKENDS, isSoftwareGpu } from './helpers/backend.js';
import { expectRowLogprobs } from './helpers/logprob-check.js';
import { definedOptions, familiesEnv, optionMixArb } from './helpers/option-mixes.js';
import { backendSuite } from './helpers/suite.js';

const { scale: SCALE, seed: SEED } = familiesEnv(0x9e4a);
const PAD = 0;
const LETTERS = 'abcab';

function caseArb(gpu: boolean) {
  const shape = gpu
    ? fc.record({ B: fc.constantFrom(1, 3), V: fc.constantFrom(7, 40) })
    : fc.record({ B: fc.integer({ min: 1, max: 4 }), V: fc.integer({ min: 1, max: 40 }) });
  return shape.chain(({ B, V }) => {
    const maybe = <T>(a: fc.Arbitrary<T>, w = 2) => fc.oneof({ arbitrary: fc.constant(undefined), weight: w }, { arbitrary: a, weight: 1 });
    const tok = fc.integer({ min: 0, max: V - 1 });
    return fc.record({
      B: fc.constant(B),
      V: fc.constant(V),
      shift: fc.constant<boolean>(true),
      // table[t·V + j]: the logit of token j after token t (shifted by the step, see `tableRow`).
      table: fc.array(
        fc.oneof({ arbitrary: fc.integer({ min: -64, max: 64 }).map((v) => v / 8), weight: 20 }, { arbitrary: fc.constant(-Infinity), weight: 1 }),
        {
          minLength: V * V,
          maxLength: V * V,
        },
      ),
      prompts: fc.array(fc.array(tok, { minLength: 1, maxLength: 6 }), { minLength: B, maxLength: B }),
      maxNewTokens: fc.oneof(fc.integer({ min: 1, max: 6 }), fc.array(fc.integer({ min: 0, max: 6 }), { minLength: B, maxLength: B })),
      stopTokens: fc.array(tok, { minLength: 1, maxLength: 2 }),
      stops: maybe(fc.constantFrom('same', 'own'), 1),
      ownStops: fc.array(tok, { maxLength: 2 }),
      stopSequences: maybe(fc.array(fc.array(tok, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 })),
      stopStrings: maybe(fc.array(fc.stringMatching(/^[abc]{1,3}$/), { minLength: 1, maxLength: 2 }), 3),
      keepStop: fc.boolean(),
      logprobs: maybe(fc.record({ topLogprobs: fc.integer({ min: 0, max: Math.min(V, 3) }), mode: fc.constantFrom('raw' as const, 'processed' as const) })),
      options: optionMixArb(B, V),
    });
  });
}

type Case = ReturnType<typeof caseArb> extends fc.Arbitrary<infer C> ? C : never;

/** The model's logits for a row whose last token is `last`, at `step`. */
function tableRow(c: Case, last: number, step: number): number[] {
  const t = (last + (c.shift ? step : 0)) % c.V;
  return c.table.slice(t * c.V, (t + 1) * c.V).map(Math.fround);
}

/** A token's text: 0 or 1 characters, so a stop string can start inside, at or across tokens. */
const detokenize = (tokens: readonly number[]): string => tokens.map((t) => LETTERS.slice(t % 4, (t % 4) + (t % 3 === 0 ? 0 : 1))).join('');

interface Expected {
  tokens: number[][];
  /** The tokens as streamed (no stop trimmed). */
  streamed: number[][];
  reasons: ('stop' | 'length')[];
  texts?: string[];
  logprobs?: ReturnType<typeof reference.logprobs>[][];
  /** The step where an active row was invalid under the 'error' policy. */
  invalidAt?: number;
}

/** The host loop: the reference per step with each row's history; stops as `generate` documents them. */
function expected(c: Case, opts: SamplerOptions, stopTokens: readonly number[]): Expected {
  const maxNew = typeof c.maxNewTokens === 'number' ? new Array<number>(c.B).fill(c.maxNewTokens) : c.maxNewTokens;
  const history = c.prompts.map((p) => [...p]);
  const promptLength = c.prompts.map((p) => p.length);
  const out: number[][] = c.prompts.map(() => []);
  const lps: ReturnType<typeof reference.logprobs>[][] = c.prompts.map(() => []);
  const reasons = new Array<'stop' | 'length'>(c.B).fill('length');
  const cuts: ([number, number] | undefined)[] = new Array(c.B).fill(undefined);
  const finished = maxNew.map((n) => n === 0);
  let mu: number[] | undefined;
  for (let step = 0; finished.includes(false); step++) {
    const rows = history.map((h, r) => (finished[r] ? new Array<number>(c.V).fill(0) : tableRow(c, h[h.length - 1]!, step)));
    const context = { history, promptLength, ...(mu ? { mirostatMu: mu } : {}) };
    let ids: number[];
    try {
      ids = reference.sample(rows, opts, step, context);
    } catch (e) {
      if (!(e instanceof InvalidRowsError)) throw e;
      if (e.rows.some(({ row }) => !finished[row])) return { tokens: out, streamed: out, reasons, invalidAt: step };
      ids = reference.sample(rows, { ...opts, invalidRows: 'uniform' }, step, context);
    }
    const lp = c.logprobs ? reference.logprobs(rows, { ...opts, invalidRows: opts.invalidRows ?? 'uniform' }, step, context, c.logprobs) : undefined;
    if (opts.mirostat) mu = reference.nextMirostatMu(rows, opts, ids, step, context);
    ids.forEach((id, r) => {
      if (finished[r]) return;
      history[r]!.push(id);
      const row = out[r]!;
      row.push(id);
      if (lp) lps[r]!.push(lp);
      let cut: [number, number] | undefined;
      if (stopTokens.includes(id)) cut = [row.length - 1, -1];
      const seq = c.stopSequences?.find((s) => s.length <= row.length && s.every((t, i) => row[row.length - s.length + i] === t));
      if (!cut && seq) cut = [row.length - seq.length, -1];
      if (!cut && c.stopStrings) {
        const text = detokenize(row);
        const at = Math.min(...c.stopStrings.map((s) => text.indexOf(s)).filter((i) => i >= 0));
        if (Number.isFinite(at)) {
          let k = row.length - 1;
          while (k > 0 && detokenize(row.slice(0, k)).length > at) k--;
          cut = [k, at];
        }
      }
      if (cut) {
        reasons[r] = 'stop';
        cuts[r] = cut;
        finished[r] = true;
      } else if (row.length >= maxNew[r]!) finished[r] = true;
    });
  }
  const streamed = out.map((row) => [...row]);
  const texts = c.stopStrings ? out.map((row) => detokenize(row)) : undefined;
  if (!c.keepStop) {
    cuts.forEach((cut, r) => {
      if (!cut) return;
      out[r]!.length = cut[0];
      lps[r]!.length = cut[0];
      if (texts) texts[r] = cut[1] >= 0 ? texts[r]!.slice(0, cut[1]) : detokenize(out[r]!);
    });
  }
  return { tokens: out, streamed, reasons, ...(texts ? { texts } : {}), ...(c.logprobs ? { logprobs: lps } : {}) };
}

function expectLogprobs(got: NonNullable<GenerateResult['logprobs']>, want: Expected, what: string): void {
  got.forEach((row, r) => {
    expect(row.length, `${what}: row ${r} logprobs`).toBe(want.tokens[r]!.length);
    row.forEach((lp, i) => expectRowLogprobs(lp, want.logprobs![r]![i]!, r, `${what}, token ${i}`));
  });
}

interface Tally {
  runs: number;
  stopped: number;
  invalid: number;
  rejected: number;
}

/** The model: the table's row of each row's last token (shifted by the step when `c.shift`). */
function tableModel(c: Pick<Case, 'B' | 'V' | 'shift'>, table: tf.Tensor2D): StepFunction {
  return (tokens, { step: s }) =>
    tf.tidy(() => {
      const last = tf.reshape(tokens, [c.B]);
      return tf.gather(table, c.shift ? tf.mod(tf.add(last, tf.scalar(s, 'int32')), tf.scalar(c.V, 'int32')) : last) as tf.Tensor2D;
    });
}

async function checkCase(c: Case, t: Tally): Promise<void> {
  const opts = definedOptions(c.options, c.stopTokens);
  const stopTokens = c.stops === 'same' ? c.stopTokens : c.stops === 'own' ? c.ownStops : [];
  const before = tf.memory().numTensors;
  const table = tf.tensor2d(Float32Array.from(c.table), [c.V, c.V]);
  const step = tableModel(c, table);
  const what = `${JSON.stringify(opts)}, case ${JSON.stringify({ ...c, table: undefined, options: undefined })}`;
  try {
    try {
      createSampler(opts).dispose();
    } catch (e) {
      // Options createSampler rejects: the reference and generate reject them too.
      t.rejected++;
      expect(
        () => reference.sample([new Array<number>(c.V).fill(0)], { ...opts, invalidRows: opts.invalidRows ?? 'uniform' }),
        `${what}: the reference accepts (${(e as Error).message})`,
      ).toThrow();
      const err = await generate(step, { prompts: c.prompts, padId: PAD, maxNewTokens: c.maxNewTokens, sampler: opts }).catch((x: unknown) => x);
      expect(err, `${what}: generate accepts (${(e as Error).message})`).toBeInstanceOf(SamplingError);
      return;
    }
    const want = expected(c, opts, stopTokens);
    let streamedSteps = 0;
    const run = generate(step, {
      prompts: c.prompts,
      padId: PAD,
      maxNewTokens: c.maxNewTokens,
      contextLength: 1,
      sampler: opts,
      keepStop: c.keepStop,
      ...(stopTokens.length > 0 ? { stopTokens } : {}),
      ...(c.stopSequences ? { stopSequences: c.stopSequences } : {}),
      ...(c.stopStrings ? { stopStrings: c.stopStrings, detokenize } : {}),
      ...(c.logprobs ? { logprobs: c.logprobs } : {}),
      // Each streamed step: a row's token while it runs, then padId (and NaN log-probabilities) once it finished.
      onStep: ({ step: s, tokens, finished, logprobs }) => {
        streamedSteps++;
        want.streamed.forEach((row, r) => {
          const live = s < row.length;
          expect(tokens[r], `${what}: step ${s} row ${r} streamed`).toBe(live ? row[s] : PAD);
          if (want.invalidAt === undefined) expect(finished[r], `${what}: step ${s} row ${r} finished`).toBe(s >= row.length - 1 ? 1 : 0);
          if (logprobs) expect(Number.isNaN(logprobs.raw[r]), `${what}: step ${s} row ${r} raw`).toBe(!live);
        });
      },
    });
    if (want.invalidAt !== undefined) {
      t.invalid++;
      const err = await run.catch((x: unknown) => x);
      expect(err, `${what}: an active row is invalid at step ${want.invalidAt}`).toBeInstanceOf(SamplingError);
      expect(String((err as Error).message)).toMatch(/invalid/i);
      return;
    }
    const res = await run;
    t.runs++;
    if (res.finishReasons.includes('stop')) t.stopped++;
    expect(res.tokens, what).toEqual(want.tokens);
    expect(res.finishReasons, what).toEqual(want.reasons);
    expect(streamedSteps, `${what}: steps streamed`).toBe(Math.max(0, ...want.streamed.map((row) => row.length)));
    expect(res.steps, what).toBe(streamedSteps);
    expect(res.sequences, what).toEqual(c.prompts.map((p, r) => [...p, ...want.tokens[r]!]));
    if (want.texts) expect(res.texts, what).toEqual(want.texts);
    if (c.logprobs) expectLogprobs(res.logprobs!, want, what);
  } finally {
    table.dispose();
    expect(tf.memory().numTensors, `${what}: tensors left`).toBe(before);
  }
}

/** A queue case: N requests through B rows (a row that finishes takes the next request); options for all rows. */
function queueArb(gpu: boolean) {
  return caseArb(gpu).chain((c) =>
    fc.record({
      base: fc.constant({ ...c, shift: false }),
      queued: fc.array(
        fc.record({ prompt: fc.array(fc.integer({ min: 0, max: c.V - 1 }), { minLength: 1, maxLength: 4 }), maxNewTokens: fc.integer({ min: 0, max: 5 }) }),
        {
          minLength: 1,
          maxLength: gpu ? 2 : 4,
        },
      ),
      seeds: fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: c.B + 4, maxLength: c.B + 4 }),
    }),
  );
}

type QueueCase = ReturnType<typeof queueArb> extends fc.Arbitrary<infer C> ? C : never;

/** A mix's options with every per-row value replaced by its first row's (queue options apply to rows, not requests). */
function scalarOptions(opts: SamplerOptions): SamplerOptions {
  const perRow = new Set([
    'temperature',
    'topK',
    'topP',
    'minP',
    'typicalP',
    'epsilonCutoff',
    'etaCutoff',
    'topNSigma',
    'minTokensToKeep',
    'repetitionPenalty',
    'frequencyPenalty',
    'presencePenalty',
    'penaltyLastN',
    'noRepeatNgramSize',
    'minNewTokens',
  ]);
  const o: Record<string, unknown> = { ...opts };
  for (const [k, v] of Object.entries(o)) if (perRow.has(k) && Array.isArray(v)) o[k] = v[0];
  if (Array.isArray(o.allowedTokens) && Array.isArray(o.allowedTokens[0])) o.allowedTokens = o.allowedTokens[0];
  return o as SamplerOptions;
}

async function checkQueue(q: QueueCase, t: Tally): Promise<void> {
  const c = q.base;
  const maxNew = typeof c.maxNewTokens === 'number' ? new Array<number>(c.B).fill(c.maxNewTokens) : c.maxNewTokens;
  const requests = [...c.prompts.map((prompt, r) => ({ prompt, maxNewTokens: maxNew[r]! })), ...q.queued].map((req, i) => ({ ...req, seed: q.seeds[i]! }));
  const opts = scalarOptions(definedOptions(c.options, c.stopTokens));
  const stopTokens = c.stops === 'same' ? c.stopTokens : c.stops === 'own' ? c.ownStops : [];
  const what = `${JSON.stringify(opts)}, queue case ${JSON.stringify({ ...c, table: undefined, options: undefined, requests })}`;
  const before = tf.memory().numTensors;
  const table = tf.tensor2d(Float32Array.from(c.table), [c.V, c.V]);
  try {
    try {
      createSampler({ ...opts, seed: 0 }).dispose();
    } catch {
      t.rejected++;
      return; // the first property checks the rejections
    }
    // Each request alone: a batch of one from step 0 with its seed.
    const alone = requests.map((req) =>
      expected({ ...c, B: 1, prompts: [req.prompt], maxNewTokens: [req.maxNewTokens] }, { ...opts, seed: [req.seed] }, stopTokens),
    );
    const run = generate(tableModel(c, table), {
      prompts: c.prompts,
      padId: PAD,
      maxNewTokens: c.maxNewTokens,
      contextLength: 1,
      sampler: opts,
      queue: q.queued.map((req, i) => ({ ...req, seed: q.seeds[c.B + i]! })),
      seeds: q.seeds.slice(0, c.B),
      keepStop: c.keepStop,
      ...(stopTokens.length > 0 ? { stopTokens } : {}),
      ...(c.stopSequences ? { stopSequences: c.stopSequences } : {}),
      ...(c.stopStrings ? { stopStrings: c.stopStrings, detokenize } : {}),
      ...(c.logprobs ? { logprobs: c.logprobs } : {}),
    });
    if (alone.some((a) => a.invalidAt !== undefined)) {
      t.invalid++;
      const err = await run.catch((x: unknown) => x);
      expect(err, `${what}: a request alone meets an invalid row`).toBeInstanceOf(SamplingError);
      return;
    }
    const res = await run;
    t.runs++;
    if (res.finishReasons.includes('stop')) t.stopped++;
    expect(res.tokens, what).toEqual(alone.map((a) => a.tokens[0]));
    expect(res.finishReasons, what).toEqual(alone.map((a) => a.reasons[0]));
    expect(res.sequences, what).toEqual(requests.map((req, i) => [...req.prompt, ...alone[i]!.tokens[0]!]));
    if (c.stopStrings) expect(res.texts, what).toEqual(alone.map((a) => a.texts![0]));
    if (c.logprobs) {
      // Request i's log-probabilities are row 0 of its lone batch.
      alone.forEach((a, i) => expectLogprobs([res.logprobs![i]!], a, `${what}: request ${i}`));
    }
  } finally {
    table.dispose();
    expect(tf.memory().numTensors, `${what}: tensors left`).toBe(before);
  }
}

describe.each(BACKENDS)('generate() with every option family on %s', (backend) => {
  backendSuite(backend);
  const gpu = isSoftwareGpu(backend);
  const portable = !gpu && typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_FUSED === '0';
  const runs = Math.round((gpu ? 8 : portable ? 120 : 600) * SCALE);
  it(`the reference loop's tokens, stops and log-probabilities, ${runs} random cases`, async () => {
    const t: Tally = { runs: 0, stopped: 0, invalid: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(caseArb(gpu), (c) => checkCase(c, t)),
      { seed: SEED, numRuns: runs },
    );
    console.log(
      `[generate-families] ${backend}: ${t.runs} runs compared (${t.stopped} with a stop), ${t.invalid} invalid rows, ${t.rejected} option sets rejected by both`,
    );
    expect(t.runs).toBeGreaterThan(runs / 2);
    if (!gpu) {
      expect(t.stopped).toBeGreaterThan(0);
      expect(t.invalid).toBeGreaterThan(0);
      expect(t.rejected).toBeGreaterThan(0);
    }
  });
  const queueRuns = Math.round((gpu ? 4 : portable ? 60 : 300) * SCALE);
  it(`a queue (continuous batching): each request gets the tokens it gets alone, ${queueRuns} random cases`, async () => {
    const t: Tally = { runs: 0, stopped: 0, invalid: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(queueArb(gpu), (q) => checkQueue(q, t)),
      { seed: SEED + 1, numRuns: queueRuns },
    );
    console.log(
      `[generate-families] ${backend} queue: ${t.runs} runs compared (${t.stopped} with a stop), ${t.invalid} invalid rows, ${t.rejected} option sets rejected`,
    );
    expect(t.runs).toBeGreaterThan(queueRuns / 2);
    if (!gpu) expect(t.stopped).toBeGreaterThan(0);
  });
});
