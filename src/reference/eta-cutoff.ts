import { resolveRowParam, validateEtaCutoff, validateMinTokensToKeep, type RowParam } from '../params.js';
import { cut } from './epsilon-cutoff.js';
import type { ReferenceState } from './types.js';

/**
 * float64 η-cutoff: keep q_j ≥ min(η, √η · exp(−H)), and the row's maxima.
 *
 * @example
 * // The float64 twin a custom processor built on etaCutoff(1e-3) hands to reference.*:
 * const mine = { ...etaCutoff(1e-3), name: 'my-eta-cutoff', reference: reference.referenceEtaCutoff(1e-3) };
 */
export function referenceEtaCutoff(e: RowParam, minTokensToKeep: RowParam = 1) {
  const value = validateEtaCutoff(e);
  const minKeep = validateMinTokensToKeep(minTokensToKeep);
  return (state: ReferenceState): ReferenceState =>
    cut(state, resolveRowParam('etaCutoff', value, state.logits.length), true, resolveRowParam('minTokensToKeep', minKeep, state.logits.length));
}
