// The browser side of `npm run bench:penalties -- --backends webgl,browser-webgpu`: bundled by Vite
// from bench/penalties-core.ts and src/, loaded in headless Chromium by bench/penalties.ts, which
// calls window.__penaltiesRun once per backend.
import * as tf from '@tensorflow/tfjs-core';
import { usePageBackend } from '../page-backend.js';
import { measurePenalties, type PenaltiesConfig, type PenaltiesResult } from '../penalties-core.js';

export interface PenaltiesPageConfig extends PenaltiesConfig {
  backend: 'webgl' | 'webgpu';
}

declare global {
  interface Window {
    __penaltiesReady?: boolean;
    __penaltiesRun?: (cfg: PenaltiesPageConfig) => Promise<PenaltiesResult & { adapter: string }>;
  }
}

window.__penaltiesRun = async (cfg) => {
  const adapter = await usePageBackend(cfg.backend);
  const before = tf.memory().numTensors;
  const result = await measurePenalties(cfg);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { ...result, adapter };
};
window.__penaltiesReady = true;
