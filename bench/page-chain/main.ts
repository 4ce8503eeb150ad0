// The browser side of `npm run bench:chain -- --backends webgl,browser-webgpu`: bundled by Vite
// from bench/chain-core.ts and src/, loaded in headless Chromium by bench/chain.ts, which calls
// window.__chainRun once per backend.
import * as tf from '@tensorflow/tfjs-core';
import { usePageBackend } from '../page-backend.js';
import { CHAIN_METHODS, measureChain, type ChainConfig, type ChainResult } from '../chain-core.js';

export interface ChainPageConfig extends ChainConfig {
  backend: 'webgl' | 'webgpu';
  /** Methods whose name matches (besides (b), always first), or all. */
  only?: string;
}

declare global {
  interface Window {
    __chainReady?: boolean;
    __chainRun?: (cfg: ChainPageConfig) => Promise<ChainResult & { adapter: string }>;
  }
}

window.__chainRun = async (cfg) => {
  const adapter = await usePageBackend(cfg.backend);
  const only = cfg.only === undefined ? undefined : new RegExp(cfg.only);
  const methods = CHAIN_METHODS.filter(([name], i) => i === 0 || !only || only.test(name));
  const before = tf.memory().numTensors;
  const result = await measureChain(cfg, methods);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { ...result, adapter };
};
window.__chainReady = true;
