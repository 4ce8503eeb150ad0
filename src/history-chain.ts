// The built-in history processors of a sampler, in chain order, and the history they need.
import type { HistoryNeeds } from './history.js';
import { dryOn, dryWindowWidth, historyStages, type HistorySpec } from './history-options.js';
import { historyRows } from './plan.js';
import { allowedTokens } from './processors/allowed-tokens.js';
import { badWords, badWordsTail } from './processors/bad-words.js';
import { dry } from './processors/dry.js';
import { logitBias } from './processors/logit-bias.js';
import { minNewTokens } from './processors/min-new-tokens.js';
import { noRepeatNgram } from './processors/no-repeat-ngram.js';
import { penalties } from './processors/penalties.js';
import type { LogitsProcessor } from './types.js';
import { DeviceCache } from './processors/ops.js';

/** The tensor processors of the spec's history stages, in chain order. */
export function historyProcessors(spec: HistorySpec): LogitsProcessor[] {
  const stages = historyStages(spec);
  const rows = historyRows(spec);
  // Penalties right before the logit bias may add it in their own pass (webgl); both share the
  // bias's device tensor.
  const biasCache = new DeviceCache();
  const bias = spec.logitBias ? logitBias(spec.logitBias, biasCache) : undefined;
  return stages.map((st, i) => {
    switch (st.kind) {
      case 'penalties':
        return penalties(spec, stages[i + 1]?.kind === 'logit-bias' && bias ? { processor: bias, cache: biasCache } : undefined);
      case 'dry':
        return dry(st.dry, spec.penalizePrompt.dry);
      case 'no-repeat-ngram':
        return noRepeatNgram(st.size, rows.noRepeatNgramSize);
      case 'bad-words':
        return badWords(st.sequences);
      case 'min-new-tokens':
        return minNewTokens(st.n, st.stopTokens, rows.minNewTokens);
      case 'logit-bias':
        return bias ?? logitBias(st.bias);
      case 'allowed-tokens':
        return allowedTokens(st.allowed);
    }
  });
}

/** The device history a spec needs, or undefined when none (no penalty, ban by history, min length). */
export function historyNeeds(spec: HistorySpec): HistoryNeeds | undefined {
  const usesCounts = (scope: boolean): boolean[] => [
    spec.repetitionPenalty !== undefined && spec.penalizePrompt.repetition === scope,
    spec.frequencyPenalty !== undefined && spec.penalizePrompt.frequency === scope,
    spec.presencePenalty !== undefined && spec.penalizePrompt.presence === scope,
  ];
  const countsAll = usesCounts(true).some(Boolean);
  const countsGenerated = usesCounts(false).some(Boolean);
  const tail = Math.max(spec.noRepeatNgramSize !== undefined ? Infinity : 0, spec.badWords ? badWordsTail(spec.badWords) : 0);
  const dryNeeds = spec.dry && dryOn(spec.dry) ? { window: dryWindowWidth(spec.dry), prompt: spec.penalizePrompt.dry } : undefined;
  if (!countsAll && !countsGenerated && tail === 0 && spec.minNewTokens === undefined && !dryNeeds) return undefined;
  return { countsAll, countsGenerated, lastN: historyRows(spec).penaltyLastN, tail, dry: dryNeeds };
}
