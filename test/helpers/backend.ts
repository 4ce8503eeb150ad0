// Switches tfjs to a real backend for a suite and proves the switch happened.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Backends the Node suites run on. */
export const BACKENDS = (process.env.TFJS_SAMPLING_BACKENDS ?? 'cpu,wasm').split(',').filter(Boolean);

let wasmConfigured = false;

export async function useBackend(name: string): Promise<void> {
  if (name === 'wasm' && !wasmConfigured) {
    // The trailing slash matters: without it tfjs silently falls back to cpu.
    setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/');
    wasmConfigured = true;
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`backend ${name} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  }
}
