// The measurement of `npm run bench:chain`: every sampler of the chain alone, and the llama.cpp
// default chain, against one tf.max pass over the logits, side by side in one run (issue 11).
// No Node imports here.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, type LogprobsOptions, type SamplerOptions } from '../src/index.js';
import { makeLogits } from './logits.js';
import { medianStep } from './timing.js';

export interface ChainConfig {
  B: number;
  V: number;
  /** Time per method (ms): at least 3 timed steps, at most 50. */
  budgetMs: number;
  /** The logits (bench/logits.ts): 'peaky' (the issues' goals) unless 'flat' (near-uniform rows, where the whole-row bands cost most). */
  shape?: 'peaky' | 'flat';
}

export interface ChainRow {
  method: string;
  /** Median step (ms), each ending with the read-back of the ids. */
  ms: number;
  /** The sampler's lastPath. */
  path: string;
}

export interface ChainResult {
  backend: string;
  /** Median of one tf.max pass over the logits, read back (ms): the unit of the ratios. */
  limit: number;
  rows: ChainRow[];
}

/** The methods: (b), the llama.cpp default chain, T alone (the full-row draw), then each sampler alone (T 0.8 where it matters). */
export const CHAIN_METHODS: [string, SamplerOptions, { hostOnly?: boolean; logprobs?: LogprobsOptions }?][] = [
  ['(b) T 0.8 + top-k 50 + top-p 0.95', { temperature: 0.8, topK: 50, topP: 0.95 }],
  [
    "llama.cpp default chain: order 'llama.cpp', top-k 40, typical 1, top-p 0.95, min-p 0.05, XTC off, T 0.8",
    { order: 'llama.cpp', topK: 40, typicalP: 1, topP: 0.95, minP: 0.05, temperature: 0.8 },
  ],
  [
    "llama.cpp chain with typical-p 0.9 (before top-p and min-p): order 'llama.cpp', top-k 40, typical 0.9, top-p 0.95, min-p 0.05, T 0.8",
    { order: 'llama.cpp', topK: 40, typicalP: 0.9, topP: 0.95, minP: 0.05, temperature: 0.8 },
  ],
  // tfjs ops on the GPU chain (its top-p there reads sorted top-k candidates): minutes per step on SwiftShader.
  [
    'the same without top-k (typical-p over the whole row at T = 1)',
    { order: 'llama.cpp', typicalP: 0.9, topP: 0.95, minP: 0.05, temperature: 0.8 },
    { hostOnly: true },
  ],
  ['T 0.8 alone (the draw over every token: what XTC keeps)', { temperature: 0.8 }],
  ['top-nσ 1', { temperature: 0.8, topNSigma: 1 }],
  ['typical-p 0.9', { temperature: 0.8, typicalP: 0.9 }],
  ['ε-cutoff 3e-4', { temperature: 0.8, epsilonCutoff: 3e-4 }],
  ['η-cutoff 2e-3', { temperature: 0.8, etaCutoff: 2e-3 }],
  ['XTC probability 1, threshold 0.1', { temperature: 0.8, xtc: { probability: 1, threshold: 0.1 } }],
  ['dynamic temperature 0.8 ± 0.5', { temperature: 0.8, dynamicTemperature: { range: 0.5 } }],
  [
    'dynamic temperature 0.8 ± 0.5 first, then top-k 40, top-p 0.95, min-p 0.05',
    { temperature: 0.8, dynamicTemperature: { range: 0.5 }, topK: 40, topP: 0.95, minP: 0.05 },
  ],
  [
    "llama.cpp default chain with dynamic temperature 0.8 ± 0.5 (last: the kept tokens' entropy)",
    { order: 'llama.cpp', topK: 40, typicalP: 1, topP: 0.95, minP: 0.05, temperature: 0.8, dynamicTemperature: { range: 0.5 } },
  ],
  ['Mirostat v2 (τ 5, η 0.1)', { temperature: 0.8, mirostat: { version: 2 } }],
  ['Mirostat v1 (τ 5, η 0.1)', { temperature: 0.8, mirostat: { version: 1 } }],
  ['T 0.8 + top-p 0.95 (what minTokensToKeep adds to)', { temperature: 0.8, topP: 0.95 }],
  ['top-p 0.95 + minTokensToKeep 2', { temperature: 0.8, topP: 0.95, minTokensToKeep: 2 }],
  ['typical-p 0.9 + minTokensToKeep 5', { temperature: 0.8, typicalP: 0.9, minTokensToKeep: 5 }],
  [
    "llama.cpp chain with typical-p 0.9 and minTokensToKeep 2: order 'llama.cpp', top-k 40, typical 0.9, top-p 0.95, min-p 0.05, T 0.8",
    { order: 'llama.cpp', topK: 40, typicalP: 0.9, topP: 0.95, minP: 0.05, minTokensToKeep: 2, temperature: 0.8 },
  ],
  ['XTC 1 / 0.1 + minTokensToKeep 5', { temperature: 0.8, xtc: { probability: 1, threshold: 0.1 }, minTokensToKeep: 5 }],
  ['XTC 1 / 0.1 on greedy rows (T 0)', { temperature: 0, xtc: { probability: 1, threshold: 0.1 } }],
  // Logprobs (issue 12): the same step with the log-probabilities packed into its one read-back.
  ['(b) + logprobs (raw, top 5)', { temperature: 0.8, topK: 50, topP: 0.95 }, { logprobs: { topLogprobs: 5 } }],
  ['(b) + logprobs (processed, top 5)', { temperature: 0.8, topK: 50, topP: 0.95 }, { logprobs: { topLogprobs: 5, mode: 'processed' } }],
  // raw: false: no raw normaliser (an exp over every token), what a sampling-only user needs.
  ['(b) + logprobs (processed only, top 5)', { temperature: 0.8, topK: 50, topP: 0.95 }, { logprobs: { topLogprobs: 5, mode: 'processed', raw: false } }],
  ['T 0.8 alone + logprobs (raw, top 5)', { temperature: 0.8 }, { logprobs: { topLogprobs: 5 } }],
];

/** Measures every method on the active backend on cfg.shape's logits (peaky by default); leaves no tensor behind. */
export async function measureChain(cfg: ChainConfig, methods = CHAIN_METHODS): Promise<ChainResult> {
  const { B, V, budgetMs } = cfg;
  const x = tf.tensor2d(makeLogits(cfg.shape ?? 'peaky', B, V), [B, V]);
  const rows: ChainRow[] = [];
  try {
    const limit = await medianStep(async () => {
      const m = tf.max(x, 1); // identity-safe: the bench's unit, any finite logits
      await m.data();
      m.dispose();
    }, budgetMs);
    const gpu = tf.getBackend() === 'webgl' || tf.getBackend() === 'webgpu';
    for (const [method, options, only] of methods) {
      if (gpu && only?.hostOnly) {
        rows.push({ method, ms: NaN, path: 'not timed here (tfjs ops)' });
        continue;
      }
      const s = createSampler({ ...options, seed: 7 });
      const lp = only?.logprobs;
      const ms = await medianStep(async () => {
        const ids = lp ? s.sampleWithLogprobs(x, undefined, lp) : s.sample(x);
        try {
          return await ids.data();
        } finally {
          ids.dispose();
        }
      }, budgetMs);
      rows.push({ method, ms, path: s.lastPath });
      s.dispose();
    }
    return { backend: tf.getBackend(), limit, rows };
  } finally {
    x.dispose();
  }
}

/** The markdown table bench/CHAIN.md records. */
export function formatChain(label: string, B: number, V: number, r: ChainResult): string {
  const base = r.rows[0]!.ms;
  return [
    `${label}, B = ${B}, V = ${V}: one tf.max pass ${r.limit.toFixed(2)} ms (median)`,
    '| method | × one pass | × (b) | path |',
    '| --- | --- | --- | --- |',
    ...r.rows.map((x) =>
      Number.isNaN(x.ms) ? `| ${x.method} | — | — | ${x.path} |` : `| ${x.method} | ${(x.ms / r.limit).toFixed(2)} | ${(x.ms / base).toFixed(2)} | ${x.path} |`,
    ),
  ].join('\n');
}
