// selectBackend(): verifies each candidate really initialised and says why better ones were skipped.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';

// Dawn (npm `webgpu`) on the SwiftShader Vulkan driver shipped with Debian's chromium, the only
// driver Vulkan is shown: the adapter selectBackend finds is a software one on any machine.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const dawnInstalled = ((): boolean => {
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
})();
const swiftShader = dawnInstalled && existsSync(SWIFTSHADER_ICD);
if (swiftShader) {
  // Before the first selectBackend makes Dawn's instance (which reads it once).
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  process.env.XDG_RUNTIME_DIR ??= '/tmp';
}
const noSwiftShader = swiftShader
  ? ''
  : ` (skipped here: ${dawnInstalled ? `no SwiftShader Vulkan driver at ${SWIFTSHADER_ICD}` : 'npm `webgpu` (Dawn) is not installed'})`;
const SOFTWARE = /^only a software adapter \(.*swiftshader.*\); pass allowSoftwareGpu to use it$/;

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
    // The only adapter Vulkan is shown is software (where SwiftShader is here; else none).
    expect(choice.name).not.toBe('webgpu');
    const webgpu = choice.attempts.find((a) => a.name === 'webgpu');
    if (webgpu && swiftShader) expect(webgpu.why).toMatch(SOFTWARE);
  });

  it.runIf(swiftShader)(`declines the software adapter Dawn finds (SwiftShader) and says why${noSwiftShader}`, async () => {
    const choice = await selectBackend({ candidates: ['webgpu', 'cpu'] });
    expect(choice.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(choice.attempts[0]).toEqual({ name: 'webgpu', ok: false, why: expect.stringMatching(SOFTWARE) });
  });

  // Only where this process runs webgpu: elsewhere Dawn's device would start SwiftShader's threads
  // in a worker that runs other suites after this file.
  const takeWebgpu = BACKENDS.includes('webgpu') || process.env.TFJS_SAMPLING_WEBGPU === '1';
  it.runIf(takeWebgpu)(
    `takes a software WebGPU adapter when allowed${takeWebgpu ? '' : ' (skipped here: this project does not run webgpu; TFJS_SAMPLING_WEBGPU=1 runs it)'}`,
    async () => {
      const choice = await selectBackend({ candidates: ['webgpu'], allowSoftwareGpu: true });
      expect(choice.name).toBe('webgpu');
      expect(tf.getBackend()).toBe('webgpu');
    },
  );

  it('throws, listing every reason, when nothing initialises', async () => {
    await expect(selectBackend({ candidates: ['nope'] })).rejects.toThrow(/no tfjs backend initialised: nope: /);
  });
});
