// generate()'s stops at the edges (src/stops.ts): stop strings through byte-level
// detokenizers whose text of a prefix is not a prefix of the full text (an incomplete UTF-8
// character decodes to U+FFFD), a detokenize returning a non-string, nothing left behind (the
// cpu project runs it: stops are host code); selectBackend's handling of Node's navigator and of fallback adapters.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { SamplingError, generate, selectBackend, type StepContext } from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';

const V = 256;

/** A greedy "model" that emits `script[r][step]` in row r (0 past its end). */
const scripted =
  (script: readonly (readonly number[])[]) =>
  (_tokens: tf.Tensor2D, context: StepContext): tf.Tensor2D =>
    tf.tidy(() => {
      const ids = tf.tensor1d(
        script.map((row) => row[context.step] ?? 0),
        'int32',
      );
      return tf.mul(tf.cast(tf.oneHot(ids, V), 'float32'), 10) as tf.Tensor2D;
    });

/** Byte-level detokenizer: each token is one UTF-8 byte (incomplete characters decode to U+FFFD). */
const bytes = (tokens: readonly number[]): string => new TextDecoder().decode(Uint8Array.from(tokens));
const utf8 = (s: string): number[] => Array.from(new TextEncoder().encode(s));

describe.each(BACKENDS)('stops at the edges on %s', (backend) => {
  backendSuite(backend);

  it('a stop string ending in a multi-byte character is found when byte tokens complete it', async () => {
    // 白日依山盡。黃河入海流 — stop at the ideographic full stop (3 bytes, 3 tokens).
    const script = [utf8('白日依山盡。黃河入海流'), utf8('ab中cd')];
    const base = { prompts: [[1], [1]], padId: 0, maxNewTokens: 40, detokenize: bytes };
    for (const keepStop of [true, false]) {
      const got = await generate(scripted(script), { ...base, stopStrings: [['。'], ['中']], keepStop });
      expect(got.finishReasons).toEqual(['stop', 'stop']);
      expect(got.texts).toEqual(keepStop ? ['白日依山盡。', 'ab中'] : ['白日依山盡', 'ab']);
      expect(got.tokens[0]).toEqual(utf8(keepStop ? '白日依山盡。' : '白日依山盡'));
      expect(got.tokens[1]).toEqual(utf8(keepStop ? 'ab中' : 'ab'));
    }
  });

  it('a detokenize that returns something other than a string is a SamplingError naming it, nothing left behind', async () => {
    const base = { prompts: [[1]], padId: 0, maxNewTokens: 3 };
    for (const extra of [{ stopStrings: ['x'] }, {}]) {
      for (const bad of [undefined, 42, ['a']]) {
        const before = tf.memory().numTensors;
        const err = await generate(scripted([[5, 4, 2]]), { ...base, ...extra, detokenize: (() => bad) as never }).catch((e: unknown) => e);
        expect(err, JSON.stringify(extra)).toBeInstanceOf(SamplingError);
        expect((err as SamplingError).argument).toBe('detokenize');
        expect((err as SamplingError).value).toEqual(bad);
        expect((err as SamplingError).message).toContain('must return a string');
        expect(tf.memory().numTensors).toBe(before);
      }
    }
  });
});

// selectBackend in Node (the browser projects skip it): Node ≥ 21 has a global `navigator` (a
// Navigator whose userAgent, hardwareConcurrency, language and platform are getters of its class,
// over private fields). Giving it Dawn's `gpu` must keep them.
const inNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
/** Whether npm `webgpu` (Dawn) is installed; sets up SwiftShader's Vulkan driver as select-backend.test.ts does. */
async function dawnInstalled(): Promise<boolean> {
  const { createRequire } = await import(/* @vite-ignore */ 'node:module');
  const { existsSync } = await import(/* @vite-ignore */ 'node:fs');
  if (existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES ??= SWIFTSHADER_ICD;
  try {
    createRequire(import.meta.url).resolve('webgpu');
    return true;
  } catch {
    return false;
  }
}

describe.runIf(inNode)("selectBackend and Node's navigator, fallback adapters", () => {
  it('keeps the rest of Node’s navigator when it gives it Dawn’s gpu', async (ctx) => {
    if (!(await dawnInstalled())) ctx.skip('npm webgpu (Dawn) is not installed');
    class NodeLikeNavigator {
      readonly #cpus = 3;
      get hardwareConcurrency(): number {
        return this.#cpus;
      }
      get userAgent(): string {
        return 'Node.js/22';
      }
    }
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    const previous = tf.getBackend();
    const nav = new NodeLikeNavigator();
    Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
    try {
      const choice = await selectBackend({ candidates: ['webgpu', 'cpu'] });
      expect(choice.attempts[0]!.why).not.toContain('not installed');
      const now = (globalThis as { navigator?: { userAgent?: string; hardwareConcurrency?: number; gpu?: unknown } }).navigator!;
      expect(now.userAgent).toBe('Node.js/22');
      expect(now.hardwareConcurrency).toBe(3);
      expect(now.gpu).toBeDefined();
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
      if (previous) await tf.setBackend(previous);
    }
  });

  it('declines a fallback adapter flagged the current way (GPUAdapterInfo.isFallbackAdapter), whatever its name', async () => {
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    const previous = tf.getBackend();
    // Dawn (npm webgpu 0.6) and current Chromium say it on adapter.info; the adapter has no isFallbackAdapter.
    const adapter = { info: { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)', isFallbackAdapter: true } };
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: { requestAdapter: async () => adapter } }, configurable: true, writable: true });
    try {
      const choice = await selectBackend({ candidates: ['webgpu', 'cpu'] });
      expect(choice.name).toBe('cpu');
      expect(choice.attempts[0]).toEqual({
        name: 'webgpu',
        ok: false,
        why: expect.stringMatching(/^only a software adapter \(mesa .*llvmpipe.*\); pass allowSoftwareGpu to use it$/),
      });
    } finally {
      if (saved) Object.defineProperty(globalThis, 'navigator', saved);
      else delete (globalThis as { navigator?: unknown }).navigator;
      if (previous) await tf.setBackend(previous);
    }
  });
});
