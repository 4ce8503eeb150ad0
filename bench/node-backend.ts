// Node-side backend setup shared by the bench runners (bench/penalties.ts, bench/chain.ts):
// cpu, wasm (its binaries from node_modules) and webgpu through Dawn.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** Dawn (npm `webgpu`) as navigator.gpu, then the tfjs webgpu backend; prints the adapter. */
async function setupWebgpu(): Promise<void> {
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  const gpu = create([]) as unknown as { requestAdapter(): Promise<{ info?: Record<string, string> } | null> };
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  const adapter = await gpu.requestAdapter();
  if (!adapter) throw new Error(`webgpu: no adapter (Dawn found no Vulkan device; VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES})`);
  const info = adapter.info ?? {};
  console.log(`webgpu adapter: ${[info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown'}`);
  await import('@tensorflow/tfjs-backend-webgpu');
}

/** Makes `backend` (cpu, wasm or webgpu) the active tfjs backend, or throws why not. */
export async function useNodeBackend(backend: string): Promise<void> {
  if (backend === 'webgpu') await setupWebgpu();
  if (backend === 'wasm') {
    setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} did not initialise`);
  await tf.ready();
  if (tf.getBackend() !== backend) throw new Error(`backend ${backend} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
}
