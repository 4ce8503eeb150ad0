// Types of the float64 reference. Never imports tfjs.

/** The reference's view of a batch while processors run (float64 twin of `SamplingState`). */
export interface ReferenceState {
  /** One float64 row per batch row, in logit space (before temperature); filtered = -Infinity. */
  readonly logits: Float64Array[];
  /** Per-row accumulated 1 / temperature; Infinity marks a greedy row. */
  readonly invTemperature: Float64Array;
  /** V: the rows' width. */
  readonly vocab: number;
  /** The step (row 0's when the rows are at different steps: see `steps`). */
  readonly step: number;
  /** Each row's step, when the call gave one per row (twin of `SamplingState.steps`). */
  readonly steps?: readonly number[];
  /** The tokens so far, one array per row (twin of `SamplingState.history`), when given. */
  readonly history?: readonly (readonly number[])[];
  /** How many tokens of each history row are the prompt's (default 0: all generated). */
  readonly promptLength?: readonly number[];
  /** Each row's key (from the seed), when the caller gave one: XTC's coin hashes it. */
  readonly keys?: Uint32Array;
  /** Each row's Mirostat μ at this step (default 2τ: a fresh sampler's). */
  readonly mirostatMu?: readonly number[];
}
