// Names of the kernels registered by more than one backend, in one place (no import cycles:
// fused.ts and gpu-chain.ts import the backends, the backends import only this).
/** The whole default chain and the draw in one kernel (cpu, wasm). */
export const FUSED_KERNEL = 'TfjsSamplingFusedSample';
/** GPU draw kernel: ids[r] = lowest-index argmax_j (scores[r, j] + scale[r] · g(keys[r], j)). */
export const GUMBEL_ARGMAX_KERNEL = 'TfjsSamplingGumbelArgmax';
/** GPU draw of the fused chain: raw logits + per-row thresholds → ids or invalid-row codes. */
export const THRESHOLD_DRAW_KERNEL = 'TfjsSamplingThresholdDraw';
