// What the fused paths decide, against the reference: the kept count per row (every built-in
// filter keeps a top segment of its row in logit order, ties kept, so the count fixes the set).
// fusedKeptCounts reads it through the test hook of src/backends/fused-observer.ts;
// referenceKeptCounts computes the same number from reference.process; keptExemption says
// whether a difference is float rounding (the reference itself changes its answer when p or the
// min-p threshold moves by a relative `delta`).
import type * as tf from '@tensorflow/tfjs-core';
import { reference, type Sampler, type SamplerOptions, type SampleContext } from '../../src/index.js';
import { setFusedObserver, type FusedKeptEvent } from '../../src/backends/fused-observer.js';
import { resolveRowParam, type RowParam } from '../../src/params.js';

export interface FusedKept {
  /** The fused path that ran (the sampler's `lastPath`): `fused:cpu`, `fused:webgpu`, … */
  path: string;
  /** The kernel that decided: `js`, `simd` (cpu/wasm) or `gpu-chain` (webgl/webgpu). */
  kernel: string;
  /**
   * Kept count per row: tokens the draw may pick; greedy rows (T = 0): tokens tied at the row
   * max; invalid rows: -1.
   */
  counts: Int32Array;
  /** The ids that call drew (the sampler's step advanced by one). */
  ids: Int32Array;
}

/**
 * Runs `sampler.sample(logits)` once with the fused-path observer set and returns the per-row kept
 * counts, or undefined when no fused path ran (portable path: custom chain, fused flag off, …).
 * Leaves no tensor behind (the GPU counts are read back before it returns).
 */
export async function fusedKeptCounts(sampler: Sampler, logits: tf.Tensor, context?: SampleContext): Promise<FusedKept | undefined> {
  const events: FusedKeptEvent[] = [];
  setFusedObserver((e) => events.push(e));
  let ids: tf.Tensor;
  try {
    ids = sampler.sample(logits, context);
  } finally {
    setFusedObserver(undefined);
  }
  const drawn = Int32Array.from((await ids.data()) as Int32Array);
  ids.dispose();
  if (events.length > 1) throw new Error(`fusedKeptCounts: ${events.length} fused calls in one sample()`);
  const event = events[0];
  if (!event) {
    if (sampler.lastPath.startsWith('fused:')) throw new Error(`fusedKeptCounts: ${sampler.lastPath} ran without reporting its kept counts`);
    return undefined;
  }
  const counts = await event.counts;
  if (event.path !== sampler.lastPath) throw new Error(`fusedKeptCounts: the hook reported ${event.path}, lastPath is ${sampler.lastPath}`);
  if (counts.length !== drawn.length) throw new Error(`fusedKeptCounts: ${counts.length} counts for ${drawn.length} rows`);
  return { path: event.path, kernel: event.kernel, counts, ids: drawn };
}

function rowValue(value: RowParam | undefined, off: number, r: number, batch: number, name: string): number {
  return value === undefined ? off : resolveRowParam(name, value, batch)[r]!;
}

/** The options of row `r` alone (scalars), for one-row reference calls. */
export function rowOptions(options: SamplerOptions, r: number, batch: number): SamplerOptions {
  return {
    ...options,
    temperature: rowValue(options.temperature, 1, r, batch, 'temperature'),
    topK: rowValue(options.topK, 0, r, batch, 'topK'),
    topP: rowValue(options.topP, 1, r, batch, 'topP'),
    minP: rowValue(options.minP, 0, r, batch, 'minP'),
    seed: 0,
  };
}

function isInvalid(row: ArrayLike<number>): boolean {
  let finite = false;
  for (let j = 0; j < row.length; j++) {
    const v = row[j]!;
    if (Number.isNaN(v) || v === Infinity) return true;
    if (v > -Infinity) finite = true;
  }
  return !finite;
}

/** The kept count of one processed reference row (greedy: entries equal to its max). */
function countOf(processed: Float64Array, greedy: boolean): number {
  let max = -Infinity;
  let finite = 0;
  for (const v of processed) {
    if (v > -Infinity) finite++;
    if (v > max) max = v;
  }
  if (finite === 0) return -1;
  if (!greedy) return finite;
  let ties = 0;
  for (const v of processed) if (v === max) ties++;
  return ties;
}

/** The counts fusedKeptCounts must give, from `reference.process` (float64). */
export function referenceKeptCounts(rows: readonly ArrayLike<number>[], options: SamplerOptions): Int32Array {
  const processed = reference.process(rows, options);
  return Int32Array.from(rows, (row, r) => {
    if (isInvalid(Float32Array.from(row))) return -1;
    const greedy = rowValue(options.temperature, 1, r, rows.length, 'temperature') === 0;
    return countOf(processed[r]!, greedy);
  });
}

/**
 * Whether `got` (a fused count of row `r`) differs from the reference only by float rounding:
 * it lies within the reference's counts for p·(1 ± delta) and the min-p threshold moved by
 * ± delta · max(1, |row max|) logits (the float error of the fused arithmetic, with margin), and
 * it keeps whole groups of tied logits.
 * Top-k and temperature are never perturbed: their decisions involve no arithmetic.
 */
export function keptExemption(row: ArrayLike<number>, options: SamplerOptions, r: number, batch: number, got: number, delta: number): boolean {
  const o = rowOptions(options, r, batch);
  const T = o.temperature as number;
  const p = o.topP as number;
  const m = o.minP as number;
  if (T === 0 || isInvalid(Float32Array.from(row))) return false;
  let zmax = -Infinity;
  for (let j = 0; j < row.length; j++) zmax = Math.max(zmax, Math.fround(row[j]!));
  const ps = p < 1 ? [p, p * (1 - delta), Math.min(1, p * (1 + delta))] : [p];
  const shift = (delta * Math.max(1, Math.abs(zmax))) / T; // in units of ln m
  const ms = m > 0 ? [m, m * Math.exp(-shift), Math.min(1, m * Math.exp(shift))] : [m];
  let lo = Infinity;
  let hi = -Infinity;
  for (const pp of ps) {
    for (const mm of ms) {
      const c = referenceKeptCounts([row], { ...o, topP: pp, minP: mm })[0]!;
      lo = Math.min(lo, c);
      hi = Math.max(hi, c);
    }
  }
  if (got < lo || got > hi) return false;
  // Between the perturbed answers, and a whole number of tie groups (ties are never split).
  const sorted = Float64Array.from(row, (v) => Math.fround(v))
    .filter((v) => v > -Infinity)
    .sort()
    .reverse();
  return got >= 1 && got <= sorted.length && (got === sorted.length || sorted[got - 1] !== sorted[got]);
}
