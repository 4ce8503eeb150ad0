// The methods (a)–(f), shared by the Node runner and the browser page.
//   tensor methods run on the current tfjs backend, on a [B, V] float32 logits tensor;
//   js methods run on a plain Float32Array in Node (no tfjs): the backend-independent peers.
// Every step ends with the one read-back a generation loop needs (the B token ids).
import * as tf from '@tensorflow/tfjs-core';
import type * as HF from '@huggingface/transformers';
import seedrandom from 'seedrandom';
import { createSampler } from '../src/index.js';
import type { Cell, Runnable } from './core.js';

/** The sampling configurations compared. */
export const T = 0.8;
export const TOP_K = 50;
export const TOP_P = 0.95;
export const TOP_P_ONLY = 0.9;
const SEED = 1234;

export interface TensorStep extends Runnable {
  /** Sampler.lastPath after the runs, for our sampler. */
  path?(): string;
  dispose?(): void;
}

export interface JsDeps {
  hf?: typeof HF;
}

export interface MethodDef {
  id: string;
  /** What it is, for tables and the chart. */
  label: string;
  kind: 'tensor' | 'js';
  /** 'b': T 0.8 + top-k 50 + top-p 0.95; 'c': top-p 0.9 alone; 'k': T 0.8 + top-k 50; 'limit': tf.max. */
  config: 'b' | 'c' | 'k' | 'limit';
  /** Whether a step returns B token ids (validated on the warm-up step). */
  returnsIds: boolean;
  tensor?(x: tf.Tensor2D, cell: Cell): TensorStep;
  js?(data: Float32Array, cell: Cell, deps: JsDeps): TensorStep;
}

async function readAndDispose(t: tf.Tensor): Promise<ArrayLike<number>> {
  try {
    return (await t.data()) as Int32Array | Float32Array;
  } finally {
    t.dispose();
  }
}

// (a) the limit: one reduction over the logits.
const a: MethodDef = {
  id: 'a',
  label: 'tf.max(logits, 1) — the limit',
  kind: 'tensor',
  config: 'limit',
  returnsIds: false,
  tensor: (x) => ({ run: () => readAndDispose(tf.max(x, 1)) }),
};

function ours(id: string, label: string, config: 'b' | 'c', options: Parameters<typeof createSampler>[0]): MethodDef {
  return {
    id,
    label,
    kind: 'tensor',
    config,
    returnsIds: true,
    tensor: (x) => {
      const sampler = createSampler(options);
      return {
        run: () => readAndDispose(sampler.sample(x)),
        path: () => String(sampler.lastPath),
      };
    },
  };
}

// (b) and (c): this library.
const b = ours('b', 'tfjs-sampling: T 0.8, top-k 50, top-p 0.95', 'b', { temperature: T, topK: TOP_K, topP: TOP_P, seed: SEED });
const c = ours('c', 'tfjs-sampling: top-p 0.9', 'c', { topP: TOP_P_ONLY, seed: SEED });

// (d) the naive full-sort tfjs pipeline: x/T → topk(x, V) → first 50 → softmax → cumsum (positive
// axis: axis -1 is broken in tfjs 4.22) → mask where the exclusive cumsum ≥ p → tf.multinomial
// on the masked sorted logits → the vocabulary index by a flat gather (gather with batchDims = 1
// is wrong on wasm, tfjs 8658).
const d: MethodDef = {
  id: 'd',
  label: 'naive tfjs: full topk sort + softmax + cumsum + multinomial',
  kind: 'tensor',
  config: 'b',
  returnsIds: true,
  tensor: (x, cell) => {
    const { B, V } = cell;
    const K = Math.min(TOP_K, V);
    let step = 0;
    return {
      run: () => {
        const seed = ++step;
        const ids = tf.tidy(() => {
          const scaled = tf.div(x, T);
          const { values, indices } = tf.topk(scaled, V, true);
          const v = tf.slice(values, [0, 0], [B, K]);
          const i = tf.slice(indices, [0, 0], [B, K]);
          const probs = tf.softmax(v);
          const exclusive = tf.sub(tf.cumsum(probs, 1), probs);
          const masked = tf.where(tf.less(exclusive, TOP_P), v, tf.fill([B, K], -Infinity));
          const drawn = tf.reshape(tf.multinomial(masked as tf.Tensor2D, 1, seed, false), [B]);
          const flat = tf.add(tf.mul(tf.range(0, B, 1, 'int32'), tf.scalar(K, 'int32')), drawn);
          return tf.gather(tf.reshape(i, [-1]), flat);
        });
        return readAndDispose(ids);
      },
    };
  },
};

// (e) transformers.js, per row, the way its generate() runs it. Its TopKLogitsWarper and
// TopPLogitsWarper throw ("`_call` should be implemented in a subclass"); top-k happens inside
// its MultinomialSampler (not exported): topk(row, k) through onnxruntime's TopK op (k = V, a
// full sort, when top_k is 0), softmax of the k values, a weighted pick with its seeded `random`.
// That body is rebuilt here from exported functions (topk, softmax, random.choices) —
// the same calls. Top-p is what a user must add per row: cut the sorted probabilities.
function transformers(id: string, label: string, config: 'b' | 'c' | 'k', temperature: number, k: number, topP: number): MethodDef {
  return {
    id,
    label,
    kind: 'js',
    config,
    returnsIds: true,
    js: (data, cell, deps) => {
      const hf = deps.hf;
      if (!hf) throw new Error('@huggingface/transformers is not installed');
      const { B } = cell;
      const work = new Float32Array(data.length);
      const logits = new hf.Tensor('float32', work, [B, cell.V]);
      const processors = new hf.LogitsProcessorList();
      // generate() adds the temperature warper only when T ≠ 1.
      if (temperature !== 1) processors.push(new hf.TemperatureLogitsWarper(temperature));
      const inputIds = Array.from({ length: B }, () => [0n]);
      hf.random.seed(SEED);
      const call = processors as unknown as (ids: bigint[][], x: HF.Tensor) => HF.Tensor;
      return {
        // The warpers change the logits in place: each step starts from fresh logits.
        before: () => work.set(data),
        run: async () => {
          const scores = call(inputIds, logits) as unknown as Record<number, HF.Tensor>;
          const out: bigint[] = [];
          for (let r = 0; r < B; r++) {
            const row = scores[r]!;
            const [v, i] = await hf.topk(row, k > 0 ? k : undefined);
            const probs = hf.softmax(v!.data as Float32Array) as Float32Array;
            let n = probs.length;
            if (topP < 1) {
              // user code: the smallest prefix of the sorted probabilities whose mass reaches p
              let mass = 0;
              for (let j = 0; j < probs.length; j++) {
                mass += probs[j]!;
                if (mass >= topP) {
                  n = j + 1;
                  break;
                }
              }
            }
            const population = i!.data as BigInt64Array;
            out.push(hf.random.choices(population as unknown as bigint[], probs.subarray(0, n) as unknown as number[]) as bigint);
          }
          return out;
        },
      };
    },
  };
}
const e = transformers('e', 'transformers.js: T 0.8 + its top-k 50 sampler + user top-p 0.95', 'b', T, TOP_K, TOP_P);
const ek = transformers('ek', 'transformers.js: T 0.8 + its top-k 50 sampler (no top-p)', 'k', T, TOP_K, 1);
const ec = transformers('ec', 'transformers.js: its sampler, top_k 0 (ORT full sort) + user top-p 0.9', 'c', 1, 0, TOP_P_ONLY);

// (f) the seed article's algorithm in plain JS, per row: softmax with temperature, argsort
// (Array.prototype.sort on the indices), [top-k], cumsum, cut at p, draw with a seeded uniform.
function article(id: string, label: string, config: 'b' | 'c', temperature: number, k: number, topP: number): MethodDef {
  return {
    id,
    label,
    kind: 'js',
    config,
    returnsIds: true,
    js: (data, cell) => {
      const { B, V } = cell;
      const rng = seedrandom(String(SEED));
      const p = new Float64Array(V);
      return {
        run: async () => {
          const out: number[] = [];
          for (let r = 0; r < B; r++) {
            const z = data.subarray(r * V, (r + 1) * V);
            let max = -Infinity;
            for (let j = 0; j < V; j++) if (z[j]! > max) max = z[j]!;
            let sum = 0;
            for (let j = 0; j < V; j++) sum += p[j] = Math.exp((z[j]! - max) / temperature);
            for (let j = 0; j < V; j++) p[j]! /= sum;
            const order = Array.from({ length: V }, (_, j) => j);
            order.sort((x, y) => p[y]! - p[x]!);
            const kept = k > 0 ? Math.min(k, V) : V;
            let total = 0;
            for (let j = 0; j < kept; j++) total += p[order[j]!]!;
            let n = kept;
            let mass = 0;
            for (let j = 0; j < kept; j++) {
              mass += p[order[j]!]!;
              if (mass >= topP * total) {
                n = j + 1;
                break;
              }
            }
            const u = rng() * (n === kept ? total : mass);
            let acc = 0;
            let pick = order[n - 1]!;
            for (let j = 0; j < n; j++) {
              acc += p[order[j]!]!;
              if (acc > u) {
                pick = order[j]!;
                break;
              }
            }
            out.push(pick);
          }
          return out;
        },
      };
    },
  };
}
const f = article('f', 'seed article in plain JS: softmax/T, argsort, top-k 50, top-p 0.95, seeded draw', 'b', T, TOP_K, TOP_P);
const fc = article('fc', 'seed article in plain JS: softmax, argsort, top-p 0.9, seeded draw', 'c', 1, 0, TOP_P_ONLY);

export const METHODS: readonly MethodDef[] = [a, b, c, d, e, ek, ec, f, fc];
export const TENSOR_METHODS = METHODS.filter((m) => m.kind === 'tensor');
export const JS_METHODS = METHODS.filter((m) => m.kind === 'js');

/** `--methods a,b,e`: a letter selects its family (e → e, ek, ec; f → f, fc); exact ids work too. */
export function selectMethods(filter: string[] | undefined): MethodDef[] {
  if (!filter || filter.length === 0) return [...METHODS];
  const unknown = filter.filter((w) => !METHODS.some((m) => m.id === w || m.id[0] === w));
  if (unknown.length > 0) throw new Error(`unknown method(s) ${unknown.join(', ')}; known: ${METHODS.map((m) => m.id).join(', ')}`);
  return METHODS.filter((m) => filter.includes(m.id) || filter.includes(m.id[0]!));
}
