// The fuzz properties of one case on the active backend, against the float64 reference:
// - the drawn token lies in the reference's kept set (finite entries of reference.process) and
//   equals reference.sample's token, except where float rounding decides (counted, see below);
// - invalid rows are never a plausible token: under 'error' sample() gives the reference's
//   negative codes and sampleIds() throws the reference's InvalidRowsError; under 'uniform' /
//   'greedy' the tokens are the reference's;
// - process() keeps the reference's kept sets (and values, to float32 rounding);
// - the fused paths' kept counts (test hook, helpers/kept.ts) equal the reference's;
// - no read-back inside sample() (helpers/read-counter.ts) and no tensor left behind, throwing
//   cases included.
// Where float rounding decides ("exempt"): a kept decision that the reference itself changes when
// p, T or the min-p threshold move by a relative `delta`, or two perturbed scores within 1e-5 of
// their magnitude. Exemptions are counted per kind and reported.
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import {
  createSampler,
  gumbel,
  InvalidRowsError,
  invalidRowsIn,
  reference,
  SamplingError,
  stepKey,
  type InvalidRow,
  type Sampler,
  type SamplerOptions,
} from '../../src/index.js';
import { rowKeys } from '../../src/noise.js';
import { registerFusedFlag } from '../../src/backends/fused.js';
import { nextInvTemperature } from '../../src/params.js';
import { sameKept } from './chain.js';
import { fusedKeptCounts } from './kept.js';
import { countReads, describeReads, readBacks } from './read-counter.js';
import { knownHoles, neutralRows, withoutRows } from './fuzz-known.js';
import { caseTensor, materialize, type FuzzCase, type Materialized } from './fuzz-case.js';

/** Counts of what the properties saw, per backend and property. */
export interface Tally {
  cases: number;
  rows: number;
  invalidRows: number;
  /** Valid rows whose token equals reference.sample's. */
  equal: number;
  /** Valid rows whose token differs where two perturbed scores tie within rounding. */
  scoreTie: number;
  /** Rows whose token differs because a kept decision sits on a rounding boundary. */
  keptBoundary: number;
  /** The same, in rows whose p was placed exactly at a group's mass (boundaries by design). */
  keptBoundaryAtMass: number;
  /** Invalid rows under 'uniform'/'greedy' drawn differently where two float32 noises tie. */
  noiseTie: number;
  processRows: number;
  /** Rows where process() keeps a token differently from the reference, on a rounding boundary. */
  processBoundary: number;
  processBoundaryAtMass: number;
  fusedRows: number;
  fusedExempt: number;
  fusedExemptAtMass: number;
  twinless: number;
  paths: Record<string, number>;
  /** Failing cases explained by a known open hole (helpers/fuzz-known.ts), per hole. */
  known: Record<string, number>;
  /** The first few exempt rows, for the report. */
  examples: string[];
}

export function newTally(): Tally {
  return {
    cases: 0,
    rows: 0,
    invalidRows: 0,
    equal: 0,
    scoreTie: 0,
    keptBoundary: 0,
    keptBoundaryAtMass: 0,
    noiseTie: 0,
    processRows: 0,
    processBoundary: 0,
    processBoundaryAtMass: 0,
    fusedRows: 0,
    fusedExempt: 0,
    fusedExemptAtMass: 0,
    twinless: 0,
    paths: {},
    known: {},
    examples: [],
  };
}

export function formatTally(name: string, t: Tally, ms: number): string {
  const valid = t.rows - t.invalidRows;
  const rate = (n: number, d: number): string => (d === 0 ? '0' : `${n} (${((100 * n) / d).toPrecision(2)}%)`);
  const paths = Object.entries(t.paths)
    .map(([p, n]) => `${p} ${n}`)
    .join(', ');
  return [
    `${name}: ${t.cases} cases in ${(ms / 1000).toFixed(1)} s, ${t.rows} rows (${t.invalidRows} invalid), paths: ${paths}`,
    `  tokens: ${t.equal}/${valid} valid rows = reference.sample; rounding: score ties ${rate(t.scoreTie, valid)}, kept boundary ${rate(t.keptBoundary, valid)} (+ ${t.keptBoundaryAtMass} with p placed at a group's mass); invalid rows noise ties ${t.noiseTie}`,
    `  process(): ${t.processRows} rows, ${rate(t.processBoundary, t.processRows)} with kept tokens on a rounding boundary (+ ${t.processBoundaryAtMass} with p at a group's mass); fused kept counts: ${t.fusedRows} rows, ${rate(t.fusedExempt, t.fusedRows)} exempt (+ ${t.fusedExemptAtMass} with p at a group's mass); twinless cases ${t.twinless}`,
    `  failing cases explained by known open holes: ${JSON.stringify(t.known)}`,
    ...t.examples.slice(0, 5).map((e) => `  exempt: ${e}`),
  ].join('\n');
}

export interface Checks {
  /** Compare process() kept sets with the reference's. */
  process: boolean;
  /** Compare the fused kept counts (when the fused path runs). */
  fused: boolean;
  /**
   * Relative float error the tensor arithmetic may make at a kept boundary (portable and GPU
   * paths; the fused cpu/wasm kernels, in float64, get 1e-12).
   */
  delta: number;
  /** Fail on every violation, even one that a known open hole explains (regression cases). */
  strict?: boolean;
}

interface RefOutcome {
  tokens: number[];
  invalid: readonly InvalidRow[];
  processed: Float64Array[];
}

function policyOf(c: FuzzCase): 'error' | 'uniform' | 'greedy' {
  return c.invalidRows ?? 'error';
}

function referenceOutcome(m: Materialized, c: FuzzCase): RefOutcome {
  const policy = policyOf(c);
  let tokens: number[];
  let invalid: readonly InvalidRow[] = [];
  try {
    tokens = reference.sample(m.rows, { ...m.twinOptions, invalidRows: 'error' }, c.step);
  } catch (e) {
    if (!(e instanceof InvalidRowsError)) throw e;
    invalid = e.rows;
    tokens = reference.sample(m.rows, { ...m.twinOptions, invalidRows: policy === 'error' ? 'uniform' : policy }, c.step);
  }
  return { tokens, invalid, processed: reference.process(m.rows, m.twinOptions) };
}

function rowMax(z: ArrayLike<number>): number {
  let mx = -Infinity;
  for (let j = 0; j < z.length; j++) if (z[j]! > mx) mx = z[j]!;
  return mx;
}

/** Per-row materialised scalar options of row r. */
function rowScalars(m: Materialized, r: number): { T: number; k: number; p: number; mp: number } {
  const o = m.twinOptions;
  const at = (v: SamplerOptions['topP'], off: number): number => (v === undefined ? off : typeof v === 'number' ? v : v[r]!);
  return { T: at(o.temperature, 1), k: at(o.topK, 0), p: at(o.topP, 1), mp: at(o.minP, 0) };
}

/** `opts` with row r's value of `key` replaced. */
function withRow(opts: SamplerOptions, B: number, key: 'topP' | 'temperature', r: number, value: number, off: number): SamplerOptions {
  const cur = opts[key];
  const arr = Array.from({ length: B }, (_, i) => (cur === undefined ? off : typeof cur === 'number' ? cur : cur[i]!));
  arr[r] = value;
  return { ...opts, [key]: arr };
}

/** Per-case memo of the reference runs that the boundary checks need. */
class Memo {
  private processed = new Map<string, Float64Array[]>();
  private raw: Float64Array[] | undefined;
  constructor(readonly m: Materialized) {}
  seed(key: string, z: Float64Array[]): void {
    this.processed.set(key, z);
  }
  /** reference.process with `opts` (memoised under `key`). */
  process(key: string, opts: SamplerOptions): Float64Array[] {
    let z = this.processed.get(key);
    if (!z) this.processed.set(key, (z = reference.process(this.m.rows, opts)));
    return z;
  }
  /** Each row after the custom processors only (no built-in), in float64. */
  afterProcessors(r: number): Float64Array {
    const { processors } = this.m.twinOptions;
    this.raw ??= reference.process(this.m.rows, { ...(processors ? { processors } : {}), invalidRows: 'uniform' });
    return this.raw[r]!;
  }
}

/**
 * Whether the reference's kept decision on `token` in row r sits on a float-rounding boundary:
 * it changes when p or T moves by a relative `delta`, or z_token is within `delta` (relative) of
 * the min-p threshold max z + T · ln m. Top-k compares logits exactly: never a boundary.
 */
export function keptFragile(memo: Memo, r: number, token: number, delta: number): boolean {
  const m = memo.m;
  const B = m.rows.length;
  const { T, p, mp } = rowScalars(m, r);
  // A row's maximum is always kept (top-p keeps the most probable token, min-p's threshold is at
  // most the max): never a boundary.
  const raw = memo.afterProcessors(r);
  if (raw[token] === rowMax(raw)) return false;
  const base = Number.isFinite(memo.process('base', m.twinOptions)[r]![token]!);
  const ok = (v: number): boolean => v > 0 && Number.isFinite(v);
  for (const f of [1 - delta, 1 + delta]) {
    if (p < 1 && ok(p * f) && Number.isFinite(memo.process(`p${r}:${f}`, withRow(m.twinOptions, B, 'topP', r, Math.min(1, p * f), 1))[r]![token]!) !== base)
      return true;
    if (p < 1 && T > 0 && ok(T * f) && Number.isFinite(memo.process(`T${r}:${f}`, withRow(m.twinOptions, B, 'temperature', r, T * f, 1))[r]![token]!) !== base)
      return true;
  }
  if (mp > 0) {
    // Threshold max z + T · ln m; exact (no rounding at all) when the offset is 0 (m = 1, greedy).
    const z = raw;
    const zmax = rowMax(z);
    const off = T === 0 || mp === 1 ? 0 : Math.log(mp) / nextInvTemperature(1, T);
    if (off !== 0 && Math.abs(z[token]! - (zmax + off)) <= delta * (Math.abs(zmax) + Math.abs(off))) return true;
  }
  return false;
}

/**
 * Whether a fused kept count `got` of row r differs from the reference's `want` only by float
 * rounding: it keeps whole groups of tied logits, and every token between the two counts (in
 * descending logit order) is on a rounding boundary (keptFragile). Greedy rows: never.
 */
function countExempt(memo: Memo, r: number, got: number, want: number, delta: number): boolean {
  const row = memo.m.rows[r]!;
  if (rowScalars(memo.m, r).T === 0) return false;
  const order = Array.from(row.keys())
    .filter((j) => row[j]! > -Infinity)
    .sort((a, b) => row[b]! - row[a]! || a - b);
  if (got < 1 || got > order.length || want < 1) return false;
  if (got < order.length && row[order[got - 1]!] === row[order[got]!]) return false; // a tie split
  for (let i = Math.min(got, want); i < Math.max(got, want); i++) if (!keptFragile(memo, r, order[i]!, delta)) return false;
  return true;
}

/** Whether tokens a and b of row r tie in the reference's perturbed scores within float rounding. */
function scoresTie(memo: Memo, c: FuzzCase, r: number, a: number, b: number): boolean {
  const m = memo.m;
  const { T } = rowScalars(m, r);
  if (T === 0) return false;
  const z = memo.afterProcessors(r);
  const zmax = rowMax(z);
  const sk = stepKey(rowKeys(m.twinOptions.seed!, m.rows.length)[r]!, c.step);
  const inv = nextInvTemperature(1, T);
  const da = (z[a]! - zmax) * inv;
  const db = (z[b]! - zmax) * inv;
  const ga = gumbel(sk, a);
  const gb = gumbel(sk, b);
  return Math.abs(da + ga - (db + gb)) <= 1e-5 * (Math.abs(da) + Math.abs(db) + Math.abs(ga) + Math.abs(gb) + 1);
}

function noiseTie(m: Materialized, c: FuzzCase, r: number, a: number, b: number): boolean {
  const sk = stepKey(rowKeys(m.twinOptions.seed!, m.rows.length)[r]!, c.step);
  return a >= 0 && a < c.V && gumbel(sk, a) === gumbel(sk, b);
}

function describeCaseRow(c: FuzzCase, m: Materialized, r: number): string {
  const { T, k, p, mp } = rowScalars(m, r);
  return `B ${m.rows.length} V ${c.V} row ${r}: T ${T}, k ${k}, p ${p}, m ${mp}, order ${c.order ? c.order.join('>') : 'default'}, processors ${c.processors.length}`;
}

/**
 * The kept counts the fused paths must report (as helpers/kept.ts referenceKeptCounts, from the
 * reference.process already computed): finite entries; greedy rows: entries tied at the max;
 * invalid rows: -1.
 */
function keptCounts(m: Materialized, _c: FuzzCase, processed: Float64Array[]): Int32Array {
  return Int32Array.from(processed, (z, r) => {
    const input = m.rows[r]!;
    if (input.some((v) => Number.isNaN(v) || v === Infinity) || !input.some((v) => v > -Infinity)) return -1;
    let finite = 0;
    let max = -Infinity;
    for (const v of z) {
      if (v > -Infinity) finite++;
      if (v > max) max = v;
    }
    if (finite === 0) return -1;
    if (rowScalars(m, r).T !== 0) return finite;
    let ties = 0;
    for (const v of z) if (v === max) ties++;
    return ties;
  });
}

/**
 * `sampler.sample(x)` with the backend's reads counted over that synchronous call alone (the
 * test's own reads of the ids come after): any read-back there is the library's.
 */
function sampleCounted(sampler: Sampler, x: tf.Tensor): tf.Tensor1D {
  const { result, reads } = countReads(() => sampler.sample(x));
  const hidden = readBacks(reads);
  if (hidden.length > 0) {
    result.dispose();
    throw new Error(`read-back inside sample() (${sampler.lastPath}): ${describeReads(hidden)}`);
  }
  return result;
}

/**
 * Draws the case's step: ids, and the fused kept counts when a fused path ran. The read-back
 * check runs on a draw with no fused observer (the GPU paths read the observer's counts back);
 * the observed draw must give the same ids.
 */
async function draw(c: FuzzCase, m: Materialized, x: tf.Tensor, checks: Checks): Promise<{ ids: Int32Array; counts: Int32Array | undefined; path: string }> {
  const sampler = createSampler(m.options);
  for (let s = 0; s < c.step; s++) sampler.sample(x).dispose();
  const t = sampleCounted(sampler, x);
  const path = sampler.lastPath;
  let ids: Int32Array;
  try {
    ids = Int32Array.from((await t.data()) as Int32Array);
  } finally {
    t.dispose();
  }
  registerFusedFlag();
  const fusedPossible = checks.fused && c.processors.length === 0 && c.order === undefined && tf.env().getBool('TFJS_SAMPLING_FUSED');
  if (!fusedPossible) return { ids, counts: undefined, path };
  sampler.reset();
  for (let s = 0; s < c.step; s++) sampler.sample(x).dispose();
  const result = await fusedKeptCounts(sampler, x);
  if (!result) return { ids, counts: undefined, path };
  if (result.path !== path) throw new Error(`the observed draw ran ${result.path}, the counted one ${path}`);
  expect(Array.from(result.ids), 'ids of the draw with the fused observer set').toEqual(Array.from(ids));
  return { ids, counts: result.counts, path };
}

/** What one case drew: the ids (undefined when a known hole explained a failure) and the rows whose token float rounding decided. */
export interface CaseResult {
  ids: Int32Array | undefined;
  rounding: Set<number>;
}

/** All properties of one case on the active backend; throws (for fast-check) on any violation. */
export async function checkCase(c: FuzzCase, tally: Tally, checks: Checks): Promise<CaseResult> {
  tally.cases++;
  const before = tf.memory().numTensors;
  let failure: unknown;
  let result: CaseResult | undefined;
  try {
    result = await checkCaseInner(c, tally, checks);
  } catch (e) {
    failure = e;
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) throw new Error(`${leaked} tensor(s) leaked${failure instanceof Error ? ` (and: ${failure.message})` : ''}`);
  if (result) return result;
  // A failure that open holes explain is counted under them (unless checks.strict): the case
  // without the rows that can hit a known hole must pass (those rows removed until none is left).
  if (checks.strict) throw failure;
  let rest: FuzzCase | undefined = c;
  const ids = new Set<string>();
  const neutral = new Set<number>();
  for (let round = 0; rest && round < 2 * c.rows.length + 2; round++) {
    const holes = knownHoles(rest, materialize(rest), tf.getBackend());
    if (holes.ids.length === 0) break;
    holes.ids.forEach((id) => ids.add(id));
    // First replace the rows by plain ones (same shape); rows that stay in a hole (a processor
    // puts them there) are removed.
    if ([...holes.rows].every((r) => neutral.has(r))) {
      rest = withoutRows(rest, holes.rows);
      neutral.clear();
    } else {
      rest = neutralRows(rest, holes.rows);
      holes.rows.forEach((r) => neutral.add(r));
    }
  }
  if (ids.size === 0) throw failure;
  if (rest) {
    try {
      await checkCase(rest, newTally(), { ...checks, strict: true });
    } catch (e) {
      if (e instanceof Error) e.message = `with the rows of known holes (${[...ids].join(', ')}) removed: ${e.message}`;
      throw e;
    }
  }
  for (const id of ids) tally.known[id] = (tally.known[id] ?? 0) + 1;
  return { ids: undefined, rounding: new Set() };
}

async function checkCaseInner(c: FuzzCase, tally: Tally, checks: Checks): Promise<CaseResult> {
  const m = materialize(c);
  const policy = policyOf(c);
  if (m.twinless) {
    // The reference refuses a processor without a float64 twin, naming it; the sampler still runs.
    tally.twinless++;
    let refused: unknown;
    try {
      reference.sample(m.rows, m.options, c.step);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(SamplingError);
    expect(refused).not.toBeInstanceOf(InvalidRowsError);
    expect((refused as SamplingError).argument).toMatch(/^processors\[\d+\]$/);
  }
  const ref = referenceOutcome(m, c);
  const memo = new Memo(m);
  memo.seed('base', ref.processed);
  const invalid = new Map(ref.invalid.map((x) => [x.row, x]));
  const x = caseTensor(c, m.rows);
  try {
    const { ids, counts, path } = await draw(c, m, x, checks);
    const rounding = new Set<number>();
    tally.rows += m.rows.length;
    // The fused cpu/wasm kernels decide in float64: only float64-sized rounding is exempt there.
    const delta = path === 'fused:cpu' || path === 'fused:wasm' ? 1e-12 : checks.delta;
    tally.invalidRows += invalid.size;
    tally.paths[path] = (tally.paths[path] ?? 0) + 1;
    expect(ids.length).toBe(m.rows.length);
    // Invalid rows.
    if (policy === 'error') {
      expect(invalidRowsIn(ids)).toEqual([...ref.invalid]);
    }
    for (let r = 0; r < m.rows.length; r++) {
      const got = ids[r]!;
      const want = ref.tokens[r]!;
      if (invalid.has(r)) {
        if (policy === 'error' || got === want) continue;
        if (policy === 'uniform' && noiseTie(m, c, r, got, want)) {
          tally.noiseTie++;
          rounding.add(r);
          continue;
        }
        throw new Error(`invalid row ${r} (${invalid.get(r)!.cause}) under '${policy}': token ${got}, reference ${want}`);
      }
      if (!(Number.isInteger(got) && got >= 0 && got < c.V)) {
        throw new Error(`valid row ${r}: token ${got} is not a vocabulary index (reference ${want})`);
      }
      const kept = ref.processed[r]!;
      const inKept = Number.isFinite(kept[got]!);
      if (got === want) {
        tally.equal++;
        continue;
      }
      // Different tokens: allowed only where float rounding decides (a kept decision on either
      // token, or the two perturbed scores).
      rounding.add(r);
      if (keptFragile(memo, r, got, delta) || keptFragile(memo, r, want, delta)) {
        if (m.atMass.has(r)) tally.keptBoundaryAtMass++;
        else {
          tally.keptBoundary++;
          tally.examples.push(`kept boundary: ${describeCaseRow(c, m, r)}: ${got} vs ${want}`);
        }
      } else if (!inKept) {
        throw new Error(`row ${r}: token ${got} is NOT in the reference kept set (not a rounding boundary), reference ${want} — ${describeCaseRow(c, m, r)}`);
      } else if (scoresTie(memo, c, r, got, want)) {
        tally.scoreTie++;
        tally.examples.push(`score tie: ${describeCaseRow(c, m, r)}: ${got} vs ${want}`);
      } else {
        throw new Error(`row ${r}: token ${got}, reference ${want} (both kept; not a rounding boundary) — ${describeCaseRow(c, m, r)}`);
      }
    }
    // A token outside the kept set is wrong even when it equals the reference's (cannot happen
    // unless the reference is wrong): check the reference against itself.
    for (let r = 0; r < m.rows.length; r++) {
      if (!invalid.has(r) && !Number.isFinite(ref.processed[r]![ref.tokens[r]!]!)) {
        throw new Error(`reference row ${r}: reference.sample's token ${ref.tokens[r]} is not in reference.process's kept set`);
      }
    }
    if (policy === 'error' && invalid.size > 0) {
      // sampleIds throws the reference's error and leaves nothing behind.
      const s2 = createSampler(m.options);
      for (let s = 0; s < c.step; s++) s2.sample(x).dispose();
      const err = await s2.sampleIds(x).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidRowsError);
      expect((err as InvalidRowsError).rows).toEqual([...ref.invalid]);
    }
    if (counts) {
      const want = keptCounts(m, c, ref.processed);
      for (let r = 0; r < m.rows.length; r++) {
        tally.fusedRows++;
        if (counts[r] === want[r]) continue;
        if (countExempt(memo, r, counts[r]!, want[r]!, delta)) {
          if (m.atMass.has(r)) tally.fusedExemptAtMass++;
          else {
            tally.fusedExempt++;
            tally.examples.push(`fused count: ${describeCaseRow(c, m, r)}: ${counts[r]} vs ${want[r]}`);
          }
          continue;
        }
        throw new Error(`fused kept count row ${r} (${path}): ${counts[r]}, reference ${want[r]} — ${describeCaseRow(c, m, r)}`);
      }
    }
    if (checks.process) {
      const t = createSampler(m.options).process(x);
      const z = (await t.data()) as Float32Array;
      t.dispose();
      for (let r = 0; r < m.rows.length; r++) {
        if (invalid.has(r)) continue;
        tally.processRows++;
        const want = ref.processed[r]!;
        let boundary = false;
        for (let j = 0; j < c.V; j++) {
          const a = z[r * c.V + j]!;
          const b = want[j]!;
          const ka = Number.isFinite(a);
          if (!sameKept(a, b)) {
            // Only a kept / filtered (finite / -Infinity) disagreement can be rounding; a NaN or
            // +Infinity where the reference has none never is.
            const keptVsFiltered = (ka && b === -Infinity) || (a === -Infinity && Number.isFinite(b));
            if (keptVsFiltered && keptFragile(memo, r, j, checks.delta)) {
              if (!boundary && !m.atMass.has(r)) tally.examples.push(`process boundary: ${describeCaseRow(c, m, r)}: token ${j}`);
              boundary = true;
              continue;
            }
            throw new Error(`process() row ${r} token ${j}: ${a}, reference ${b} (kept ${Number.isFinite(b)}) — ${describeCaseRow(c, m, r)}`);
          }
          if (ka && Math.abs(a - b) > 1e-6 * Math.abs(b) + 1e-37) {
            throw new Error(`process() row ${r} token ${j}: value ${a}, reference ${b} — ${describeCaseRow(c, m, r)}`);
          }
        }
        if (boundary && m.atMass.has(r)) tally.processBoundaryAtMass++;
        else if (boundary) tally.processBoundary++;
      }
    }
    return { ids, rounding };
  } finally {
    x.dispose();
  }
}
