/** A value shown in an error message as a description, not as a quoted string. */
export class Described {
  constructor(readonly text: string) {}
}

/**
 * The one error class of the library. Every bad argument or invalid row raises it (or its
 * subclass {@link InvalidRowsError}); `argument`, `rule` and `value` say exactly what was wrong.
 *
 * @example
 * try {
 *   createSampler({ topP: 2 });
 * } catch (e) {
 *   if (e instanceof SamplingError) console.log(e.message); // names topP, the rule and the value 2
 * }
 */
export class SamplingError extends Error {
  /** `'SamplingError'`: the class name, for `instanceof`-free checks. */
  override readonly name: string = 'SamplingError';
  constructor(
    /** The argument (or option) at fault, e.g. `topP` or `logits`. */
    readonly argument: string,
    /** The rule it broke, in words. */
    readonly rule: string,
    /** The offending value. */
    readonly value: unknown,
    hint?: string,
  ) {
    super(`\`${argument}\` ${rule}, but is ${show(value)}${hint ? `. ${hint}` : ''}`);
  }
}

/** Why a row cannot be sampled. */
export type InvalidRowCause = 'nan' | 'positive-infinity' | 'no-finite-logit';

/** One row that cannot be sampled, and why. */
export interface InvalidRow {
  /** The row's index in the batch. */
  row: number;
  /** What is wrong with it. */
  cause: InvalidRowCause;
  /**
   * Where the bad value came from: the caller's logits (`'input'`), or a processor of the chain
   * (`'processor'`: the input row was valid, the processed row holds NaN or +Infinity). Rows
   * left with no finite logit are reported as `'input'` when the input row had none.
   */
  source?: 'input' | 'processor';
}

/**
 * Rows whose logits hold NaN or +Infinity, or that have no finite logit left.
 *
 * @example
 * try {
 *   await createSampler().sampleIds(tf.tensor2d([[0, NaN]]));
 * } catch (e) {
 *   if (e instanceof InvalidRowsError) console.log(e.rows); // [{ row: 0, cause: 'nan', source: 'input' }]
 * }
 */
export class InvalidRowsError extends SamplingError {
  /** `'InvalidRowsError'`. */
  override readonly name: string = 'InvalidRowsError';
  /** @param rows The invalid rows, in row order. */
  constructor(readonly rows: readonly InvalidRow[]) {
    super(
      'logits',
      'must have finite logits (or -Infinity masks) and at least one finite logit per row',
      new Described(describeRows(rows)),
      'Pass `invalidRows: "uniform"` or `"greedy"` to sample such rows instead of failing',
    );
  }
}

const CAUSE_TEXT: Record<InvalidRowCause, string> = {
  nan: 'NaN',
  'positive-infinity': '+Infinity',
  'no-finite-logit': 'no finite logit',
};

function describeRows(rows: readonly InvalidRow[]): string {
  const shown = rows.slice(0, 8).map((r) => `row ${r.row}: ${CAUSE_TEXT[r.cause]}${r.source === 'processor' ? ' produced by a processor' : ''}`);
  if (rows.length > 8) shown.push(`… ${rows.length - 8} more`);
  return `invalid in ${rows.length} row(s) (${shown.join('; ')})`;
}

function show(value: unknown): string {
  if (value instanceof Described) return value.text;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  // 0n, not 0: a bigint is not a number, and "must be a finite number, but is 0" would say it is.
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof DataView) return `a DataView of ${value.byteLength} bytes`;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const arr = Array.from(value as ArrayLike<unknown>);
    const head = arr
      .slice(0, 6)
      .map((v) => show(v))
      .join(', ');
    return `[${head}${arr.length > 6 ? `, … (${arr.length} values)` : ''}]`;
  }
  if (value === null || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
