// Option validation shared by createSampler and the reference. Never imports tfjs.
import { SamplingError } from './errors.js';
import {
  isOff,
  resolveRowParam,
  validateMinP,
  validateSeed,
  validateTopNSigma,
  validateEpsilonCutoff,
  validateEtaCutoff,
  validateTemperature,
  validateTopK,
  validateTopP,
  type RowParam,
} from './params.js';
import type { BuiltinName, DrawMethod, InvalidRowPolicy, LogitsProcessor, SamplerOptions } from './types.js';
import { HISTORY_OPTION_NAMES, validateHistoryOptions, type HistorySpec } from './history-options.js';

export const DEFAULT_ORDER: readonly BuiltinName[] = ['temperature', 'top-n-sigma', 'top-k', 'top-p', 'min-p', 'epsilon-cutoff', 'eta-cutoff'];

const KNOWN = new Set(['temperature', 'topK', 'topP', 'minP', 'topNSigma', 'epsilonCutoff', 'etaCutoff', 'seed', 'order', 'processors', 'draw', 'invalidRows', ...HISTORY_OPTION_NAMES]);

export interface BuiltinSpec {
  name: BuiltinName;
  value: RowParam;
}

export interface NormalizedOptions {
  /** User processors first, then the enabled built-ins in order. */
  processors: readonly LogitsProcessor[];
  builtins: readonly BuiltinSpec[];
  seed: RowParam | undefined;
  /** Every per-row array option, checked against the batch size on each call (even if off). */
  rowArrays: readonly [string, RowParam][];
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

/** Throws if a per-row array option does not have one value per row. */
export function checkRowArrays(opts: NormalizedOptions, batch: number): void {
  for (const [name, value] of opts.rowArrays) resolveRowParam(name, value, batch);
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
  };
  const order: readonly BuiltinName[] = options.order ?? DEFAULT_ORDER;
  if (!Array.isArray(order) || order.some((n) => !DEFAULT_ORDER.includes(n)) || new Set(order).size !== order.length) {
    throw new SamplingError('order', `must list distinct names among ${DEFAULT_ORDER.join(', ')}`, order);
  }
  for (const name of DEFAULT_ORDER) {
    if (!order.includes(name) && !isOff(values[name], OFF[name])) {
      throw new SamplingError('order', `must include "${name}" since that option is set`, order);
    }
  }
  const builtins = (order as readonly BuiltinName[]).filter((n) => !isOff(values[n], OFF[n])).map((name: BuiltinName) => ({ name, value: values[name] }));
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
  const rowArrays: [string, RowParam][] = [];
  const named: [string, RowParam | undefined][] = [
    ['temperature', values.temperature],
    ['topK', values['top-k']],
    ['topP', values['top-p']],
    ['minP', values['min-p']],
    ['topNSigma', values['top-n-sigma']],
    ['epsilonCutoff', values['epsilon-cutoff']],
    ['etaCutoff', values['eta-cutoff']],
    ['seed', seed],
  ];
  const history = validateHistoryOptions(options as Record<string, unknown>);
  named.push(
    ['repetitionPenalty', history.repetitionPenalty],
    ['frequencyPenalty', history.frequencyPenalty],
    ['presencePenalty', history.presencePenalty],
    ['penaltyLastN', history.penaltyLastN],
    ['noRepeatNgramSize', history.noRepeatNgramSize],
    ['minNewTokens', history.minNewTokens],
  );
  for (const [name, v] of named) if (v !== undefined && typeof v !== 'number') rowArrays.push([name, v]);
  return { processors, builtins, seed, rowArrays, draw, invalidRows, history };
}

const OFF: Record<BuiltinName, (v: number) => boolean> = {
  temperature: (v) => v === 1,
  'top-k': (v) => v === 0,
  'top-p': (v) => v === 1,
  'min-p': (v) => v === 0,
  'top-n-sigma': (v) => v === 0,
  'epsilon-cutoff': (v) => v === 0,
  'eta-cutoff': (v) => v === 0,
};
