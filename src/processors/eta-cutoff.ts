import { optionRows, type OptionRows } from '../plan.js';
import { builtin } from '../builtin.js';
import { isOff, validateEtaCutoff, validateMinTokensToKeep, type RowParam } from '../params.js';
import { referenceEtaCutoff } from '../reference/eta-cutoff.js';
import type { LogitsProcessor } from '../types.js';
import { probabilityCutoff } from './epsilon-cutoff.js';

/**
 * η-cutoff (Hugging Face `EtaLogitsWarper`, Hewitt et al. 2022): drops the tokens whose
 * probability is below min(η, √η · exp(−H)), H the entropy of the row's distribution (after the
 * temperature and the earlier filters); the most probable token always stays. η in [0, 1), 0 = off.
 *
 * @example
 * const sampler = createSampler({ etaCutoff: 2e-3 });
 */
export function etaCutoff(e: RowParam, minTokensToKeep: RowParam = 1): LogitsProcessor {
  return etaCutoffOf(validateEtaCutoff(e), validateMinTokensToKeep(minTokensToKeep));
}

/** etaCutoff from validated values; `rows` from the sampler's plan (plan.ts), else resolved here once per batch size. */
export function etaCutoffOf(value: RowParam, minKeep: RowParam, rows: OptionRows = optionRows('etaCutoff', value, minKeep)): LogitsProcessor {
  return builtin({
    name: isOff(value, (v) => v === 0) ? '?eta-cutoff' : 'eta-cutoff',
    apply: (state) => probabilityCutoff(state, rows.value(state.batch), true, rows.minKeep(state.batch)),
    reference: referenceEtaCutoff(value, minKeep),
  });
}
