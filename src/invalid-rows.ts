// The invalid-row rule and its codes, shared by the tensor paths and the float64 reference.
// Never imports tfjs.
import { InvalidRowsError, type InvalidRow, type InvalidRowCause } from './errors.js';

/**
 * Negative ids that mark invalid rows in a sampled ids tensor (policy 'error'): bad input.
 *
 * @example
 * const ids = await createSampler().sample(tf.tensor2d([[0, NaN], [1, 0]])).data();
 * ids[0] === INVALID_CODE.nan; // true: sample() marks the row instead of throwing
 */
export const INVALID_CODE: Record<InvalidRowCause, number> = {
  nan: -1,
  'positive-infinity': -2,
  'no-finite-logit': -3,
};

/**
 * Codes of rows whose input was valid and a processor of the chain made invalid.
 *
 * @example
 * // -6: the input row was valid, a processor (a ban, a mask) left it nothing to draw
 * ids[r] === PROCESSOR_INVALID_CODE['no-finite-logit'];
 */
export const PROCESSOR_INVALID_CODE: Record<InvalidRowCause, number> = {
  nan: -4,
  'positive-infinity': -5,
  'no-finite-logit': -6,
};

type Cause = Omit<InvalidRow, 'row'>;
const ROW_OF_CODE = new Map<number, Cause>([
  ...Object.entries(INVALID_CODE).map(([cause, code]): [number, Cause] => [code, { cause: cause as InvalidRowCause, source: 'input' }]),
  ...Object.entries(PROCESSOR_INVALID_CODE).map(([cause, code]): [number, Cause] => [code, { cause: cause as InvalidRowCause, source: 'processor' }]),
]);

/**
 * The invalid rows encoded in read-back ids (negative codes).
 *
 * @example
 * const ids = await sampler.sample(logits).data();
 * for (const { row, cause, source } of invalidRowsIn(ids)) console.log(row, cause, source);
 */
export function invalidRowsIn(ids: ArrayLike<number>): InvalidRow[] {
  const rows: InvalidRow[] = [];
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r]!;
    if (id < 0) rows.push({ row: r, ...(ROW_OF_CODE.get(id) ?? { cause: 'no-finite-logit', source: 'input' }) });
  }
  return rows;
}

/** Throws {@link InvalidRowsError} if read-back ids hold invalid-row codes. */
export function assertValidIds(ids: ArrayLike<number>): void {
  const rows = invalidRowsIn(ids);
  if (rows.length > 0) throw new InvalidRowsError(rows);
}

/**
 * The invalid-row rule on one row, first match wins: NaN in the input, +Infinity in the input;
 * NaN, then +Infinity, returned by a user processor (`made`, recorded after each one, since a
 * later filter may mask the value away); no finite logit left after the whole chain
 * (`processed`), reported as made by a processor when the input row had a finite logit.
 */
export function invalidRowOf(
  row: number,
  input: ArrayLike<number>,
  made: { nan: boolean; inf: boolean },
  processed: ArrayLike<number>,
): InvalidRow | undefined {
  const a = scanRow(input);
  if (a.nan) return { row, cause: 'nan', source: 'input' };
  if (a.inf) return { row, cause: 'positive-infinity', source: 'input' };
  if (made.nan) return { row, cause: 'nan', source: 'processor' };
  if (made.inf) return { row, cause: 'positive-infinity', source: 'processor' };
  if (!scanRow(processed).finite) return { row, cause: 'no-finite-logit', source: a.finite ? 'processor' : 'input' };
  return undefined;
}

/** Whether a row holds NaN, +Infinity, a finite value. */
export function scanRow(xs: ArrayLike<number>): { nan: boolean; inf: boolean; finite: boolean } {
  const out = { nan: false, inf: false, finite: false };
  for (let j = 0; j < xs.length; j++) {
    const v = xs[j]!;
    if (Number.isNaN(v)) out.nan = true;
    else if (v === Infinity) out.inf = true;
    else if (v !== -Infinity) out.finite = true;
  }
  return out;
}
