// The float64 reference: the sampling contract on plain rows. Never imports tfjs.
import { InvalidRowsError, SamplingError, type InvalidRow } from '../errors.js';
import { gumbel, rowKeys, stepAt, stepKey } from '../noise.js';
import { normalizeOptions, type BuiltinSpec } from '../options.js';
import { checkRowArrays } from '../plan.js';
import { isValueArray } from '../params.js';
import type { SamplerOptions } from '../types.js';
import { invalidRowOf, scanRow } from '../invalid-rows.js';
import { accurateSum, argMax, rowMax, usableInv } from './math.js';
import { referenceMinP } from './min-p.js';
import { referenceTemperature, referenceTemperatureOfRows } from './temperature.js';
import { referenceTopK } from './top-k.js';
import { referenceTopP } from './top-p.js';
import { referenceTopNSigma } from './top-n-sigma.js';
import { referenceEpsilonCutoff } from './epsilon-cutoff.js';
import { referenceEtaCutoff } from './eta-cutoff.js';
import { referenceTypicalP } from './typical-p.js';
import { referenceXtc, referenceXtcOfRows } from './xtc.js';
import { referenceMirostat, referenceMirostatOfRows } from './mirostat.js';
import { fieldRows } from '../chain-options.js';
import { rawOption } from '../logprobs-options.js';
import type { ReferenceState } from './types.js';
import { checkHistoryVocab, historyStages, type HistorySpec } from '../history-options.js';
import { referencePenalties } from './penalties.js';
import { referenceDry } from './dry.js';
import { referenceNoRepeatNgram } from './no-repeat-ngram.js';
import { referenceBadWords } from './bad-words.js';
import { referenceMinNewTokens } from './min-new-tokens.js';
import { referenceLogitBias } from './logit-bias.js';
import { referenceAllowedTokens } from './allowed-tokens.js';
import { referenceTokenMask } from './token-mask.js';

export type { ReferenceState } from './types.js';
export {
  referenceEpsilonCutoff,
  referenceEtaCutoff,
  referenceMinP,
  referenceMirostat,
  referenceTemperature,
  referenceTopK,
  referenceTopNSigma,
  referenceTopP,
  referenceTypicalP,
  referenceXtc,
};

/** Rows of logits: one array per batch row. Values are taken as float32, as on tensors. */
export type Rows = readonly ArrayLike<number>[];

type Step = (state: ReferenceState) => ReferenceState;

/** Per-call context of the reference (twin of `SampleContext`). */
export interface ReferenceContext {
  /**
   * The tokens so far, one array per row (prompt then generated tokens, no padding), handed to
   * processors as `state.history`; what the sampler's device history holds after `begin(prompts)`
   * and the accepted draws.
   */
  history?: readonly (readonly number[])[];
  /** How many tokens of each history row are the prompt's (default 0: every token was generated). */
  promptLength?: readonly number[];
  /** The per-call token bitmask (twin of `SampleContext.mask`): one Int32Array of ceil(V/32) words per row. */
  mask?: readonly Int32Array[];
  /**
   * The step `probabilities` / `process` compute (default 0), one for all rows or one per row:
   * XTC's coin depends on it. `sample` and `logprobs` take their step argument.
   */
  step?: number | readonly number[];
  /** Each row's Mirostat μ before this step (default 2τ, a fresh sampler's); see `nextMirostatMu`. */
  mirostatMu?: readonly number[];
}

/** The history processors' twins, in the sampler's order (historyStages). */
function historySteps(spec: HistorySpec): Step[] {
  return historyStages(spec).map((st): Step => {
    switch (st.kind) {
      case 'penalties':
        return referencePenalties(spec);
      case 'dry':
        return referenceDry(st.dry, spec.penalizePrompt.dry);
      case 'no-repeat-ngram':
        return referenceNoRepeatNgram(st.size);
      case 'bad-words':
        return referenceBadWords(st.sequences);
      case 'min-new-tokens':
        return referenceMinNewTokens(st.n, st.stopTokens);
      case 'logit-bias':
        return referenceLogitBias(st.bias);
      case 'allowed-tokens':
        return referenceAllowedTokens(st.allowed);
    }
  });
}

function builtin({ name, value, minKeep = 1, dynamic, xtc, mirostat }: BuiltinSpec): Step {
  switch (name) {
    case 'temperature':
      return referenceTemperatureOfRows(value, dynamic);
    case 'top-k':
      return referenceTopK(value, minKeep);
    case 'top-p':
      return referenceTopP(value, minKeep);
    case 'min-p':
      return referenceMinP(value, minKeep);
    case 'top-n-sigma':
      return referenceTopNSigma(value);
    case 'typical-p':
      return referenceTypicalP(value, minKeep);
    case 'epsilon-cutoff':
      return referenceEpsilonCutoff(value, minKeep);
    case 'eta-cutoff':
      return referenceEtaCutoff(value, minKeep);
    case 'xtc':
      return referenceXtcOfRows(xtc!, minKeep);
    case 'mirostat':
      return referenceMirostatOfRows(mirostat!);
  }
}

function toRows(rows: Rows): Float64Array[] {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new SamplingError('rows', 'must be a non-empty array of rows (number[] or Float32Array)', rows);
  }
  rows.forEach((row: unknown, r) => {
    if (!isValueArray(row)) {
      throw new SamplingError(`rows[${r}]`, 'must be an array of logits (number[] or Float32Array)', row);
    }
    const xs = row as ArrayLike<unknown>;
    for (let j = 0; j < xs.length; j++) {
      if (typeof xs[j] !== 'number') throw new SamplingError(`rows[${r}][${j}]`, 'must be a number', xs[j]);
    }
  });
  const vocab = rows[0]!.length;
  if (vocab < 1) throw new SamplingError('rows', 'must have a vocabulary V ≥ 1', 'rows of length 0');
  return rows.map((row, r) => {
    if (row.length !== vocab) throw new SamplingError(`rows[${r}]`, `must have length ${vocab} like rows[0]`, row.length);
    return Float64Array.from(row as ArrayLike<number>, (v) => Math.fround(v));
  });
}

interface Processed {
  input: Float64Array[];
  state: ReferenceState;
  invalid: (InvalidRow | undefined)[];
}

function run(rows: Rows, options: SamplerOptions, step: number | readonly number[], context: ReferenceContext = {}, stepName = 'step'): Processed {
  const opts = normalizeOptions(options);
  const input = toRows(rows);
  checkRowArrays(opts, input.length);
  checkSteps(step, input.length, stepName);
  const history = context.history;
  if (history !== undefined && (!Array.isArray(history) || history.length !== input.length)) {
    throw new SamplingError('history', `must be an array with one token array per row (batch size ${input.length})`, history);
  }
  const steps: Step[] = opts.processors.map((p, i) => {
    if (!p.reference) {
      throw new SamplingError(`processors[${i}]`, 'must have a float64 `reference` twin to be used by the reference', p.name);
    }
    return p.reference.bind(p);
  });
  const builtins = opts.builtins.map(builtin);
  checkHistoryVocab(opts.history, input[0]!.length, input.length);
  if (
    context.mirostatMu !== undefined &&
    (!Array.isArray(context.mirostatMu) ||
      context.mirostatMu.length !== input.length ||
      context.mirostatMu.some((m) => typeof m !== 'number' || !Number.isFinite(m)))
  ) {
    throw new SamplingError('mirostatMu', `must be an array of finite numbers, one per row (batch size ${input.length})`, context.mirostatMu);
  }
  let state: ReferenceState = {
    logits: input.map((r) => Float64Array.from(r)),
    invTemperature: new Float64Array(input.length).fill(1),
    vocab: input[0]!.length,
    ...(typeof step === 'number' ? { step } : { step: step[0] ?? 0, steps: step }),
    ...(opts.seed !== undefined ? { keys: rowKeys(opts.seed, input.length) } : {}),
    ...(context.mirostatMu !== undefined ? { mirostatMu: context.mirostatMu } : {}),
    ...(history !== undefined ? { history } : {}),
    ...(context.promptLength !== undefined ? { promptLength: context.promptLength } : {}),
  };
  // Built-in history processors (never NaN / +Infinity from finite input), then the mask.
  for (const s of historySteps(opts.history)) state = s(state);
  if (context.mask !== undefined) state = referenceTokenMask(context.mask)(state);
  // Rows a user processor made NaN / +Infinity, recorded after each one (twin of runChain).
  const made = input.map(() => ({ nan: false, inf: false }));
  for (const s of steps) {
    state = s(state);
    state.logits.forEach((z, r) => {
      const f = scanRow(z);
      made[r]!.nan ||= f.nan;
      made[r]!.inf ||= f.inf;
    });
  }
  for (const s of builtins) state = s(state);
  const invalid = input.map((row, r) => invalidRowOf(r, row, made[r]!, state.logits[r]!));
  if (opts.invalidRows === 'error') {
    const bad = invalid.filter((x): x is InvalidRow => x !== undefined);
    if (bad.length > 0) throw new InvalidRowsError(bad);
  }
  return { input, state, invalid };
}

function finiteArgMax(row: Float64Array): number {
  return argMax(row.map((v) => (Number.isFinite(v) ? v : -Infinity)));
}

/**
 * The distribution each row is drawn from, in float64: the same options as `createSampler`.
 *
 * @example
 * reference.probabilities([[2, 1, 0, -1]], { topP: 0.7 }); // [Float64Array [0.73, 0.27, 0, 0]]
 */
export function probabilities(rows: Rows, options: SamplerOptions = {}, context: ReferenceContext = {}): Float64Array[] {
  const { input, state, invalid } = run(rows, options, contextStep(context), context, 'context.step');
  const policy = options.invalidRows ?? 'error';
  const V = state.vocab;
  return state.logits.map((z, r) => {
    const bad = invalid[r];
    if (bad) {
      const j = policy === 'greedy' ? finiteArgMax(input[r]!) : -1;
      return j >= 0 ? oneHot(j, V) : new Float64Array(V).fill(1 / V);
    }
    const inv = state.invTemperature[r]!;
    if (!Number.isFinite(inv)) return oneHot(argMax(z), V);
    const zmax = rowMax(z);
    const e = z.map((v) => Math.exp((v - zmax) * usableInv(inv)));
    let total = 0;
    for (const v of e) total += v;
    return e.map((v) => v / total);
  });
}

/**
 * The logits after the chain, divided by each row's temperature (greedy rows unscaled).
 *
 * @example
 * const rows = [[2, 1, 0, -1]];
 * reference.process(rows, { topK: 2, temperature: 0.5 }); // [[4, 2, -Infinity, -Infinity]]: sampler.process's float64 twin
 */
export function process(rows: Rows, options: SamplerOptions = {}, context: ReferenceContext = {}): Float64Array[] {
  const { state } = run(rows, { ...options, invalidRows: 'uniform' }, contextStep(context), context, 'context.step');
  // Kept values beyond float32's range are clamped to ±FLT_MAX, as on tensors: kept tokens stay
  // finite (1/T up to 2^100 can take a logit past it), masked ones stay -Infinity.
  return state.logits.map((z, r) => z.map((v) => (Number.isFinite(v) ? clampF32(v * usableInv(state.invTemperature[r]!)) : v)));
}

/**
 * The tokens the tensor sampler draws at `step` for the same logits, options and seeds: Gumbel-max
 * with noise from the (row key, step, token) hash, argmax in float64.
 *
 * @example
 * const rows = [[2, 1, 0, -1]];
 * const want = reference.sample(rows, { topP: 0.9, seed: 7 }, 0);
 * // createSampler({ topP: 0.9, seed: 7 }).sampleIds(tf.tensor2d(rows)) draws the same tokens at step 0
 */
export function sample(rows: Rows, options: SamplerOptions = {}, step: number | readonly number[] = 0, context: ReferenceContext = {}): number[] {
  if (options.seed === undefined) {
    throw new SamplingError('seed', 'must be given to reference.sample (tokens are reproduced from seeds)', undefined);
  }
  if (options.draw === 'multinomial') {
    throw new SamplingError(
      'draw',
      'must be "gumbel" for reference.sample (tf.multinomial\'s tokens differ per backend and are not reproduced)',
      'multinomial',
    );
  }
  const { input, state, invalid } = run(rows, options, step, context);
  const keys = rowKeys(normalizeOptions(options).seed!, input.length);
  const policy = options.invalidRows ?? 'error';
  return state.logits.map((z, r) => {
    const sk = stepKey(keys[r]!, stepAt(step, r));
    const V = z.length;
    const uniformDraw = (): number => {
      let best = 0;
      let bestG = -Infinity;
      for (let j = 0; j < V; j++) {
        const g = gumbel(sk, j);
        if (g > bestG) [best, bestG] = [j, g];
      }
      return best;
    };
    if (invalid[r]) {
      const j = policy === 'greedy' ? finiteArgMax(input[r]!) : -1;
      return j >= 0 ? j : uniformDraw();
    }
    const inv = state.invTemperature[r]!;
    if (!Number.isFinite(inv)) return argMax(z);
    const zmax = rowMax(z);
    let best = -1;
    let bestScore = -Infinity;
    for (let j = 0; j < V; j++) {
      if (z[j] === -Infinity) continue;
      const score = (z[j]! - zmax) * inv + gumbel(sk, j);
      if (score > bestScore) [best, bestScore] = [j, score];
    }
    return best;
  });
}

/** The reference's log-probabilities of one step (twin of `SampledLogprobs`, in float64). */
/** What `reference.logprobs` returns, in float64 (the fields of `SampledLogprobs`). */
export interface ReferenceLogprobs {
  /** The token each row draws at the step. */
  ids: number[];
  /** Per row, log p(token) under the raw logits' softmax. */
  raw: Float64Array;
  /** Per row, log q(token) under the distribution it was drawn from. */
  processed: Float64Array;
  /** The distribution of `topIds` / `topLogprobs`. */
  mode: 'raw' | 'processed';
  /** Per row, the most probable tokens under `mode`, ties in index order. */
  topIds: number[][];
  /** Their log-probabilities, descending. */
  topLogprobs: Float64Array[];
}

/**
 * The tokens `reference.sample` draws at `step` and their log-probabilities, in float64: the
 * twin of `Sampler.sampleIdsWithLogprobs` (see `SampledLogprobs` for the definitions).
 *
 * @example
 * reference.logprobs([[2, 1, 0]], { topK: 2, seed: 1 }, 0, {}, { topLogprobs: 2, mode: 'processed' });
 */
export function logprobs(
  rows: Rows,
  options: SamplerOptions = {},
  step: number | readonly number[] = 0,
  context: ReferenceContext = {},
  lp: { topLogprobs?: number; mode?: 'raw' | 'processed'; raw?: boolean } = {},
): ReferenceLogprobs {
  const ids = sample(rows, options, step, context);
  const { input, state, invalid } = run(rows, { ...options, invalidRows: 'uniform' }, step, context);
  const V = state.vocab;
  const n = lp.topLogprobs ?? 0;
  const mode = lp.mode ?? 'raw';
  if (!Number.isInteger(n) || n < 0 || n > V) throw new SamplingError('topLogprobs', `must be an integer in [0, ${V}] (the vocabulary size)`, n);
  if (mode !== 'raw' && mode !== 'processed') throw new SamplingError('mode', 'must be "raw" or "processed"', mode);
  const wantRaw = rawOption(lp.raw, mode, 'raw');
  const logSoftmax = (z: Float64Array, inv: number): Float64Array => {
    const zmax = rowMax(z);
    const lse = Math.log(accurateSum(Array.from(z, (v) => Math.exp((v - zmax) * inv))));
    return z.map((v) => (v === -Infinity ? -Infinity : (v - zmax) * inv - lse));
  };
  // The raw distribution only where a number asks for it (the raw column, or the raw top-n).
  const needRaw = wantRaw || (mode === 'raw' && n > 0);
  const rawRows = input.map((z) => {
    if (!needRaw) return undefined;
    const s = scanRow(z);
    return s.nan || s.inf || !s.finite ? undefined : logSoftmax(z, 1);
  });
  const procRows = state.logits.map((z, r) => {
    if (invalid[r]) return undefined;
    const inv = state.invTemperature[r]!;
    if (!Number.isFinite(inv)) {
      const j = argMax(z);
      return z.map((_, i) => (i === j ? 0 : -Infinity));
    }
    return logSoftmax(z, inv);
  });
  // The n largest log-probabilities, ties broken by the logits (`z`) they come from, then by index:
  // log-softmax is monotone in z, but its float64 values merge logits whose differences are below
  // ln Z's rounding (logits of 1e-31 apart: every token tied), which the logits themselves keep.
  // The same at -Infinity, where finite logits beyond float32's range from the maximum land; a
  // greedy row's other tokens (-Infinity by rule, not by value) stay in index order.
  const top = (row: Float64Array | undefined, z: ArrayLike<number>, greedy: boolean): [number[], Float64Array] => {
    if (!row || n === 0) return [new Array<number>(n).fill(-1), new Float64Array(n).fill(NaN)];
    const key = (a: number, b: number): number =>
      row[b]! > row[a]! ? 1 : row[b]! < row[a]! ? -1 : greedy && row[a] === -Infinity ? 0 : z[b]! > z[a]! ? 1 : z[b]! < z[a]! ? -1 : 0;
    const order = Array.from(row.keys()).sort((a, b) => key(a, b) || a - b);
    const pick = order.slice(0, n);
    return [pick, Float64Array.from(pick, (j) => row[j]!)];
  };
  const at = (row: Float64Array | undefined, id: number): number => (row && id >= 0 ? row[id]! : NaN);
  // Beyond float32's range (at or below -FLT_MAX) is -Infinity, as on tensors.
  const floorInf = (row: Float64Array | undefined): Float64Array | undefined => row?.map((v) => (v <= -3.4028234663852886e38 ? -Infinity : v));
  rawRows.forEach((row, r) => (rawRows[r] = floorInf(row)));
  procRows.forEach((row, r) => (procRows[r] = floorInf(row)));
  const tops = (mode === 'raw' ? rawRows : procRows).map((row, r) =>
    top(row, mode === 'raw' ? input[r]! : state.logits[r]!, mode === 'processed' && !Number.isFinite(state.invTemperature[r]!)),
  );
  return {
    ids,
    raw: Float64Array.from(ids, (id, r) => (wantRaw ? at(rawRows[r], id) : NaN)),
    processed: Float64Array.from(ids, (id, r) => at(procRows[r], id)),
    mode,
    topIds: tops.map((t) => t[0]),
    topLogprobs: tops.map((t) => t[1]),
  };
}

/**
 * Each row's Mirostat μ after drawing `ids` at `step` (twin of the processor's `accept`): μ minus
 * η · (−log2 q(id) − τ), q the distribution the token was drawn from (1 for greedy rows); rows
 * without Mirostat and invalid rows keep their μ. Start from
 * `context.mirostatMu` (default 2τ) and pass the result as the next step's `mirostatMu`.
 *
 * @example
 * let mu; for (let step = 0; step < n; step++) {
 *   const ids = reference.sample(rows, opts, step, { mirostatMu: mu });
 *   mu = reference.nextMirostatMu(rows, opts, ids, step, { mirostatMu: mu });
 * }
 */
export function nextMirostatMu(rows: Rows, options: SamplerOptions, ids: readonly number[], step = 0, context: ReferenceContext = {}): number[] {
  const opts = normalizeOptions(options);
  const spec = opts.builtins.find((b) => b.name === 'mirostat');
  const { input, state, invalid } = run(rows, { ...options, invalidRows: 'uniform' }, step, context);
  const B = input.length;
  const ver = spec ? fieldRows('mirostat', spec.mirostat!.version, B) : new Float64Array(B);
  const tau = spec ? fieldRows('mirostat', spec.mirostat!.tau, B) : new Float64Array(B).fill(5);
  const eta = spec ? fieldRows('mirostat', spec.mirostat!.eta, B) : new Float64Array(B);
  return input.map((_, r) => {
    const mu = context.mirostatMu?.[r] ?? 2 * tau[r]!;
    const id = ids[r]!;
    if (ver[r] === 0 || id < 0 || invalid[r]) return mu;
    const inv = state.invTemperature[r]!;
    const z = state.logits[r]!;
    let surprise = 0;
    if (Number.isFinite(inv)) {
      const zmax = rowMax(z);
      const total = accurateSum(Array.from(z, (v) => Math.exp((v - zmax) * inv)));
      surprise = -((z[id]! - zmax) * inv - Math.log(total)) / Math.LN2;
    }
    return mu - eta[r]! * (surprise - tau[r]!);
  });
}

function contextStep(context: ReferenceContext): number | readonly number[] {
  return context.step ?? 0;
}

/** A step for every row, or one per row: integers in [0, 2^32). */
function checkSteps(step: unknown, batch: number, name = 'step'): void {
  const ok = (s: unknown): boolean => typeof s === 'number' && Number.isInteger(s) && s >= 0 && s < 2 ** 32;
  if (typeof step === 'number') {
    if (!ok(step)) throw new SamplingError(name, 'must be an integer in [0, 2^32)', step);
    return;
  }
  if (!Array.isArray(step) || step.length !== batch)
    throw new SamplingError(name, `must be an integer or an array of integers, one per row (batch size ${batch})`, step);
  step.forEach((s, r) => {
    if (!ok(s)) throw new SamplingError(`${name}[${r}]`, 'must be an integer in [0, 2^32)', s);
  });
}

const FLT_MAX = 3.4028234663852886e38;
function clampF32(v: number): number {
  return Math.min(FLT_MAX, Math.max(-FLT_MAX, v));
}

function oneHot(j: number, V: number): Float64Array {
  const out = new Float64Array(V);
  out[j] = 1;
  return out;
}
export { verifyDraft, type ReferenceVerifyInput } from './speculative.js';
