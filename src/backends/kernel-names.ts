// Names of the kernels registered by more than one backend, in one place: the shared code runs
// them by name, the backend entries (registry.ts) register them.
/** The whole default chain and the draw in one kernel (cpu, wasm). */
export const FUSED_KERNEL = 'TfjsSamplingFusedSample';
/** GPU draw kernel: ids[r] = lowest-index argmax_j (scores[r, j] + scale[r] · g(keys[r], j)). */
export const GUMBEL_ARGMAX_KERNEL = 'TfjsSamplingGumbelArgmax';
/** GPU draw of the fused chain: raw logits + per-row thresholds → ids or invalid-row codes. */
export const THRESHOLD_DRAW_KERNEL = 'TfjsSamplingThresholdDraw';
/** The edit kernels (js-kernels.ts on cpu / wasm, gpu-edits.ts on webgl / webgpu). */
export const PENALTIES = 'TfjsSamplingPenalties';
export const COUNTS_UPDATE = 'TfjsSamplingCountsUpdate';
export const BIAS_DROP = 'TfjsSamplingBiasDrop';
export const BITMASK = 'TfjsSamplingBitmask';
export const INVALID_CODES = 'TfjsSamplingInvalidCodes';
export const SEEN_APPEND = 'TfjsSamplingSeenAppend';
export const ROW_EXP_SUMS = 'TfjsSamplingRowExpSums';
export const PACK_LOGPROBS = 'TfjsSamplingPackLogprobs';
export const DRY = 'TfjsSamplingDry';
/** webgpu: sampleWithLogprobs' packed rows in one kernel after the draw (webgpu/logprob-stats.ts). */
export const LOGPROB_STATS_KERNEL = 'TfjsSamplingLogprobStats';
/** The most alternatives LOGPROB_STATS_KERNEL lists per row (OpenAI's `top_logprobs` limit). */
export const LOGPROB_TOP_MAX = 20;
