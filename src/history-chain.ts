// The built-in history processors of a sampler, in chain order, and the history they need.
import type { HistoryNeeds } from './history.js';
import type { HistorySpec } from './history-options.js';
import { resolveRowParam } from './params.js';
import { allowedTokens } from './processors/allowed-tokens.js';
import { badWords, badWordsTail } from './processors/bad-words.js';
import { logitBias } from './processors/logit-bias.js';
import { minNewTokens } from './processors/min-new-tokens.js';
import { noRepeatNgram } from './processors/no-repeat-ngram.js';
import { penalties } from './processors/penalties.js';
import type { LogitsProcessor } from './types.js';

/** Penalties, then bans, then bias, then the allowed set: every anchor's order (before temperature and truncation). */
export function historyProcessors(spec: HistorySpec): LogitsProcessor[] {
  const out: LogitsProcessor[] = [];
  if (spec.repetitionPenalty !== undefined || spec.frequencyPenalty !== undefined || spec.presencePenalty !== undefined) out.push(penalties(spec));
  if (spec.noRepeatNgramSize !== undefined) out.push(noRepeatNgram(spec.noRepeatNgramSize));
  if (spec.badWords) out.push(badWords(spec.badWords));
  if (spec.minNewTokens !== undefined) out.push(minNewTokens(spec.minNewTokens, spec.stopTokens));
  if (spec.logitBias) out.push(logitBias(spec.logitBias));
  if (spec.allowedTokens) out.push(allowedTokens(spec.allowedTokens));
  return out;
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
  if (!countsAll && !countsGenerated && tail === 0 && spec.minNewTokens === undefined) return undefined;
  return { countsAll, countsGenerated, lastN: (batch) => resolveRowParam('penaltyLastN', spec.penaltyLastN, batch), tail };
}
