// The browser side of the benchmark: bundled by Vite from the repository sources (bench/core.ts,
// bench/methods.ts, src/), loaded in headless Chromium by bench/browser.ts, which calls
// window.__benchRun for one backend and receives every result through window.__benchReport.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { runBackend, type BenchOptions, type Cell, type Result } from '../core.js';
import { TENSOR_METHODS } from '../methods.js';

export interface PageConfig {
  backend: 'webgl' | 'webgpu';
  cells: Cell[];
  methods: string[];
  opts: BenchOptions;
}

declare global {
  interface Window {
    __benchReady?: boolean;
    __benchRun?: (cfg: PageConfig) => Promise<Record<string, unknown>>;
    __benchReport?: (r: Result) => Promise<void>;
  }
}

async function useBackend(name: 'webgl' | 'webgpu'): Promise<Record<string, unknown>> {
  const info: Record<string, unknown> = { userAgent: navigator.userAgent };
  if (name === 'webgl') {
    // Small tensors would otherwise run on the CPU: every op runs as a shader.
    tf.env().set('WEBGL_CPU_FORWARD', false);
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) throw new Error(`backend ${name} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  if (name === 'webgl') {
    const version = tf.env().getNumber('WEBGL_VERSION');
    if (version !== 2) throw new Error(`webgl: expected WebGL2, got version ${version}`);
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    info.webglRenderer = gl && ext ? String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)) : 'unknown';
  } else {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
    const adapter = await gpu?.requestAdapter();
    const a = adapter?.info;
    info.webgpuAdapter = a ? `${a.vendor ?? ''} ${a.architecture ?? ''} ${a.description ?? ''}`.trim() : 'unknown';
  }
  return info;
}

window.__benchRun = async (cfg) => {
  const info = await useBackend(cfg.backend);
  const methods = TENSOR_METHODS.filter((m) => cfg.methods.includes(m.id));
  await runBackend({ runner: 'browser', tfBackend: cfg.backend, label: `browser-${cfg.backend}`, cells: cfg.cells, methods, opts: cfg.opts }, (r) =>
    window.__benchReport!(r),
  );
  return info;
};
window.__benchReady = true;
