// float64 twin of `dry` (llama.cpp's DRY penalty), and the parts of the rule the tensor code
// shares with it: the penalty for a repeat length and the suffix matches of a token window.
// Never imports tfjs.
import { dryRowOf, type DryRow, type DrySpec } from '../history-options.js';
import { historyOf, masked, promptLengthOf } from './history-rows.js';
import type { ReferenceState } from './types.js';

const f32 = Math.fround;

/**
 * llama.cpp's exponent clamp: ⌊88.7228391 / ln(base)⌋, computed in float32 (float division of
 * float32 values, truncated), when base > 1.000001 in float32; 0 (no clamp) otherwise.
 */
export function dryMaxExponent(base: number): number {
  const b = f32(base);
  if (!(b > f32(1.000001))) return 0;
  return Math.trunc(f32(f32(88.7228391) / f32(Math.log(b))));
}

/**
 * The amount a repeat of length n (≥ allowedLength) takes off a logit, as llama.cpp computes it:
 * float(multiplier · pow(base, e)) with e = n − allowedLength clamped to the max exponent —
 * multiplier and base are float32, the power and the product are double, rounded to float32
 * once. +Infinity when it overflows float32 (the token is then banned, as −= +Infinity does).
 */
export function dryPenalty(row: DryRow, n: number): number {
  let e = n - row.allowedLength;
  const max = dryMaxExponent(row.base);
  if (max > 0 && e > max) e = max;
  return f32(f32(row.multiplier) * f32(row.base) ** e);
}

/** A row's penalties for n = 0 … width (0 below allowedLength). */
export function dryPenaltyTable(row: DryRow, width: number): Float64Array {
  const t = new Float64Array(width + 1);
  for (let n = row.allowedLength; n <= width; n++) t[n] = dryPenalty(row, n);
  return t;
}

/**
 * For a window of tokens (oldest first), `out[k]` for k ≥ 1 is how many tokens the window's end
 * shares with the window cut k tokens short (the longest common suffix, within the window);
 * `out[0]` is 0. Negative ids (invalid rows' pushes) match nothing. The Z-function of the
 * reversed window, O(length): it only compares distinct positions, so a negative id acts as a
 * symbol of its own.
 */
export function suffixMatchLengths(tokens: ArrayLike<number>): Int32Array {
  const L = tokens.length;
  const e = L - 1; // back(i) = tokens[e − i], i tokens before the end
  const z = new Int32Array(L);
  let lo = 0;
  let hi = 0; // back(lo … hi − 1) equals back(0 … hi − lo − 1), the furthest-reaching match so far
  for (let k = 1; k < L; k++) {
    let n = k < hi ? Math.min(hi - k, z[k - lo]!) : 0;
    while (k + n < L) {
      const a = tokens[e - n]!;
      if (a < 0 || a !== tokens[e - k - n]) break;
      n++;
    }
    z[k] = n;
    if (k + n > hi) {
      lo = k;
      hi = k + n;
    }
  }
  return z;
}

/**
 * The tokens DRY penalises in a window and their repeat lengths, llama.cpp's steps 1–3 in their
 * plain form: the newest sequence breaker (longest tail at that position) limits the repeat
 * length; for every lag k, n = the window's common suffix with the window cut k tokens short
 * (capped by that limit); when n ≥ allowedLength the token that followed the earlier copy gets
 * n, the longest per token; one-token breakers are exempt. Negative ids match nothing.
 */
export function dryRepeats(window: readonly number[], row: DryRow): Map<number, number> {
  const out = new Map<number, number>();
  const m = window.length;
  const A = row.allowedLength;
  if (m <= A) return out;
  const back = (i: number): number => window[m - 1 - i]!;
  const single = new Set(row.breakers.filter((b) => b.length === 1).map((b) => b[0]!));
  let limit = m;
  for (let i = 0; i < m; i++) {
    let longest = -1;
    for (const b of row.breakers) {
      const tail = b.length - 1;
      if (b[0] !== back(i) || tail <= longest || tail > i) continue;
      let match = true;
      for (let o = 0; o < tail && match; o++) match = b[1 + o] === back(i - 1 - o);
      if (match) longest = tail;
    }
    if (longest >= 0) {
      limit = i - longest;
      break;
    }
  }
  if (limit < A) return out;
  for (let k = 1; k < m; k++) {
    let n = 0;
    while (n + k < m && back(n) >= 0 && back(n) === back(n + k)) n++;
    n = Math.min(n, limit);
    const t = back(k - 1);
    if (n < A || t < 0 || single.has(t)) continue;
    if (n > (out.get(t) ?? -1)) out.set(t, n);
  }
  return out;
}

/**
 * float64 twin of `dry`: each row's window is the last `window` tokens of its history (prompt
 * included when `includePrompt`), and every token of {@link dryRepeats} has its logit lowered
 * by {@link dryPenalty}, as a float32 difference; an overflowed penalty bans the token.
 */
export function referenceDry(dry: DrySpec, includePrompt: boolean) {
  return (state: ReferenceState): ReferenceState => {
    const logits = state.logits.map((row, r) => {
      const p = dryRowOf(dry, r);
      if (!p) return row;
      const all = historyOf(state, r, 'dry');
      const h = includePrompt ? all : all.slice(promptLengthOf(state, r));
      const out = Float64Array.from(row);
      for (const [t, n] of dryRepeats(h.slice(Math.max(0, h.length - p.window)), p)) {
        if (t >= out.length) continue;
        const pen = dryPenalty(p, n);
        out[t] = pen === Infinity ? masked(out[t]!) : f32(out[t]! - pen);
      }
      return out;
    });
    return { ...state, logits };
  };
}
