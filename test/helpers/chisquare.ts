// Pearson chi-square goodness-of-fit of drawn token counts against a reference distribution.
// Used by the statistical-equivalence suite (test/statistics.test.ts); no tfjs here.
import gammainc from '@stdlib/math-base-special-gammainc';

/** A token drawn although its reference probability is 0. */
export interface ImpossibleDraw {
  token: number;
  count: number;
}

export interface ChiSquareResult {
  /** Pearson's statistic Σ (O − E)² / E over the bins. */
  statistic: number;
  /** Degrees of freedom: bins − 1 (no parameters are estimated from the sample). */
  df: number;
  /** Upper-tail probability P(χ²_df ≥ statistic); 1 when df = 0 (nothing to test). */
  pValue: number;
  /** Number of draws (Σ observed over all tokens). */
  draws: number;
  /** Number of bins after pooling. */
  bins: number;
  /** Tokens with 0 < expected count < minExpected, pooled into one bin. */
  pooledTokens: number;
  /** Expected count of the pooled bin (0 when nothing was pooled). */
  pooledExpected: number;
  /**
   * Draws of tokens whose reference probability is exactly 0. Any entry is an immediate
   * failure, whatever the p-value: such tokens are left out of the statistic.
   */
  impossible: ImpossibleDraw[];
}

/**
 * Chi-square goodness-of-fit test of `observed` token counts against `expected` probabilities
 * (one per vocabulary index, e.g. a row of `reference.probabilities`).
 *
 * - Tokens with probability 0 form no bin; any draw of one is reported in `impossible` (and the
 *   expected counts are N·p with N the draws on the other tokens).
 * - Tokens whose expected count N·p is below `minExpected` (default 5) are pooled into one bin;
 *   if that bin is itself still below `minExpected`, the smallest remaining bins are merged into
 *   it until it is not (or only one bin is left).
 * - The probabilities are renormalised by their float64 sum, so rounding in the reference does
 *   not bias the expected counts.
 * - p-value = Q(df/2, statistic/2), the regularized upper incomplete gamma function.
 */
export function chiSquareTest(observed: ArrayLike<number>, expected: ArrayLike<number>, minExpected = 5): ChiSquareResult {
  const V = expected.length;
  if (observed.length !== V) {
    throw new Error(`chiSquareTest: ${observed.length} observed counts for ${V} probabilities`);
  }
  let draws = 0;
  let possible = 0; // draws on tokens of positive probability: the N of the expected counts
  let mass = 0;
  for (let j = 0; j < V; j++) {
    const o = observed[j]!;
    const p = expected[j]!;
    if (!(o >= 0) || !Number.isInteger(o)) throw new Error(`chiSquareTest: observed[${j}] = ${o} is not a count`);
    if (!(p >= 0) || !Number.isFinite(p)) throw new Error(`chiSquareTest: expected[${j}] = ${p} is not a probability`);
    draws += o;
    if (p > 0) possible += o;
    mass += p;
  }
  if (!(mass > 0)) throw new Error('chiSquareTest: the expected probabilities sum to 0');

  const impossible: ImpossibleDraw[] = [];
  // Bins as [observed, expected count]; tokens below minExpected go to the pooled bin.
  const single: [number, number][] = [];
  let pooledO = 0;
  let pooledE = 0;
  let pooledTokens = 0;
  for (let j = 0; j < V; j++) {
    const o = observed[j]!;
    const p = expected[j]!;
    if (p === 0) {
      if (o > 0) impossible.push({ token: j, count: o });
      continue;
    }
    const e = (possible * p) / mass;
    if (e < minExpected) {
      pooledO += o;
      pooledE += e;
      pooledTokens++;
    } else {
      single.push([o, e]);
    }
  }
  const bins = single;
  if (pooledTokens > 0) {
    // Merge the smallest single bins into an undersized pooled bin.
    bins.sort((a, b) => a[1] - b[1]);
    while (pooledE < minExpected && bins.length > 0) {
      const [o, e] = bins.shift()!;
      pooledO += o;
      pooledE += e;
    }
    bins.push([pooledO, pooledE]);
  }
  let statistic = 0;
  for (const [o, e] of bins) statistic += ((o - e) * (o - e)) / e;
  const df = bins.length - 1;
  const pValue = df > 0 ? chiSquareUpperTail(statistic, df) : 1;
  return {
    statistic,
    df,
    pValue,
    draws,
    bins: bins.length,
    pooledTokens,
    pooledExpected: pooledTokens > 0 ? pooledE : 0,
    impossible,
  };
}

/** P(χ²_df ≥ x): the regularized upper incomplete gamma Q(df/2, x/2). */
export function chiSquareUpperTail(x: number, df: number): number {
  if (!(df > 0)) throw new Error(`chiSquareUpperTail: df must be > 0, got ${df}`);
  if (x <= 0) return 1;
  // @stdlib signature: gammainc(x, a, regularized, upper).
  return gammainc(x / 2, df / 2, true, true);
}

/** Counts of each token id in [0, V); ids outside that range are counted in `outOfRange`. */
export class TokenCounts {
  readonly counts: Float64Array;
  outOfRange = 0;
  draws = 0;
  constructor(readonly vocab: number) {
    this.counts = new Float64Array(vocab);
  }
  add(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (Number.isInteger(id) && id >= 0 && id < this.vocab) this.counts[id]!++;
      else this.outOfRange++;
      this.draws++;
    }
  }
}

/** One line for the log, e.g. `stat=12.34 df=9 p=0.195`. */
export function formatChiSquare(r: ChiSquareResult): string {
  const impossible = r.impossible.length > 0 ? ` impossible=${JSON.stringify(r.impossible)}` : '';
  return (
    `stat=${r.statistic.toFixed(2)} df=${r.df} p=${formatP(r.pValue)}` +
    ` (N=${r.draws}, bins=${r.bins}, pooled ${r.pooledTokens} tokens, E=${r.pooledExpected.toFixed(1)})${impossible}`
  );
}

function formatP(p: number): string {
  if (p === 0) return '0 (below 1e-300)';
  return p >= 1e-3 ? p.toPrecision(4) : p.toExponential(3);
}
