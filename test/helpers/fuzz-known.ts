// Known open holes (issue 9) that the fuzzer finds again and again. A case that fails AND matches
// one of these predicates is counted under the hole's name instead of failing the property, so
// that the property keeps hunting for new failures; each hole has a minimal regression case in
// test/fuzz.test.ts (it.fails while open). Remove a predicate when its hole is fixed: the
// property then covers it again.
import { reference } from '../../src/index.js';
import type { FuzzCase, Materialized } from './fuzz-case.js';

const FLT_MAX = 3.4028234663852886e38;

export interface KnownHole {
  id: string;
  /** One line: what goes wrong. */
  what: string;
  /** Backends where it shows (all when absent). */
  backends?: readonly string[];
  /** The rows of the case that can hit the hole. */
  rows(c: FuzzCase, m: Materialized): number[];
}

/** Each row after the custom processors only (float64 twins, T = 1, no filter). */
function afterProcessors(m: Materialized): Float64Array[] {
  const { processors } = m.twinOptions;
  if (!processors) return m.rows.map((r) => Float64Array.from(r));
  return reference.process(m.rows, { processors, invalidRows: 'uniform' });
}

function perRow(v: number | ArrayLike<number> | undefined, r: number, off: number): number {
  return v === undefined ? off : typeof v === 'number' ? v : v[r]!;
}

const which = <T>(xs: readonly T[], f: (x: T, i: number) => boolean): number[] => xs.flatMap((x, i) => (f(x, i) ? [i] : []));
const has = (row: ArrayLike<number>, f: (v: number) => boolean): boolean => Array.prototype.some.call(row, f as (v: unknown) => boolean);

export const KNOWN_HOLES: KnownHole[] = [
  {
    id: 'gpu-subnormal-flush',
    what: 'webgl / webgpu (SwiftShader) flush float32 subnormals (0 < |z| < 2^-126) to zero: distinct tiny logits become ties, so top-k keeps more, greedy picks a lower index, and the kept counts differ',
    backends: ['webgl', 'webgpu'],
    rows(_c, m) {
      const sub = (v: number): boolean => v !== 0 && Math.abs(v) < 2 ** -126;
      return which(afterProcessors(m), (z, r) => has(z, sub) || has(m.rows[r]!, sub));
    },
  },
];

/** The known holes a case can hit, with the rows that can hit them. */
export function knownHoles(c: FuzzCase, m: Materialized, backend: string): { ids: string[]; rows: Set<number> } {
  const ids: string[] = [];
  const rows = new Set<number>();
  for (const h of KNOWN_HOLES) {
    if (h.backends && !h.backends.includes(backend)) continue;
    const rs = h.rows(c, m);
    if (rs.length === 0) continue;
    ids.push(h.id);
    rs.forEach((r) => rows.add(r));
  }
  return { ids, rows };
}

/**
 * The case with the given rows replaced by a plain row of zeros with every option off (same batch
 * size: software GPUs compile shaders per shape, so the second run reuses the first one's).
 */
export function neutralRows(c: FuzzCase, rows: Set<number>): FuzzCase {
  return { ...c, rows: c.rows.map((row, r) => (rows.has(r) ? NEUTRAL(row.seed) : row)) };
}

const NEUTRAL = (seed: number): FuzzCase['rows'][number] => ({ values: [0], inject: [], T: undefined, k: undefined, p: undefined, m: undefined, seed });

/** The case without the given rows (undefined if none would be left). */
export function withoutRows(c: FuzzCase, drop: Set<number>): FuzzCase | undefined {
  const rows = c.rows.filter((_, r) => !drop.has(r));
  return rows.length === 0 ? undefined : { ...c, rows, rank1: c.rank1 && rows.length === 1 };
}

export { afterProcessors, perRow, FLT_MAX };
