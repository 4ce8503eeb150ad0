// selectBackend(): verifies each candidate really initialised and says why better ones were skipped.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';

describe('selectBackend', () => {
  it('picks the first candidate that initialises and reports the others', async () => {
    const choice = await selectBackend({ candidates: ['no-such-backend', 'cpu'] });
    expect(choice.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.attempts[0]).toEqual({ name: 'no-such-backend', ok: false, why: expect.stringContaining('not registered') });
    expect(choice.summary).toMatch(/^cpu \(no-such-backend: /);
  });

  it('configures wasm paths in Node by itself', async () => {
    const choice = await selectBackend({ candidates: ['wasm'] });
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('reports tfjs-node as not installed when it is not, and never requires it', async () => {
    let installed = true;
    try {
      await import(/* @vite-ignore */ ['@tensorflow', 'tfjs-node'].join('/'));
    } catch {
      installed = false;
    }
    const choice = await selectBackend({ candidates: ['tensorflow', 'cpu'] });
    if (installed) expect(choice.name).toBe('tensorflow');
    else {
      expect(choice.name).toBe('cpu');
      expect(choice.attempts[0]!.why).toContain('not installed');
    }
  });

  it('default order in Node: tensorflow, webgpu, wasm, cpu — a software adapter is declined', async () => {
    const choice = await selectBackend();
    expect(choice.attempts.map((a) => a.name)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu'].slice(0, choice.attempts.length));
    expect(choice.attempts.at(-1)!.ok).toBe(true);
    const webgpu = choice.attempts.find((a) => a.name === 'webgpu');
    if (webgpu && !webgpu.ok) expect(webgpu.why).toMatch(/adapter|not installed|not available/);
  });

  it.runIf(BACKENDS.includes('webgpu') || process.env.TFJS_SAMPLING_WEBGPU === '1')('takes a software WebGPU adapter when allowed', async () => {
    const choice = await selectBackend({ candidates: ['webgpu'], allowSoftwareGpu: true });
    expect(choice.name).toBe('webgpu');
    expect(tf.getBackend()).toBe('webgpu');
  });

  it('throws, listing every reason, when nothing initialises', async () => {
    await expect(selectBackend({ candidates: ['nope'] })).rejects.toThrow(/no tfjs backend initialised: nope: /);
  });
});
