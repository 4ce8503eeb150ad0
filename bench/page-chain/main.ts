// The browser side of `npm run bench:chain -- --backends webgl,browser-webgpu`: bundled by Vite
// from bench/chain-core.ts and src/, loaded in headless Chromium by bench/chain.ts, which calls
// window.__chainRun once per backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
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
  // Small tensors would otherwise run on the CPU: every op runs as a shader.
  if (cfg.backend === 'webgl') tf.env().set('WEBGL_CPU_FORWARD', false);
  if (!(await tf.setBackend(cfg.backend)) || tf.getBackend() !== cfg.backend) {
    throw new Error(`backend ${cfg.backend} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  }
  await tf.ready();
  let adapter = 'unknown';
  if (cfg.backend === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    if (gl && ext) adapter = String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL));
  } else {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
    const a = (await gpu?.requestAdapter())?.info;
    if (a) adapter = `${a.vendor ?? ''} ${a.architecture ?? ''} ${a.description ?? ''}`.trim();
  }
  const only = cfg.only === undefined ? undefined : new RegExp(cfg.only);
  const methods = CHAIN_METHODS.filter(([name], i) => i === 0 || !only || only.test(name));
  const before = tf.memory().numTensors;
  const result = await measureChain(cfg, methods);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { ...result, adapter };
};
window.__chainReady = true;
