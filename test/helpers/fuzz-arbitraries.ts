// fast-check arbitraries of fuzz cases (see fuzz-case.ts): shapes biased to the edges, per-row
// mixes of every option with off values, boundaries and extreme temperatures, -Infinity masks,
// ties, huge and tiny magnitudes, NaN / ±Infinity in the input and from custom processors (with
// and without float64 twins), every invalid-row policy. Most cases are small; a profile bounds
// the work (big vocabularies only with small batches, and rarely).
import fc from 'fast-check';
import type { BuiltinName, InvalidRowPolicy } from '../../src/index.js';
import type { FuzzCase, GenShape, ProcSpec, PValue, RowSpec } from './fuzz-case.js';

export interface Profile {
  /** Weights of the size classes (see `size`). */
  tiny: number;
  small: number;
  medium: number;
  wide: number;
  big: number;
  /** Vocabulary sizes of the `big` class. */
  bigV: readonly number[];
  /** Weight (out of 20) of rows with NaN / ±Infinity / huge values written into them. */
  inject: number;
  /** Weight (out of 10) of cases with custom processors. */
  processors: number;
  /**
   * How often subnormal float32 logits (0 < |z| < 2^-126) appear: 'often' (from the float
   * generators, the 'tiny' rows and the pools) or 'rare' (about 1 row in 60; software GPUs flush
   * them to zero, a known limitation that then needs a second run of the case without those rows).
   */
  subnormals: 'often' | 'rare';
  /** Draw (B, V) from these sets only (software GPUs compile shaders per shape: few shapes). */
  shapes?: { V: readonly number[]; B: readonly number[] };
  /** Only a few k per V (the GPU top-k kernels compile per k: about a second each on SwiftShader). */
  fewK?: boolean;
}

/** cpu / wasm: mostly tiny and small cases; V ≥ 32000 in about 1 case of 770 (B ≤ 2). */
/**
 * `n` logits in [-max, max] or -Infinity (masked), no subnormals (software GPUs flush them to
 * zero: a known limitation, see `subnormals` above).
 */
export function maskedLogits(max: number, n: number): fc.Arbitrary<number[]> {
  return fc.array(
    fc.oneof(
      fc.float({ min: -max, max, noNaN: true }).map((v) => (Math.abs(v) < 2 ** -126 ? 0 : v)),
      fc.constant(-Infinity),
    ),
    { minLength: n, maxLength: n },
  );
}

/**
 * A property case's shape: B rows of V logits and a seed — few shapes on software GPUs, which
 * compile a shader per shape. Spread into an fc.record with the case's own fields.
 */
export function shapeArbs(gpu: boolean) {
  return {
    B: gpu ? fc.constantFrom(1, 3) : fc.integer({ min: 1, max: 4 }),
    V: gpu ? fc.constantFrom(7, 40) : fc.integer({ min: 2, max: 60 }),
    seed: fc.integer({ min: 0, max: 2 ** 31 }),
  };
}

export const NODE_PROFILE: Profile = {
  tiny: 400,
  small: 240,
  medium: 90,
  wide: 40,
  big: 1,
  bigV: [32000, 32001, 128256, 262144],
  inject: 2,
  processors: 2,
  subnormals: 'often',
};

/**
 * Software GPU adapters: a new shape costs about a second of shader compilation there, a known
 * one about 0.1 s, so (B, V) come from small sets (edges of the kernels' widths included).
 */
export const GPU_PROFILE: Profile = {
  tiny: 50,
  small: 35,
  medium: 12,
  wide: 3,
  big: 0,
  bigV: [],
  inject: 2,
  processors: 2,
  subnormals: 'rare',
  shapes: { V: [1, 3, 17, 64, 257], B: [1, 3, 8, 64] },
  fewK: true,
};

/** No big vocabularies (process() of V ≥ 32000 runs the portable chain: seconds on cpu). */
export function noBig(p: Profile): Profile {
  return { ...p, big: 0 };
}

/** The invalid-row focus: most cases hold NaN / +Infinity / masks in the input or from processors. */
export function invalidFocus(p: Profile): Profile {
  return { ...p, big: 0, inject: 6, processors: 5 };
}

const EDGE_V_SMALL = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65];
const EDGE_V_MEDIUM = [100, 127, 128, 129, 255, 256, 257, 300, 511, 512, 513];
const EDGE_V_WIDE = [1000, 1023, 1024, 1025, 2048, 4096, 4097, 5000];

/** Logit values of explicit rows: ties, exact masses, float32 limits, masks. */
const FINITE_POOL = [0, -0, 1, -1, 2, 0.5, 3, -3, 1, 1, 10, -10, 88.7, -88.7, 100, -104, 1e4, -1e4, 1e38, -1e38, 3.4e38, -3.4e38, 3e38, 2.6e38, 2.7e38, 1e-30];
const SUBNORMALS = [1e-40, -1e-40, 1e-45, -1e-45, 1.1e-38];

const isSubnormal = (v: number): boolean => v !== 0 && Math.abs(v) < 2 ** -126;

function maskedLogit(p: Profile): fc.Arbitrary<number> {
  const keep = p.subnormals === 'often';
  const noSub = (v: number): number => (keep || !isSubnormal(v) ? v : 0);
  const finite = fc.oneof(
    { arbitrary: fc.constantFrom(...FINITE_POOL), weight: 6 },
    { arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true, min: -20, max: 20 }).map(noSub), weight: 3 },
    { arbitrary: fc.float({ noNaN: true, noDefaultInfinity: true }).map(noSub), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: finite, weight: keep ? 50 : 100 },
    { arbitrary: fc.constant(-Infinity), weight: keep ? 10 : 20 },
    { arbitrary: fc.constantFrom(...SUBNORMALS), weight: 1 },
  );
}

/** Values written into the input or added by processors. */
const INJECT_POOL = [NaN, Infinity, -Infinity, -Infinity, 3.4e38, -3.4e38, 3e38, 1e38, 0];
const PROC_ADD_POOL = [Infinity, NaN, -Infinity, 5, -5, 1e38, 3e38, -3e38, 0.5];
const PROC_SCALE_POOL = [0, -1, 2, 0.5, 1e30, 1e-30, 1e38, -0];

const TEMPERATURES = fc.oneof(
  { arbitrary: fc.constantFrom(0, 0.3, 0.5, 0.7, 1, 1, 1.5, 2, 5), weight: 8 },
  { arbitrary: fc.constantFrom(5e-324, 1e-45, 1e-39, 1e-30, 1e-8, 1e8, 1e30, 1e38, 3.4e38, 1.7e308), weight: 2 },
  { arbitrary: fc.double({ min: 0.05, max: 20, noNaN: true }), weight: 1 },
);

const TOP_P = fc.oneof(
  { arbitrary: fc.constantFrom<PValue>(1, 0.9, 0.5, 0.25, 0.75, 0.1, 0.95, 0.99, 0.999999, 1e-7, 5e-324), weight: 6 },
  { arbitrary: fc.integer({ min: 1, max: 4 }).map((mass): PValue => ({ mass })), weight: 3 },
  { arbitrary: fc.double({ min: 0.01, max: 1, noNaN: true }).map((v): PValue => v), weight: 1 },
);

const MIN_P = fc.oneof(
  { arbitrary: fc.constantFrom(0, 0, 1, 0.05, 0.1, 0.5, 0.9, 1e-10, 1e-300, 0.999999, 5e-324), weight: 6 },
  { arbitrary: fc.double({ min: 0, max: 1, noNaN: true }), weight: 1 },
);

function topK(V: number, few = false): fc.Arbitrary<number> {
  if (few) return fc.constantFrom(0, 1, 2, Math.max(1, V - 1), V, V + 1);
  return fc.oneof(
    { arbitrary: fc.constantFrom(0, 1, 2, 3, 5, Math.max(0, V - 1), V, V + 1, 2 * V), weight: 5 },
    { arbitrary: fc.integer({ min: 1, max: Math.max(1, V) }), weight: 2 },
  );
}

/** Vocabulary size and batch-size bounds, B·V bounded per class. */
interface Size {
  V: number;
  maxB: number;
}

function size(p: Profile): fc.Arbitrary<Size & { exactB?: number }> {
  if (p.shapes) {
    const { V: Vs, B: Bs } = p.shapes;
    return fc.record({ V: fc.constantFrom(...Vs), B: fc.constantFrom(...Bs) }).map(({ V, B }) => {
      // The largest listed batch size with B·V ≤ 4096.
      const b = Math.max(1, ...Bs.filter((x) => x <= Math.min(B, Math.floor(4096 / V))));
      return { V, maxB: b, exactB: b };
    });
  }
  const entries: { arbitrary: fc.Arbitrary<Size>; weight: number }[] = [
    { arbitrary: fc.integer({ min: 1, max: 8 }).map((V) => ({ V, maxB: 6 })), weight: p.tiny },
    {
      arbitrary: fc.record({ V: fc.constantFrom(...EDGE_V_SMALL), many: fc.boolean() }).map(({ V, many }) => ({ V, maxB: many ? 64 : 8 })),
      weight: p.small,
    },
    { arbitrary: fc.constantFrom(...EDGE_V_MEDIUM).map((V) => ({ V, maxB: Math.min(64, Math.floor(4096 / V)) })), weight: p.medium },
    { arbitrary: fc.constantFrom(...EDGE_V_WIDE).map((V) => ({ V, maxB: 4 })), weight: p.wide },
  ];
  if (p.big > 0 && p.bigV.length > 0) entries.push({ arbitrary: fc.constantFrom(...p.bigV).map((V) => ({ V, maxB: 2 })), weight: p.big });
  return fc.oneof(...entries.filter((e) => e.weight > 0));
}

/** An option of one row, unset (the off value) with weight `unset`. */
function maybe<T>(value: fc.Arbitrary<T>, unset: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ arbitrary: fc.constant(undefined), weight: unset }, { arbitrary: value, weight: 3 });
}

function rowSpec(V: number, p: Profile, unset: { T: number; k: number; p: number; m: number }): fc.Arbitrary<RowSpec> {
  const shapes: GenShape[] = ['normal', 'ties', 'ties', 'peaky', 'huge', 'constant', 'spread'];
  const gen = fc.record({
    shape: fc.oneof(
      { arbitrary: fc.constantFrom(...shapes), weight: p.subnormals === 'often' ? 7 : 60 },
      { arbitrary: fc.constant<GenShape>('tiny'), weight: 1 },
    ),
    seed: fc.integer({ min: 0, max: 1_000_000 }),
    mask: fc.constantFrom(0, 0, 0, 0.3, 0.9, 0.999),
    levels: fc.integer({ min: 1, max: 6 }),
  });
  const inject = fc.oneof(
    { arbitrary: fc.constant<{ token: number; value: number }[]>([]), weight: 20 - p.inject },
    {
      arbitrary: fc.array(fc.record({ token: fc.integer({ min: 0, max: V - 1 }), value: fc.constantFrom(...INJECT_POOL) }), { minLength: 1, maxLength: 3 }),
      weight: p.inject,
    },
  );
  const common = {
    inject,
    T: maybe(TEMPERATURES, unset.T),
    k: maybe(topK(V, p.fewK), unset.k),
    p: maybe(TOP_P, unset.p),
    m: maybe(MIN_P, unset.m),
    seed: SEED,
  };
  const generated = fc.record({ gen, ...common });
  if (V > 16) return generated;
  const explicit = fc.record({ values: fc.array(maskedLogit(p), { minLength: V, maxLength: V }), ...common });
  return fc.oneof({ arbitrary: explicit, weight: 3 }, { arbitrary: generated, weight: 1 });
}

function procSpec(B: number, V: number): fc.Arbitrary<ProcSpec> {
  return fc.oneof(
    fc.record({
      op: fc.constant('add' as const),
      value: fc.constantFrom(...PROC_ADD_POOL),
      token: fc.oneof({ arbitrary: fc.integer({ min: 0, max: V - 1 }), weight: 4 }, { arbitrary: fc.constant('all' as const), weight: 1 }),
      rows: fc.array(fc.integer({ min: 0, max: B - 1 }), { maxLength: 2 }),
      twin: fc.boolean(),
      name: fc.constantFrom('fuzz-add', 'fuzz-add', 'fuzz-add', 'top-k'),
    }),
    fc.record({
      op: fc.constant('scale' as const),
      value: fc.constantFrom(...PROC_SCALE_POOL),
      token: fc.constant('all' as const),
      rows: fc.array(fc.integer({ min: 0, max: B - 1 }), { maxLength: 2 }),
      twin: fc.boolean(),
      name: fc.constant('fuzz-scale'),
    }),
  );
}

const ORDERS: BuiltinName[][] = [
  ['temperature', 'top-k', 'top-p', 'min-p'],
  ['top-k', 'temperature', 'top-p', 'min-p'],
  ['temperature', 'min-p', 'top-p', 'top-k'],
  ['top-p', 'min-p', 'top-k', 'temperature'],
];

const SEED = fc.oneof(fc.constantFrom(0, 1, 42, -7, 2 ** 32, 1.5, 123456789), fc.integer());

/** One fuzz case under a profile. */
export function fuzzCase(p: Profile): fc.Arbitrary<FuzzCase> {
  // How often each option is unset in a case (then usually in every row): off values stay common.
  const unset = fc.record({ T: fc.constantFrom(1, 6), k: fc.constantFrom(1, 8), p: fc.constantFrom(1, 8), m: fc.constantFrom(1, 8) });
  return fc.tuple(size(p), unset).chain(([{ V, maxB, exactB }, u]) =>
    fc.record({
      V: fc.constant(V),
      // size 'max': batches up to maxB (64) are common, and shrinking still goes down to one row.
      rows: exactB
        ? fc.array(rowSpec(V, p, u), { minLength: exactB, maxLength: exactB })
        : fc.array(rowSpec(V, p, u), { minLength: 1, maxLength: maxB, size: 'max' }),
      rank1: fc.boolean(),
      scalar: fc.record({ T: fc.boolean(), k: fc.boolean(), p: fc.boolean(), m: fc.boolean(), seed: fc.boolean() }),
      order: fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: fc.constantFrom(...ORDERS), weight: 1 }),
      invalidRows: fc.constantFrom<InvalidRowPolicy | undefined>(undefined, 'error', 'uniform', 'greedy'),
      processors: fc.oneof(
        { arbitrary: fc.constant<ProcSpec[]>([]), weight: 10 - p.processors },
        { arbitrary: fc.array(procSpec(maxB, V), { minLength: 1, maxLength: 2 }), weight: p.processors },
      ),
      step: fc.oneof({ arbitrary: fc.constant(0), weight: 6 }, { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 }),
    }),
  );
}
