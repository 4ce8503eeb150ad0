// Picks the best tfjs backend that really initialises, and says why the better ones were not
// taken. Optional packages are imported only when present; none is ever required.
import * as tf from '@tensorflow/tfjs-core';
import { SamplingError } from './errors.js';

/** One candidate `selectBackend` tried. */
export interface BackendAttempt {
  /** tfjs backend name: 'tensorflow', 'webgpu', 'webgl', 'wasm' or 'cpu'. */
  name: string;
  /** Whether it initialised and was taken. */
  ok: boolean;
  /** Why it was taken or skipped, in words. */
  why: string;
}

/** What `selectBackend` chose, and why. */
export interface BackendChoice {
  /** The backend now active (`tf.getBackend()`). */
  name: string;
  /** Every candidate tried, best first, with the reason for each. */
  attempts: BackendAttempt[];
  /** One line: what was chosen and why the better ones were not. */
  summary: string;
}

/** Options of `selectBackend`. */
export interface SelectBackendOptions {
  /** Candidates in order of preference. Default: Node `tensorflow, webgpu, wasm, cpu`; browser `webgpu, webgl, wasm, cpu`. */
  candidates?: readonly string[];
  /** Accept a software WebGPU adapter (SwiftShader, fallback adapters). Default false: wasm is faster. */
  allowSoftwareGpu?: boolean;
  /** Folder of the tfjs wasm binaries (with trailing slash). Node default: the installed package's dist/. */
  wasmPaths?: string;
}

const isNode = (): boolean => typeof process !== 'undefined' && typeof process.versions?.node === 'string';

/** Imports a package by a name bundlers must not try to resolve (Node only). */
async function importOptional(name: string): Promise<unknown> {
  return import(/* @vite-ignore */ /* webpackIgnore: true */ name);
}

const message = (e: unknown): string => (e instanceof Error ? e.message.split('\n')[0]! : String(e));

async function prepare(name: string, opts: SelectBackendOptions): Promise<string | undefined> {
  const node = isNode();
  if (name === 'tensorflow') {
    if (!node) return 'only in Node';
    for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
      try {
        await importOptional(pkg);
        return undefined;
      } catch {
        // try the next one
      }
    }
    return '@tensorflow/tfjs-node(-gpu) is not installed';
  }
  if (name === 'webgpu') {
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (!nav?.gpu && node) {
      try {
        const dawn = (await importOptional('webgpu')) as { create(flags: string[]): unknown; globals: object };
        Object.assign(globalThis, dawn.globals);
        const gpu = { value: dawn.create([]), configurable: true, writable: true };
        // Node ≥ 21 has a navigator whose userAgent, hardwareConcurrency, … are getters of its
        // class: give that object the gpu (a copy would lose them); else make one.
        if (nav && Object.isExtensible(nav)) Object.defineProperty(nav, 'gpu', gpu);
        else Object.defineProperty(globalThis, 'navigator', { value: { ...(nav ?? {}), gpu: gpu.value }, configurable: true, writable: true });
      } catch {
        return 'npm package `webgpu` (Dawn) is not installed';
      }
    }
    const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator?.gpu;
    if (!gpu) return 'navigator.gpu is not available';
    const adapter = (await gpu.requestAdapter()) as {
      info?: { description?: string; vendor?: string; architecture?: string; isFallbackAdapter?: boolean };
      isFallbackAdapter?: boolean;
    } | null;
    if (!adapter) return 'no WebGPU adapter';
    const info = adapter.info ?? {};
    const text = `${info.vendor ?? ''} ${info.architecture ?? ''} ${info.description ?? ''}`.toLowerCase();
    // The flag is on GPUAdapterInfo now (Dawn's npm package, Chromium ≥ 130); GPUAdapter's is deprecated.
    const fallback = info.isFallbackAdapter === true || adapter.isFallbackAdapter === true;
    if (!opts.allowSoftwareGpu && (fallback || text.includes('swiftshader'))) {
      return `only a software adapter (${text.trim() || 'fallback'}); pass allowSoftwareGpu to use it`;
    }
    if (!tf.findBackendFactory('webgpu')) {
      if (!node) return 'the webgpu backend is not registered (import "@tensorflow/tfjs-backend-webgpu")';
      try {
        await importOptional('@tensorflow/tfjs-backend-webgpu');
      } catch {
        return '@tensorflow/tfjs-backend-webgpu is not installed';
      }
    }
    return undefined;
  }
  if (name === 'wasm') {
    if (!tf.findBackendFactory('wasm') || node) {
      try {
        const wasm = (await importOptional('@tensorflow/tfjs-backend-wasm')) as { setWasmPaths(p: string): void };
        if (opts.wasmPaths) wasm.setWasmPaths(opts.wasmPaths);
        else if (node) {
          const { createRequire } = (await importOptional('node:module')) as typeof import('node:module');
          const file = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
          wasm.setWasmPaths(file.slice(0, file.lastIndexOf('/') + 1)); // the trailing slash matters
        }
      } catch (e) {
        if (!tf.findBackendFactory('wasm')) return `@tensorflow/tfjs-backend-wasm is not available (${message(e)})`;
      }
    }
    return undefined;
  }
  if (!tf.findBackendFactory(name)) {
    if (name === 'cpu') {
      try {
        await importOptional('@tensorflow/tfjs-backend-cpu');
        return undefined;
      } catch {
        return 'the cpu backend is not registered (import "@tensorflow/tfjs-backend-cpu")';
      }
    }
    return `the ${name} backend is not registered (import "@tensorflow/tfjs-backend-${name}")`;
  }
  return undefined;
}

/**
 * Switches tfjs to the best backend that really initialises — tfjs falls back silently when
 * `setBackend` fails, so each one is verified with `tf.getBackend()` — and reports the choice.
 *
 * In the browser, import the backends you ship first (`@tensorflow/tfjs-backend-webgl`, …);
 * in Node, installed optional packages are found on their own.
 *
 * @example
 * const { name, summary } = await selectBackend();
 * console.log(summary); // "wasm (tensorflow: @tensorflow/tfjs-node(-gpu) is not installed; webgpu: …)"
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendChoice> {
  checkSelectOptions(options);
  const candidates = options.candidates ?? (isNode() ? ['tensorflow', 'webgpu', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu']);
  const attempts: BackendAttempt[] = [];
  for (const name of candidates) {
    let why: string | undefined;
    try {
      why = await prepare(name, options);
      if (why === undefined) {
        const ok = await tf.setBackend(name);
        await tf.ready();
        if (ok && tf.getBackend() === name) {
          attempts.push({ name, ok: true, why: 'initialised' });
          const skipped = attempts.filter((a) => !a.ok).map((a) => `${a.name}: ${a.why}`);
          return { name, attempts, summary: skipped.length ? `${name} (${skipped.join('; ')})` : name };
        }
        why = `setBackend('${name}') did not take (tf.getBackend() = ${tf.getBackend()})`;
      }
    } catch (e) {
      why = `failed to initialise: ${message(e)}`;
    }
    attempts.push({ name, ok: false, why });
  }
  throw new Error(`no tfjs backend initialised: ${attempts.map((a) => `${a.name}: ${a.why}`).join('; ')}`);
}

function checkSelectOptions(options: unknown): asserts options is SelectBackendOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new SamplingError('options', 'must be an object { candidates?, allowSoftwareGpu?, wasmPaths? }', options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['candidates', 'allowSoftwareGpu', 'wasmPaths'].includes(key))
      throw new SamplingError('options', 'must only use known option names (candidates, allowSoftwareGpu, wasmPaths)', key);
  }
  const c = o.candidates;
  if (c !== undefined && (!Array.isArray(c) || c.length === 0 || c.some((n) => typeof n !== 'string' || n === ''))) {
    throw new SamplingError('candidates', 'must be a non-empty array of backend names', c);
  }
  if (o.allowSoftwareGpu !== undefined && typeof o.allowSoftwareGpu !== 'boolean')
    throw new SamplingError('allowSoftwareGpu', 'must be a boolean', o.allowSoftwareGpu);
  const w = o.wasmPaths;
  if (w !== undefined && (typeof w !== 'string' || !w.endsWith('/'))) {
    throw new SamplingError('wasmPaths', 'must be a folder path ending in "/" (without it tfjs silently falls back to cpu)', w);
  }
}
