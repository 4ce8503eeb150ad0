// The float64 twin of speculative decoding's verification (src/speculative.ts): which of a
// draft's proposals a row keeps and what it emits, from the same keyed noise.
import { SamplingError } from '../errors.js';
import { acceptUniform, residualUniform, rowKeys } from '../noise.js';
import { normalizeOptions } from '../options.js';
import type { SamplerOptions } from '../types.js';
import { accurateSum } from './math.js';
import { probabilities, sample, type ReferenceContext, type Rows } from './index.js';

/** One verification pass of speculative decoding, on plain arrays (`reference.verifyDraft`). */
export interface ReferenceVerifyInput {
  /** `'exact'` (keyed-noise coupling) or `'rejection'` (Leviathan et al.). */
  mode: 'exact' | 'rejection';
  /** The target's logits at the γ + 1 positions: `target[i][r]` is row r's logits at its step `steps[r] + i`. */
  target: readonly Rows[];
  /** The draft's logits at the γ positions (`'rejection'`: its distributions q). */
  draft?: readonly Rows[];
  /** Each row's γ proposals. */
  proposals: readonly (readonly number[])[];
  /** Each row's step at position 0 (its number of generated tokens). */
  steps: readonly number[];
  /**
   * Each row's tokens before position 0 (prompt and generated) and how many are the prompt's,
   * for history processors; position i's history adds the first i proposals.
   */
  history?: readonly (readonly number[])[];
  /** Per row, how many of `history`'s tokens are the prompt (default 0). */
  promptLength?: readonly number[];
  /** Draw rejected positions from p instead of the residual (the tests' negative control). */
  residualFrom?: 'residual' | 'p';
}

/**
 * The tokens each row emits in one verification pass (1 to γ + 1): in `'exact'` mode the
 * target's own draws up to and including the first that differs from the proposal; in
 * `'rejection'` mode the proposals kept with probability min(1, p/q), then a draw from
 * normalize(max(0, p − q)) at the first rejection (inverse CDF of `residualUniform`), or the
 * target's draw at position γ when all were kept.
 *
 * @example
 * reference.verifyDraft({ mode: 'exact', target: [[[0, 1]], [[1, 0]]], proposals: [[1]], steps: [0] }, { temperature: 1, seed: 3 });
 */
export function verifyDraft(input: ReferenceVerifyInput, options: SamplerOptions): number[][] {
  const { mode, target, proposals, steps } = input;
  const gamma = target.length - 1;
  if (gamma < 0) throw new SamplingError('target', 'must hold the logits of γ + 1 >= 1 positions', target.length);
  const batch = target[0]!.length;
  if (mode === 'rejection' && input.draft?.length !== gamma)
    throw new SamplingError('draft', `must hold the draft's logits at the ${gamma} positions`, input.draft?.length);
  const seed = normalizeOptions(options).seed;
  if (seed === undefined) throw new SamplingError('seed', 'must be given to reference.verifyDraft', undefined);
  const keys = rowKeys(seed, batch);
  const out: number[][] = Array.from({ length: batch }, () => []);
  const alive = new Array<boolean>(batch).fill(true);
  for (let i = 0; i <= gamma; i++) {
    const stepsI = steps.map((s) => s + i);
    const context: ReferenceContext = {
      step: stepsI,
      ...(input.history
        ? { history: input.history.map((h, r) => [...h, ...proposals[r]!.slice(0, i)]), promptLength: input.promptLength ?? input.history.map(() => 0) }
        : {}),
    };
    const t = sample(target[i]!, options, stepsI, context);
    const p = mode === 'rejection' && i < gamma ? probabilities(target[i]!, options, context) : undefined;
    const q = mode === 'rejection' && i < gamma ? probabilities(input.draft![i]!, options, context) : undefined;
    for (let r = 0; r < batch; r++) {
      if (!alive[r]) continue;
      if (i === gamma) {
        out[r]!.push(t[r]!);
        continue;
      }
      const d = proposals[r]![i]!;
      if (mode === 'exact') {
        out[r]!.push(t[r]!);
        alive[r] = t[r] === d;
        continue;
      }
      const pr = p![r]!;
      const qr = q![r]!;
      if (acceptUniform(keys[r]!, stepsI[r]!) * qr[d]! < pr[d]!) {
        out[r]!.push(d);
        continue;
      }
      const w = input.residualFrom === 'p' ? Float64Array.from(pr) : Float64Array.from(pr, (v, j) => Math.max(0, v - qr[j]!));
      out[r]!.push(inverseCdf(w, residualUniform(keys[r]!, stepsI[r]!)));
      alive[r] = false;
    }
  }
  return out;
}

/** The first token at which the cumulative weight reaches u · total. */
function inverseCdf(w: Float64Array, u: number): number {
  const total = accurateSum(w);
  let acc = 0;
  for (let j = 0; j < w.length; j++) {
    acc += w[j]!;
    if (acc >= u * total && w[j]! > 0) return j;
  }
  return w.length - 1;
}
