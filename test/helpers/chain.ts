// Shared by the sampler-chain suites: kept sets of processed rows, and agreement of a sampler's
// process() and sample() with the float64 reference.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { createSampler, reference, type Sampler, type SamplerOptions } from '../../src/index.js';

/** The kept set of a processed row: indices of finite values. */
export const kept = (row: ArrayLike<number>): number[] => Array.from(row).flatMap((v, j) => (Number.isFinite(v) ? [j] : []));

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
  return v;
}

/**
 * The kept sets of process() equal the reference's; where every row keeps something (else the
 * rows are invalid rows, reported rather than drawn), so do the tokens of sample(). Returns
 * whether the tokens were compared.
 */
export async function expectReferenceAgreement(opts: SamplerOptions, rows: number[][]): Promise<boolean> {
  const want = reference.process(rows, opts);
  expect((await processed(opts, rows)).map(kept), JSON.stringify(opts)).toEqual(want.map(kept));
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
