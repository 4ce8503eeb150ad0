// The browser side of `npm run bench:penalties -- --backends webgl,browser-webgpu`: bundled by Vite
// from bench/penalties-core.ts and src/, loaded in headless Chromium by bench/penalties.ts, which
// calls window.__penaltiesRun once per backend.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
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
  const before = tf.memory().numTensors;
  const result = await measurePenalties(cfg);
  if (tf.memory().numTensors !== before) throw new Error(`bench leaked ${tf.memory().numTensors - before} tensors`);
  return { ...result, adapter };
};
window.__penaltiesReady = true;
