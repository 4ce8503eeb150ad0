// Where a row's result ends: stop tokens, stop sequences and stop strings (matched on the text
// across token boundaries), and the trimming of a stopped result. Shared by generate's loops.
import { SamplingError } from './errors.js';

/** A stopped result's cut: [tokens kept, text length kept (-1: the text of the kept tokens)]. */
export type StopCut = [number, number];

type Detokenize = ((tokens: readonly number[], row: number) => string) | undefined;

/** The user's `detokenize(tokens, row)`, checked: it must return a string. */
function textOf(detokenize: Detokenize, tokens: readonly number[], row: number): string {
  const text: unknown = detokenize!(tokens, row);
  if (typeof text !== 'string') throw new SamplingError('detokenize', 'must return a string (the text of the tokens)', text);
  return text;
}

/** A generation's stop rules per row, resolved from its options (generate's and the speculative loop's). */
export interface StopRules {
  stops: Set<number>[];
  stopSeqs: number[][][];
  stopStrs: string[][];
  detokenize: Detokenize;
  keepStop: boolean;
}

/**
 * A checker for `results` results: `check(r, q, row, id)` — after `id` was appended to result
 * q's tokens `row` (stop lists of batch row r) — gives the cut when the result now ends with a
 * stop, else undefined. It remembers each result's text length for the stop strings.
 */
export function stopChecker(
  stops: readonly Set<number>[],
  stopSeqs: readonly number[][][],
  stopStrs: readonly string[][],
  detokenize: Detokenize,
  results: number,
) {
  // Each result's text after its previous token. The text of a prefix is not always a prefix of
  // the text (a byte-level detokenizer shows an incomplete UTF-8 character as U+FFFD until its
  // last byte comes): only the part the texts share was searched already.
  const prev: string[] = new Array<string>(results).fill('');
  return (r: number, q: number, row: readonly number[], id: number): StopCut | undefined => {
    if (stops[r]!.has(id)) return [row.length - 1, -1];
    for (const seq of stopSeqs[r]!) {
      if (seq.length <= row.length && seq.every((t, i) => row[row.length - seq.length + i] === t)) return [row.length - seq.length, -1];
    }
    if (stopStrs[r]!.length === 0) return undefined;
    const text = textOf(detokenize, row, q);
    const before = prev[q]!;
    let same = 0;
    while (same < before.length && same < text.length && before.charCodeAt(same) === text.charCodeAt(same)) same++;
    let at = -1;
    for (const str of stopStrs[r]!) {
      const i = text.indexOf(str, Math.max(0, same - str.length + 1));
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    prev[q] = text;
    if (at < 0) return undefined;
    // The tokens before the one where the stop string starts: the longest prefix whose text ends at or before it.
    let k = row.length - 1;
    while (k > 0 && textOf(detokenize, row.slice(0, k), q).length > at) k--;
    return [k, at];
  };
}

/**
 * Each result's text (with `detokenize`), and without `keepStop` the stops trimmed from the
 * tokens, the log-probabilities (in place) and the texts.
 */
export function trimStops(
  out: number[][],
  lps: unknown[][],
  cuts: readonly (StopCut | undefined)[],
  detokenize: Detokenize,
  keepStop: boolean,
): string[] | undefined {
  const texts = detokenize ? out.map((row, r) => textOf(detokenize, row, r)) : undefined;
  if (keepStop) return texts;
  cuts.forEach((cut, r) => {
    if (!cut) return;
    out[r]!.length = cut[0];
    lps[r]!.length = Math.min(lps[r]!.length, cut[0]);
    if (texts) texts[r] = cut[1] >= 0 ? texts[r]!.slice(0, cut[1]) : textOf(detokenize, out[r]!, r);
  });
  return texts;
}
