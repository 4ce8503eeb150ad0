// Random mixes of every sampler option family (the chain, the history options, invalid-row
// policies), for properties that compare a mix with the reference (test/families.test.ts) or
// two ways of running it (speculative 'exact' against plain decoding).
import fc from 'fast-check';
import type { SamplerOptions } from '../../src/index.js';

const NAMES = ['temperature', 'top-n-sigma', 'top-k', 'top-p', 'min-p', 'typical-p', 'epsilon-cutoff', 'eta-cutoff', 'xtc', 'mirostat'] as const;

/** Each family is left out (undefined) in most cases: `weight` to 1 against being on. */
const maybe = <T>(a: fc.Arbitrary<T>, weight: number) => fc.oneof({ arbitrary: fc.constant(undefined), weight }, { arbitrary: a, weight: 1 });

/** Options for B rows over a vocabulary of V tokens; families off are undefined (see `definedOptions`). */
export function optionMixArb(B: number, V: number) {
  const perRow = <T>(a: fc.Arbitrary<T>) => fc.oneof({ arbitrary: a, weight: 3 }, { arbitrary: fc.array(a, { minLength: B, maxLength: B }), weight: 1 });
  const tok = fc.integer({ min: 0, max: V - 1 });
  return fc.record({
    seed: fc.integer({ min: 0, max: 1e6 }),
    temperature: maybe(perRow(fc.constantFrom(0, 0.5, 0.8, 1, 1.7)), 1),
    topK: maybe(perRow(fc.integer({ min: 0, max: V + 2 })), 2),
    topP: maybe(perRow(fc.constantFrom(1, 0.3, 0.5, 0.9, 0.95)), 2),
    minP: maybe(perRow(fc.constantFrom(0, 0.02, 0.1, 0.3)), 2),
    typicalP: maybe(perRow(fc.constantFrom(1, 0.2, 0.5, 0.9)), 2),
    epsilonCutoff: maybe(perRow(fc.constantFrom(0, 1e-3, 0.02)), 2),
    etaCutoff: maybe(perRow(fc.constantFrom(0, 1e-3, 0.05)), 2),
    topNSigma: maybe(perRow(fc.constantFrom(0, 0.5, 1, 2.5)), 2),
    xtc: maybe(fc.record({ threshold: fc.constantFrom(0.01, 0.1, 0.3), probability: fc.constantFrom(0, 0.5, 1) }), 3),
    dynamicTemperature: maybe(fc.record({ range: fc.constantFrom(0.2, 0.5, 1), exponent: fc.constantFrom(0.5, 1, 2) }), 3),
    mirostat: maybe(fc.record({ version: fc.constantFrom(1 as const, 2 as const), tau: fc.constantFrom(1, 3, 5), eta: fc.constantFrom(0.1, 0.5) }), 5),
    minTokensToKeep: maybe(perRow(fc.integer({ min: 1, max: 5 })), 3),
    order: maybe(fc.oneof(fc.constantFrom('llama.cpp' as const, 'hf' as const, 'vllm' as const), fc.shuffledSubarray([...NAMES], { minLength: 1 })), 3),
    repetitionPenalty: maybe(perRow(fc.constantFrom(1, 1.3, 0.8, 2)), 2),
    frequencyPenalty: maybe(perRow(fc.constantFrom(0, 0.5, -0.25)), 2),
    presencePenalty: maybe(perRow(fc.constantFrom(0, 0.375, -1)), 2),
    penaltyLastN: maybe(perRow(fc.constantFrom(1, 3, 8, Infinity)), 2),
    penalizePrompt: maybe(fc.record({ repetition: fc.boolean(), frequency: fc.boolean(), presence: fc.boolean(), dry: fc.boolean() }), 2),
    noRepeatNgramSize: maybe(perRow(fc.constantFrom(0, 1, 2, 3)), 2),
    dry: maybe(
      fc.record({
        multiplier: fc.constantFrom(0.5, 1),
        base: fc.constantFrom(1.5, 1.75),
        allowedLength: fc.constantFrom(1, 2),
        penaltyLastN: fc.constantFrom(-1, 4, 16),
        sequenceBreakers: fc.array(fc.array(tok, { minLength: 1, maxLength: 2 }), { maxLength: 2 }),
      }),
      3,
    ),
    logitBias: maybe(fc.dictionary(tok.map(String), fc.constantFrom(-Infinity, -2, 0.5, 3), { maxKeys: 5 }), 2),
    badWords: maybe(fc.array(fc.array(tok, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }), 3),
    minNewTokens: maybe(perRow(fc.integer({ min: 0, max: 3 })), 3),
    invalidRows: maybe(fc.constantFrom('uniform' as const, 'greedy' as const), 4),
    allowedTokens: maybe(
      fc.oneof(fc.array(tok, { minLength: 1, maxLength: 8 }), fc.array(fc.array(tok, { minLength: 1, maxLength: 8 }), { minLength: B, maxLength: B })),
      4,
    ),
  });
}

export type OptionMix = ReturnType<typeof optionMixArb> extends fc.Arbitrary<infer O> ? O : never;

/** The families a mix turns on, with `stopTokens` for `minNewTokens`. */
export function definedOptions(mix: Partial<OptionMix>, stopTokens: readonly number[]): SamplerOptions {
  const o: Record<string, unknown> = Object.fromEntries(Object.entries(mix).filter(([, v]) => v !== undefined));
  if (o.minNewTokens !== undefined) o.stopTokens = stopTokens;
  return o as SamplerOptions;
}

/**
 * The mix at a power-of-two scale 2^e of the logits: every option in logit units is scaled with
 * them (temperature, dynamic temperature's range, the frequency / presence penalties, logit
 * biases, DRY's multiplier), so the distribution is the same one in exact arithmetic while the
 * float32 magnitudes go to the ends of the range (webgl's ±1e20 reduction starts, fixed floors
 * like 1e-30, 1/T's clamp at 2^±100). Exact: a power of two changes no float32 rounding until
 * values leave the normal range. e = 0 returns the options as they are.
 */
export function scaledOptions(o: SamplerOptions, e: number): SamplerOptions {
  if (e === 0) return o;
  const f = 2 ** e;
  const times = <T extends number | readonly number[] | undefined>(v: T): T =>
    (v === undefined ? v : typeof v === 'number' ? v * f : (v as readonly number[]).map((x) => x * f)) as T;
  const out: SamplerOptions = { ...o };
  // The default T = 1 scales too (at T 1 a row at 2^-100 would be uniform to 1e-30: rounding decides).
  out.temperature = o.temperature === undefined ? f : times(o.temperature as number | number[]);
  if (o.frequencyPenalty !== undefined) out.frequencyPenalty = times(o.frequencyPenalty as number | number[]);
  if (o.presencePenalty !== undefined) out.presencePenalty = times(o.presencePenalty as number | number[]);
  const dyn = o.dynamicTemperature as { range: number; exponent: number } | undefined;
  if (dyn && !Array.isArray(dyn)) out.dynamicTemperature = { ...dyn, range: dyn.range * f };
  const dry = o.dry as { multiplier: number } | undefined;
  if (dry && !Array.isArray(dry)) out.dry = { ...dry, multiplier: dry.multiplier * f } as NonNullable<SamplerOptions['dry']>;
  const bias = o.logitBias as Record<string, number> | undefined;
  if (bias && !Array.isArray(bias)) out.logitBias = Object.fromEntries(Object.entries(bias).map(([k, v]) => [k, v * f]));
  return out;
}

/**
 * The hunt knobs of the random-mix properties: TFJS_SAMPLING_FAMILIES_SCALE multiplies the runs,
 * TFJS_SAMPLING_FAMILIES_SEED replaces `seed` (with a VITE_ prefix in the browser projects).
 */
export function familiesEnv(seed: number): { scale: number; seed: number } {
  const env = (name: string): string | undefined =>
    (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env[name] ??
    (import.meta as unknown as { env?: Record<string, string | undefined> }).env?.[`VITE_${name}`];
  return { scale: Number(env('TFJS_SAMPLING_FAMILIES_SCALE') ?? 1), seed: Number(env('TFJS_SAMPLING_FAMILIES_SEED') ?? seed) };
}
