// Switches tfjs to a real backend for a suite and proves the switch happened (Node side; the
// browser suites alias this module to backend.browser.ts).
import * as tf from '@tensorflow/tfjs-core';
// Every backend entry (src/index.ts), also for test files that import internal modules only.
import '../../src/index.js';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerFusedFlag } from '../../src/backends/fused.js';

const require = createRequire(import.meta.url);

/** Backends the suites of this process run on (set by test/setup/global.ts after probing). */
export const BACKENDS = (process.env.TFJS_SAMPLING_BACKENDS ?? 'cpu,wasm').split(',').filter(Boolean);

/** Software GPU adapters are slow: suites shrink their heaviest shapes there. */
export function isSoftwareGpu(name: string): boolean {
  return name === 'webgpu' || name === 'webgl';
}

let wasmConfigured = false;
let webgpuConfigured = false;

/**
 * Pins this test process to one CPU (Linux, `taskset`), before Dawn starts SwiftShader's worker
 * threads. SwiftShader's scheduler spins workers on every CPU it may use; measured on this 2-core
 * machine, the webgpu statistics take the same wall time pinned to one core as on two (a flat
 * top-p case: 35 s for 10,000 draws on one core, 31 s on two), so unpinned it mostly burns the
 * other core, which the rest of the suite needs. Forks spread over the cores by pool id.
 */
function pinToOneCpu(): void {
  if (process.platform !== 'linux' || process.env.TFJS_SAMPLING_PIN === '0') return;
  const cpus = os.availableParallelism();
  if (cpus < 2) return;
  const core = Number(process.env.VITEST_POOL_ID ?? 1) % cpus;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
  } catch {
    // No taskset: unpinned, only slower.
  }
}

/**
 * Lowers this process's CPU priority before Dawn starts SwiftShader's threads (they inherit it):
 * their spinning then takes only CPU time no other test wants (see vitest.config.ts).
 */
function lowerPriority(): void {
  if (process.platform !== 'linux' || process.env.TFJS_SAMPLING_NICE === '0') return;
  try {
    os.setPriority(Math.max(os.getPriority(), Number(process.env.TFJS_SAMPLING_NICE ?? 10)));
  } catch {
    // Not permitted: normal priority, only slower.
  }
}

async function setupWebgpu(): Promise<void> {
  if (webgpuConfigured) return;
  pinToOneCpu();
  lowerPriority();
  // Dawn (npm `webgpu`) on the SwiftShader Vulkan driver shipped with Debian's chromium.
  process.env.VK_ICD_FILENAMES ??= '/usr/lib/chromium/vk_swiftshader_icd.json';
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  Object.defineProperty(globalThis, 'navigator', { value: { gpu: create([]) }, configurable: true, writable: true });
  await import('@tensorflow/tfjs-backend-webgpu');
  webgpuConfigured = true;
}

/**
 * Runs `f` (which creates the webgpu device) in test/setup/swiftshader, whose SwiftShader.ini
 * SwiftShader reads from the working directory when it creates the device: one worker thread
 * instead of one per core. Measured on Node webgpu alone (2 cores, each fork pinned to one):
 * 113 s and 224 CPU-s with two workers, 97 s and 191 CPU-s with one (the soak's steps 2x faster).
 * TFJS_SAMPLING_PIN=0 turns this off with the pinning. (Chromium reads the file next to its own
 * binary, so the browser projects keep SwiftShader's default.)
 */
async function inSwiftShaderConfigDir<T>(name: string, f: () => Promise<T>): Promise<T> {
  if (name !== 'webgpu' || process.env.TFJS_SAMPLING_PIN === '0') return f();
  const here = process.cwd();
  process.chdir(fileURLToPath(new URL('../setup/swiftshader', import.meta.url)));
  try {
    return await f();
  } finally {
    process.chdir(here);
  }
}

async function setupTensorflow(): Promise<void> {
  // Optional native backend: only when @tensorflow/tfjs-node is installed.
  const name = '@tensorflow/tfjs-node';
  await import(/* @vite-ignore */ name);
}

export async function useBackend(name: string): Promise<void> {
  if (name === 'wasm' && !wasmConfigured) {
    // The trailing slash matters: without it tfjs silently falls back to cpu.
    setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`);
    wasmConfigured = true;
  }
  if (name === 'webgpu') await setupWebgpu();
  if (name === 'tensorflow') await setupTensorflow();
  const ok = await inSwiftShaderConfigDir(name, async () => {
    const set = await tf.setBackend(name);
    await tf.ready();
    return set;
  });
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`backend ${name} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  }
  setFused(process.env.TFJS_SAMPLING_FUSED !== '0');
  if (name === 'wasm') guardWasmSelect();
}

/**
 * wasm's Select (tf.where) with bool operands overruns the wasm heap (tfjs-backend-wasm 4.22,
 * measured: a later dispose fails with "memory access out of bounds", far from the cause). The
 * suites refuse such a call at once, so no library code can bring it back unnoticed.
 */
export function guardWasmSelect(): void {
  const k = tf.getKernel('Select', 'wasm') as (tf.KernelConfig & { guarded?: boolean }) | undefined;
  if (!k || k.guarded) return;
  tf.unregisterKernel('Select', 'wasm');
  const kernelFunc: tf.KernelFunc = (args) => {
    const { t, e } = args.inputs as { t: tf.TensorInfo; e: tf.TensorInfo };
    if (t.dtype === 'bool' || e.dtype === 'bool') {
      throw new Error('tf.where with bool operands on wasm overruns the wasm heap (tfjs-backend-wasm): use tf.logicalAnd / tf.logicalOr');
    }
    return k.kernelFunc(args);
  };
  tf.registerKernel({ ...k, kernelFunc, guarded: true } as tf.KernelConfig);
}

// webgpu: the GPU chain (src/backends/gpu-chain.ts).
const FUSED_BACKENDS = ['cpu', 'wasm', 'webgpu'];

/** Turns the fused kernels on or off (the portable projects run with them off). */
export function setFused(on: boolean): void {
  registerFusedFlag();
  tf.env().set('TFJS_SAMPLING_FUSED', on);
}

/** The `lastPath` a default-chain sampler reports on this backend in this run. */
export function defaultPath(name: string): string {
  if (!tf.env().getBool('TFJS_SAMPLING_FUSED')) return 'portable';
  return FUSED_BACKENDS.includes(name) ? `fused:${name}` : portablePath(name);
}

/** Node backends with a draw kernel (portable processors, in-kernel draw). */
const DRAW_KERNEL_BACKENDS: string[] = ['webgpu'];

/**
 * The `lastPath` of a sampler that cannot run fused (custom chain): webgpu draws in its shader;
 * cpu and wasm in the fused kernel (draw only) where the fused kernels are on and the invalid-row
 * policy is 'error'.
 */
export function portablePath(name: string, policy: 'error' | 'uniform' | 'greedy' = 'error'): string {
  if ((name === 'cpu' || name === 'wasm') && tf.env().getBool('TFJS_SAMPLING_FUSED') && policy === 'error') return `portable+draw:${name}`;
  return DRAW_KERNEL_BACKENDS.includes(name) ? `portable+draw:${name}` : 'portable';
}

/** The CPU-heaviest suites, each run in full where it covers a code path no other project does. */
export type HeavySuite = 'statistics' | 'fuzz' | 'agreement-tokens' | 'agreement-process' | 'soak' | 'chain-statistics' | 'kv-cache-equivalence';

/**
 * Why a heavy suite is skipped in this project (undefined: it runs), to keep CI within budget
 * without losing coverage: Node webgpu (Dawn) runs the WGSL kernels that browser-webgpu runs, on
 * the same SwiftShader adapter, so each heavy webgpu suite runs in one of the two (statistics in
 * Node, where it is cheaper; the others in Chromium; vitest.config.ts runs in Node webgpu only
 * the suites that depend on Node, see NODE_WEBGPU); the portable projects run process() / probabilities() exactly as
 * their fused siblings do (those calls never use a fused kernel).
 */
export function coveredElsewhere(suite: HeavySuite, backend: string): string | undefined {
  const portable = process.env.TFJS_SAMPLING_FUSED === '0';
  if (backend === 'webgpu' && suite !== 'statistics' && suite !== 'soak') {
    return 'runs in browser-webgpu: the same WGSL kernels on the same SwiftShader adapter (CI time budget)';
  }
  if (portable && suite === 'kv-cache-equivalence') {
    return "the cached and windowed model paths run the same sampler path either way, and this backend's fused project compares them (a minute of plain-JS matmuls on cpu; CI time budget)";
  }
  if (portable && suite === 'agreement-process') {
    return 'process() and probabilities() never use the fused kernels: the fused project of this backend runs these very calls';
  }
  if (portable && backend === 'cpu' && suite === 'soak') {
    return 'wasm-portable soaks the same tfjs-op chain (2,000 steps, heap measured the same way); its plain-JS kernels are the only difference here, and every suite checks their tensors and bytes (CI time budget)';
  }
  if (backend === 'cpu' && suite === 'chain-statistics') {
    return portable
      ? "the tfjs-op chain's distributions are tested on wasm-portable (the same tfjs-core ops); chain-samplers requires cpu's tokens to equal reference.sample"
      : "the fused JS kernel's bands are the same code on wasm (tested there: the SIMD module steps aside for them); chain-samplers requires cpu's tokens to equal reference.sample";
  }
  if (portable && backend === 'cpu' && suite === 'statistics') {
    return "the portable draw's distribution is tested on wasm-portable (the same tfjs-core ops); here agreement and fuzz require its tokens to equal reference.sample";
  }
  return undefined;
}

/** The @mlc-ai/web-xgrammar module for createGrammarEngine: Node loads it itself. */
export async function xgrammarModule(): Promise<unknown> {
  return undefined;
}
