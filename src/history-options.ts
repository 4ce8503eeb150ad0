// Validation of the history options (penalties, biases, bans, masks), shared by createSampler and
// the reference. Never imports tfjs.
import { Described, SamplingError } from './errors.js';
import { isValueArray, validateRowParam, type RowParam } from './params.js';

/** A logit bias: token id → bias (finite, or -Infinity to ban the token). */
export type LogitBias = Readonly<Record<number, number>> | ReadonlyMap<number, number>;

/** Which history tokens count, per penalty: prompt and generated (`true`) or generated only. */
export interface PenalizePrompt {
  /** `repetitionPenalty` (default true: Hugging Face, llama.cpp, vLLM count the prompt). */
  repetition?: boolean;
  /** `frequencyPenalty` (default false: OpenAI and vLLM count generated tokens only). */
  frequency?: boolean;
  /** `presencePenalty` (default false, as frequency). */
  presence?: boolean;
  /** DRY (default true: llama.cpp matches across the prompt). */
  dry?: boolean;
}

/**
 * llama.cpp's DRY ("Don't Repeat Yourself") penalty, for every row or one per row. A token that
 * would extend a repeat of the history's end by one more token loses
 * `multiplier · base^(n − allowedLength)` from its logit, n the length of the longest such repeat
 * (n ≥ allowedLength). Defaults are llama.cpp's `common_params_sampling`.
 */
export interface DryOptions {
  /** Required: in [0, 1e30]; 0 switches DRY off for the row (llama.cpp `dry_multiplier`, 0 by default; 0.8 is the recommended value). */
  multiplier: number;
  /** In [1, 1e30] (llama.cpp `dry_base`). Default 1.75. */
  base?: number;
  /** Integer in [0, 2^20]: repeats up to this long are free (llama.cpp `dry_allowed_length`). Default 2. */
  allowedLength?: number;
  /**
   * Integer in [-1, 65536]: how many of the last history tokens DRY looks at (llama.cpp `dry_penalty_last_n`);
   * -1 (default) = the whole history, as far back as {@link DRY_WHOLE_HISTORY} tokens; 0 = off.
   */
  penaltyLastN?: number;
  /**
   * Token sequences that end a repeat (llama.cpp `dry_sequence_breakers`): a repeat never reaches
   * back across one, and a one-token breaker is never penalised. llama.cpp's defaults are the
   * strings "\n", ":", "\"", "*" — tokenize them with your tokenizer (see README). Default none.
   */
  sequenceBreakers?: readonly (readonly number[])[];
}

/** One row's validated DRY parameters. */
export interface DryRow {
  multiplier: number;
  base: number;
  allowedLength: number;
  /** The row's window: how many of the last history tokens DRY looks at (-1 resolved). */
  window: number;
  breakers: readonly (readonly number[])[];
}

/** DRY per row: one entry for every row (`perRow` false) or one per row; `undefined` rows are off. */
export interface DrySpec {
  perRow: boolean;
  rows: readonly (DryRow | undefined)[];
}

/**
 * How many tokens `dry.penaltyLastN: -1` looks back (llama.cpp: the context size; 4096 is its default context).
 *
 * @example
 * // penaltyLastN -1: as far back as llama.cpp's default context
 * createSampler({ dry: { multiplier: 0.8, penaltyLastN: -1 } }); // looks back DRY_WHOLE_HISTORY tokens
 */
export const DRY_WHOLE_HISTORY = 4096;
/** The largest finite `dry.penaltyLastN`. */
export const DRY_MAX_LAST_N = 65536;
/** The longest sequence breaker, in tokens. */
export const DRY_MAX_BREAKER = 64;

/** Validated history options; `undefined` fields are off. */
export interface HistorySpec {
  repetitionPenalty?: RowParam | undefined;
  frequencyPenalty?: RowParam | undefined;
  presencePenalty?: RowParam | undefined;
  /** Per-row window (Infinity = whole history). */
  penaltyLastN: RowParam;
  penalizePrompt: Required<PenalizePrompt>;
  noRepeatNgramSize?: RowParam | undefined;
  badWords?: readonly (readonly number[])[];
  /** Bias entries: one list for every row, or one per row (`perRow`). */
  logitBias?: PerRow<readonly [number, number]>;
  minNewTokens?: RowParam | undefined;
  stopTokens: readonly number[];
  allowedTokens?: PerRow<number>;
  /** DRY as given (also when every row is off: the per-row length is still checked). */
  dry?: DrySpec;
}

/** A list for every row (`perRow` false: `rows` has one entry) or one list per row. */
export interface PerRow<T> {
  perRow: boolean;
  rows: readonly (readonly T[])[];
}

/** Row r's list. */
export function rowOf<T>(v: PerRow<T>, r: number): readonly T[] {
  return v.perRow ? v.rows[r]! : v.rows[0]!;
}

/**
 * Defaults of the anchors: repetition counts the prompt (HF, vLLM); frequency and presence do not
 * (OpenAI, vLLM); DRY does (llama.cpp's server accepts the prompt into its samplers).
 */
export const DEFAULT_PENALIZE_PROMPT: Required<PenalizePrompt> = { repetition: true, frequency: false, presence: false, dry: true };

export const HISTORY_OPTION_NAMES = [
  'repetitionPenalty',
  'frequencyPenalty',
  'presencePenalty',
  'penaltyLastN',
  'penalizePrompt',
  'noRepeatNgramSize',
  'badWords',
  'logitBias',
  'minNewTokens',
  'stopTokens',
  'allowedTokens',
  'dry',
] as const;

const isTokenId = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

function tokenList(name: string, v: unknown, nonEmpty: boolean): number[] {
  if (!isValueArray(v)) throw new SamplingError(name, 'must be an array of token ids (integers >= 0)', v);
  const arr = Array.from(v as ArrayLike<unknown>);
  if (nonEmpty && arr.length === 0) throw new SamplingError(name, 'must not be empty', new Described('[]'));
  arr.forEach((t, i) => {
    if (!isTokenId(t)) throw new SamplingError(`${name}[${i}]`, 'must be a token id (an integer >= 0)', t);
  });
  return arr as number[];
}

const off = <T>(v: RowParam, isOff: (x: number) => boolean, out: T): T | undefined =>
  (typeof v === 'number' ? isOff(v) : Array.prototype.every.call(v, isOff as (x: unknown) => boolean)) ? undefined : out;

function biasEntries(name: string, v: unknown): [number, number][] {
  const entries: [unknown, unknown][] =
    v instanceof Map
      ? [...v.entries()]
      : typeof v === 'object' && v !== null && !Array.isArray(v)
        ? // A key is a token id written as one ("1"): "1.0", "01" or " 1" would name token 1 again.
          Object.entries(v).map(([k, b]) => [String(Number(k)) === k ? Number(k) : k, b])
        : [];
  if (!(v instanceof Map) && (typeof v !== 'object' || v === null || Array.isArray(v))) {
    throw new SamplingError(name, 'must be a map { token: bias } (a Map or an object)', v);
  }
  return entries.map(([t, b]) => {
    if (!isTokenId(t)) throw new SamplingError(name, 'must use token ids as keys (integers >= 0; in an object, written as "1", not "1.0" or "01")', t);
    if (typeof b !== 'number' || !(Number.isFinite(b) || b === -Infinity)) {
      throw new SamplingError(`${name}[${t}]`, 'must be a finite number or -Infinity (a ban)', b);
    }
    return [t, b];
  });
}

/** Validates the history options of `options` (only those present). */
export function validateHistoryOptions(options: Record<string, unknown>): HistorySpec {
  const spec: HistorySpec = { penaltyLastN: Infinity, penalizePrompt: { ...DEFAULT_PENALIZE_PROMPT }, stopTokens: [] };
  const o = options;
  if (o.repetitionPenalty !== undefined) {
    const v = validateRowParam('repetitionPenalty', o.repetitionPenalty, {
      check: (t) => t >= 1e-30 && t <= 1e30,
      rule: 'must be a number in [1e-30, 1e30] (1 switches it off; > 1 discourages repeats)',
    });
    spec.repetitionPenalty = off(v, (t) => t === 1, v);
  }
  for (const name of ['frequencyPenalty', 'presencePenalty'] as const) {
    if (o[name] === undefined) continue;
    const v = validateRowParam(name, o[name], {
      check: (t) => Number.isFinite(t) && Math.abs(t) <= 1e30,
      rule: 'must be a finite number in [-1e30, 1e30] (0 switches it off)',
    });
    spec[name] = off(v, (t) => t === 0, v);
  }
  if (o.penaltyLastN !== undefined) {
    spec.penaltyLastN = validateRowParam('penaltyLastN', o.penaltyLastN, {
      check: (n) => n === Infinity || (Number.isInteger(n) && n >= 1 && n <= 2 ** 20),
      rule: 'must be an integer in [1, 2^20] or Infinity (the whole history, the default)',
    });
  }
  if (o.penalizePrompt !== undefined) {
    const p = o.penalizePrompt;
    if (typeof p !== 'object' || p === null || Array.isArray(p))
      throw new SamplingError('penalizePrompt', 'must be an object { repetition?, frequency?, presence?, dry? } of booleans', p);
    for (const [k, v] of Object.entries(p)) {
      if (!(k in DEFAULT_PENALIZE_PROMPT)) throw new SamplingError('penalizePrompt', 'must only name repetition, frequency, presence, dry', k);
      if (typeof v !== 'boolean') throw new SamplingError(`penalizePrompt.${k}`, 'must be a boolean', v);
      spec.penalizePrompt[k as keyof PenalizePrompt] = v;
    }
  }
  if (o.noRepeatNgramSize !== undefined) {
    const v = validateRowParam('noRepeatNgramSize', o.noRepeatNgramSize, {
      check: (n) => Number.isInteger(n) && n >= 0 && n <= 64,
      rule: 'must be an integer in [0, 64] (0 switches it off)',
    });
    spec.noRepeatNgramSize = off(v, (n) => n === 0, v);
  }
  if (o.badWords !== undefined) {
    if (!Array.isArray(o.badWords)) throw new SamplingError('badWords', 'must be an array of token sequences (arrays of token ids)', o.badWords);
    // Array.from, not map, here and below: a hole in a sparse array is an undefined entry (checked), not a skipped one.
    const seqs = Array.from(o.badWords as unknown[], (s, i) => tokenList(`badWords[${i}]`, s, true));
    if (seqs.length > 0) spec.badWords = seqs;
  }
  if (o.logitBias !== undefined) {
    const b = o.logitBias;
    if (Array.isArray(b) && b.length === 0) throw new SamplingError('logitBias', 'must be a map, or a non-empty array with one map per row', b);
    spec.logitBias = Array.isArray(b)
      ? { perRow: true, rows: Array.from(b as unknown[], (m, r) => biasEntries(`logitBias[${r}]`, m)) }
      : { perRow: false, rows: [biasEntries('logitBias', b)] };
  }
  if (o.minNewTokens !== undefined) {
    const v = validateRowParam('minNewTokens', o.minNewTokens, {
      check: (n) => Number.isInteger(n) && n >= 0,
      rule: 'must be an integer >= 0 (0 switches it off)',
    });
    spec.minNewTokens = off(v, (n) => n === 0, v);
  }
  if (o.stopTokens !== undefined) spec.stopTokens = tokenList('stopTokens', o.stopTokens, false);
  if (spec.minNewTokens !== undefined && spec.stopTokens.length === 0) {
    throw new SamplingError('stopTokens', 'must list the tokens minNewTokens suppresses (EOS and stop tokens)', new Described('none'));
  }
  if (o.allowedTokens !== undefined) {
    const a = o.allowedTokens;
    if (!Array.isArray(a) || a.length === 0) throw new SamplingError('allowedTokens', 'must be a non-empty array of token ids, or one array per row', a);
    // Per row as soon as one entry is a list: then a stray number or a hole is named as that row's entry.
    spec.allowedTokens = Array.from(a as unknown[]).some((x) => Array.isArray(x) || ArrayBuffer.isView(x))
      ? { perRow: true, rows: Array.from(a as unknown[], (x, r) => tokenList(`allowedTokens[${r}]`, x, true)) }
      : { perRow: false, rows: [tokenList('allowedTokens', a, true)] };
  }
  if (o.dry !== undefined) {
    const d = o.dry;
    if (Array.isArray(d) && d.length === 0) throw new SamplingError('dry', 'must be an object, or a non-empty array with one object (or undefined) per row', d);
    const rows = Array.isArray(d) ? Array.from(d as unknown[], (x, r) => (x === undefined ? undefined : dryRow(`dry[${r}]`, x))) : [dryRow('dry', d)];
    spec.dry = { perRow: Array.isArray(d), rows };
  }
  return spec;
}

const DRY_KEYS = ['multiplier', 'base', 'allowedLength', 'penaltyLastN', 'sequenceBreakers'];

/** One row's DRY options, validated; undefined when off (multiplier 0 or penaltyLastN 0, as in llama.cpp). */
function dryRow(name: string, v: unknown): DryRow | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new SamplingError(name, `must be an object { ${DRY_KEYS.map((k, i) => (i === 0 ? k : `${k}?`)).join(', ')} }`, v);
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!DRY_KEYS.includes(k)) throw new SamplingError(name, `must only name ${DRY_KEYS.join(', ')}`, k);
  }
  const num = (key: string, fallback: number | undefined, check: (x: number) => boolean, rule: string, hint?: string): number => {
    const x = o[key] ?? fallback;
    if (typeof x !== 'number' || !check(x)) throw new SamplingError(`${name}.${key}`, rule, x, hint);
    return x;
  };
  const multiplier = num(
    'multiplier',
    undefined,
    (x) => Number.isFinite(x) && x >= 0 && x <= 1e30,
    'must be a finite number in [0, 1e30] (0 switches DRY off; llama.cpp recommends 0.8)',
  );
  const base = num(
    'base',
    1.75,
    (x) => x >= 1 && x <= 1e30,
    'must be a number in [1, 1e30] (default 1.75)',
    'llama.cpp switches DRY off for a base below 1; use multiplier 0 for that',
  );
  const allowedLength = num('allowedLength', 2, (x) => Number.isInteger(x) && x >= 0 && x <= 2 ** 20, 'must be an integer in [0, 2^20] (default 2)');
  const lastN = num(
    'penaltyLastN',
    -1,
    (x) => Number.isInteger(x) && x >= -1 && x <= DRY_MAX_LAST_N,
    `must be an integer in [-1, ${DRY_MAX_LAST_N}] (-1, the default: the whole history up to ${DRY_WHOLE_HISTORY} tokens; 0 switches DRY off)`,
  );
  let breakers: number[][] = [];
  if (o.sequenceBreakers !== undefined) {
    const b = o.sequenceBreakers;
    if (!Array.isArray(b)) throw new SamplingError(`${name}.sequenceBreakers`, 'must be an array of token sequences (arrays of token ids)', b);
    breakers = b.map((x, i) => {
      const seq = tokenList(`${name}.sequenceBreakers[${i}]`, x, true);
      if (seq.length > DRY_MAX_BREAKER)
        throw new SamplingError(`${name}.sequenceBreakers[${i}]`, `must have at most ${DRY_MAX_BREAKER} tokens`, new Described(`${seq.length} tokens`));
      return seq;
    });
  }
  if (multiplier === 0 || lastN === 0) return undefined;
  return { multiplier, base, allowedLength, window: lastN === -1 ? DRY_WHOLE_HISTORY : lastN, breakers };
}

/** Row r's DRY parameters (undefined: off). */
export function dryRowOf(dry: DrySpec, r: number): DryRow | undefined {
  return dry.perRow ? dry.rows[r] : dry.rows[0];
}

/** True when DRY is on for some row. */
export function dryOn(dry: DrySpec): boolean {
  return dry.rows.some((x) => x !== undefined);
}

/** The width of the device window DRY needs: the longest window of its rows. */
export function dryWindowWidth(dry: DrySpec): number {
  return Math.max(1, ...dry.rows.map((x) => x?.window ?? 0));
}

/** Throws when a token id of the history options is outside the vocabulary. */
export function checkHistoryVocab(spec: HistorySpec, vocab: number, batch: number): void {
  const check = (name: string, t: number): void => {
    if (t >= vocab) throw new SamplingError(name, `must be a token id < vocab size ${vocab}`, t);
  };
  spec.badWords?.forEach((s, i) => s.forEach((t, j) => check(`badWords[${i}][${j}]`, t)));
  spec.stopTokens.forEach((t, i) => check(`stopTokens[${i}]`, t));
  if (spec.dry) {
    if (spec.dry.perRow && spec.dry.rows.length !== batch) {
      throw new SamplingError('dry', `must have one entry per row (batch size ${batch})`, new Described(`an array of length ${spec.dry.rows.length}`));
    }
    spec.dry.rows.forEach((row, r) =>
      row?.breakers.forEach((seq, i) => seq.forEach((t, j) => check(`${spec.dry!.perRow ? `dry[${r}]` : 'dry'}.sequenceBreakers[${i}][${j}]`, t))),
    );
  }
  for (const [name, v] of [
    ['logitBias', spec.logitBias],
    ['allowedTokens', spec.allowedTokens],
  ] as const) {
    if (!v) continue;
    if (v.perRow && v.rows.length !== batch) {
      throw new SamplingError(name, `must have one entry per row (batch size ${batch})`, new Described(`an array of length ${v.rows.length}`));
    }
    v.rows.forEach((row, r) =>
      row.forEach((e, j) => {
        const t = typeof e === 'number' ? e : e[0];
        check(v.perRow ? `${name}[${r}]` : name, t);
        void j;
      }),
    );
  }
}

/** One history processor of a spec, in chain order (shared by the sampler and the reference). */
export type HistoryStage =
  | { kind: 'penalties' }
  | { kind: 'dry'; dry: DrySpec }
  | { kind: 'no-repeat-ngram'; size: RowParam }
  | { kind: 'bad-words'; sequences: readonly (readonly number[])[] }
  | { kind: 'min-new-tokens'; n: RowParam; stopTokens: readonly number[] }
  | { kind: 'logit-bias'; bias: PerRow<readonly [number, number]> }
  | { kind: 'allowed-tokens'; allowed: PerRow<number> };

/**
 * Penalties (DRY right after the others, as in llama.cpp's default sampler order), then bans,
 * then bias, then the allowed set: every anchor's order (before temperature and truncation).
 */
export function historyStages(spec: HistorySpec): HistoryStage[] {
  const out: HistoryStage[] = [];
  if (spec.repetitionPenalty !== undefined || spec.frequencyPenalty !== undefined || spec.presencePenalty !== undefined) out.push({ kind: 'penalties' });
  if (spec.dry && dryOn(spec.dry)) out.push({ kind: 'dry', dry: spec.dry });
  if (spec.noRepeatNgramSize !== undefined) out.push({ kind: 'no-repeat-ngram', size: spec.noRepeatNgramSize });
  if (spec.badWords) out.push({ kind: 'bad-words', sequences: spec.badWords });
  if (spec.minNewTokens !== undefined) out.push({ kind: 'min-new-tokens', n: spec.minNewTokens, stopTokens: spec.stopTokens });
  if (spec.logitBias) out.push({ kind: 'logit-bias', bias: spec.logitBias });
  if (spec.allowedTokens) out.push({ kind: 'allowed-tokens', allowed: spec.allowedTokens });
  return out;
}
