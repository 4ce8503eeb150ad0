// Dispatch to a fused sampling kernel when the backend has one and the chain is the default
// one; the portable tfjs-core path runs otherwise (tfjs-node, chains the GPU chain lacks, custom
// processors or orders, draw 'multinomial', or the TFJS_SAMPLING_FUSED flag set to false).
import * as tf from '@tensorflow/tfjs-core';
import { DEFAULT_ORDER, type NormalizedOptions } from '../options.js';
import { effectiveTopP, nextInvTemperature } from '../params.js';
import type { RowPlan } from '../plan.js';
import type { BuiltinName } from '../types.js';
import { stepKeysOf, xtcUniform, type Steps } from '../noise.js';
import { xtcCoins } from '../reference/xtc.js';
import type { FusedPlan } from './js/sample-rows.js';
import type { KeptLogits } from './gpu-chain.js';
import { hasKernels, kernelsFor, type GpuChain } from './registry.js';
import { MIROSTAT_M } from '../reference/mirostat.js';

import { FUSED_KERNEL, GUMBEL_ARGMAX_KERNEL } from './kernel-names.js';

export { FUSED_KERNEL, GUMBEL_ARGMAX_KERNEL };
const FLAG = 'TFJS_SAMPLING_FUSED';

/** Registers the `TFJS_SAMPLING_FUSED` tfjs flag (default true) once. */
export function registerFusedFlag(): void {
  const env = tf.env();
  if (!(FLAG in (env as unknown as { flagRegistry: object }).flagRegistry)) env.registerFlag(FLAG, () => true);
}

function flagEnabled(): boolean {
  registerFusedFlag();
  return tf.env().getBool(FLAG);
}

/** The fused kernel for the active backend, registered on first use; undefined if none. */
export function fusedBackend(): string | undefined {
  const name = tf.getBackend();
  // webgl / webgpu: the GPU chain (threshold kernels + one draw kernel), see gpu-chain.ts.
  if (name === 'webgl' || name === 'webgpu') return flagEnabled() && (gpuChain(name)?.available(name) ?? false) ? name : undefined;
  if ((name !== 'cpu' && name !== 'wasm') || !flagEnabled()) return undefined;
  return hasKernels('fused', name) ? name : undefined;
}

/** The GPU chain, when the backend's entry was imported. */
function gpuChain(name: string): GpuChain | undefined {
  return kernelsFor(name)?.gpuChain;
}

/**
 * The per-row plan of the built-in chain (temperature, top-k, top-p, min-p in the default order,
 * the keyed draw), or undefined when it cannot run fused. Processors that run before it (`pre`:
 * penalties, bans, masks, the user's) run on their own and hand the fused kernel their logits;
 * then invalid rows need the full rule (input and processors), which only policy 'error' takes
 * here. `inv0`: each row's 1/T after those processors (default 1).
 */
/** The built-in options the fused kernels apply themselves (the others run as the tfjs-op chain). */
const FUSED_BUILTINS: readonly string[] = ['temperature', 'top-k', 'top-p', 'min-p'];
/** Those the cpu / wasm JS kernel also applies, as bands of the row (sample-rows.ts). */
const HOST_BANDS: readonly string[] = ['top-n-sigma', 'typical-p', 'epsilon-cutoff', 'eta-cutoff', 'xtc', 'mirostat'];
/**
 * Those the GPU chain (webgl, webgpu) applies as bands too (gpu-chain.ts; typical-p where the
 * backend has its search, before top-p / min-p with minTokensToKeep only with top-k on every row; Mirostat v1 with V > 100 and not after
 * typical-p or XTC; dynamic temperature first or last).
 */
const GPU_BANDS: readonly string[] = ['top-n-sigma', 'epsilon-cutoff', 'eta-cutoff', 'xtc', 'mirostat'];
const TOP_K_AT = DEFAULT_ORDER.indexOf('top-k') + 0.5; // typical-p right after top-k
/** The filters whose probabilities depend on the temperature (top-nσ and top-k do not). */
const T_DEPENDENT: readonly string[] = ['top-p', 'min-p', 'typical-p', 'epsilon-cutoff', 'eta-cutoff', 'xtc'];

export function fusedPlan(
  opts: NormalizedOptions,
  rows: RowPlan,
  vocab: number,
  keys: Uint32Array,
  step: Steps,
  pre = false,
  inv0?: Float64Array,
): FusedPlan | undefined {
  const { batch } = rows;
  const chain = gpuChain(tf.getBackend());
  if ((pre && opts.invalidRows !== 'error') || opts.draw !== 'gumbel' || (chain !== undefined && !chain.fits(tf.getBackend(), vocab))) return undefined;
  const host = tf.getBackend() === 'cpu' || tf.getBackend() === 'wasm';
  const gpuBands = !host && (chain?.bandsAvailable(tf.getBackend()) ?? false);
  const gpuTypical = !host && (chain?.typicalAvailable(tf.getBackend()) ?? false);
  let last = -1;
  let seenT = false;
  // Where top-p and min-p run relative to the temperature: before it (llama.cpp's order) they see
  // the T = 1 distribution, after it the T-scaled one; the kernels take one filter 1/T per row.
  const sides = new Set<boolean>();
  // minTokensToKeep: the fused kernels with top-k, top-p, min-p, typical-p, ε, η and XTC (cpu,
  // wasm, the GPU chain; typical-p before top-p / min-p: the GPU chain with top-k on every row;
  // typical-p before ε or η, whose m largest are then the band's: cpu, wasm, and the GPU chain
  // with top-k on every row).
  const minKeepSpec = opts.builtins.find((b) => b.minKeep !== undefined)?.minKeep;
  const has = (name: string): boolean => opts.builtins.some((b) => b.name === name);
  if (minKeepSpec !== undefined) {
    if (!host && !gpuBands) return undefined;
    // The GPU chain takes the band's m largest from the sorted top-k candidates: top-k on every row.
    if (!host && has('typical-p') && (has('epsilon-cutoff') || has('eta-cutoff'))) {
      const K = rows.value['top-k'];
      if (!K.every((k, r) => k > 0 && Math.max(k, rows.minKeep[r]!) < vocab)) return undefined;
    }
  }
  const names = opts.builtins.map((b) => b.name);
  const ti = names.indexOf('typical-p');
  const early = ti >= 0 && names.slice(ti + 1).some((n) => n === 'top-p' || n === 'min-p');
  let dynamicRows: FusedPlan['dynamic'];
  let dynFilters = false;
  for (const [i, { name, dynamic }] of opts.builtins.entries()) {
    if (
      !(FUSED_BUILTINS.includes(name) || (host && HOST_BANDS.includes(name)) || (gpuBands && GPU_BANDS.includes(name)) || (gpuTypical && name === 'typical-p'))
    )
      return undefined;
    // Dynamic temperature: first (the whole row's entropy) on cpu / wasm, and on the GPU chain
    // where no sampler after it depends on the temperature (its 1/T stays on the device, where
    // only the draw reads it) but top-p and min-p with top-k on every row; last (after the filters, order 'llama.cpp': the kept tokens'
    // entropy; the GPU chain: the draw's 1/T from them), without Mirostat after it.
    if (dynamic !== undefined) {
      const late = i > 0;
      if (late && i < opts.builtins.length - 1) return undefined;
      if (!host && !gpuBands) return undefined;
      if (!host && !late && opts.builtins.some((b) => b.name === 'mirostat' || (T_DEPENDENT.includes(b.name) && b.name !== 'top-p' && b.name !== 'min-p')))
        return undefined;
      // Top-p and min-p after it (the GPU chain): from the top-k candidates rewritten (below).
      dynFilters = !late && opts.builtins.some((b) => b.name === 'top-p' || b.name === 'min-p');
      dynamicRows = {
        range: rows.dynamic!.range,
        exponent: rows.dynamic!.exponent,
        T: rows.value.temperature,
        prev: rows.ones,
        ...(late ? { late } : {}),
      };
    }
    if (name === 'temperature') {
      seenT = true;
      continue;
    }
    // typical-p may also come right after top-k (before top-p and min-p: llama.cpp's order): its
    // band is then the candidates of top-p and min-p.
    const at = name === 'typical-p' && early ? TOP_K_AT : DEFAULT_ORDER.indexOf(name);
    if (at < last) return undefined;
    last = at;
    if (T_DEPENDENT.includes(name)) sides.add(seenT);
  }
  if (sides.size > 1) return undefined;
  const filtersFirst = seenT && sides.has(false);
  // Off built-ins hold their off value on every row (plan.ts).
  const get = (name: BuiltinName): Float64Array => rows.value[name];
  // The GPU chain's top-p / min-p after dynamic temperature read the sorted top-k candidates.
  if (!host && dynFilters && (minKeepSpec !== undefined || !get('top-k').every((k) => k > 0 && k < vocab))) return undefined;
  const stepKeys = stepKeysOf(keys, step);
  const bands: Partial<FusedPlan> = {};
  const M = minKeepSpec === undefined ? undefined : rows.minKeep;
  if (M) bands.minKeep = M;
  if (has('top-n-sigma')) bands.topNSigma = get('top-n-sigma');
  // A greedy row draws the largest logit typical-p or XTC keeps, which need not be the row's:
  // every kernel computes those bands for greedy rows too.
  if (has('typical-p')) bands.typicalP = get('typical-p');
  if (early) {
    // The GPU chain (typical-p itself needs gpuTypical, above): top-p after it reads the sorted
    // top-k candidates only (its sort-free top-p has no upper bound), and so does
    // minTokensToKeep's cap (the band's m-th largest): both need top-k on every row.
    const everyK = get('top-k').every((k, r) => k > 0 && Math.max(k, M?.[r] ?? 1) < vocab);
    if (!host && !everyK && (minKeepSpec !== undefined || get('top-p').some((p) => p < 1))) return undefined;
    bands.typicalEarly = true;
  }
  if (has('epsilon-cutoff')) bands.epsilon = get('epsilon-cutoff');
  if (has('eta-cutoff')) bands.eta = get('eta-cutoff');
  const miro = opts.builtins.find((b) => b.name === 'mirostat')?.mirostat;
  if (miro) {
    // Each row's version (0 off); μ comes with the call. The GPU chain takes v1 with V > 100
    // and no typical-p or XTC before it (upper bounds).
    const ver = Uint8Array.from(rows.mirostat!.version);
    if (
      !host &&
      ver.some((v) => v === 1) &&
      !((chain?.mirostatV1Available(tf.getBackend()) ?? false) && vocab > MIROSTAT_M && !has('typical-p') && !has('xtc'))
    )
      return undefined;
    bands.mirostat = ver;
  }
  const xtc = opts.builtins.find((b) => b.name === 'xtc')?.xtc;
  if (xtc) {
    const Pr = rows.xtc!.probability;
    const Th = rows.xtc!.threshold;
    const on = xtcCoins(Pr, Th, keys, step, xtcUniform);
    bands.xtcThreshold = Float64Array.from(Th, (t, r) => (on[r] ? t : -1));
  }
  const plan: FusedPlan = {
    ...bands,
    ...(dynamicRows ? { dynamic: dynamicRows } : {}),
    batch,
    vocab,
    invT: rows.invT,
    ...(filtersFirst ? { filterInvT: rows.ones } : {}),
    topK: M ? get('top-k').map((k, r) => (k > 0 ? Math.max(k, M[r]!) : 0)) : get('top-k'),
    topP: get('top-p').map(effectiveTopP),
    minP: get('min-p'),
    stepKeys,
    invalidRows: opts.invalidRows,
  };
  return inv0 ? afterProcessors(plan, rows, inv0) : plan;
}

/**
 * The plan after processors that ran before the built-ins changed 1/T (`inv0`, per row): the
 * built-in temperature applies on top of it; nothing else of the plan changes.
 */
export function afterProcessors(plan: FusedPlan, rows: RowPlan, inv0: Float64Array): FusedPlan {
  if (inv0.every((v) => v === 1)) return plan;
  const T = rows.value.temperature;
  return {
    ...plan,
    invT: T.map((t, r) => nextInvTemperature(inv0[r]!, t)),
    ...(plan.filterInvT ? { filterInvT: Float64Array.from(inv0) } : {}),
    ...(plan.dynamic ? { dynamic: { ...plan.dynamic, prev: Float64Array.from(inv0) } } : {}),
  };
}

/** Runs the fused kernel on `[B, V]` logits: int32 ids (negative codes for invalid rows). */
export function runFused(logits: tf.Tensor2D, plan: FusedPlan, mirostat?: FusedMirostat, kept?: KeptLogits): tf.Tensor1D {
  const name = tf.getBackend();
  if (name === 'webgl' || name === 'webgpu') {
    const chain = gpuChain(name);
    if (!chain) throw new Error(`tfjs-sampling (internal): no GPU chain for ${name}`);
    return chain.run(logits, plan, plan.mirostat ? mirostat : undefined, kept);
  }
  if (!plan.mirostat) return tf.engine().runKernel(FUSED_KERNEL, { logits }, { plan } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
  if (!mirostat) throw new Error('tfjs-sampling (internal): a Mirostat plan needs its μ');
  const [ids, surprise] = tf.engine().runKernel(FUSED_KERNEL, { logits, mu: mirostat.mu }, { plan } as unknown as tf.NamedAttrMap) as tf.Tensor1D[];
  mirostat.pending(surprise!);
  return ids!;
}

/**
 * The fused kernel with log-probabilities (cpu / wasm): int32 ids and the packed float32
 * `[B, 3 + 2n]` rows (see logprobs.ts), computed from what the kernel kept for each row.
 */
export function runFusedLogprobs(
  logits: tf.Tensor2D,
  plan: FusedPlan,
  logprobs: { n: number; mode: 'raw' | 'processed'; raw: boolean },
  mirostat?: FusedMirostat,
): { ids: tf.Tensor1D; packed: tf.Tensor2D } {
  const withLp = { ...plan, logprobs };
  if (!plan.mirostat) {
    const [ids, packed] = tf.engine().runKernel(FUSED_KERNEL, { logits }, { plan: withLp } as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { ids: ids as tf.Tensor1D, packed: packed as tf.Tensor2D };
  }
  if (!mirostat) throw new Error('tfjs-sampling (internal): a Mirostat plan needs its μ');
  const [ids, surprise, packed] = tf
    .engine()
    .runKernel(FUSED_KERNEL, { logits, mu: mirostat.mu }, { plan: withLp } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  mirostat.pending(surprise as tf.Tensor1D);
  return { ids: ids as tf.Tensor1D, packed: packed as tf.Tensor2D };
}

/** Mirostat's side of a fused call: its μ (`[B]` float32) in, the drawn tokens' surprise out. */
export interface FusedMirostat {
  mu: tf.Tensor1D;
  /** Receives the `[B]` surprise of this call (the processor keeps it for `accept`). */
  pending(surprise: tf.Tensor1D): void;
}

/** True when the active backend has the in-shader Gumbel-max draw kernel (webgl, webgpu). */
export function gumbelArgmaxAvailable(): boolean {
  const name = tf.getBackend();
  return (name === 'webgl' || name === 'webgpu') && flagEnabled() && hasKernels('gumbelArgmax', name);
}

/**
 * Runs the draw kernel: `scores` float32 [B, V] (masked = -Infinity), `stepKeys` one u32 per row,
 * `scale` 0 (greedy: no noise) or 1 per row. Returns int32 [B].
 */
export function runGumbelArgmax(scores: tf.Tensor2D, stepKeys: Uint32Array, scale: ArrayLike<number>): tf.Tensor1D {
  const keys = tf.tensor1d(new Int32Array(stepKeys.buffer, stepKeys.byteOffset, stepKeys.length), 'int32');
  const s = tf.tensor1d(Float32Array.from(scale), 'float32');
  return tf.engine().runKernel(GUMBEL_ARGMAX_KERNEL, { scores, keys, scale: s }, {}) as tf.Tensor1D;
}
