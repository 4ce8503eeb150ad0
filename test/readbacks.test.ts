// No hidden read-backs: sample(), process() and probabilities() never read tensor data back to the
// host, on any backend, for any option combination; sampleIds() reads exactly once (the ids).
// Reads are counted at the backend instance (test/helpers/read-counter.ts), where kernels such as
// webgl's tf.topk CPU hand-off call readSync — an engine-level spy cannot see those.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSampler, type LogitsProcessor, type SamplerOptions } from '../src/index.js';
import { registerFusedFlag } from '../src/backends/fused.js';
import { deviceTopk } from '../src/device-topk.js';
import { backendSuite } from './helpers/suite.js';
import { BACKENDS, defaultPath, isSoftwareGpu, portablePath } from './helpers/backend.js';
import { flatten, makeRows, rng } from './helpers/logits.js';
import { countReads, countReadsAsync, describeReads, readBacks, type ReadEvent } from './helpers/read-counter.js';

/** Below webgl's TOPK_LAST_DIM_CPU_HANDOFF_SIZE_THRESHOLD (100000), and fewer 64-wide windows than k = 129. */
const SMALL_V = 5000;
const LLAMA3_V = 128256;
const VOCABS = [SMALL_V, LLAMA3_V];

/** A custom processor (no fused path: portable processors, then the draw kernel where there is one). */
const shift: LogitsProcessor = {
  name: 'shift',
  apply: (s) => ({ ...s, logits: tf.sub(s.logits, tf.scalar(0.5)) as tf.Tensor2D }),
};

/**
 * The option sets. On software GPU adapters, where a full sort of two rows at V = 128256 takes tens
 * of seconds, V = 128256 runs only those marked `large`, fused flag on: the ones whose code path
 * changes above webgl's last-dimension flag (100000) or needs V ≥ 64·k (webgl's window path for
 * top-k): top-k > 128, top-p without top-k (a full sort), and all filters together. process() and
 * probabilities() run the portable processors whatever the flag, so the portable chain is covered
 * at V = 128256 there too; the portable draw (flag off) and the custom processor's draw run at
 * V = 5000, and their reads do not depend on V.
 */
/**
 * Where an option set runs with the fused flag on: 'default' (the fused chain), 'host' (the fused
 * kernels on cpu and wasm, tfjs ops on the GPUs), 'ops' (tfjs ops).
 */
type Where = 'default' | 'host' | 'ops';
/** [name, options, runs at the large V on slow backends, where it runs with the fused flag on]. */
function optionSets(V: number): Array<[string, SamplerOptions, boolean, Where?]> {
  return [
    ['top-k 1', { topK: 1, seed: 1 }, false],
    ['top-k 50', { topK: 50, seed: 2 }, false],
    ['top-k 129', { topK: 129, seed: 3 }, true],
    ['top-k 1000', { topK: 1000, seed: 4 }, true],
    [`top-k V`, { topK: V, seed: 5 }, false],
    ['top-p 0.9 alone', { topP: 0.9, seed: 6 }, true],
    ['min-p 0.05 alone', { minP: 0.05, seed: 7 }, false],
    ['T 0.8, top-k 1000, top-p 0.95, min-p 0.02', { temperature: 0.8, topK: 1000, topP: 0.95, minP: 0.02, seed: 8 }, true],
    [
      'T 0.8, top-k 129, top-p 0.9, min-p 0.01, invalidRows uniform',
      { temperature: 0.8, topK: 129, topP: 0.9, minP: 0.01, invalidRows: 'uniform', seed: 9 },
      false,
    ],
    ['custom processor, T 0.8, top-k 129, top-p 0.9, min-p 0.02', { processors: [shift], temperature: 0.8, topK: 129, topP: 0.9, minP: 0.02, seed: 10 }, false],
    ['custom processor, top-p 0.9 alone', { processors: [shift], topP: 0.9, seed: 11 }, false],
    [
      'top-nσ 2, typical-p 0.9, ε 1e-4, η 1e-3, XTC 1 / 0.1 (bands of the GPU chain)',
      { topNSigma: 2, typicalP: 0.9, epsilonCutoff: 1e-4, etaCutoff: 1e-3, xtc: { probability: 1, threshold: 0.1 }, seed: 12 },
      false,
      'default',
    ],
    [
      'dynamic temperature, top-p 0.9 + minTokensToKeep 3, typical-p 0.8',
      { dynamicTemperature: { range: 0.5 }, topP: 0.9, minTokensToKeep: 3, typicalP: 0.8, seed: 13 },
      false,
      'host',
    ],
    [
      "order 'llama.cpp': top-k 40, typical-p 0.8 + minTokensToKeep 3, dynamic temperature last (the GPU chain: the band's m-th largest from the top-k candidates)",
      { order: 'llama.cpp', dynamicTemperature: { range: 0.5 }, topK: 40, typicalP: 0.8, minTokensToKeep: 3, seed: 18 },
      false,
      'default',
    ],
    [
      'T 0.8, top-p 0.9, typical-p 0.8 + minTokensToKeep 3 (the GPU chain counts the band)',
      { temperature: 0.8, topP: 0.9, typicalP: 0.8, minTokensToKeep: 3, seed: 21 },
      false,
      'default',
    ],
    [
      "typical-p 0.8 + minTokensToKeep 3, then ε 1e-4 (the band's m largest: fused on cpu / wasm)",
      { temperature: 0.8, typicalP: 0.8, minTokensToKeep: 3, epsilonCutoff: 1e-4, seed: 19 },
      false,
      'host',
    ],
    ['Mirostat v2 (state: μ on the device; fused everywhere)', { mirostat: { version: 2 }, temperature: 0.8, seed: 14 }, false, 'default'],
    [
      'top-nσ 1.5, ε 1e-4, η 1e-3, XTC 1 / 0.1 (bands of the GPU chain too)',
      { topNSigma: 1.5, epsilonCutoff: 1e-4, etaCutoff: 1e-3, xtc: { probability: 1, threshold: 0.1 }, seed: 17 },
      false,
      'default',
    ],
    [
      "order 'llama.cpp', top-k 40, top-p 0.95, min-p 0.05, dynamic temperature 0.8 ± 0.5 last (fused everywhere)",
      { order: 'llama.cpp', topK: 40, topP: 0.95, minP: 0.05, temperature: 0.8, dynamicTemperature: { range: 0.5 }, seed: 20 },
      false,
      'default',
    ],
    [
      'dynamic temperature 0.8 ± 0.5 first, top-k 40, top-p 0.9, min-p 0.05 (the GPU chain: the filters over the rewritten candidates)',
      { temperature: 0.8, dynamicTemperature: { range: 0.5 }, topK: 40, topP: 0.9, minP: 0.05, seed: 22 },
      false,
      'default',
    ],
    [
      'dynamic temperature 0.8 ± 0.5 with top-k 40 (fused everywhere)',
      { temperature: 0.8, dynamicTemperature: { range: 0.5 }, topK: 40, seed: 16 },
      false,
      'default',
    ],
    ['Mirostat v1 (fused everywhere: μ in, the surprise out)', { mirostat: { version: 1 }, temperature: 0.8, seed: 15 }, false, 'default'],
  ];
}

const FUSED_FLAG = 'TFJS_SAMPLING_FUSED';
/** The Node portable projects (cpu-portable, wasm-portable) run with TFJS_SAMPLING_FUSED=0. */
const PORTABLE_PROJECT = typeof process !== 'undefined' && process.env?.TFJS_SAMPLING_FUSED === '0';

/**
 * Fused flag values to run: cpu and wasm have a portable project of their own, so each project
 * runs its own flag; every other backend runs both here.
 */
function fusedModes(backend: string): boolean[] {
  if (PORTABLE_PROJECT) return [false];
  return backend === 'cpu' || backend === 'wasm' ? [true] : [true, false];
}

function setFusedFlag(on: boolean): void {
  registerFusedFlag();
  tf.env().set(FUSED_FLAG, on);
}

/** The lastPath a sampler must report: the fused flag off always gives the portable path; processors run before the fused kernels. */
function expectedPath(backend: string, fused: boolean, where: Where = 'default'): string {
  if (!fused) return 'portable';
  if (where === 'ops' || (where === 'host' && backend !== 'cpu' && backend !== 'wasm')) return portablePath(backend);
  return defaultPath(backend);
}

/**
 * [B, V] logits that live only on the device (webgl texture, webgpu buffer): the result of an op,
 * never uploaded from the host, so any readSync of them would be a real download. Peaky rows with
 * a few -Infinity masks and ties.
 */
function deviceLogits(B: number, V: number, seed: string): tf.Tensor2D {
  const rows = makeRows('peaky', B, V, seed);
  rows.forEach((row, r) => {
    for (let j = r; j < V; j += 97) row[j] = -Infinity;
  });
  return tf.tidy(() => tf.add(tf.tensor2d(flatten(rows), [B, V]), tf.scalar(0)) as tf.Tensor2D);
}

/**
 * No read-back: no download from the device and no dataSync / data() outside a kernel. What may
 * remain is a kernel reading host memory through backend.readSync (cpu's bufferSync, wasm's
 * gather and slice, a GPU kernel forwarded to the CPU for a tensor that never left it).
 */
function noReads(what: string, reads: ReadEvent[], tally: Tally): void {
  tally.calls += reads.length;
  tally.readBacks += readBacks(reads).length;
  expect(readBacks(reads), `${what}: ${describeReads(reads)}`).toHaveLength(0);
}

interface Tally {
  regions: number;
  calls: number;
  readBacks: number;
  sampleIdsReads: number;
}

/** Host top-k with the cpu backend's order (value descending, then lower index first). */
function hostTopk(row: Float32Array, k: number): { values: number[]; indices: number[] } {
  const order = Array.from(row.keys()).sort((a, b) => (row[b]! > row[a]! ? 1 : row[b]! < row[a]! ? -1 : a - b));
  const indices = order.slice(0, k);
  return { values: indices.map((j) => row[j]!), indices };
}

describe.each(BACKENDS)('read-backs, %s', (backend) => {
  backendSuite(backend);
  // Two rows: software GPU adapters and the cpu backend's full sorts at V = 128256 are slow.
  const B = 2;
  let projectFused = true;
  beforeAll(() => {
    registerFusedFlag();
    projectFused = tf.env().getBool(FUSED_FLAG);
  });
  const tally: Tally = { regions: 0, calls: 0, readBacks: 0, sampleIdsReads: 0 };
  afterEach(() => setFusedFlag(projectFused));
  afterAll(() => {
    // For the closing note: what this backend measured over the sampler cases.
    console.log(
      `[read-backs] ${backend} (project fused=${projectFused}): ${tally.regions} counted sample/process/probabilities calls, ` +
        `${tally.calls} backend read calls inside them, ${tally.readBacks} read-backs; sampleIds: ${tally.sampleIdsReads} reads over ${tally.regions / 3} calls`,
    );
  });

  it('negative controls: the counter sees dataSync, data(), and a kernel-internal readSync (webgl: a download; webgpu: of host memory; cpu and wasm kernels read without readSync)', async () => {
    // 1200 elements: above webgpu's CPU-forward size (1000), so x lives on the GPU there.
    const x = deviceLogits(2, 600, 'controls');
    const before = tf.memory().numTensors;
    // A synchronous read of a host-resident tensor, then of the device tensor — except on webgpu,
    // where a synchronous download needs OffscreenCanvas (absent in Node) and in headless Chromium
    // on SwiftShader loses the device for the rest of the page ("A valid external Instance
    // reference no longer exists" on the next mapAsync).
    const host = tf.tensor1d([1, 2, 3]);
    const sync = countReads(() => host.dataSync());
    expect(sync.reads).toEqual([{ method: 'readSync', shape: [3], download: false, inKernel: false }]);
    expect(readBacks(sync.reads)).toHaveLength(1);
    host.dispose();
    if (backend !== 'webgpu') {
      const dev = countReads(() => x.dataSync());
      expect(dev.reads).toEqual([{ method: 'readSync', shape: [2, 600], download: isSoftwareGpu(backend), inKernel: false }]);
    }
    const y = tf.tidy(() => tf.mul(x, tf.scalar(2)));
    const asyncRead = await countReadsAsync(() => y.data());
    expect(asyncRead.reads).toEqual([{ method: 'read', shape: [2, 600], download: isSoftwareGpu(backend), inKernel: false }]);
    y.dispose();
    // A read inside a kernel: webgl's own tf.topk with k > 128 hands the tensor to the CPU.
    const z = tf.tidy(() => tf.mul(x, tf.scalar(3)));
    const raw = countReads(() => tf.topk(z, 129));
    if (backend === 'webgl') {
      expect(raw.reads).toEqual([{ method: 'readSync', shape: [2, 600], download: true, inKernel: true }]);
      expect(readBacks(raw.reads)).toHaveLength(1);
    } else {
      expect(readBacks(raw.reads), describeReads(raw.reads)).toHaveLength(0);
    }
    if (backend === 'webgpu') {
      // webgpu has no synchronous download: its kernel-internal readSync reads host memory, of a
      // small tensor it forwards to the CPU (seen, and not a read-back).
      const small = tf.tensor2d([
        [3, 1, 2],
        [0, 5, 4],
      ]);
      const forwarded = countReads(() => tf.topk(small, 2));
      expect(forwarded.reads).toEqual([{ method: 'readSync', shape: [2, 3], download: false, inKernel: true }]);
      expect(readBacks(forwarded.reads)).toHaveLength(0);
      tf.dispose([small, forwarded.result.values, forwarded.result.indices]);
    }
    // The same call through deviceTopk: nothing on any backend.
    const lifted = countReads(() => deviceTopk(z, 129));
    noReads('deviceTopk(z, 129)', lifted.reads, { regions: 0, calls: 0, readBacks: 0, sampleIdsReads: 0 });
    tf.dispose([lifted.result.values, lifted.result.indices]);
    tf.dispose([raw.result.values, raw.result.indices, z, x]);
    expect(tf.memory().numTensors).toBe(before - 1);
  });

  it('deviceTopk: no read, and the values and indices of the cpu order, for k ≤ 128, k > 128 and k = V', async () => {
    // Ties, -Infinity and ±0 included; V above and below webgl's last-dimension flag.
    const u = rng(`device-topk:${backend}`);
    for (const V of [300, SMALL_V, LLAMA3_V]) {
      const rows = Array.from({ length: 2 }, (_, r) =>
        Float32Array.from({ length: V }, (_, j) => (j % 11 === r ? -Infinity : j % 7 === 0 ? (j % 2 ? 0 : -0) : Math.round(40 * (u() - 0.5)) / 4)),
      );
      const x = tf.tidy(() => tf.add(tf.tensor2d(flatten(rows), [2, V]), tf.scalar(0)) as tf.Tensor2D);
      // At V = 128256 (a full sort of two rows takes seconds on software GPUs): k = 1, 129 and V.
      const ks = V === LLAMA3_V ? [1, 129, V] : [1, 50, 128, 129, 1000, V].filter((k) => k <= V);
      for (const k of ks) {
        const before = tf.memory().numTensors;
        const { result, reads } = countReads(() => deviceTopk(x, k));
        noReads(`deviceTopk V=${V} k=${k}`, reads, { regions: 0, calls: 0, readBacks: 0, sampleIdsReads: 0 });
        expect(tf.memory().numTensors).toBe(before + 2);
        const [values, indices] = [(await result.values.data()) as Float32Array, (await result.indices.data()) as Int32Array];
        tf.dispose([result.values, result.indices]);
        rows.forEach((row, r) => {
          const want = hostTopk(row, k);
          const got = Array.from(values.subarray(r * k, (r + 1) * k));
          const gotIdx = Array.from(indices.subarray(r * k, (r + 1) * k));
          // Values exactly (-0 and +0 compare equal: their order among ties is the backend's).
          expect(
            got.map((v) => (v === 0 ? 0 : v)),
            `V=${V} k=${k} row ${r} values`,
          ).toEqual(want.values.map((v) => (v === 0 ? 0 : v)));
          // Indices: a permutation of distinct in-range positions holding those values.
          expect(new Set(gotIdx).size, `V=${V} k=${k} row ${r} distinct indices`).toBe(k);
          expect(
            gotIdx.every((j, i) => j >= 0 && j < V && row[j] === got[i]),
            `V=${V} k=${k} row ${r} indices hold the values`,
          ).toBe(true);
        });
      }
      x.dispose();
    }
  });

  for (const fused of fusedModes(backend)) {
    for (const V of VOCABS) {
      const slow = isSoftwareGpu(backend) || backend === 'cpu'; // plain-JS cpu sorts are as slow
      const cases = optionSets(V).filter(([, , large]) => V === SMALL_V || !slow || (large && fused));
      if (cases.length === 0) continue; // slow backends, flag off at V = 128256: see optionSets
      describe(`fused ${fused ? 'on' : 'off'}, V = ${V}`, () => {
        it.each(cases)('%s: no read in sample / process / probabilities, one in sampleIds', async (_name, options, _large, where) => {
          setFusedFlag(fused);
          const x = deviceLogits(B, V, `readbacks:${V}`);
          const sampler = createSampler(options);
          // A stateful sampler (Mirostat's μ) creates its state at its first sample: counted after it.
          if (options.mirostat !== undefined) sampler.sample(x).dispose();
          let n = tf.memory().numTensors;

          const sample = countReads(() => sampler.sample(x));
          noReads('sample()', sample.reads, tally);
          expect(sampler.lastPath).toBe(expectedPath(backend, fused, where));
          expect(tf.memory().numTensors).toBe(n + 1);
          const drawn = (await sample.result.data()) as Int32Array;
          expect(Array.from(drawn).every((id) => id >= 0 && id < V)).toBe(true);
          sample.result.dispose();

          n = tf.memory().numTensors;
          const processed = countReads(() => sampler.process(x));
          noReads('process()', processed.reads, tally);
          expect(tf.memory().numTensors).toBe(n + 1);
          processed.result.dispose();

          const probs = countReads(() => sampler.probabilities(x));
          noReads('probabilities()', probs.reads, tally);
          tally.regions += 3;
          expect(tf.memory().numTensors).toBe(n + 1);
          probs.result.dispose();

          // sampleIds: exactly one read, the async read of the [B] ids (nothing left behind).
          const ids = await countReadsAsync(() => sampler.sampleIds(x));
          const counted = readBacks(ids.reads);
          tally.sampleIdsReads += counted.length;
          expect(counted, describeReads(ids.reads)).toEqual([{ method: 'read', shape: [B], download: isSoftwareGpu(backend), inKernel: false }]);
          expect(ids.result).toHaveLength(B);
          expect(tf.memory().numTensors).toBe(n);

          sampler.dispose();
          x.dispose();
        });
      });
    }
  }
});
