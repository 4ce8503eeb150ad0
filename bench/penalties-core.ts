// The measurement of `npm run bench:penalties`, on whatever tfjs backend is active: shared by the
// Node runner (bench/penalties.ts: cpu, wasm, webgpu through Dawn) and the browser page
// (bench/page-penalties: webgl and webgpu in headless Chromium). No Node imports here.
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, type DryOptions, type Sampler, type SamplerOptions } from '../src/index.js';
import { makeLogits } from './logits.js';
import { medianStep } from './timing.js';

export interface PenaltiesConfig {
  B: number;
  V: number;
  /** Time per method (ms): at least 3 timed steps, at most 50. */
  budgetMs: number;
  /** One history length per family (the smoke run of npm test). */
  smoke: boolean;
}

export interface PenaltiesRow {
  method: string;
  /** Median step (ms), each step ending with the read-back of the ids. */
  ms: number;
  /** The sampler's lastPath. */
  path: string;
}

export interface PenaltiesResult {
  backend: string;
  /** Median of one tf.max pass over the logits, read back (ms): the unit of the ratios. */
  limit: number;
  rows: PenaltiesRow[];
}

const CHAIN: SamplerOptions = { temperature: 0.8, topK: 50, topP: 0.95, seed: 7 };

/** Every history token a distinct token: the worst case of the sparse edits. */
function history(B: number, V: number, H: number): number[][] {
  return Array.from({ length: B }, (_, r) => Array.from({ length: H }, (_, i) => (r * 7919 + i * 104729) % V));
}

/** A history that repeats a 50-token phrase (DRY's case: every step extends a repeat). */
function looping(B: number, V: number, H: number): number[][] {
  return Array.from({ length: B }, (_, r) => Array.from({ length: H }, (_, i) => (r * 7919 + (i % 50) * 104729 + 100) % V));
}

/** Measures every method on the active backend (tf.getBackend()); leaves no tensor behind. */
export async function measurePenalties(cfg: PenaltiesConfig): Promise<PenaltiesResult> {
  const { B, V, budgetMs, smoke } = cfg;
  const bias = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [(i * 1279) % V, ((i % 7) - 3) * 0.5]));
  const penalties: SamplerOptions = { ...CHAIN, repetitionPenalty: 1.1, frequencyPenalty: 0.5, presencePenalty: 0.5, logitBias: bias };
  const dry: SamplerOptions = { ...CHAIN, dry: { multiplier: 0.8, sequenceBreakers: [[13], [25], [1], [9]] } };
  const x = tf.tensor2d(makeLogits('peaky', B, V), [B, V]);
  const W = Math.ceil(V / 32);
  const mask = new Int32Array(B * W).fill(0x55555555); // every even token
  const run =
    (s: Sampler, ctx = {}) =>
    async () => {
      const ids = s.sample(x, ctx);
      try {
        return (await ids.data()) as Int32Array;
      } finally {
        ids.dispose();
      }
    };
  const rows: PenaltiesRow[] = [];
  const measure = async (method: string, s: Sampler, ctx = {}): Promise<void> => {
    rows.push({ method, ms: await medianStep(run(s, ctx), budgetMs), path: s.lastPath });
  };
  try {
    const limit = await medianStep(async () => {
      const m = tf.max(x, 1);
      await m.data();
      m.dispose();
    }, budgetMs);
    const plain = createSampler(CHAIN);
    await measure('(b) T 0.8 + top-k 50 + top-p 0.95', plain);
    for (const H of smoke ? [64] : [64, 1024, 4096]) {
      const s = createSampler(penalties);
      s.begin(history(B, V, H));
      await measure(`(bp) (b) + penalties (history ${H}) + 100-entry bias`, s);
      s.dispose();
    }
    await measure('(bm) (b) + per-call bitmask', plain, { mask });
    for (const [H, win] of smoke
      ? [[64, -1]]
      : [
          [1024, 256],
          [1024, -1],
          [4096, -1],
        ]) {
      const s = createSampler({ ...dry, dry: { ...(dry.dry as DryOptions), penaltyLastN: win! } });
      s.begin(looping(B, V, H!));
      await measure(`(bd) (b) + DRY (window ${win === -1 ? '-1 = 4096' : win}, history ${H}, a repeated phrase)`, s);
      s.dispose();
    }
    plain.dispose();
    return { backend: tf.getBackend(), limit, rows };
  } finally {
    x.dispose();
  }
}

/** The markdown table bench/PENALTIES.md records. */
export function formatPenalties(label: string, B: number, V: number, r: PenaltiesResult): string {
  const base = r.rows[0]!.ms;
  const lines = [
    `${label}, B = ${B}, V = ${V}: one tf.max pass ${r.limit.toFixed(2)} ms (median)`,
    '| method | × one pass | × (b) | path |',
    '| --- | --- | --- | --- |',
    ...r.rows.map((x) => `| ${x.method} | ${(x.ms / r.limit).toFixed(2)} | ${(x.ms / base).toFixed(2)} | ${x.path} |`),
  ];
  return lines.join('\n');
}
