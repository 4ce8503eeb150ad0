// Option validation shared by createSampler and the reference. Never imports tfjs.
import { SamplingError } from './errors.js';
import {
  isOff,
  validateMinP,
  validateSeed,
  validateTopNSigma,
  validateEpsilonCutoff,
  validateEtaCutoff,
  validateTemperature,
  validateTopK,
  validateTopP,
  validateTypicalP,
  validateMinTokensToKeep,
  type RowParam,
} from './params.js';
import type { BuiltinName, DrawMethod, InvalidRowPolicy, LogitsProcessor, NamedOrder, SamplerOptions } from './types.js';
import { validateDynamicTemperature, validateMirostat, validateXtc, type DynamicTemperatureRows, type MirostatRows, type XtcRows } from './chain-options.js';
import { HISTORY_OPTION_NAMES, validateHistoryOptions, type HistorySpec } from './history-options.js';
import { fieldsOf, historyRows, rowsOf, type PlanSources, type Rows } from './plan.js';

/**
 * The default order of the built-in samplers: Hugging Face's (temperature first, then top-k,
 * top-p, min-p, typical, ε, η) with llama.cpp's top-nσ before the truncations (its authors found
 * it works on the raw logits), XTC after them (as in llama.cpp) and Mirostat last (it replaces
 * the draw's distribution and learns from the drawn token, so nothing may follow it).
 *
 * @example
 * createSampler({ topK: 40, temperature: 0.8 }).name; // 'temperature → top-k → gumbel'
 * createSampler({ topK: 40, order: [...DEFAULT_ORDER].reverse() }); // any order of the built-ins
 */
export const DEFAULT_ORDER: readonly BuiltinName[] = [
  'temperature',
  'top-n-sigma',
  'top-k',
  'top-p',
  'min-p',
  'typical-p',
  'epsilon-cutoff',
  'eta-cutoff',
  'xtc',
  'mirostat',
];

/**
 * The anchors' default chains, from their sources:
 * - `'llama.cpp'`: common/common.h `samplers` (penalties and DRY run first here anyway): top-nσ,
 *   top-k, typical, top-p, min-p, XTC, then temperature — the filters see T = 1 probabilities —
 *   and Mirostat after the temperature, as common/sampling.cpp chains it (llama.cpp then drops
 *   the other filters; switch them off to match).
 * - `'hf'`: transformers `_get_logits_processor` warpers: temperature, top-k, top-p, min-p,
 *   typical, ε, η.
 * - `'vllm'`: vLLM v1 `Sampler.sample`: temperature, min-p, then top-k and top-p.
 * An option a named order does not have is an error (the anchor has no such sampler).
 *
 * @example
 * NAMED_ORDERS.vllm; // ['temperature', 'min-p', 'top-k', 'top-p']
 * createSampler({ temperature: 0.8, topK: 40, topP: 0.95, order: 'llama.cpp' });
 */
export const NAMED_ORDERS: Readonly<Record<NamedOrder, readonly BuiltinName[]>> = {
  'llama.cpp': ['top-n-sigma', 'top-k', 'typical-p', 'top-p', 'min-p', 'xtc', 'temperature', 'mirostat'],
  hf: ['temperature', 'top-k', 'top-p', 'min-p', 'typical-p', 'epsilon-cutoff', 'eta-cutoff'],
  vllm: ['temperature', 'min-p', 'top-k', 'top-p'],
};

const KNOWN = new Set([
  'temperature',
  'topK',
  'topP',
  'minP',
  'topNSigma',
  'typicalP',
  'epsilonCutoff',
  'etaCutoff',
  'minTokensToKeep',
  'xtc',
  'dynamicTemperature',
  'mirostat',
  'seed',
  'order',
  'processors',
  'draw',
  'invalidRows',
  ...HISTORY_OPTION_NAMES,
]);

/** The option name of each built-in (for messages). */
const OPTION_NAME: Record<BuiltinName, string> = {
  temperature: 'temperature',
  'top-n-sigma': 'topNSigma',
  'top-k': 'topK',
  'top-p': 'topP',
  'min-p': 'minP',
  'typical-p': 'typicalP',
  'epsilon-cutoff': 'epsilonCutoff',
  'eta-cutoff': 'etaCutoff',
  xtc: 'xtc',
  mirostat: 'mirostat',
};

/** The built-ins `minTokensToKeep` applies to. */
export const MIN_KEEP_BUILTINS: readonly BuiltinName[] = ['top-k', 'top-p', 'min-p', 'typical-p', 'epsilon-cutoff', 'eta-cutoff', 'xtc'];

export interface BuiltinSpec {
  name: BuiltinName;
  /** The option's value: T, k, p, … ; XTC's probability; Mirostat's version (0 = off). */
  value: RowParam;
  /** `minTokensToKeep`, for the built-ins it applies to. */
  minKeep?: RowParam;
  /** temperature: dynamic temperature's rows, when set. */
  dynamic?: DynamicTemperatureRows;
  /** xtc: all its fields. */
  xtc?: XtcRows;
  /** mirostat: all its fields. */
  mirostat?: MirostatRows;
}

export interface NormalizedOptions {
  /** User processors first, then the enabled built-ins in order. */
  processors: readonly LogitsProcessor[];
  builtins: readonly BuiltinSpec[];
  seed: RowParam | undefined;
  /** The per-row options as memoized rows: one plan per batch size (plan.ts `planRows`). */
  sources: PlanSources;
  draw: DrawMethod;
  invalidRows: InvalidRowPolicy;
  /** Penalties, biases, bans and masks: built-in history processors, run before everything else. */
  history: HistorySpec;
}

/** The shape every processor must have: an object with a string `name` and an `apply` function. */
export function isLogitsProcessor(p: unknown): p is LogitsProcessor {
  const q = p as LogitsProcessor;
  return typeof q === 'object' && q !== null && typeof q.apply === 'function' && typeof q.name === 'string';
}

/** Validates sampler options; `argument` names them in errors (`'sampler'` for generate's). */
export function normalizeOptions(options: SamplerOptions = {}, argument = 'options'): NormalizedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new SamplingError(argument, 'must be an object', options);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new SamplingError(argument, `must only use known option names (${[...KNOWN].join(', ')})`, key);
    }
  }
  const values: Record<BuiltinName, RowParam> = {
    temperature: options.temperature === undefined ? 1 : validateTemperature(options.temperature),
    'top-k': options.topK === undefined ? 0 : validateTopK(options.topK),
    'top-p': options.topP === undefined ? 1 : validateTopP(options.topP),
    'min-p': options.minP === undefined ? 0 : validateMinP(options.minP),
    'top-n-sigma': options.topNSigma === undefined ? 0 : validateTopNSigma(options.topNSigma),
    'epsilon-cutoff': options.epsilonCutoff === undefined ? 0 : validateEpsilonCutoff(options.epsilonCutoff),
    'eta-cutoff': options.etaCutoff === undefined ? 0 : validateEtaCutoff(options.etaCutoff),
    'typical-p': options.typicalP === undefined ? 1 : validateTypicalP(options.typicalP),
    xtc: 0,
    mirostat: 0,
  };
  const xtc = options.xtc === undefined ? undefined : validateXtc(options.xtc);
  const mirostat = options.mirostat === undefined ? undefined : validateMirostat(options.mirostat);
  const dynamic = options.dynamicTemperature === undefined ? undefined : validateDynamicTemperature(options.dynamicTemperature);
  const minKeep = options.minTokensToKeep === undefined ? 1 : validateMinTokensToKeep(options.minTokensToKeep);
  if (xtc) values.xtc = xtc.probability;
  if (mirostat) values.mirostat = mirostat.version;
  const dynamicOn = dynamic !== undefined && !isOff(dynamic.range, (v) => v === 0);
  const isOn = (name: BuiltinName): boolean => !isOff(values[name], OFF[name]) || (name === 'temperature' && dynamicOn);
  // Own names only: 'toString' or 'constructor' are not named orders.
  const namedOrder =
    typeof options.order === 'string' && Object.hasOwn(NAMED_ORDERS, options.order)
      ? (NAMED_ORDERS as Record<string, readonly BuiltinName[]>)[options.order]
      : undefined;
  if (typeof options.order === 'string' && !namedOrder) {
    throw new SamplingError(
      'order',
      `must be an array of names or one of ${Object.keys(NAMED_ORDERS)
        .map((n) => `"${n}"`)
        .join(', ')}`,
      options.order,
    );
  }
  const order: readonly BuiltinName[] = namedOrder ?? (options.order as readonly BuiltinName[] | undefined) ?? DEFAULT_ORDER;
  // Array.from: a hole in a sparse array is an undefined entry (not a name), which `some` would skip.
  if (!Array.isArray(order) || Array.from(order).some((n) => !DEFAULT_ORDER.includes(n)) || new Set(order).size !== order.length) {
    throw new SamplingError('order', `must list distinct names among ${DEFAULT_ORDER.join(', ')}`, order);
  }
  for (const name of DEFAULT_ORDER) {
    if (!order.includes(name) && isOn(name)) {
      const why = namedOrder
        ? `the "${options.order as string}" order has no ${name} (set ${OPTION_NAME[name]} off, or give the order as an array)`
        : `must include "${name}" since that option is set`;
      throw new SamplingError('order', why, namedOrder ? OPTION_NAME[name] : order);
    }
  }
  // Samplers that ride on another's name: dynamic temperature is llama.cpp's temp-ext alone
  // (Hugging Face's and vLLM's temperature only divides), and vLLM's filters keep no minimum.
  if (namedOrder && options.order !== 'llama.cpp' && dynamicOn) {
    throw new SamplingError(
      'order',
      `the "${options.order as string}" order has no dynamic temperature (set dynamicTemperature off, or give the order as an array)`,
      'dynamicTemperature',
    );
  }
  if (options.order === 'vllm' && !isOff(minKeep, (v) => v === 1)) {
    throw new SamplingError('order', 'the "vllm" order has no minTokensToKeep (set it to 1, or give the order as an array)', 'minTokensToKeep');
  }
  const enabled = order.filter(isOn);
  if (enabled.includes('mirostat') && enabled[enabled.length - 1] !== 'mirostat') {
    throw new SamplingError('order', 'must put "mirostat" after every other enabled sampler (it learns from the distribution the token is drawn from)', order);
  }
  const builtins = enabled.map((name: BuiltinName): BuiltinSpec => {
    const spec: BuiltinSpec = { name, value: values[name] };
    if (MIN_KEEP_BUILTINS.includes(name) && !isOff(minKeep, (v) => v === 1)) spec.minKeep = minKeep;
    if (name === 'temperature' && dynamicOn) spec.dynamic = dynamic;
    if (name === 'xtc' && xtc) spec.xtc = xtc;
    if (name === 'mirostat' && mirostat) spec.mirostat = mirostat;
    return spec;
  });
  const given = options.processors ?? [];
  if (!Array.isArray(given)) throw new SamplingError('processors', 'must be an array of LogitsProcessor', given);
  // A copy: pushing to the caller's array later must not change the chain.
  const processors = [...given];
  processors.forEach((p, i) => {
    if (!isLogitsProcessor(p)) throw new SamplingError(`processors[${i}]`, 'must be a LogitsProcessor ({ name, apply(state) })', p);
    for (const hook of ['reference', 'accept', 'reset', 'clone'] as const) {
      if (p[hook] !== undefined && typeof p[hook] !== 'function') throw new SamplingError(`processors[${i}].${hook}`, 'must be a function when given', p[hook]);
    }
  });
  const draw = options.draw ?? 'gumbel';
  if (draw !== 'gumbel' && draw !== 'multinomial') {
    throw new SamplingError('draw', 'must be "gumbel" or "multinomial"', draw);
  }
  const invalidRows = options.invalidRows ?? 'error';
  if (invalidRows !== 'error' && invalidRows !== 'uniform' && invalidRows !== 'greedy') {
    throw new SamplingError('invalidRows', 'must be "error", "uniform" or "greedy"', invalidRows);
  }
  const seed = options.seed === undefined ? undefined : validateSeed(options.seed);
  if (draw === 'multinomial' && seed !== undefined && typeof seed !== 'number') {
    throw new SamplingError('seed', 'must be one number with draw "multinomial" (tf.multinomial takes one seed per call)', seed);
  }
  const value = {} as Record<BuiltinName, Rows>;
  for (const name of DEFAULT_ORDER) value[name] = rowsOf(OPTION_NAME[name], values[name]);
  const sources: PlanSources = {
    value,
    minKeep: rowsOf('minTokensToKeep', minKeep),
    ...(dynamic ? { dynamic: fieldsOf('dynamicTemperature', dynamic) } : {}),
    ...(xtc ? { xtc: fieldsOf('xtc', xtc) } : {}),
    ...(mirostat ? { mirostat: fieldsOf('mirostat', mirostat) } : {}),
    arrays: [],
  };
  const history = validateHistoryOptions(options as Record<string, unknown>);
  const arrays: Rows[] = [...Object.values<Rows>(value), sources.minKeep];
  for (const f of [sources.dynamic, sources.xtc, sources.mirostat]) if (f) arrays.push(...Object.values<Rows>(f));
  if (seed !== undefined && typeof seed !== 'number') arrays.push(rowsOf('seed', seed));
  const h = historyRows(history);
  arrays.push(h.repetitionPenalty, h.frequencyPenalty, h.presencePenalty, h.penaltyLastN, h.noRepeatNgramSize, h.minNewTokens);
  sources.arrays = arrays;
  return { processors, builtins, seed, sources, draw, invalidRows, history };
}

const OFF: Record<BuiltinName, (v: number) => boolean> = {
  temperature: (v) => v === 1,
  'top-k': (v) => v === 0,
  'top-p': (v) => v === 1,
  'min-p': (v) => v === 0,
  'top-n-sigma': (v) => v === 0,
  'epsilon-cutoff': (v) => v === 0,
  'eta-cutoff': (v) => v === 0,
  'typical-p': (v) => v === 1,
  xtc: (v) => v === 0,
  mirostat: (v) => v === 0,
};
