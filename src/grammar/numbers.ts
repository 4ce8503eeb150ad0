// Exact grammars for bounded JSON numbers. xgrammar 0.1.27 turns `minimum` / `maximum` into
// grammars that accept values outside the bounds (e.g. 129 for maximum 120, 2.5 for maximum 2),
// so bounded numbers are swapped for placeholders before its conversion and replaced by these.
import { SamplingError } from '../errors.js';

/** EBNF for the canonical decimal strings (no leading zeros) of the integers in [lo, hi] (hi undefined: no bound), lo >= 0. */
export function naturalRange(lo: bigint, hi: bigint | undefined): string {
  const alts: string[] = [];
  const loDigits = lo.toString().length;
  const hiDigits = hi === undefined ? undefined : hi.toString().length;
  for (let d = loDigits; hiDigits === undefined ? d <= loDigits : d <= hiDigits; d++) {
    const first = d === 1 ? 0n : 10n ** BigInt(d - 1);
    const last = 10n ** BigInt(d) - 1n;
    const a = lo > first ? lo : first;
    const b = hi !== undefined && hi < last ? hi : last;
    if (a <= b) alts.push(sameLength(a.toString(), b.toString().padStart(d, '0')));
  }
  // No upper bound: every longer number.
  if (hi === undefined) alts.push(`[1-9] [0-9]{${loDigits}} [0-9]*`);
  return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
}

/** EBNF for the digit strings of one length between x and y (x <= y, same length). */
function sameLength(x: string, y: string): string {
  if (x.length === 0) return '""';
  if (x === y) return `"${x}"`;
  if (x[0] === y[0]) return seq(`"${x[0]}"`, sameLength(x.slice(1), y.slice(1)));
  const n = x.length - 1;
  const rest = n === 0 ? '' : `[0-9]{${n}}`;
  const x0 = Number(x[0]);
  const y0 = Number(y[0]);
  const lowFull = /^0*$/.test(x.slice(1));
  const highFull = /^9*$/.test(y.slice(1));
  const alts: string[] = [];
  const from = lowFull ? x0 : x0 + 1;
  const to = highFull ? y0 : y0 - 1;
  if (!lowFull) alts.push(seq(`"${x[0]}"`, sameLength(x.slice(1), '9'.repeat(n))));
  if (from <= to) alts.push(seq(from === to ? `"${from}"` : `[${from}-${to}]`, rest));
  if (!highFull) alts.push(seq(`"${y[0]}"`, sameLength('0'.repeat(n), y.slice(1))));
  return alts.length === 1 ? alts[0]! : `(${alts.join(' | ')})`;
}

function seq(a: string, b: string): string {
  return b === '' || b === '""' ? a : `${a} ${b}`;
}

interface Bound {
  value: bigint;
  exclusive: boolean;
}

/** EBNF for the non-negative numbers y with lo <(=) y <(=) hi, with or without a fraction. */
function nonNegative(lo: Bound, hi: Bound | undefined, fraction: boolean): string[] {
  if (!fraction) {
    const a = lo.exclusive ? lo.value + 1n : lo.value;
    const b = hi === undefined ? undefined : hi.exclusive ? hi.value - 1n : hi.value;
    return b !== undefined && b < a ? [] : [naturalRange(a, b)];
  }
  const anyFraction = '("." [0-9]+)?';
  const alts: string[] = [];
  // Integer parts strictly inside: any fraction.
  const a = lo.exclusive ? lo.value + 1n : lo.value;
  const b = hi === undefined ? undefined : hi.value - 1n;
  if (b === undefined || a <= b) alts.push(seq(naturalRange(a, b), anyFraction));
  // lo itself with a fraction that is not zero (lo excluded), below hi.
  if (lo.exclusive && (hi === undefined || hi.value > lo.value)) alts.push(`"${lo.value}" "." [0-9]* [1-9] [0-9]*`);
  // hi itself, with zeros only after the point (hi included).
  if (hi !== undefined && !hi.exclusive && (hi.value > lo.value || (hi.value === lo.value && !lo.exclusive))) alts.push(`"${hi.value}" ("." "0"+)?`);
  return alts;
}

/**
 * EBNF for the JSON numbers (no exponent) of a bounded `integer` or `number` schema. Bounds of
 * an integer may be any numbers; those of a number must be integers (a decimal bound such as
 * 1.5 is refused, not approximated).
 */
export function numberRange(schema: Record<string, unknown>, path: string): string {
  const integer = schema.type === 'integer';
  const read = (key: string): number | undefined => {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SamplingError(`${path}.${key}`, 'must be a finite number', v);
    if (!integer && !Number.isInteger(v)) throw new SamplingError(`${path}.${key}`, 'must be an integer for a bounded "number" (decimal bounds are not supported; use "integer" or integer bounds)', v);
    if (Math.abs(v) > Number.MAX_SAFE_INTEGER) throw new SamplingError(`${path}.${key}`, 'must be a safe integer in magnitude', v);
    return v;
  };
  const minimum = read('minimum');
  const maximum = read('maximum');
  const exMin = read('exclusiveMinimum');
  const exMax = read('exclusiveMaximum');
  // The tighter of each pair; for integers, fractional bounds round inwards.
  let lo: Bound | undefined;
  let hi: Bound | undefined;
  const tighterLo = (v: number, exclusive: boolean): void => {
    const b = integer ? { value: BigInt(exclusive ? Math.floor(v) + 1 : Math.ceil(v)), exclusive: false } : { value: BigInt(v), exclusive };
    if (!lo || b.value > lo.value || (b.value === lo.value && b.exclusive)) lo = b;
  };
  const tighterHi = (v: number, exclusive: boolean): void => {
    const b = integer ? { value: BigInt(exclusive ? Math.ceil(v) - 1 : Math.floor(v)), exclusive: false } : { value: BigInt(v), exclusive };
    if (!hi || b.value < hi.value || (b.value === hi.value && b.exclusive)) hi = b;
  };
  if (minimum !== undefined) tighterLo(minimum, false);
  if (exMin !== undefined) tighterLo(exMin, true);
  if (maximum !== undefined) tighterHi(maximum, false);
  if (exMax !== undefined) tighterHi(exMax, true);
  const L = lo as Bound | undefined;
  const H = hi as Bound | undefined;
  const alts: string[] = [];
  // x >= 0.
  if (H === undefined || H.value > 0n || (H.value === 0n && !H.exclusive)) {
    const from = L === undefined || L.value < 0n ? { value: 0n, exclusive: false } : L;
    alts.push(...nonNegative(from, H, !integer));
  }
  // x < 0, written "-" y with y > 0.
  if (L === undefined || L.value < 0n) {
    const from = H === undefined || H.value >= 0n ? { value: 0n, exclusive: true } : { value: -H.value, exclusive: H.exclusive };
    const to = L === undefined ? undefined : { value: -L.value, exclusive: L.exclusive };
    for (const alt of nonNegative(from, to, !integer)) alts.push(`"-" ${alt}`);
  }
  if (alts.length === 0) throw new SamplingError(path, 'must admit at least one number (its bounds exclude every value)', schema);
  return `(${alts.join(' | ')})`;
}

const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];

/**
 * The schema with each bounded integer / number subschema replaced by a string constant that
 * names a placeholder, and the EBNF of each placeholder. Only plain subschemas are replaced
 * (`type` "integer" or "number" with bounds, no other keywords but descriptions); a bounded
 * number mixed with other keywords is refused.
 */
export function replaceBoundedNumbers(schema: unknown): { schema: unknown; ranges: string[] } {
  const ranges: string[] = [];
  const walk = (node: unknown, path: string): unknown => {
    if (Array.isArray(node)) return node.map((v, i) => walk(v, `${path}[${i}]`));
    if (typeof node !== 'object' || node === null) return node;
    const obj = node as Record<string, unknown>;
    if ((obj.type === 'integer' || obj.type === 'number') && BOUNDS.some((k) => k in obj)) {
      const other = Object.keys(obj).filter((k) => k !== 'type' && !BOUNDS.includes(k) && k !== 'description' && k !== 'title');
      if (other.length > 0) throw new SamplingError(path, 'must be a bounded number without other keywords (only type, minimum, maximum, exclusiveMinimum, exclusiveMaximum, title, description)', other);
      ranges.push(numberRange(obj, path));
      return { const: placeholder(ranges.length - 1) };
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) out[k] = k === 'enum' || k === 'const' ? v : walk(v, `${path}.${k}`);
    return out;
  };
  return { schema: walk(schema, 'jsonSchema'), ranges };
}

/** The string constant that stands for range i while xgrammar converts the schema. */
export function placeholder(i: number): string {
  return `__tfjs_sampling_number_${i}__`;
}
