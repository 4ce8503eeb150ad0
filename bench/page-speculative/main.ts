// The browser side of `npm run bench:speculative -- --backends webgl,browser-webgpu`: bundled by
// Vite from bench/speculative-core.ts, the models and src/, loaded in headless Chromium by
// bench/speculative.ts, which hands the two models over in memory (no files to serve) and calls
// window.__specRun once per backend.
import * as tf from '@tensorflow/tfjs-core';
import { usePageBackend } from '../page-backend.js';
import { measureSpeculative, type SpeculativeConfig, type SpeedUps } from '../speculative-core.js';
import { loadTransformer } from '../../model/transformer.js';
import { loadCharModel } from '../../model/char-model.js';

/** A model's artifacts as loaded in Node, the weights base64-encoded. */
export type SerializedArtifacts = Omit<tf.io.ModelArtifacts, 'weightData'> & { weights: string };

export interface SpeculativePageConfig extends SpeculativeConfig {
  backend: 'webgl' | 'webgpu';
  models: { transformer: SerializedArtifacts; mlp: SerializedArtifacts };
}

declare global {
  interface Window {
    __specReady?: boolean;
    __specRun?: (cfg: SpeculativePageConfig) => Promise<{ adapter: string; lines: string[]; speedUps: SpeedUps }>;
  }
}

const fromMemory = (a: SerializedArtifacts): tf.io.IOHandler => {
  const { weights, ...rest } = a;
  const bytes = Uint8Array.from(atob(weights), (c) => c.charCodeAt(0));
  return tf.io.fromMemory({ ...rest, weightData: bytes.buffer });
};

window.__specRun = async (cfg) => {
  const adapter = await usePageBackend(cfg.backend);
  const before = tf.memory().numTensors;
  const lm = await loadTransformer(fromMemory(cfg.models.transformer));
  const mlp = await loadCharModel(fromMemory(cfg.models.mlp));
  const lines: string[] = [];
  let speedUps: SpeedUps;
  try {
    speedUps = await measureSpeculative(lm, mlp, cfg, (line) => lines.push(line));
  } finally {
    lm.dispose();
    mlp.model.dispose();
  }
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { adapter, lines, speedUps };
};
window.__specReady = true;
