// Exact grammars for bounded JSON numbers. xgrammar 0.1.27 turns `minimum` / `maximum` into
// grammars that accept values outside the bounds (e.g. 129 for maximum 120, 2.5 for maximum 2),
// and it also mis-compiles some ambiguous alternations of digit ranges (e.g. it accepts 10000
// for `([0-9] | [1-9] [0-9] | [1-9] [0-9] [0-9]) ("." [0-9]+)? | "1000"`). So bounded numbers are
// swapped for placeholders before its schema conversion and replaced by rules written here as a
// deterministic automaton: every rule chooses its alternative by the next character alone.
import { Described, SamplingError } from '../errors.js';

/** What follows a complete integer part. */
type Tail = 'end' | 'anyFraction' | 'zeroFraction' | 'nonzeroFraction';

/** A set of strings the automaton still may read. */
type Item =
  /** Digit strings of L's length between L and H (same length), then the tail. */
  | { readonly k: 'box'; readonly L: string; readonly H: string; readonly tail: Tail }
  /** A digit 1–9, then at least `min` digits, then the tail (unbounded integer parts). */
  | { readonly k: 'lead'; readonly min: number; readonly tail: Tail }
  /** At least `min` digits, then the tail. */
  | { readonly k: 'free'; readonly min: number; readonly tail: Tail }
  /**
   * After the point: digits (one at least), zeros (one at least), or digits with a nonzero one;
   * `left`: how many more digits may follow (-1: no limit).
   */
  | { readonly k: 'digits' | 'digits1' | 'zeros' | 'zeros1' | 'nonzero'; readonly left: number };

const DIGITS = '0123456789';

function key(items: readonly Item[]): string {
  return items
    .map((i) => JSON.stringify(i))
    .sort()
    .join('|');
}

/** The items after the point for a tail, with at most `places` digits (-1: no limit). */
function afterPoint(tail: Tail, places: number): Item | undefined {
  if (tail === 'anyFraction') return { k: 'digits1', left: places };
  if (tail === 'zeroFraction') return { k: 'zeros1', left: places };
  if (tail === 'nonzeroFraction') return { k: 'nonzero', left: places };
  return undefined;
}

function accepts(items: readonly Item[]): boolean {
  return items.some((i) => {
    if (i.k === 'box') return i.L.length === 0 && i.tail !== 'nonzeroFraction';
    if (i.k === 'free') return i.min === 0 && i.tail !== 'nonzeroFraction';
    return i.k === 'digits' || i.k === 'zeros';
  });
}

function step(items: readonly Item[], ch: string, places: number): Item[] {
  const out: Item[] = [];
  const add = (i: Item): void => {
    // Dead ends (a digit still needed, none allowed) are no state: every state can complete.
    if ((i.k === 'nonzero' || i.k === 'digits1' || i.k === 'zeros1') && i.left === 0) return;
    if (!out.some((o) => JSON.stringify(o) === JSON.stringify(i))) out.push(i);
  };
  const digit = DIGITS.includes(ch);
  for (const i of items) {
    switch (i.k) {
      case 'box':
        if (i.L.length === 0) {
          const next = ch === '.' ? afterPoint(i.tail, places) : undefined;
          if (next) add(next);
        } else if (digit && ch >= i.L[0]! && ch <= i.H[0]!) {
          const n = i.L.length - 1;
          add({ k: 'box', L: ch === i.L[0] ? i.L.slice(1) : '0'.repeat(n), H: ch === i.H[0] ? i.H.slice(1) : '9'.repeat(n), tail: i.tail });
        }
        break;
      case 'lead':
        if (digit && ch !== '0') add({ k: 'free', min: i.min, tail: i.tail });
        break;
      case 'free':
        if (digit) add({ k: 'free', min: Math.max(0, i.min - 1), tail: i.tail });
        else if (ch === '.' && i.min === 0) {
          const next = afterPoint(i.tail, places);
          if (next) add(next);
        }
        break;
      default: {
        if (!digit || i.left === 0) break;
        const left = i.left < 0 ? -1 : i.left - 1;
        if (i.k === 'digits' || i.k === 'digits1') add({ k: 'digits', left });
        else if (i.k === 'zeros' || i.k === 'zeros1') {
          if (ch === '0') add({ k: 'zeros', left });
        } else add({ k: ch === '0' ? 'nonzero' : 'digits', left });
      }
    }
  }
  return out;
}

/** A character class for a set of characters (digits and the point). */
function charClass(chars: string[]): string {
  if (chars.length === 1) return `"${chars[0]}"`;
  const parts: string[] = [];
  const sorted = [...chars].sort();
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]!.charCodeAt(0) === sorted[j]!.charCodeAt(0) + 1 && sorted[j + 1] !== '.' && sorted[i] !== '.') j++;
    parts.push(j > i + 1 ? `${sorted[i]}-${sorted[j]}` : sorted.slice(i, j + 1).join(''));
    i = j + 1;
  }
  return `[${parts.join('')}]`;
}

/**
 * Rules for the strings the items accept, named `${prefix}_s<i>`, the first one the start:
 * one rule per automaton state, each alternative led by the characters that reach its state.
 */
function automaton(start: Item[], prefix: string, places: number): string[] {
  const names = new Map<string, string>();
  const queue: Item[][] = [];
  const nameOf = (items: Item[]): string => {
    const k = key(items);
    let n = names.get(k);
    if (n === undefined) {
      n = `${prefix}_s${names.size}`;
      names.set(k, n);
      queue.push(items);
    }
    return n;
  };
  nameOf(start);
  const rules: string[] = [];
  for (let q = 0; q < queue.length; q++) {
    const items = queue[q]!;
    const byTarget = new Map<string, { chars: string[]; items: Item[] }>();
    for (const ch of `${DIGITS}.`) {
      const next = step(items, ch, places);
      if (next.length === 0) continue;
      const k = key(next);
      const entry = byTarget.get(k) ?? { chars: [], items: next };
      entry.chars.push(ch);
      byTarget.set(k, entry);
    }
    const alts = [...byTarget.values()].map(({ chars, items: next }) => {
      const ends = accepts(next) && [...`${DIGITS}.`].every((c) => step(next, c, places).length === 0);
      return ends ? charClass(chars) : `${charClass(chars)} ${nameOf(next)}`;
    });
    const body = alts.length === 0 ? '""' : alts.join(' | ');
    rules.push(`${prefix}_s${q} ::= ${accepts(items) && alts.length > 0 ? `(${body})?` : body}`);
  }
  return rules;
}

interface Bound {
  value: bigint;
  exclusive: boolean;
}

/** The items of the canonical integers in [lo, hi] (hi undefined: no bound), lo >= 0, then the tail. */
function naturals(lo: bigint, hi: bigint | undefined, tail: Tail): Item[] {
  const items: Item[] = [];
  const loDigits = lo.toString().length;
  const top = hi === undefined ? loDigits : hi.toString().length;
  for (let d = loDigits; d <= top; d++) {
    const first = d === 1 ? 0n : 10n ** BigInt(d - 1);
    const last = 10n ** BigInt(d) - 1n;
    const a = lo > first ? lo : first;
    const b = hi !== undefined && hi < last ? hi : last;
    if (a <= b) items.push({ k: 'box', L: a.toString(), H: b.toString(), tail });
  }
  if (hi === undefined) items.push({ k: 'lead', min: loDigits, tail });
  return items;
}

/** The items of the non-negative numbers y with lo <(=) y <(=) hi, with or without a fraction. */
function nonNegative(lo: Bound, hi: Bound | undefined, fraction: boolean): Item[] {
  if (!fraction) {
    const a = lo.exclusive ? lo.value + 1n : lo.value;
    const b = hi === undefined ? undefined : hi.exclusive ? hi.value - 1n : hi.value;
    return b !== undefined && b < a ? [] : naturals(a, b, 'end');
  }
  const items: Item[] = [];
  // Integer parts strictly inside: any fraction.
  const a = lo.exclusive ? lo.value + 1n : lo.value;
  const b = hi === undefined ? undefined : hi.value - 1n;
  if (b === undefined || a <= b) items.push(...naturals(a, b, 'anyFraction'));
  // lo itself with a fraction that is not zero (lo excluded), below hi.
  if (lo.exclusive && (hi === undefined || hi.value > lo.value)) items.push(...naturals(lo.value, lo.value, 'nonzeroFraction'));
  // hi itself, with zeros only after the point (hi included).
  if (hi !== undefined && !hi.exclusive && (hi.value > lo.value || (hi.value === lo.value && !lo.exclusive)))
    items.push(...naturals(hi.value, hi.value, 'zeroFraction'));
  return items;
}

/**
 * The rules of the JSON numbers (no exponent, no "-0") of a bounded `integer` or `number`
 * schema, the first rule (`${prefix}`) the start. Bounds of an integer may be any numbers; those
 * of a number must be integers (a decimal bound such as 1.5 is refused, not approximated).
 */
export function numberRange(schema: Record<string, unknown>, path: string, prefix = 'tfjs_number'): string[] {
  const places = decimalPlaces(schema, path);
  const integer = schema.type === 'integer' || places === 0;
  const read = (k: string): number | undefined => {
    const v = schema[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SamplingError(`${path}.${k}`, 'must be a finite number', v);
    if (!integer && !Number.isInteger(v))
      throw new SamplingError(
        `${path}.${k}`,
        'must be an integer for a bounded "number" (decimal bounds are not supported; use "integer" or integer bounds)',
        v,
      );
    if (Math.abs(v) > Number.MAX_SAFE_INTEGER) throw new SamplingError(`${path}.${k}`, 'must be a safe integer in magnitude', v);
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
  // x >= 0.
  const positive =
    H === undefined || H.value > 0n || (H.value === 0n && !H.exclusive)
      ? nonNegative(L === undefined || L.value < 0n ? { value: 0n, exclusive: false } : L, H, !integer)
      : [];
  // x < 0, written "-" y with y > 0.
  const negative =
    L === undefined || L.value < 0n
      ? nonNegative(
          H === undefined || H.value >= 0n ? { value: 0n, exclusive: true } : { value: -H.value, exclusive: H.exclusive },
          L === undefined ? undefined : { value: -L.value, exclusive: L.exclusive },
          !integer,
        )
      : [];
  if (positive.length === 0 && negative.length === 0) throw new SamplingError(path, 'must admit at least one number (its bounds exclude every value)', schema);
  const alts: string[] = [];
  const rules: string[] = [];
  if (negative.length > 0) {
    rules.push(...automaton(negative, `${prefix}_neg`, places));
    alts.push(`"-" ${prefix}_neg_s0`);
  }
  if (positive.length > 0) {
    rules.push(...automaton(positive, `${prefix}_pos`, places));
    alts.push(`${prefix}_pos_s0`);
  }
  return [`${prefix} ::= ${alts.join(' | ')}`, ...rules];
}

/**
 * The most digits after the point `multipleOf` allows: 1 → 0, 0.1 → 1, 0.01 → 2, …; -1 without
 * it. Other values are refused (a power of ten is what a grammar can say exactly).
 */
function decimalPlaces(schema: Record<string, unknown>, path: string): number {
  const m = schema.multipleOf;
  if (m === undefined) return -1;
  const k = typeof m === 'number' && m > 0 ? Math.round(-Math.log10(m)) : NaN;
  if (!(k >= 0 && k <= 15 && Math.abs((m as number) - 10 ** -k) <= 1e-9 * (m as number))) {
    throw new SamplingError(`${path}.multipleOf`, 'must be 1, 0.1, 0.01, … (a power of ten <= 1: the number of decimal places)', m);
  }
  return k;
}

const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf'];

/** Keywords whose value maps names to subschemas: a name there is no keyword (a property may be called "enum"). */
export const SCHEMA_MAPS: readonly string[] = ['properties', 'patternProperties', '$defs', 'definitions'];
/** Keywords whose value is data, not a schema. */
export const DATA_KEYWORDS: readonly string[] = ['enum', 'const', 'default', 'examples'];
/**
 * Keywords xgrammar 0.1.27 ignores (measured: `not: { const: 3 }` lets 3 through, `contains`,
 * `if` / `then`, `dependentRequired`, `dependentSchemas` and `dependencies` are not enforced, and
 * of an `allOf` of two schemas it let 9 through `{ maximum: 3 }`):
 * output that breaks them would look valid, so they are refused, as `uniqueItems` is.
 */
const IGNORED = ['not', 'contains', 'minContains', 'maxContains', 'if', 'then', 'else', 'dependentRequired', 'dependentSchemas', 'dependencies'];

/**
 * The schema with each bounded integer / number subschema replaced by a string constant that
 * names a placeholder, and the rules of each placeholder (its start rule named `rule(i)`). Only
 * plain subschemas are replaced (`type` "integer" or "number" with bounds, no other keywords but
 * a title and a description; a type array such as ["integer", "null"] becomes an `anyOf` of the
 * bounded number and the other types); a bounded number mixed with other keywords, bounds
 * without a numeric type, and keywords xgrammar ignores are refused.
 */
export function replaceBoundedNumbers(schema: unknown): { schema: unknown; ranges: string[][] } {
  const ranges: string[][] = [];
  const bounded = (obj: Record<string, unknown>, type: string, path: string): { const: string } => {
    const other = Object.keys(obj).filter((k) => k !== 'type' && !BOUNDS.includes(k) && k !== 'description' && k !== 'title');
    if (other.length > 0)
      throw new SamplingError(
        path,
        'must be a bounded number without other keywords (only type, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, title, description)',
        other,
      );
    ranges.push(numberRange({ ...obj, type }, path, rangeRule(ranges.length)));
    return { const: placeholder(ranges.length - 1) };
  };
  const walk = (node: unknown, path: string): unknown => {
    if (Array.isArray(node)) return node.map((v, i) => walk(v, `${path}[${i}]`));
    if (typeof node !== 'object' || node === null) return node;
    const obj = node as Record<string, unknown>;
    if (BOUNDS.some((k) => k in obj)) {
      if (obj.type === 'integer' || obj.type === 'number') return bounded(obj, obj.type, path);
      const types = Array.isArray(obj.type) ? (obj.type as unknown[]) : undefined;
      if (types?.includes('integer') || types?.includes('number')) {
        // xgrammar applies the bounds of a type array as loosely as any (129 for maximum 120).
        const numeric = types.includes('number') ? 'number' : 'integer';
        const others = types.filter((t) => t !== 'integer' && t !== 'number');
        const number = bounded(
          Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'type' && (BOUNDS.includes(k) || k === 'title' || k === 'description'))),
          numeric,
          path,
        );
        const rest = Object.fromEntries(Object.entries(obj).filter(([k]) => k !== 'type' && !BOUNDS.includes(k)));
        if (Object.keys(rest).some((k) => k !== 'title' && k !== 'description'))
          throw new SamplingError(
            path,
            'must be a bounded number without other keywords (only type, minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf, title, description)',
            Object.keys(rest).filter((k) => k !== 'title' && k !== 'description'),
          );
        return others.length === 0 ? number : { anyOf: [number, { ...rest, type: others.length === 1 ? others[0] : others }] };
      }
      if (obj.type === undefined)
        throw new SamplingError(
          path,
          'must have type "integer" or "number" with minimum, maximum, exclusiveMinimum, exclusiveMaximum or multipleOf (xgrammar ignores bounds on a schema without a type)',
          Object.keys(obj).filter((k) => BOUNDS.includes(k)),
        );
    }
    // xgrammar 0.1.27 ignores these: output that breaks them would look valid.
    if (obj.uniqueItems === true)
      throw new SamplingError(`${path}.uniqueItems`, 'cannot be enforced by a grammar (xgrammar ignores it): remove it and check the output', true);
    for (const k of IGNORED) {
      if (k in obj) throw new SamplingError(`${path}.${k}`, 'cannot be enforced by a grammar (xgrammar ignores it): remove it and check the output', obj[k]);
    }
    if (Array.isArray(obj.allOf) && obj.allOf.length > 1)
      throw new SamplingError(
        `${path}.allOf`,
        'must have one schema at most (xgrammar 0.1.27 does not enforce several): merge them into one schema',
        new Described(`${obj.allOf.length} schemas`),
      );
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(obj)) {
      if (DATA_KEYWORDS.includes(k)) out[k] = v;
      else if (SCHEMA_MAPS.includes(k) && typeof v === 'object' && v !== null && !Array.isArray(v))
        out[k] = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, walk(sub, `${path}.${k}.${name}`)]));
      else out[k] = walk(v, `${path}.${k}`);
    }
    return out;
  };
  return { schema: walk(schema, 'jsonSchema'), ranges };
}

/** The string constant that stands for range i while xgrammar converts the schema. */
export function placeholder(i: number): string {
  return `__tfjs_sampling_number_${i}__`;
}

/** The start rule of range i. */
export function rangeRule(i: number): string {
  return `tfjs_number_${i}`;
}
