// float64 helpers of the reference. Never imports tfjs.

/** Neumaier-compensated sum. */
export function accurateSum(values: ArrayLike<number>): number {
  let sum = 0;
  let c = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const t = sum + v;
    c += Math.abs(sum) >= Math.abs(v) ? sum - t + v : v - t + sum;
    sum = t;
  }
  return sum + c;
}

/** Max over a row, ignoring nothing (NaN propagates). */
export function rowMax(row: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (Number.isNaN(v)) return NaN;
    if (v > m) m = v;
  }
  return m;
}

/** Index of the largest value, lowest index among ties; -1 when nothing exceeds -Infinity. */
export function argMax(row: ArrayLike<number>): number {
  let best = -1;
  let m = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i]! > m) {
      m = row[i]!;
      best = i;
    }
  }
  return best;
}

/** The inverse temperature to compute probabilities with (greedy rows use 1). */
export function usableInv(inv: number): number {
  return Number.isFinite(inv) ? inv : 1;
}

/** `out` with the m largest values of `input` put back (ties of the m-th kept); m ≤ 1: `out`. */
export function restoreTop(input: Float64Array, out: Float64Array, m: number): Float64Array {
  if (m <= 1) return out;
  const sorted = Float64Array.from(input).sort((a, b) => b - a);
  const mth = sorted[Math.min(m, sorted.length) - 1]!;
  return out.map((v, j) => (input[j]! >= mth ? input[j]! : v));
}
