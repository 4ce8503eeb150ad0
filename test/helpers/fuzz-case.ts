// The fuzz cases: a small, printable description of one sampling call (shape, logits, options,
// custom processors, step) and its materialisation into rows, options and processors. The rows of
// large vocabularies come from a seeded generator, so a counterexample prints in a few lines and
// replays exactly; small vocabularies list their values.
import * as tf from '@tensorflow/tfjs-core';
import { reference, type BuiltinName, type InvalidRowPolicy, type LogitsProcessor, type SamplerOptions } from '../../src/index.js';
import { mulberry32, normal } from '../../bench/logits.js'; // seeded: generated rows are cheap and replay exactly

/** How the rows of a generated (non-explicit) case are drawn. */
export type GenShape = 'normal' | 'ties' | 'peaky' | 'huge' | 'tiny' | 'constant' | 'spread';

/** One row: explicit values (small V) or a seeded generator; its own options and injections. */
export interface RowSpec {
  values?: number[];
  gen?: { shape: GenShape; seed: number; mask: number; levels: number };
  /** `value` written at token (mod V) after the row is made. */
  inject: { token: number; value: number }[];
  /** Per-row options; undefined = the option's off value (T 1, k 0, p 1, m 0). */
  T: number | undefined;
  k: number | undefined;
  p: PValue | undefined;
  m: number | undefined;
  seed: number;
}

/**
 * A custom processor: adds `value` at `token` (or to every token with `'all'`), or multiplies the
 * row by `value` (`op: 'scale'`), in the rows listed (mod B; empty = every row). In float32 on
 * tensors; its `reference` twin (when `twin`) does the same float32 arithmetic in float64
 * (`Math.fround` of the exact result), so it is exact.
 */
export interface ProcSpec {
  op: 'add' | 'scale';
  value: number;
  token: number | 'all';
  rows: number[];
  twin: boolean;
  name: string;
}

/** topP per row: a number, or `{ mass: g }` = exactly the mass of the row's g most probable groups. */
export type PValue = number | { mass: number };

/** Options passed as one scalar (row 0's value) rather than one value per row. */
export interface Scalars {
  T: boolean;
  k: boolean;
  p: boolean;
  m: boolean;
  seed: boolean;
}

export interface FuzzCase {
  V: number;
  /** The batch: B = rows.length. */
  rows: RowSpec[];
  /** Pass a rank-1 `[V]` tensor (B = 1 only). */
  rank1: boolean;
  scalar: Scalars;
  order: BuiltinName[] | undefined;
  invalidRows: InvalidRowPolicy | undefined;
  processors: ProcSpec[];
  /** The step sampled (the sampler is advanced this many calls first). */
  step: number;
}

export interface Materialized {
  rows: Float32Array[];
  /** What the sampler gets (processors as specified, with or without twins). */
  options: SamplerOptions;
  /** The same, every processor with its twin: what the reference runs. */
  twinOptions: SamplerOptions;
  /** The processors of `options` have no twin somewhere. */
  twinless: boolean;
  /** Rows whose p was placed exactly at a group's mass (a boundary by design). */
  atMass: Set<number>;
}

const HUGE_LEVELS = [3.4e38, 3e38, 2.7e38, 2.6e38, 1e38, -1e38, -3e38, -3.4e38, 0, 1];

function genRow(shape: GenShape, V: number, levels: number, r: () => number): Float32Array {
  const row = new Float32Array(V);
  const base = normal(r) * 3;
  for (let j = 0; j < V; j++) {
    switch (shape) {
      case 'normal':
        row[j] = base + 2 * normal(r);
        break;
      case 'ties': // few distinct levels: ties at every boundary, exact masses like 1/2 and 1/4
        row[j] = Math.floor(r() * levels) * (levels > 3 ? 0.5 : 1);
        break;
      case 'peaky':
        row[j] = -1.1 * Math.log(1 + ((j * 7919 + Math.floor(r() * 3)) % V)) + 0.3 * normal(r);
        break;
      case 'huge': // near float32's limits: masking arithmetic and z − max overflow
        row[j] = r() < 0.5 ? HUGE_LEVELS[Math.floor(r() * HUGE_LEVELS.length)]! : HUGE_LEVELS[Math.floor(r() * HUGE_LEVELS.length)]! * (1 - r() * 1e-6);
        break;
      case 'tiny': // subnormal float32 magnitudes: effectively ties at 0
        row[j] = (Math.floor(r() * levels) - 1) * 1e-40;
        break;
      case 'constant':
        row[j] = base;
        break;
      case 'spread': // magnitudes up to 1e4
        row[j] = (r() * 2 - 1) * 1e4;
        break;
    }
  }
  return row;
}

/** The float32 rows of a case, injections applied. */
export function makeCaseRows(c: FuzzCase): Float32Array[] {
  return c.rows.map((spec, r) => {
    let row: Float32Array;
    if (spec.values) {
      row = Float32Array.from({ length: c.V }, (_, j) => spec.values![j % spec.values!.length]!);
    } else {
      const { shape, seed, mask, levels } = spec.gen ?? { shape: 'normal', seed: r, mask: 0, levels: 1 };
      const rand = mulberry32(seed * 7919 + c.V);
      row = genRow(shape, c.V, levels, rand);
      if (mask > 0) for (let j = 0; j < c.V; j++) if (rand() < mask) row[j] = -Infinity;
    }
    for (const { token, value } of spec.inject) row[token % c.V] = value;
    return row;
  });
}

/** Rows a processor touches. */
function touches(p: ProcSpec, r: number, B: number): boolean {
  return p.rows.length === 0 || p.rows.some((x) => x % B === r);
}

/** The tensor processor (and float64 twin) of a spec. */
export function makeProcessor(p: ProcSpec, withTwin: boolean): LogitsProcessor {
  const apply: LogitsProcessor['apply'] = (state) => {
    const { batch: B, vocab: V } = state;
    if (p.op === 'scale') {
      const f = Float32Array.from({ length: B }, (_, r) => (touches(p, r, B) ? p.value : 1));
      return { ...state, logits: tf.mul(state.logits, tf.tensor2d(f, [B, 1])) as tf.Tensor2D };
    }
    const d = new Float32Array(B * V);
    for (let r = 0; r < B; r++) {
      if (!touches(p, r, B)) continue;
      if (p.token === 'all') d.fill(p.value, r * V, (r + 1) * V);
      else d[r * V + (p.token % V)] = p.value;
    }
    return { ...state, logits: tf.add(state.logits, tf.tensor2d(d, [B, V])) as tf.Tensor2D };
  };
  if (!withTwin) return { name: p.name, apply };
  return {
    name: p.name,
    apply,
    reference: (state) => {
      const B = state.logits.length;
      const V = state.vocab;
      const value = Math.fround(p.value); // what the float32 tensor holds
      const logits = state.logits.map((row, r) => {
        if (!touches(p, r, B)) return row;
        if (p.op === 'scale') return row.map((v) => Math.fround(v * value));
        return row.map((v, j) => (p.token === 'all' || j === p.token % V ? Math.fround(v + value) : v));
      });
      return { ...state, logits };
    },
  };
}

/** p equal to the mass of the g most probable groups of row r (after what runs before top-p). */
function groupMass(probs: () => Float64Array[] | undefined, r: number, g: number): number {
  const q = probs()?.[r];
  if (!q) return 0.5;
  const sorted = Float64Array.from(q)
    .filter((v) => v > 0)
    .sort()
    .reverse();
  let mass = 0;
  let groups = 0;
  for (let i = 0; i < sorted.length && groups < g; ) {
    let j = i;
    while (j < sorted.length && sorted[j] === sorted[i]) mass += sorted[j++]!;
    groups++;
    i = j;
  }
  return mass > 0 && mass <= 1 ? mass : mass > 1 ? 1 : 0.5;
}

/** The reference probabilities of every row after what runs before top-p (undefined if it throws). */
function beforeTopP(rows: Float32Array[], c: FuzzCase, base: SamplerOptions): Float64Array[] | undefined {
  const order = c.order ?? ['temperature', 'top-k', 'top-p', 'min-p'];
  const before = order.slice(0, order.indexOf('top-p'));
  const opts: SamplerOptions = {
    ...(base.processors ? { processors: base.processors } : {}),
    ...(before.includes('temperature') && base.temperature !== undefined ? { temperature: base.temperature } : {}),
    ...(before.includes('top-k') && base.topK !== undefined ? { topK: base.topK } : {}),
    ...(before.includes('min-p') && base.minP !== undefined ? { minP: base.minP } : {}),
    invalidRows: 'uniform',
  };
  try {
    return reference.probabilities(rows, opts);
  } catch {
    return undefined;
  }
}

/** A per-row option: unset, one scalar (row 0's value), or one value per row (off values fill). */
function option<T, U>(c: FuzzCase, scalar: boolean, get: (row: RowSpec) => T | undefined, off: T, map: (v: T, r: number) => U): U | U[] | undefined {
  if (c.rows.every((row) => get(row) === undefined)) return undefined;
  if (scalar) {
    const v = get(c.rows[0]!);
    return v === undefined ? undefined : map(v, 0);
  }
  return c.rows.map((row, r) => map(get(row) ?? off, r));
}

export function materialize(c: FuzzCase): Materialized {
  const rows = makeCaseRows(c);
  const twinned = c.processors.map((p) => makeProcessor(p, true));
  const id = <T>(v: T): T => v;
  const temperature = option(c, c.scalar.T, (r) => r.T, 1, id);
  const topK = option(c, c.scalar.k, (r) => r.k, 0, id);
  const minP = option(c, c.scalar.m, (r) => r.m, 0, id);
  const base: SamplerOptions = {
    seed: c.scalar.seed ? c.rows[0]!.seed : c.rows.map((r) => r.seed),
    ...(temperature !== undefined ? { temperature } : {}),
    ...(topK !== undefined ? { topK } : {}),
    ...(minP !== undefined ? { minP } : {}),
    ...(c.order !== undefined ? { order: c.order } : {}),
    ...(c.invalidRows !== undefined ? { invalidRows: c.invalidRows } : {}),
    ...(twinned.length > 0 ? { processors: twinned } : {}),
  };
  // p = a group's mass is computed per row, so a scalar { mass } becomes one value per row.
  const pScalar = c.scalar.p && typeof c.rows[0]!.p !== 'object';
  let probs: { q: Float64Array[] | undefined } | undefined;
  const lazy = (): Float64Array[] | undefined => (probs ??= { q: beforeTopP(rows, c, base) }).q;
  const topP = option(
    c,
    pScalar,
    (r) => r.p,
    1 as PValue,
    (v, r) => (typeof v === 'number' ? v : groupMass(lazy, r, v.mass)),
  );
  if (topP !== undefined) base.topP = topP;
  const twinless = c.processors.some((p) => !p.twin);
  const options: SamplerOptions = twinless ? { ...base, processors: c.processors.map((p) => makeProcessor(p, p.twin)) } : base;
  const atMass = new Set(c.rows.flatMap((row, r) => (typeof (c.scalar.p && !pScalar ? c.rows[0]!.p : row.p) === 'object' ? [r] : [])));
  return { rows, options, twinOptions: base, twinless, atMass };
}

/** The `[B, V]` (or `[V]`) tensor of a case. */
export function caseTensor(c: FuzzCase, rows: Float32Array[]): tf.Tensor {
  const B = rows.length;
  const flat = new Float32Array(B * c.V);
  rows.forEach((row, r) => flat.set(row, r * c.V));
  return c.rank1 && B === 1 ? tf.tensor1d(flat) : tf.tensor2d(flat, [B, c.V]);
}
