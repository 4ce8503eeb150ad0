// Browser side of test/helpers/backend.ts (aliased by vitest.config.ts): real WebGL2 / WebGPU
// backends in headless Chromium on SwiftShader.
import * as tf from '@tensorflow/tfjs-core';
// Every backend entry (src/index.ts), also for test files that import internal modules only.
import '../../src/index.js';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { inject } from 'vitest';

export const BACKENDS = String(inject('backends' as never) ?? 'webgl')
  .split(',')
  .filter(Boolean);

export function isSoftwareGpu(name: string): boolean {
  return name === 'webgpu' || name === 'webgl';
}

export async function useBackend(name: string): Promise<void> {
  if (name === 'webgl') {
    // Small tensors would otherwise run on the CPU: make every op run as a shader.
    tf.env().set('WEBGL_CPU_FORWARD', false);
  }
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) {
    throw new Error(`backend ${name} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  }
  if (name === 'webgl' && tf.env().getNumber('WEBGL_VERSION') !== 2) {
    throw new Error(`webgl: expected WebGL2, got version ${tf.env().getNumber('WEBGL_VERSION')}`);
  }
}

/** GPU backends: the default chain runs as the GPU chain (threshold kernels + draw kernel). */
export function defaultPath(name: string): string {
  return DRAW_KERNEL_BACKENDS.includes(name) ? `fused:${name}` : 'portable';
}

const DRAW_KERNEL_BACKENDS = ['webgl', 'webgpu'];

export function setFused(_on: boolean): void {}

/** The `lastPath` of a sampler that cannot run fused (custom chain). */
export function portablePath(name: string): string {
  return DRAW_KERNEL_BACKENDS.includes(name) ? `portable+draw:${name}` : 'portable';
}

export type HeavySuite = 'statistics' | 'fuzz' | 'agreement-tokens' | 'agreement-process' | 'soak' | 'chain-statistics';

/** The browser projects run every heavy suite but webgpu statistics (see backend.ts). */
export function coveredElsewhere(suite: HeavySuite, backend: string): string | undefined {
  if (backend === 'webgpu' && suite === 'statistics') {
    return 'runs in Node webgpu (Dawn): the same WGSL kernels on the same SwiftShader adapter, at half the cost (CI time budget)';
  }
  if (backend === 'webgpu' && suite === 'soak') {
    return 'runs in Node webgpu (Dawn): the same WGSL kernels on the same SwiftShader adapter, with the JS heap measured, which the browser cannot force-collect (CI time budget)';
  }
  return undefined;
}

/** The @mlc-ai/web-xgrammar module for createGrammarEngine: a browser imports it (Vite pre-bundles the UMD). */
export async function xgrammarModule(): Promise<unknown> {
  return import('@mlc-ai/web-xgrammar');
}
