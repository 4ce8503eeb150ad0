// Seeded generators of logit rows shaped like the cases the contract cares about.
import seedrandom from 'seedrandom';
import { normal } from '../../bench/logits.js';

export type Shape = 'peaky' | 'flat' | 'masked' | 'ties' | 'huge';

export function rng(seed: string): () => number {
  return seedrandom(seed);
}

/** One float32 row of length V. */
export function makeRow(shape: Shape, V: number, r: () => number): Float32Array {
  const row = new Float32Array(V);
  for (let j = 0; j < V; j++) {
    switch (shape) {
      case 'peaky': // Zipf-like: a few dominant tokens, heavy tail
        row[j] = -1.1 * Math.log(1 + ((j * 7919 + Math.floor(r() * 3)) % V)) + 0.3 * normal(r);
        break;
      case 'flat':
        row[j] = 0.5 * normal(r);
        break;
      case 'masked':
        row[j] = r() < 0.3 ? -Infinity : 2 * normal(r);
        break;
      case 'ties': // few distinct levels: ties at every boundary
        row[j] = Math.round(2 * normal(r)) / 2;
        break;
      case 'huge': // magnitudes up to 1e4
        row[j] = (r() * 2 - 1) * 1e4;
        break;
    }
  }
  if (shape === 'masked' && !row.some(Number.isFinite)) row[0] = 0;
  return row;
}

export function makeRows(shape: Shape, B: number, V: number, seed: string): Float32Array[] {
  const r = rng(`${seed}:${shape}:${B}:${V}`);
  return Array.from({ length: B }, () => makeRow(shape, V, r));
}

/** A [B, V] float32 tensor's data laid out from rows. */
export function flatten(rows: Float32Array[]): Float32Array {
  const V = rows[0]!.length;
  const out = new Float32Array(rows.length * V);
  rows.forEach((row, i) => out.set(row, i * V));
  return out;
}

/** Logit j of row r of a generated case (`u` the case's seeded stream). */
export type Gen = (r: number, j: number, u: () => number) => number;

/** A `[B, V]` case whose logits a {@link Gen} makes. */
export interface GenCase<O> {
  name: string;
  B: number;
  V: number;
  options: O;
  gen: Gen;
}

/** A generated case's rows (float32 values), from a stream seeded by `tag` and the case's name. */
export function genRows(tag: string, c: GenCase<unknown>): number[][] {
  const u = rng(`${tag}:${c.name}`);
  return Array.from({ length: c.B }, (_, r) => Array.from({ length: c.V }, (_, j) => Math.fround(c.gen(r, j, u))));
}
