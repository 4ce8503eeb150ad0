// `tfjs-sampling/core`: the whole API without any backend's kernels; import the entries of the
// backends the app runs (`tfjs-sampling/cpu`, `/wasm`, `/webgl`, `/webgpu`) beside it, or import
// `tfjs-sampling`, which brings all four. A backend whose entry is missing runs the portable
// tfjs-op path, with the same tokens.
export { createSampler, readIds, type Sampler } from './sampler.js';
export type { LogprobsMode, LogprobsOptions, SampledLogprobs } from './logprobs.js';
export type { DraftMode, DraftOptions, DraftStats } from './speculative.js';
export {
  generate,
  generateStream,
  score,
  type FinishReason,
  type GenerateModel,
  type GenerateOptions,
  type GenerateResult,
  type GenerateStep,
  type PredictModel,
  type PredictIO,
  type QueuedRequest,
  type PredictInput,
  type ScoreOptions,
  type ScoreResult,
  type TokenLogprob,
  type StepContext,
  type StepFunction,
  type StepOutput,
} from './generate.js';
export {
  createGrammarEngine,
  type CompiledGrammar,
  type GrammarEnd,
  type GrammarEngine,
  type GrammarEngineOptions,
  type GrammarMatcher,
  type GrammarSpec,
  type GrammarVocabulary,
  type MatcherOptions,
} from './grammar/engine.js';
export type { GenerateGrammar, GrammarInput } from './grammar/rows.js';
export { temperature } from './processors/temperature.js';
export { topK } from './processors/top-k.js';
export { topP } from './processors/top-p.js';
export { minP } from './processors/min-p.js';
export { topNSigma } from './processors/top-n-sigma.js';
export { epsilonCutoff } from './processors/epsilon-cutoff.js';
export { etaCutoff } from './processors/eta-cutoff.js';
export { typicalP } from './processors/typical-p.js';
export { xtc } from './processors/xtc.js';
export { mirostat } from './processors/mirostat.js';
export { SamplingError, InvalidRowsError, type InvalidRow, type InvalidRowCause } from './errors.js';
export { INVALID_CODE, PROCESSOR_INVALID_CODE, invalidRowsIn } from './invalid-rows.js';
export { DEFAULT_ORDER, NAMED_ORDERS } from './options.js';
export { DRY_WHOLE_HISTORY, type LogitBias, type PenalizePrompt } from './history-options.js';
export type { TokenMask } from './processors/token-mask.js';
export type { DryWindow, TokenHistoryView } from './history.js';
export { acceptUniform, gumbel, mix32, residualUniform, rowKey, rowKeys, stepKey, uniform, xtcUniform } from './noise.js';
export * as reference from './reference/index.js';
export type {
  BuiltinName,
  DrawMethod,
  DryOptions,
  DynamicTemperatureOptions,
  MirostatOptions,
  NamedOrder,
  XtcOptions,
  InvalidRowPolicy,
  LogitsProcessor,
  ReferenceState,
  RowParam,
  SampleContext,
  SamplerOptions,
  SamplingState,
} from './types.js';
export { kernelBackends } from './backends/registry.js';
export { selectBackend, type BackendAttempt, type BackendChoice, type SelectBackendOptions } from './select-backend.js';
export { softmax, entropy, distributionStats, readDistributionStats, type EntropyUnit, type DistributionStats, type DistributionStatsValues } from './stats.js';
export { TASK_PRESETS, TASK_NAMES, presetOptions, taskPreset, type TaskName, type TaskPreset } from './presets.js';
