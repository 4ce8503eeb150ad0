// Shared by the sampler-chain suites: kept sets of processed rows, and agreement of a sampler's
// process() and sample() with the float64 reference.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { createSampler, reference, type Sampler, type SamplerOptions } from '../../src/index.js';

/**
 * The kept set of a processed row: indices of finite values. It cannot tell NaN from -Infinity:
 * rows read from the sampler go through processedBy, which rejects NaN / +Infinity in valid rows.
 */
export const kept = (row: ArrayLike<number>): number[] => Array.from(row).flatMap((v, j) => (Number.isFinite(v) ? [j] : []));

/**
 * Whether a processed value agrees with the reference's on being kept: finite where the reference
 * is finite, else the same value (-Infinity; NaN / +Infinity only where the reference has them,
 * in invalid rows). A NaN never passes for a filtered token.
 */
export const sameKept = (got: number, want: number): boolean => (Number.isFinite(want) ? Number.isFinite(got) : Object.is(got, want));

/** An input row that the sampler reports as invalid whatever the chain does (NaN or +Infinity in it). */
const invalidInput = (row: readonly number[]): boolean => row.some((v) => Number.isNaN(v) || v === Infinity);

/** `createSampler(opts).process(rows)`, read back; nothing left allocated. */
export async function processed(opts: SamplerOptions, rows: number[][]): Promise<number[][]> {
  const s = createSampler(opts);
  try {
    return await processedBy(s, rows);
  } finally {
    s.dispose();
  }
}

/** `sampler.process(rows)`, read back (the sampler's state stays: its history, its step). */
export async function processedBy(s: Sampler, rows: number[][]): Promise<number[][]> {
  const x = tf.tensor2d(rows);
  const out = s.process(x);
  const v = (await out.array()) as number[][];
  tf.dispose([x, out]);
  // A processed token is kept (finite) or filtered (-Infinity); NaN / +Infinity only in rows the
  // input already makes invalid (kept() alone would count a NaN as filtered).
  v.forEach((row, r) => {
    if (invalidInput(rows[r]!)) return;
    const j = row.findIndex((z) => Number.isNaN(z) || z === Infinity);
    expect(j, `process() row ${r} token ${j}: ${row[j]} from an input row without NaN / +Infinity`).toBe(-1);
  });
  return v;
}

/**
 * The kept sets of process() equal the reference's; where every row keeps something (else the
 * rows are invalid rows, reported rather than drawn), so do the tokens of sample(). Returns
 * whether the tokens were compared.
 */
export async function expectReferenceAgreement(opts: SamplerOptions, rows: number[][]): Promise<boolean> {
  const want = reference.process(rows, opts);
  const got = await processed(opts, rows);
  expect(got.map(kept), JSON.stringify(opts)).toEqual(want.map(kept));
  // Beyond the finite indices: -Infinity where the reference filters, NaN only where it has NaN.
  const odd = got.flatMap((row, r) => row.flatMap((z, j) => (sameKept(z, want[r]![j]!) ? [] : [`row ${r} token ${j}: ${z}, reference ${want[r]![j]}`])));
  expect(odd, JSON.stringify(opts)).toEqual([]);
  if (!want.every((r) => kept(r).length > 0)) return false;
  const s = createSampler(opts);
  const x = tf.tensor2d(rows);
  const ids = s.sample(x);
  const tokens = Array.from((await ids.data()) as Int32Array);
  tf.dispose([x, ids]);
  s.dispose();
  expect(tokens, JSON.stringify(opts)).toEqual(reference.sample(rows, opts));
  return true;
}
