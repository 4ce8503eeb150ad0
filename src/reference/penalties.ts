import { resolveRowParam } from '../params.js';
import type { HistorySpec } from '../history-options.js';
import { historyOf, promptLengthOf, saturate } from './history-rows.js';
import type { ReferenceState } from './types.js';

const f32 = Math.fround;

/**
 * float64 twin of `penalties`, with the float32 roundings of the tensor code (each product and
 * difference rounded like a float32 op, so processed logits agree exactly): a token seen in the
 * row's window has its logit multiplied by fl(1/θ) if positive, by fl(θ) otherwise; then
 * fl(fl(F·count) + P·[count > 0]) is subtracted; results above FLT_MAX saturate.
 */
export function referencePenalties(spec: HistorySpec) {
  return (state: ReferenceState): ReferenceState => {
    const B = state.logits.length;
    const theta = resolveRowParam('repetitionPenalty', spec.repetitionPenalty ?? 1, B);
    const F = resolveRowParam('frequencyPenalty', spec.frequencyPenalty ?? 0, B);
    const P = resolveRowParam('presencePenalty', spec.presencePenalty ?? 0, B);
    const lastN = resolveRowParam('penaltyLastN', spec.penaltyLastN, B);
    const logits = state.logits.map((row, r) => {
      const all = historyOf(state, r, 'penalties');
      const n = lastN[r]!;
      const from = Number.isFinite(n) ? Math.max(0, all.length - n) : 0;
      const prompt = promptLengthOf(state, r);
      const count = (includePrompt: boolean): Map<number, number> => {
        const m = new Map<number, number>();
        for (let i = Math.max(from, includePrompt ? 0 : prompt); i < all.length; i++) m.set(all[i]!, (m.get(all[i]!) ?? 0) + 1);
        return m;
      };
      const cR = count(spec.penalizePrompt.repetition);
      const cF = count(spec.penalizePrompt.frequency);
      const cP = count(spec.penalizePrompt.presence);
      const inv = f32(1 / theta[r]!);
      const th = f32(theta[r]!);
      const ff = f32(F[r]!);
      const pp = f32(P[r]!);
      return row.map((z, j) => {
        let v = z;
        if ((cR.get(j) ?? 0) > 0) v = f32(v * (v > 0 ? inv : th));
        const amount = f32(f32((cF.get(j) ?? 0) * ff) + ((cP.get(j) ?? 0) > 0 ? pp : 0));
        v = f32(v - amount);
        return saturate(v);
      });
    });
    return { ...state, logits };
  };
}
