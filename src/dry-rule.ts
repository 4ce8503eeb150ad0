// DRY's per-row rule in linear time, for the CPU paths (the typed-array kernel over the device
// window, the fused kernels' sparse edits over the host history): the repeat limit from the
// newest sequence breaker, then the longest repeat per token from the suffix-match length of each
// lag. The float64 reference (src/reference/dry.ts) spells the same rule out plainly. No tfjs.
import type { DryRow } from './history-options.js';
import { dryPenaltyTable } from './reference/dry.js';

/** A row's DRY parameters in the form the CPU paths use. */
export interface DryRule {
  allowedLength: number;
  /** Penalty per repeat length 0 … window (float32 values; +Infinity bans the token). */
  table: Float64Array;
  /** One-token breakers (exempt from the penalty). */
  single: ReadonlySet<number>;
  /** Longer breakers: head → tails. */
  multi: ReadonlyMap<number, readonly (readonly number[])[]>;
  /** Per token id up to the largest head: 1 for a one-token breaker, 2 for a longer one's head (bits). */
  heads: Uint8Array;
}

const rules = new WeakMap<DryRow, DryRule>();

/** The rule of a validated row (built once per row object). */
export function dryRule(p: DryRow): DryRule {
  let rule = rules.get(p);
  if (!rule) {
    const multi = new Map<number, number[][]>();
    for (const b of p.breakers) if (b.length > 1) multi.set(b[0]!, [...(multi.get(b[0]!) ?? []), b.slice(1)]);
    const single = new Set(p.breakers.filter((b) => b.length === 1).map((b) => b[0]!));
    const heads = new Uint8Array(Math.max(0, ...p.breakers.map((b) => b[0]! + 1)));
    for (const b of p.breakers) heads[b[0]!]! |= b.length === 1 ? 1 : 2;
    rule = { allowedLength: p.allowedLength, table: dryPenaltyTable(p, p.window), single, multi, heads };
    rules.set(p, rule);
  }
  return rule;
}

/**
 * Fills `out` (cleared first) with token → longest repeat n for the tokens DRY penalises in a
 * window of m tokens: the token i places before the newest is `tokens[newest − i]`; the window's
 * common suffix with the window cut k tokens short is `matches[at + step · k]` (at least
 * min(true length, m − k); it is capped here). Tokens outside [0, vocab) are never penalised.
 * O(m + breaker tails).
 */
export function dryRepeatsInto(
  out: Map<number, number>,
  m: number,
  tokens: ArrayLike<number>,
  newest: number,
  matches: ArrayLike<number>,
  at: number,
  step: 1 | -1,
  rule: DryRule,
  vocab: number,
): Map<number, number> {
  out.clear();
  const A = rule.allowedLength;
  if (m <= A) return out;
  // The newest breaker head (its longest matching tail) limits the repeat length.
  let limit = m;
  const { heads, multi } = rule;
  for (let d = 0; d < m; d++) {
    const t = tokens[newest - d]!;
    const h = t >= 0 && t < heads.length ? heads[t]! : 0;
    if (h === 0) continue;
    let longest = h & 1 ? 0 : -1;
    if (h & 2) {
      for (const tail of multi.get(t)!) {
        if (tail.length <= longest || tail.length > d) continue;
        let ok = true;
        for (let j = 0; j < tail.length && ok; j++) ok = tokens[newest - d + 1 + j] === tail[j];
        if (ok) longest = tail.length;
      }
    }
    if (longest >= 0) {
      limit = d - longest;
      break;
    }
  }
  if (limit < A) return out;
  for (let k = 1; k < m; k++) {
    const s = matches[at + step * k]!;
    if (s < A) continue; // n ≤ s
    const n = Math.min(s, m - k, limit);
    const t = tokens[newest - k + 1]!;
    if (n < A || t < 0 || t >= vocab || (t < heads.length && heads[t]! & 1)) continue;
    const b = out.get(t);
    if (b === undefined || n > b) out.set(t, n);
  }
  return out;
}

/** `v − penalty` in float32; an overflowed (+Infinity) penalty bans (NaN and +Infinity stay). */
export function dryEdit(v: number, penalty: number): number {
  if (penalty === Infinity) return v !== v || v === Infinity ? v : -Infinity;
  return Math.fround(v - penalty);
}

/**
 * For a window of tokens right-aligned in N columns (`tokens` holds its last `tokens.length`
 * columns): `previous[c]` is the column of the previous occurrence of the same token (-1: none)
 * and `later[c]` is 1 when the token occurs again after column c. Negative ids link to nothing.
 */
export function dryLinks(tokens: ArrayLike<number>, N: number, previous: Int32Array, later: Int32Array): void {
  previous.fill(-1);
  later.fill(0);
  const last = new Map<number, number>();
  const o = N - tokens.length;
  for (let j = 0; j < tokens.length; j++) {
    const t = tokens[j]!;
    if (t < 0) continue;
    const p = last.get(t);
    if (p !== undefined) {
      previous[o + j] = p;
      later[p] = 1;
    }
    last.set(t, o + j);
  }
}
