// The default chain on webgl / webgpu without masked [B, V] logits: small tensors carry one
// threshold per row, and one draw kernel reads the raw logits once, applies the thresholds,
// draws (Gumbel-max, in-shader noise) and reports invalid rows in the same reduction.
//   top-k: webgpu: the sort-free radix-select kernel (k ≤ TOP_K_MAX), which also gives the row
//          max and the sorted candidates; webgl: tf.topk of the k largest (as the portable path);
//   top-p: on those sorted candidates when top-k applies to every row (no [B, V] pass), else on
//          a full sort (tf.topk), with the portable path's exact pair arithmetic (topPThreshold);
//   min-p: the portable path's threshold pair (minPPair), compared in the draw kernel;
//   top-nσ (first), typical-p, ε, η, XTC, Mirostat v2 (after min-p): floors and upper
//          bounds from row statistics (webgpu/bands.ts, webgl/bands.ts; float32, so a token within
//          rounding of a cut may differ from the reference); Mirostat's surprise for its accept;
//   Mirostat v1 (last; not after typical-p or XTC): the k-th largest kept logit, k from the 100
//          largest (webgpu: the top-k kernel; webgl: the window top-k and webgl/kth-largest.ts);
//   minTokensToKeep: the floors of top-p, min-p, ε and η capped at the m-th largest logit;
//          typical-p's band holds the m closest kept tokens (its search counts them too);
//   dynamic temperature (first, with only top-nσ / top-k after it, or top-p / min-p with top-k
//          on every row): the draw's 1/T per row, a device tensor from the whole row's entropy;
//          top-p and min-p then read the top-k candidates rewritten as the tfjs-op processor does;
// Tokens equal the portable path's: the same thresholds, the same score arithmetic and noise.
import * as tf from '@tensorflow/tfjs-core';
import { minPPair } from '../processors/min-p.js';
import { INV_TEMPERATURE_MAX, INV_TEMPERATURE_MIN } from '../params.js';
import {
  FLT_MAX,
  column,
  invTemperaturePair,
  keepAtLeast,
  pickPerRow,
  pickPerRowAt,
  rowMax,
  rowMin,
  safeThreshold,
  scaleByInvTemperature,
  splitInvTemperature,
} from '../processors/ops.js';
import { MIROSTAT_M, mirostatV1Count } from '../processors/mirostat.js';
import { dynamicColumns, quantizedEntropyOf } from '../processors/temperature.js';
import { uploadMaskWords } from './js-kernels.js';
import { maskByHalves, maskLogits } from '../processors/token-mask.js';
import { INVALID_CODE, invalidCodes, PROCESSOR_INVALID_CODE, policyFallbackIds } from '../select/invalid.js';
import { topPThreshold } from '../processors/top-p.js';
import { deviceTopk } from '../device-topk.js';
import type { FusedPlan } from './js/sample-rows.js';
import { WEBGL_MAX_MASKED_VOCAB, WEBGL_MAX_VOCAB } from './webgl/threshold-draw.js';
import { TOP_K_KERNEL, TOP_K_MAX } from './webgpu/top-k.js';
import { webgpuDrawConfig } from './webgpu/gumbel-argmax.js';
import { TOP_P_KERNEL } from './webgpu/top-p.js';
import { WINDOW_REDUCE_KERNEL } from './webgl/window-reduce.js';
import { topPBisectParams, WEBGL_TOP_P_KERNEL } from './webgl/top-p.js';
import { BANDS_KERNEL, type BandsMode } from './webgpu/bands.js';
import { rowBandsWebgl, typicalBandWebgl } from './webgl/bands.js';
import { KTH_LARGEST_KERNEL, KTH_MAX_WINDOW } from './webgl/kth-largest.js';
import { splitF32 } from '../params.js';
import { fusedObserver, readKeptCounts } from './fused-observer.js';
import { registerFusedFlag, type FusedMirostat } from './fused.js';

import { LOGPROB_STATS_KERNEL, LOGPROB_TOP_MAX, THRESHOLD_DRAW_KERNEL } from './kernel-names.js';
import { hasKernels, type GpuChain } from './registry.js';

export { THRESHOLD_DRAW_KERNEL };
export { TOP_K_KERNEL };

/** webgl top-k: logits per window whose maximum stands for it. */
const WINDOW = KTH_MAX_WINDOW;

/** True when the backend runs the fused GPU chain (its draw kernel registers). */
export function gpuChainAvailable(name: string): boolean {
  return hasKernels('thresholdDraw', name);
}

/** True when the backend's GPU chain takes top-nσ, ε, η, XTC and Mirostat v2 as bands (its bands kernel registers). */
export function gpuBandsAvailable(name: string): boolean {
  return hasKernels('bands', name);
}

/** True when the GPU chain takes typical-p as a band too (webgpu: the bands kernel's digit search; webgl: a key bisection). */
export function gpuTypicalAvailable(name: string): boolean {
  if (!gpuBandsAvailable(name)) return false;
  return name === 'webgpu' || (name === 'webgl' && hasKernels('kthLargest', name));
}

/**
 * True when the GPU chain takes Mirostat v1: webgpu (the top-k kernel gives its 100 largest and
 * the k-th largest), webgl (the window top-k and the k-th largest kernel).
 */
export function gpuMirostatV1Available(name: string): boolean {
  if (!gpuBandsAvailable(name)) return false;
  if (name === 'webgpu') return hasKernels('topK', name);
  return name === 'webgl' && hasKernels('windows', name) && hasKernels('kthLargest', name);
}

/** Whether the plan has a band of the GPU chain (top-nσ, typical-p, ε, η, XTC, Mirostat on some row). */
function hasGpuBands(plan: FusedPlan): boolean {
  const on = (a?: Float64Array): boolean => a?.some((v) => v > 0) ?? false;
  return (
    on(plan.topNSigma) ||
    hasTypical(plan) ||
    hasDynamic(plan) ||
    hasMinKeep(plan) ||
    on(plan.epsilon) ||
    on(plan.eta) ||
    (plan.xtcThreshold?.some((v) => v >= 0) ?? false) ||
    (plan.mirostat?.some((v) => v > 0) ?? false)
  );
}

/** Whether the chain reads top-k's sorted candidates (typical-p first, minTokensToKeep, dynamic temperature, Mirostat). */
function needsSortedCandidates(plan: FusedPlan): boolean {
  return plan.typicalEarly === true || hasMinKeep(plan) || hasDynamic(plan) || (plan.mirostat?.some((v) => v > 0) ?? false);
}

function hasTypical(plan: FusedPlan): boolean {
  return plan.typicalP?.some((v) => v < 1) ?? false;
}

function hasMinKeep(plan: FusedPlan): boolean {
  return plan.minKeep?.some((m) => m > 1) ?? false;
}

function hasDynamic(plan: FusedPlan): boolean {
  return plan.dynamic?.range.some((v) => v > 0) ?? false;
}

/** Whether this plan fits the GPU chain's kernels (webgl: V ≤ 2^21). */
export function gpuChainFits(name: string, vocab: number): boolean {
  return name !== 'webgl' || vocab <= WEBGL_MAX_VOCAB;
}

/**
 * Whether every kernel this plan runs reads the per-call bitmask itself (else the chain runs on
 * masked logits made by one bitmask pass): webgpu's top-k, row-mass, top-p and draw kernels;
 * webgl's window reductions and draw, with top-k by window maxima and top-p on its sorted k.
 */
function foldsMask(name: string, plan: FusedPlan, activeK: boolean[]): boolean {
  const { batch, vocab } = plan;
  if (hasGpuBands(plan)) return false; // the bands kernel reads masked logits
  const kmax = Math.max(0, ...plan.topK.filter((_, r) => activeK[r]));
  const topP = plan.topP.some((p) => p < 1);
  if (name === 'webgpu') {
    if (!hasKernels('topK', name) || kmax > TOP_K_MAX) return false;
    return !topP || activeK.every(Boolean) || hasKernels('topP', name);
  }
  if (name !== 'webgl' || vocab > WEBGL_MAX_MASKED_VOCAB || !hasKernels('windows', name)) return false;
  // (A folded mask keeps the window top-k whenever it applies: the k-th-largest bisection reads no mask.)
  if (kmax > 0 && (Math.ceil(vocab / WINDOW) < kmax || batch * vocab > 2 ** 24)) return false;
  return !topP || activeK.every(Boolean);
}

/** The bitmask rows as one upload: int32 [B, ceil(V/32)] (webgl: float32 16-bit halves). */
function maskTensor(rows: readonly Int32Array[], batch: number, vocab: number): tf.Tensor2D {
  const W = Math.ceil(vocab / 32);
  const words = new Int32Array(batch * W);
  rows.forEach((row, r) => words.set(row, r * W));
  return uploadMaskWords(words, batch, vocab);
}

/**
 * Runs the chain and the draw: int32 ids `[B]`, negative codes for invalid rows under 'error'.
 * With `plan.mask` and `plan.maskOnInput`, a row the mask empties while the logits had a finite
 * value gets the processors' code (-6): from the draw's own reduction where the kernels read the
 * mask. (Without `maskOnInput` the caller's invalid-row rule tells the causes apart.)
 */
/**
 * Logprobs: what the chain says about the logits it kept (see drawChain): on webgpu, with `want`
 * set and n ≤ LOGPROB_TOP_MAX, the packed rows themselves (webgpu/logprob-stats.ts: one kernel
 * over the caller's logits, the draw's keep test and ids); elsewhere the kept logits (the others
 * -Infinity) for logprobs.ts to pack.
 */
export interface KeptLogits {
  /** The packing's alternatives: how many, under which logits. */
  want?: { n: number; mode: 'raw' | 'processed'; raw: boolean };
  processed?: tf.Tensor2D;
  packed?: tf.Tensor2D;
}

export function runGpuChain(logits: tf.Tensor2D, plan: FusedPlan, mirostat?: FusedMirostat, kept?: KeptLogits): tf.Tensor1D {
  const name = tf.getBackend();
  const { batch, vocab } = plan;
  const activeK = Array.from(plan.topK, (k) => k > 0 && k < vocab);
  let input = logits;
  let mask: tf.Tensor2D | undefined;
  if (plan.mask) {
    if (foldsMask(name, plan, activeK)) mask = maskTensor(plan.mask, batch, vocab);
    else input = maskLogits(logits, plan.mask);
  }
  const ids = drawChain(input, plan, activeK, mask, mirostat, plan.mask ? undefined : kept);
  if (!plan.mask || mask || !plan.maskOnInput) return ids;
  // The mask ran as its own pass over the caller's logits: a row it emptied is the processors'
  // doing (-6) where they had a finite value, as the folded kernels report it.
  const inputNone = tf.equal(invalidCodes(logits, {}, logits), INVALID_CODE['no-finite-logit']);
  const emptied = tf.logicalAnd(tf.equal(ids, INVALID_CODE['no-finite-logit']), tf.logicalNot(inputNone));
  return tf.where(emptied, tf.fill([batch], PROCESSOR_INVALID_CODE['no-finite-logit'], 'int32'), ids) as tf.Tensor1D;
}

function drawChain(
  input: tf.Tensor2D,
  plan: FusedPlan,
  activeK: boolean[],
  mask: tf.Tensor2D | undefined,
  mirostat?: FusedMirostat,
  kept?: KeptLogits,
): tf.Tensor1D {
  const name = tf.getBackend();
  const { batch, vocab } = plan;
  const thrCol = (t: tf.Tensor): tf.Tensor2D => tf.reshape(t, [batch, 1]) as tf.Tensor2D;
  const withMask = <T extends tf.NamedTensorMap>(inputs: T): T => (mask ? { ...inputs, mask } : inputs);
  let thr: tf.Tensor1D | undefined;
  let zmax: tf.Tensor | undefined;
  let sorted: tf.Tensor2D | undefined;
  let finite: tf.Tensor | undefined;
  // top-nσ (before top-k): a floor under the whole row, with the row max from the same kernel.
  let sigmaFloor: tf.Tensor1D | undefined;
  if (plan.topNSigma?.some((v) => v > 0)) {
    const out = rowBands(input, bandParams(plan, { n: plan.topNSigma }), 'moments', false);
    sigmaFloor = tf.reshape(tf.slice(out, [0, 0], [batch, 1]), [batch]) as tf.Tensor1D;
    zmax = tf.slice(out, [0, 1], [batch, 1]);
    thr = sigmaFloor;
  }
  if (activeK.some(Boolean)) {
    const kmax = Math.max(...plan.topK.filter((_, r) => activeK[r]));
    if (kmax <= TOP_K_MAX && hasKernels('topK', name)) {
      const k = tf.tensor1d(Float32Array.from(plan.topK, (v, r) => (activeK[r] ? v : 0)));
      const out = tf.engine().runKernel(TOP_K_KERNEL, withMask({ logits: input, k }), { kmax } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
      thr = tf.reshape(tf.slice(out, [0, 0], [batch, 1]), [batch]) as tf.Tensor1D;
      finite = tf.slice(out, [0, 1], [batch, 1]);
      zmax = tf.slice(out, [0, 2], [batch, 1]);
      sorted = tf.slice(out, [0, 3], [batch, kmax]) as tf.Tensor2D;
      // Both keep an upper set: together, the higher floor (candidates below it count no mass).
      if (sigmaFloor) {
        thr = tf.maximum(thr, sigmaFloor) as tf.Tensor1D;
        sorted = keepAtLeast(sorted, thrCol(thr));
      }
    } else {
      // webgl where the window top-k would sort half the row or more (k·64 > V/2), or its flat
      // indices pass float32's 2^24: the k-th largest by a count bisection (webgl/kth-largest.ts),
      // no sort and no sorted candidates (top-p after it runs the sort-free search on its floor).
      // Else the k largest, sorted (webgl: the window top-k; webgpu past TOP_K_MAX: tf.topk).
      const bisect =
        name === 'webgl' &&
        !mask &&
        !needsSortedCandidates(plan) &&
        (kmax * WINDOW > vocab / 2 || batch * vocab > 2 ** 24) &&
        hasKernels('windows', name) &&
        hasKernels('kthLargest', name);
      let kth: tf.Tensor1D;
      let vals: tf.Tensor2D | undefined;
      if (bisect) {
        const maxima = windowMaxima(input);
        const k = tf.tensor1d(Float32Array.from(plan.topK, (v, r) => (activeK[r] ? v : 0)));
        kth = tf.engine().runKernel(KTH_LARGEST_KERNEL, { logits: input, maxima, k }) as tf.Tensor1D;
        zmax = rowMax(maxima);
      } else {
        vals = largest(input, kmax, name, mask);
        kth = pickPerRow(
          vals,
          Int32Array.from(plan.topK, (v, r) => (activeK[r] ? v - 1 : 0)),
        );
        // The largest of the k largest: the row max without another [B, V] pass (invalid rows are
        // reported from the input bits by the draw kernel, whatever this holds for them).
        zmax = tf.slice(vals, [0, 0], [batch, 1]);
      }
      thr = tf.where(tf.tensor1d(activeK, 'bool'), safeThreshold(kth), tf.fill([batch], -FLT_MAX)) as tf.Tensor1D;
      if (sigmaFloor) thr = tf.maximum(thr, sigmaFloor) as tf.Tensor1D;
      if (vals) sorted = keepAtLeast(vals, thrCol(thr));
    }
    // The sorted candidates stand for a row only where its top-k applies.
    if (!activeK.every(Boolean)) sorted = undefined;
  }
  // minTokensToKeep m: top-p, min-p, ε and η keep at least the m largest of what top-nσ left (top-k's
  // k is already ≥ m): their floors are capped at the m-th largest logit, vm ([B, 1]; +FLT_MAX where m = 1).
  let vm = hasMinKeep(plan) && !plan.typicalEarly ? minKeepFloor(input, plan, sigmaFloor) : undefined;
  // typical-p before top-p and min-p (order 'llama.cpp'; fusedPlan: top-k on every row or no
  // top-p): its band [lo, up] first, then top-p and min-p over the band only (their masses
  // relative to its maximum), and the draw keeps z ≤ up.
  let early: { up: tf.Tensor; top: tf.Tensor } | undefined;
  if (plan.typicalEarly && hasTypical(plan)) {
    if (name !== 'webgpu') zmax ??= maskedRowMax(input, mask);
    const m = zmax === undefined ? undefined : tf.reshape(zmax, [batch, 1]);
    // With top-k on every row the band comes from the sorted candidates (no [B, V] read);
    // the finite ties of the k-th value beyond them count as one more candidate.
    // (top-k's count is of the logits ≥ its k-th value: with top-nσ's floor above that, a count of its own.)
    const count = !sorted ? undefined : sigmaFloor ? candidateCount(input, thr!, withMask, name) : (finite ??= candidateCount(input, thr!, withMask, name));
    const out = sorted
      ? typicalBandOfCandidates(sorted, count!, thrCol(thr!), plan)
      : rowBands(
          input,
          bandParams(plan, { floor: thr, m, cut: column(plan.typicalP!), inv: plan.filterInvT ?? plan.invT, minKeep: true }),
          'typical',
          false,
          true,
          true,
          hasMinKeep(plan),
        );
    const lo = tf.reshape(tf.slice(out, [0, 0], [batch, 1]), [batch]) as tf.Tensor1D;
    thr = thr ? (tf.maximum(thr, lo) as tf.Tensor1D) : lo;
    early = { up: tf.slice(out, [0, 1], [batch, 1]), top: tf.slice(out, [0, 2], [batch, 1]) };
    zmax = early.top;
    // minTokensToKeep (fusedPlan: top-k on every row): top-p and min-p keep the band's m largest,
    // the m-th of the sorted candidates within [lo, up] (ties kept by the floor's ≥).
    if (hasMinKeep(plan)) vm = bandMinKeepFloor(sorted!, thrCol(thr), early.up, plan.minKeep!);
  }
  // Dynamic temperature first with top-p or min-p after it (fusedPlan: top-k on every row, no
  // minTokensToKeep): its 1/T first; those filters then read the candidates as the tfjs-op
  // processor rewrites the row, and give raw floors.
  let dynamic: ReturnType<typeof dynamicInvTemperature> | undefined;
  let rewritten: ReturnType<typeof dynamicCandidates> | undefined;
  if (hasDynamic(plan) && !plan.dynamic!.late && (plan.topP.some((p) => p < 1) || plan.minP.some((m) => m > 0))) {
    dynamic = dynamicInvTemperature(input, plan, zmax);
    zmax ??= dynamic.zmax;
    rewritten = dynamicCandidates(sorted!, zmax, plan, dynamic);
  }
  if (plan.topP.some((p) => p < 1)) {
    let tau: tf.Tensor1D;
    if (rewritten) {
      finite ??= candidateCount(input, thr!, withMask, name);
      const t = topPThreshold(rewritten.S, finite, rewritten.inv, plan.topP);
      tau = rawFloor(sorted!, tf.greaterEqual(rewritten.S, thrCol(t)));
    } else if (sorted && early) {
      // The sorted candidates outside the band weigh nothing (those above it lead the sort).
      tau = topPThreshold(sorted, finite ?? candidateCount(input, thr!, withMask, name), plan.filterInvT ?? plan.invT, plan.topP, {
        lo: thrCol(thr!),
        up: early.up,
        top: early.top,
      });
    } else if (sorted && !(name === 'webgpu' && webgpuDrawConfig(tf.backend()).topPSearch && hasKernels('topP', name))) {
      // The pair arithmetic over the sorted candidates, as tensor ops (some 60 small ones): webgl,
      // and webgpu on software adapters, where a read of the row costs more than they do. The
      // finite logits ≥ the threshold count (-Infinity and NaN never do).
      finite ??= candidateCount(input, thr!, withMask, name);
      tau = topPThreshold(sorted, finite, plan.filterInvT ?? plan.invT, plan.topP);
    } else if (hasKernels('topP', name)) {
      // webgpu: the digit search over the row in one dispatch (after top-k: its floor, and the
      // row max from the top-k kernel); bit for bit the sorted formulation (test/gpu-chain.test.ts).
      zmax ??= maskedRowMax(input, mask);
      tau = sortFreeTopP(input, plan.filterInvT ?? plan.invT, plan.topP, thr ? thrCol(thr) : tf.fill([batch, 1], -FLT_MAX), zmax, mask);
    } else {
      const zs = deviceTopk(thr ? keepAtLeast(input, thrCol(thr)) : input, vocab).values;
      tau = topPThreshold(zs, undefined, plan.filterInvT ?? plan.invT, plan.topP);
    }
    thr = thr ? (tf.maximum(thr, tau) as tf.Tensor1D) : tau;
  }
  // Dynamic temperature (nothing after it reads 1/T but the draw): its 1/T from the whole row.
  if (hasDynamic(plan) && !plan.dynamic!.late && !dynamic) {
    dynamic = dynamicInvTemperature(input, plan, zmax);
    zmax ??= dynamic.zmax;
  }
  // Min-p after dynamic temperature: its pair on the rewritten candidates (the row max rewrites
  // to the first), as a raw floor; the draw then has no pair to test.
  if (rewritten && plan.minP.some((m) => m > 0)) {
    const [tm, em] = minPPair(tf.slice(rewritten.S, [0, 0], [batch, 1]), plan.minP, rewritten.inv);
    const floor = rawFloor(sorted!, tf.logicalNot(tf.greater(tf.sub(em, tf.sub(rewritten.S, tm)), 0)));
    thr = thr ? (tf.maximum(thr, floor) as tf.Tensor1D) : floor;
  }
  const anyMinP = !rewritten && plan.minP.some((m) => m > 0);
  // ε, η, XTC and Mirostat find the row max in their first pass where nothing before them did
  // (webgpu, no min-p).
  const miro = plan.mirostat?.some((v) => v > 0) ?? false;
  if (miro && !mirostat) throw new Error('tfjs-sampling (internal): a Mirostat plan needs its μ');
  const cutoffs =
    hasTypical(plan) ||
    (plan.epsilon?.some((v) => v > 0) ?? false) ||
    (plan.eta?.some((v) => v > 0) ?? false) ||
    (plan.xtcThreshold?.some((v) => v >= 0) ?? false) ||
    miro;
  if (anyMinP || !cutoffs || name !== 'webgpu') zmax ??= maskedRowMax(input, mask);
  let [t, e2] = anyMinP ? minPPair(zmax!, plan.minP, plan.filterInvT ?? plan.invT) : [tf.zeros([batch, 1]), tf.zeros([batch, 1])];
  if (anyMinP && vm) {
    // Where min-p's pair would drop one of the m largest, the pair becomes z ≥ vm.
    const lower = tf.less(vm, tf.add(t, e2));
    [t, e2] = [tf.where(lower, vm, t), tf.where(lower, tf.zerosLike(e2), e2)];
  }
  // typical-p, ε, η, XTC (after min-p, at the filters' 1/T) and Mirostat v2 (at the draw's):
  // floors and upper bounds from row sums over what the earlier filters kept.
  const cut = cutoffBands(input, plan, thr, zmax, t, e2, anyMinP, mirostat?.mu, vm, early, sorted);
  thr = cut.thr;
  zmax = cut.zmax;
  // Dynamic temperature last (order 'llama.cpp'): the entropy of what the filters kept.
  if (hasDynamic(plan) && plan.dynamic!.late)
    dynamic = dynamicInvTemperature(input, plan, cut.drawMax ?? zmax, { floor: thr, hi: cut.hi, t, e2, minP: anyMinP });
  let [ih] = invTemperaturePair(plan.invT);
  let scale = column(Array.from(plan.invT, (v) => (Number.isFinite(v) ? 1 : 0)));
  if (dynamic) [ih, scale] = [dynamic.ih, dynamic.scale];
  const params = tf.concat(
    [
      thr ? thrCol(thr) : tf.fill([batch, 1], -FLT_MAX),
      t,
      e2,
      // The draw shifts by the kept maximum, as the portable path does (XTC can drop the row's).
      cut.drawMax ?? thrCol(zmax),
      ih,
      scale,
      // webgpu's concat takes 7 inputs at most (one storage buffer is the output): past that it
      // splits, and a split-off group of host values runs on the CPU with a (host) read.
      cut.hi
        ? tf.concat([cut.hi, tf.zeros([batch, 1])], 1)
        : tf.tensor2d(
            Float32Array.from({ length: 2 * batch }, (_, i) => (i % 2 ? 0 : FLT_MAX)),
            [batch, 2],
          ),
    ],
    1,
  );
  // webgpu: after the draw one kernel reads the row (webgpu/logprob-stats.ts): the packed
  // log-probabilities (raw and processed normalisers over the draw's keep test, the alternatives)
  // and Mirostat's −log q of the drawn token, instead of tensor ops over [B, V] and a mass pass.
  const lpWant = kept?.want && kept.want.n <= LOGPROB_TOP_MAX ? kept.want : undefined;
  let packRows: ((ids: tf.Tensor1D) => tf.Tensor2D) | undefined;
  if (!dynamic && !mask && name === 'webgpu' && (lpWant || miro) && hasKernels('logprobs', name)) {
    const { hi, lo } = splitInvTemperature(plan.invT);
    const ih = tf.tensor2d(
      Float32Array.from({ length: 3 * batch }, (_, i) =>
        i % 3 === 0 ? hi[(i / 3) | 0]! : i % 3 === 1 ? lo[(i / 3) | 0]! : Number.isFinite(plan.invT[(i / 3) | 0]!) ? 0 : 1,
      ),
      [batch, 3],
    );
    const lpParams = tf.concat([thr ? thrCol(thr) : tf.fill([batch, 1], -FLT_MAX), cut.hi ?? tf.fill([batch, 1], FLT_MAX), t, e2, ih], 1);
    const attrs = { n: lpWant?.n ?? 0, processedTop: lpWant?.mode === 'processed', minP: anyMinP, upper: cut.hi !== undefined, raw: lpWant?.raw ?? false };
    packRows = (ids) =>
      tf.engine().runKernel(LOGPROB_STATS_KERNEL, { logits: input, params: lpParams, ids }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  }
  if (kept && !dynamic && !(packRows && lpWant)) {
    // Logprobs: the draw's keep test (threshold-draw.ts) as tensor ops, the same float32 steps:
    // the logits it can draw from, the others -Infinity (the processed logits before 1/T).
    let keep = tf.greaterEqual(input, thr ? thrCol(thr) : tf.fill([batch, 1], -FLT_MAX));
    if (anyMinP) keep = tf.logicalAnd(keep, tf.logicalNot(tf.greater(tf.sub(e2, tf.sub(input, t)), 0)));
    if (cut.hi) keep = tf.logicalAnd(keep, tf.lessEqual(input, cut.hi));
    kept.processed = tf.where(keep, input, tf.fill([batch, vocab], -Infinity)) as tf.Tensor2D;
  }
  const keys = tf.tensor1d(new Int32Array(plan.stepKeys.buffer, plan.stepKeys.byteOffset, plan.stepKeys.length), 'int32');
  // webgpu applies every policy in its kernel; webgl reports codes and the policy runs here (and
  // on webgpu with Mirostat, whose surprise needs to know which rows were invalid).
  const policy = name === 'webgpu' && !miro ? plan.invalidRows : 'error';
  const upper = cut.hi !== undefined;
  const ids: tf.Tensor1D = tf
    .engine()
    .runKernel(THRESHOLD_DRAW_KERNEL, withMask({ logits: input, keys, params }), { policy, minP: anyMinP, upper } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
  const packed = packRows?.(ids);
  if (packed && lpWant) kept!.packed = packed;
  const observe = fusedObserver(); // tests only: the draw's keep test, counted (fused-observer.ts)
  if (observe) {
    const attrs = { policy: 'error', minP: anyMinP, count: true, upper } as unknown as tf.NamedAttrMap;
    const counts = readKeptCounts(tf.engine().runKernel(THRESHOLD_DRAW_KERNEL, withMask({ logits: input, keys, params }), attrs) as tf.Tensor);
    observe({ path: `fused:${name}`, kernel: 'gpu-chain', counts });
  }
  if (miro && packed) {
    // Mirostat's accept learns −log2 q of the drawn token under the kept distribution: the packed
    // row's processed log-probability (0 on greedy rows, NaN on invalid ones: μ stays).
    const lq = tf.reshape(tf.slice(packed, [0, 2], [batch, 1]), [batch]);
    mirostat!.pending(tf.keep(tf.div(lq, -Math.LN2) as tf.Tensor1D));
  } else if (miro) {
    // Mirostat's accept learns −log2 q of the drawn token under the kept distribution: a last
    // mass pass over what the draw kept, and the drawn logits ([B] gathered).
    const m = tf.reshape(cut.drawMax ?? zmax, [batch, 1]);
    const out = rowBands(input, bandParams(plan, { floor: thr, hi: cut.hi, m, t, e2, inv: plan.invT }), 'mass', anyMinP, false, false);
    const S = tf.add(tf.slice(out, [0, 0], [batch, 1]), tf.slice(out, [0, 1], [batch, 1]));
    const at = tf.add(tf.mul(tf.range(0, batch, 1, 'int32'), tf.scalar(vocab, 'int32')), tf.maximum(ids, tf.scalar(0, 'int32')));
    const zj = tf.reshape(tf.gather(tf.reshape(input, [batch * vocab]), at), [batch, 1]);
    const [ihH, ihL] = invTemperaturePair(plan.invT);
    const d = tf.sub(zj, m);
    const a = tf.add(tf.mul(d, ihH), tf.mul(d, ihL));
    const bits = tf.div(tf.sub(tf.log(S), a), Math.LN2);
    // Greedy rows draw with q = 1; invalid rows (negative codes) keep μ (NaN).
    const greedy = column(Array.from(plan.invT, (v) => (Number.isFinite(v) ? 0 : 1)));
    const surprise = tf.where(tf.reshape(tf.less(ids, 0), [batch, 1]), tf.fill([batch, 1], NaN), tf.where(tf.cast(greedy, 'bool'), tf.zeros([batch, 1]), bits));
    mirostat!.pending(tf.keep(tf.reshape(surprise, [batch]) as tf.Tensor1D));
  }
  if (plan.invalidRows === 'error' || policy !== 'error') return ids;
  return applyPolicy(input, plan, ids, keys);
}

/** How many logits of each row reach its floor `thr` ([B, 1]; webgl's window counts where it has them). */
function candidateCount(input: tf.Tensor2D, thr: tf.Tensor1D, withMask: <T extends tf.NamedTensorMap>(inputs: T) => T, name: string): tf.Tensor {
  const [batch, vocab] = input.shape;
  return hasKernels('windows', name)
    ? tf.sum(
        tf
          .engine()
          .runKernel(WINDOW_REDUCE_KERNEL, withMask({ logits: input, thr }), { window: 256, mode: 'count' } as unknown as tf.NamedAttrMap) as tf.Tensor2D,
        1,
        true,
      )
    : tf.sub(vocab, tf.sum(tf.step(tf.sub(tf.reshape(thr, [batch, 1]), input)), 1, true));
}

/**
 * typical-p's band over the sorted top-k candidates `[B, K]` (descending, -Infinity past a row's
 * k), the bands kernel's 'typical' output [B, 3] (floor, upper bound, kept maximum) with its
 * float32 rule: a = (z − m)·1/T as a pair, m the largest candidate, centre c = Σ e^a·a / Σ e^a,
 * a token kept while the mass of the tokens strictly closer to c than it is below p·S, or
 * (minTokensToKeep) fewer than m of them are. `finite` [B, 1] counts the row's finite logits
 * ≥ `thr` (the k-th value): those past K are ties of it, one more column weighted by their count.
 */
function typicalBandOfCandidates(
  sorted: tf.Tensor2D,
  finite: tf.Tensor,
  thr: tf.Tensor2D,
  plan: FusedPlan,
  minP?: { t: tf.Tensor; e2: tf.Tensor },
): tf.Tensor2D {
  const batch = sorted.shape[0];
  const cand = tf.logicalAnd(tf.isFinite(sorted), tf.greaterEqual(sorted, thr));
  const listed = tf.sum(tf.cast(cand, 'float32'), 1, true);
  // min-p's pair (after the count: the ties past the candidates pass it as the k-th value does).
  const pass = (v: tf.Tensor): tf.Tensor => (minP ? tf.logicalNot(tf.greater(tf.sub(minP.e2, tf.sub(v, minP.t)), 0)) : tf.cast(tf.onesLike(v), 'bool'));
  const kept = tf.logicalAnd(cand, pass(sorted));
  const z = tf.concat([tf.where(kept, sorted, tf.fill(sorted.shape, -Infinity)), thr], 1);
  const ties = tf.where(tf.logicalAnd(tf.isFinite(thr), pass(thr)), tf.relu(tf.sub(finite, listed)), tf.zerosLike(thr));
  const w = tf.concat([tf.cast(kept, 'float32'), ties], 1);
  // The largest kept candidate (min-p keeps the row's maximum).
  const m = tf.slice(sorted, [0, 0], [batch, 1]);
  const [ihH, ihL] = invTemperaturePair(plan.filterInvT ?? plan.invT);
  const dz = tf.where(tf.isFinite(z), tf.sub(z, m), tf.fill(z.shape, -FLT_MAX));
  const a = tf.add(tf.mul(dz, ihH), tf.mul(dz, ihL));
  const x = tf.mul(w, tf.exp(a));
  const S = tf.sum(x, 1, true);
  const c = tf.div(tf.sum(tf.where(tf.greater(x, 0), tf.mul(x, a), tf.zerosLike(x)), 1, true), S);
  const d = tf.where(tf.greater(w, 0), tf.abs(tf.sub(a, c)), tf.fill(z.shape, Infinity));
  // closer[i] = Σ_j [d_j < d_i] x_j (and the count of such tokens), [B, K + 1, K + 1] at most.
  const less = tf.cast(tf.less(tf.expandDims(d, 1), tf.expandDims(d, 2)), 'float32');
  const closer = tf.squeeze(tf.matMul(less, tf.expandDims(x, 2)), [2]);
  let keep = tf.logicalAnd(tf.greater(w, 0), tf.less(closer, tf.mul(column(plan.typicalP!), S)));
  if (plan.minKeep?.some((v) => v > 1)) {
    const count = tf.squeeze(tf.matMul(less, tf.expandDims(w, 2)), [2]);
    keep = tf.logicalOr(keep, tf.logicalAnd(tf.greater(w, 0), tf.less(count, column(plan.minKeep))));
  }
  const up = rowMax(tf.where(keep, z, tf.fill(z.shape, -Infinity)) as tf.Tensor2D);
  const lo = rowMin(tf.where(keep, z, tf.fill(z.shape, Infinity)) as tf.Tensor2D);
  const on = tf.logicalAnd(tf.cast(column(Array.from(plan.typicalP!, (p) => (p < 1 ? 1 : 0))), 'bool'), tf.isFinite(up));
  return tf.concat([tf.where(on, lo, tf.fill([batch, 1], -FLT_MAX)), tf.where(on, up, tf.fill([batch, 1], FLT_MAX)), tf.where(on, up, m)], 1) as tf.Tensor2D;
}

/**
 * minTokensToKeep's floor [B, 1] after a typical-p band: the m-th largest of the sorted
 * candidates `[B, K]` (descending) that lie in [lo, up]; lo where fewer than m do (every token of
 * the band stays), +FLT_MAX on rows with m = 1.
 */
function bandMinKeepFloor(sorted: tf.Tensor2D, lo: tf.Tensor2D, up: tf.Tensor, M: Float64Array): tf.Tensor2D {
  const batch = M.length;
  const inBand = tf.logicalAnd(tf.logicalAnd(tf.greaterEqual(sorted, lo), tf.lessEqual(sorted, up)), tf.isFinite(sorted));
  const rank = tf.cumsum(tf.cast(inBand, 'int32'), 1);
  const m = column(Array.from(M, (v) => Math.min(v, sorted.shape[1]!)));
  const at = tf.logicalAnd(inBand, tf.equal(tf.cast(rank, 'float32'), m));
  const top = rowMax(tf.where(at, sorted, tf.fill(sorted.shape, -Infinity)) as tf.Tensor2D);
  // Fewer than m in the band: all of it stays, and no token below it (the floors so far).
  const v = tf.where(tf.isFinite(top), top, lo);
  return tf.where(tf.cast(column(Array.from(M, (x) => (x > 1 ? 1 : 0))), 'bool'), v, tf.fill([batch, 1], FLT_MAX)) as tf.Tensor2D;
}

/**
 * minTokensToKeep's floor [B, 1]: the m-th largest logit (webgpu: the top-k kernel's threshold;
 * webgl: the window top-k), at least top-nσ's floor; +FLT_MAX on rows with m = 1 (no cap).
 */
function minKeepFloor(input: tf.Tensor2D, plan: FusedPlan, sigmaFloor: tf.Tensor1D | undefined): tf.Tensor2D {
  const { batch } = plan;
  const M = plan.minKeep!;
  const mmax = Math.max(...M);
  const name = tf.getBackend();
  let v: tf.Tensor;
  if (mmax <= TOP_K_MAX && hasKernels('topK', name)) {
    const k = tf.tensor1d(Float32Array.from(M));
    v = tf.slice(tf.engine().runKernel(TOP_K_KERNEL, { logits: input, k }, { kmax: mmax } as unknown as tf.NamedAttrMap) as tf.Tensor2D, [0, 0], [batch, 1]);
  } else {
    const vals = largest(input, Math.min(mmax, plan.vocab), name, undefined);
    v = tf.reshape(
      safeThreshold(
        pickPerRow(
          vals,
          Int32Array.from(M, (m) => Math.min(m, plan.vocab) - 1),
        ),
      ),
      [batch, 1],
    );
  }
  if (sigmaFloor) v = tf.maximum(v, tf.reshape(sigmaFloor, [batch, 1]));
  return tf.where(tf.cast(column(Array.from(M, (m) => (m > 1 ? 1 : 0))), 'bool'), v, tf.fill([batch, 1], FLT_MAX)) as tf.Tensor2D;
}

/**
 * Dynamic temperature (first in the chain, nothing after it reads 1/T but the draw; or last, with
 * `kept`: over the tokens the filters kept, m their maximum): the draw's
 * 1/T and noise scale per row, [B, 1] each, from the whole row's entropy at the pending 1/T
 * (plan.dynamic.prev) — one mass pass (S = Σ e^a, H = ln S − Σ e^a·a / S) and one count of the
 * finite logits (N) — as the reference's rule: T' = lo + (hi − lo)·(H / ln N)^exponent with
 * [lo, hi] = [max(0, T − range), T + range] (T where N ≤ 1), 1/T' clamped as every 1/T, times
 * the pending 1/T; T' = 0 is a greedy row (scale 0). Rows with range 0 keep their 1/T.
 */
function dynamicInvTemperature(
  input: tf.Tensor2D,
  plan: FusedPlan,
  zmax: tf.Tensor | undefined,
  kept?: { floor: tf.Tensor1D | undefined; hi: tf.Tensor | undefined; t: tf.Tensor; e2: tf.Tensor; minP: boolean },
): { ih: tf.Tensor2D; scale: tf.Tensor2D; zmax: tf.Tensor; inv0: tf.Tensor; on: tf.Tensor } {
  const { batch } = plan;
  const d = plan.dynamic!;
  const webgpu = tf.getBackend() === 'webgpu';
  // webgpu: the mass pass finds the row max (online) and counts the kept logits too. After the
  // filters (`kept`): the sums and the count over what they keep, m their maximum.
  const m = zmax ?? (webgpu ? undefined : maskedRowMax(input, undefined));
  const keptParams = { floor: kept?.floor, hi: kept?.hi, ...(kept ? { t: kept.t, e2: kept.e2 } : {}) };
  const out = rowBands(input, bandParams(plan, { ...keptParams, m, inv: d.prev }), 'mass', kept?.minP ?? false, m === undefined);
  const S = tf.add(tf.slice(out, [0, 0], [batch, 1]), tf.slice(out, [0, 1], [batch, 1]));
  const SA = tf.add(tf.slice(out, [0, 2], [batch, 1]), tf.slice(out, [0, 3], [batch, 1]));
  const H = tf.sub(tf.log(S), tf.div(SA, S));
  const N = webgpu
    ? tf.slice(out, [0, 5], [batch, 1])
    : tf.slice(rowBands(input, bandParams(plan, { ...keptParams, m, cut: tf.fill([batch, 1], -FLT_MAX) }), 'above', kept?.minP ?? false), [0, 1], [batch, 1]);
  const T = column(d.T);
  const E = column(d.exponent);
  const [lo, width] = dynamicColumns(d.T, d.range);
  const base = quantizedEntropyOf(tf.div(H, tf.log(N)));
  // base^E with 0^0 = 1 and 0^E = 0 (GLSL's pow is undefined at 0).
  const pw = tf.where(tf.equal(E, 0), tf.onesLike(E), tf.where(tf.greater(base, 0), tf.exp(tf.mul(E, tf.log(tf.maximum(base, 1e-30)))), tf.zerosLike(base)));
  const t = tf.where(tf.greater(N, 1), tf.add(lo, tf.mul(width, pw)), T);
  const inv = tf.mul(
    tf.minimum(tf.maximum(tf.div(1, tf.maximum(t, 2 ** -120)), INV_TEMPERATURE_MIN), INV_TEMPERATURE_MAX),
    column(Array.from(d.prev, (v) => (Number.isFinite(v) ? v : 1))),
  );
  const greedy = tf.equal(t, 0);
  const on = tf.cast(column(Array.from(d.range, (v, r) => (v > 0 && Number.isFinite(d.prev[r]!) ? 1 : 0))), 'bool');
  const [ih0] = invTemperaturePair(plan.invT);
  const scale0 = column(Array.from(plan.invT, (v) => (Number.isFinite(v) ? 1 : 0)));
  const ih = tf.where(on, tf.where(greedy, tf.onesLike(inv), inv), ih0) as tf.Tensor2D;
  const scale = tf.where(on, tf.where(greedy, tf.zerosLike(inv), tf.onesLike(inv)), scale0) as tf.Tensor2D;
  const inv0 = tf.minimum(tf.maximum(tf.div(1, tf.maximum(t, 2 ** -120)), INV_TEMPERATURE_MIN), INV_TEMPERATURE_MAX);
  return { ih, scale, zmax: m ?? tf.slice(out, [0, 4], [batch, 1]), inv0, on };
}

/**
 * The sorted candidates `[B, K]` as the tfjs-op dynamic temperature rewrites the row
 * (processors/temperature.ts): f32(f32(z − max)·prev)·1/T' floored at -FLT_MAX on the rows it
 * scales, the values themselves elsewhere; with the 1/T each filter after it reads (1 where
 * rewritten, the plain one elsewhere). The rewrite is monotone, so a floor on the rewritten
 * values is a floor on the raw ones.
 */
function dynamicCandidates(
  sorted: tf.Tensor2D,
  zmax: tf.Tensor,
  plan: FusedPlan,
  dyn: { inv0: tf.Tensor; on: tf.Tensor },
): { S: tf.Tensor2D; inv: Float64Array } {
  const { batch } = plan;
  const d = plan.dynamic!;
  const s = tf.mul(scaleByInvTemperature(tf.sub(sorted, tf.reshape(zmax, [batch, 1])), d.prev), dyn.inv0);
  const S = tf.where(tf.logicalAnd(dyn.on, tf.isFinite(sorted)), tf.maximum(s, -FLT_MAX), sorted) as tf.Tensor2D;
  return { S, inv: candidateInvT(plan.filterInvT ?? plan.invT, d.range, d.prev) };
}

// The plan's arrays live across calls (plan.ts): the derived 1/T too, so its split is made once.
const CANDIDATE_INV = new WeakMap<Float64Array, { range: Float64Array; prev: Float64Array; inv: Float64Array }>();

/** The candidates' 1/T after dynamic temperature: 1 on its rows (rewritten), the plain 1/T elsewhere. */
function candidateInvT(plain: Float64Array, range: Float64Array, prev: Float64Array): Float64Array {
  const known = CANDIDATE_INV.get(plain);
  if (known?.range === range && known.prev === prev) return known.inv;
  const inv = Float64Array.from(plain, (v, r) => (range[r]! > 0 && Number.isFinite(prev[r]!) ? 1 : v));
  CANDIDATE_INV.set(plain, { range, prev, inv });
  return inv;
}

/** The least raw candidate whose rewritten value passes `keep` ([B, K] bool): a raw floor [B] (-FLT_MAX where none). */
function rawFloor(sorted: tf.Tensor2D, keep: tf.Tensor): tf.Tensor1D {
  const least = tf.reshape(rowMin(tf.where(tf.logicalAnd(keep, tf.isFinite(sorted)), sorted, tf.fill(sorted.shape, Infinity)) as tf.Tensor2D), [
    sorted.shape[0],
  ]);
  return tf.where(tf.isFinite(least), least, tf.fill([sorted.shape[0]], -FLT_MAX)) as tf.Tensor1D;
}

/** The bands statistics per row: webgpu's kernel, or webgl's window statistics combined (webgl/bands.ts; no online max there). */
function rowBands(input: tf.Tensor2D, params: tf.Tensor2D, mode: BandsMode, minP: boolean, online = false, entropy = true, counted = false): tf.Tensor2D {
  if (tf.getBackend() === 'webgl') {
    if (mode === 'typical') return typicalBandWebgl(input, params, minP, counted);
    return rowBandsWebgl(input, params, mode, minP, entropy);
  }
  return tf.engine().runKernel(BANDS_KERNEL, { logits: input, params }, { mode, minP, online } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * The bands kernel's per-row params (webgpu/bands.ts): floor, upper bound, m, 1/T pair (the
 * filters' unless `inv`), min-p pair, n or cut, and minTokensToKeep where `minKeep` (typical-p).
 */
function bandParams(
  plan: FusedPlan,
  p: {
    n?: Float64Array;
    floor?: tf.Tensor1D | undefined;
    hi?: tf.Tensor | undefined;
    m?: tf.Tensor | undefined;
    t?: tf.Tensor;
    e2?: tf.Tensor;
    cut?: tf.Tensor;
    inv?: Float64Array;
    minKeep?: boolean;
  },
): tf.Tensor2D {
  const { batch } = plan;
  // 1/T as a float32 pair in one [B, 2] upload: webgpu's concat takes 7 inputs at most (see
  // drawChain's params).
  const { hi, lo } = splitInvTemperature(p.inv ?? plan.filterInvT ?? plan.invT);
  const ih = Float32Array.from({ length: 2 * batch }, (_, i) => (i % 2 ? lo[i >> 1]! : hi[i >> 1]!));
  const fill = (v: number): tf.Tensor => tf.fill([batch, 1], v);
  const head = tf.concat(
    [
      p.floor ? tf.reshape(p.floor, [batch, 1]) : fill(-FLT_MAX),
      p.hi ?? fill(FLT_MAX),
      p.m ? tf.reshape(p.m, [batch, 1]) : fill(0),
      tf.tensor2d(ih, [batch, 2]),
      p.t ?? fill(0),
      p.e2 ?? fill(0),
    ],
    1,
  );
  const M = p.minKeep ? plan.minKeep : undefined;
  return tf.concat([head, p.cut ?? (p.n ? column(p.n) : fill(0)), M ? column(M) : fill(1)], 1) as tf.Tensor2D;
}

/**
 * typical-p, ε, η, XTC and Mirostat v2 on the GPU chain, in the default order, each from the
 * bands kernel over what the filters before it kept (z ≥ thr, min-p's pair, z ≤ hi), at the
 * filters' 1/T (Mirostat: the draw's): with a = (z − m)·1/T, S = Σ e^a and q = e^a / S,
 *   typical-p: the kernel's band [lo, up] of the tokens it keeps (webgl: webgl/kth-largest.ts), as a floor and an
 *        upper bound (their maximum up the draw's new maximum);
 *   ε: keep q ≥ ε ⟺ z ≥ m + ln(ε·S)·T (the maximum always);
 *   η: the same with min(η, √η·e^-H), H = ln S − Σ e^a·a / S;
 *   XTC: the kept tokens with q ≥ threshold (z ≥ m + ln(threshold·S)·T): where two or more
 *        reach it, every logit above the least probable of them goes (an upper bound, and the
 *        draw's new maximum);
 *   Mirostat v2: ε's rule with ε = 2^-μ (μ the device tensor).
 * Rows where a band is off keep their floor. Greedy rows take ε, η and XTC at 1/T = 1 (the
 * reference's usableInv): XTC can drop their maximum, and ε's and η's floors bound what is left.
 */
function cutoffBands(
  input: tf.Tensor2D,
  plan: FusedPlan,
  thr0: tf.Tensor1D | undefined,
  zmax: tf.Tensor | undefined,
  t: tf.Tensor,
  e2: tf.Tensor,
  minP: boolean,
  mu?: tf.Tensor1D,
  vm?: tf.Tensor,
  early?: { up: tf.Tensor; top: tf.Tensor },
  sorted?: tf.Tensor2D,
): { thr: tf.Tensor1D | undefined; zmax: tf.Tensor; hi?: tf.Tensor; drawMax?: tf.Tensor } {
  const { batch } = plan;
  // minTokensToKeep: the floors so far (top-k, top-p) and each of ε's and η's capped at vm.
  const capped = (f: tf.Tensor1D | undefined): tf.Tensor1D | undefined => (f && vm ? (tf.minimum(f, tf.reshape(vm, [batch])) as tf.Tensor1D) : f);
  let thr = capped(thr0);
  let m = zmax === undefined ? undefined : tf.reshape(zmax, [batch, 1]);
  // typical-p first (drawChain): its band's upper bound and maximum hold from the start.
  let hi: tf.Tensor | undefined = early?.up;
  let drawMax: tf.Tensor | undefined = early?.top;
  // Σ e^a and Σ e^a·a over the kept tokens at 1/T = inv; without m yet, the same pass finds it (online).
  const mass = (entropy: boolean, inv: Float64Array, mk?: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] => {
    const out = rowBands(input, bandParams(plan, { floor: thr, hi, m: mk ?? m, t, e2, inv }), 'mass', minP, (mk ?? m) === undefined, entropy);
    const S = tf.add(tf.slice(out, [0, 0], [batch, 1]), tf.slice(out, [0, 1], [batch, 1]));
    const SA = tf.add(tf.slice(out, [0, 2], [batch, 1]), tf.slice(out, [0, 3], [batch, 1]));
    return [S, SA, tf.slice(out, [0, 4], [batch, 1])];
  };
  // The logit where q reaches `c` (a [B, 1] probability): mk + ln(c·S)·T.
  const reach = (c: tf.Tensor, S: tf.Tensor, mk: tf.Tensor, inv: Float64Array): tf.Tensor =>
    tf.add(mk, tf.div(tf.log(tf.mul(c, S)), column(splitInvTemperature(inv).hi)));
  const onRows = (test: (r: number) => boolean, inv: Float64Array): tf.Tensor =>
    tf.cast(column(Array.from(inv, (v, r) => (test(r) && Number.isFinite(v) ? 1 : 0))), 'bool');
  // A floor at q ≥ c (the maximum always stays) on the rows `on`.
  const raise = (c: tf.Tensor, S: tf.Tensor, mk: tf.Tensor, inv: Float64Array, on: tf.Tensor): void => {
    const f = tf.minimum(reach(c, S, mk, inv), mk);
    const floor = tf.reshape(tf.where(tf.logicalAnd(on, tf.isFinite(f)), f, tf.fill([batch, 1], -FLT_MAX)), [batch]) as tf.Tensor1D;
    thr = thr ? (tf.maximum(thr, floor) as tf.Tensor1D) : floor;
  };
  const finv = plan.filterInvT ?? plan.invT;
  if (hasTypical(plan) && !early) {
    // With top-k on every row (sorted), the band from the candidates that the floor and min-p's
    // pair keep (the count of the logits ≥ the floor gives the k-th value's ties past them);
    // else webgpu finds m in the same read (online) and webgl takes it from the params.
    const out =
      sorted && thr
        ? typicalBandOfCandidates(
            sorted,
            candidateCount(input, thr, (x) => x, tf.getBackend()),
            tf.reshape(thr, [batch, 1]) as tf.Tensor2D,
            plan,
            minP ? { t, e2 } : undefined,
          )
        : rowBands(
            input,
            bandParams(plan, { floor: thr, m, t, e2, cut: column(plan.typicalP!), inv: finv, minKeep: true }),
            'typical',
            minP,
            true,
            true,
            hasMinKeep(plan),
          );
    const lo = tf.reshape(tf.slice(out, [0, 0], [batch, 1]), [batch]) as tf.Tensor1D;
    thr = thr ? (tf.maximum(thr, lo) as tf.Tensor1D) : lo;
    hi = tf.slice(out, [0, 1], [batch, 1]);
    m = tf.slice(out, [0, 2], [batch, 1]);
    drawMax = m;
    // ε and η after it keep the band's m largest (fusedPlan: top-k on every row).
    if (vm && hasMinKeep(plan) && (plan.epsilon?.some((v) => v > 0) || plan.eta?.some((v) => v > 0)))
      vm = bandMinKeepFloor(sorted!, tf.reshape(thr, [batch, 1]) as tf.Tensor2D, hi, plan.minKeep!);
  }
  // Greedy rows see ε, η and XTC at 1/T = 1 (the reference's usableInv): XTC can drop their
  // maximum, and the draw then takes the largest logit that ε's and η's floors kept.
  const unitInv = finv.map((v) => (Number.isFinite(v) ? v : 1));
  for (const eta of [false, true]) {
    const E = eta ? plan.eta : plan.epsilon;
    if (!E?.some((v) => v > 0)) continue;
    const [S, SA, mm] = mass(eta, unitInv);
    m = mm;
    let c: tf.Tensor = column(E);
    if (eta) c = tf.minimum(c, tf.mul(column(Array.from(E, Math.sqrt)), tf.exp(tf.sub(tf.div(SA, S), tf.log(S)))));
    raise(
      c,
      S,
      m,
      unitInv,
      onRows((r) => E[r]! > 0, unitInv),
    );
    thr = capped(thr);
  }
  const X = plan.xtcThreshold;
  if (X?.some((v) => v >= 0)) {
    const [S, , mm] = mass(false, unitInv);
    m = mm;
    const zc = tf.maximum(reach(column(Array.from(X, (v) => Math.max(v, 0))), S, m, unitInv), -FLT_MAX);
    const above = rowBands(input, bandParams(plan, { floor: thr, hi, m, t, e2, cut: zc }), 'above', minP);
    const least = tf.slice(above, [0, 0], [batch, 1]);
    let cuts = tf.logicalAnd(
      tf.logicalAnd(
        onRows((r) => X[r]! >= 0, unitInv),
        tf.greaterEqual(tf.slice(above, [0, 1], [batch, 1]), 2),
      ),
      tf.isFinite(least),
    );
    const M = plan.minKeep;
    if (M?.some((v) => v > 1)) {
      // minTokensToKeep: the row stays as it is where fewer than m kept tokens lie at or below the bound.
      const left = rowBands(input, bandParams(plan, { floor: thr, hi: least, m, t, e2, cut: tf.fill([batch, 1], -FLT_MAX) }), 'above', minP);
      cuts = tf.logicalAnd(cuts, tf.greaterEqual(tf.slice(left, [0, 1], [batch, 1]), column(M)));
    }
    hi = tf.where(cuts, least, hi ?? tf.fill([batch, 1], FLT_MAX));
    drawMax = tf.where(cuts, least, m!);
  }
  // Mirostat v2 (last, at the draw's 1/T): ε's floor with ε = 2^-μ over what is kept so far.
  const ver = plan.mirostat;
  if (mu && ver?.some((v) => v === 2)) {
    const mk = drawMax ?? m;
    const [S, , mm] = mass(false, plan.invT, mk);
    m ??= mm;
    raise(
      tf.exp(tf.mul(tf.reshape(mu, [batch, 1]), -Math.LN2)),
      S,
      mk ?? mm,
      plan.invT,
      onRows((r) => ver[r] === 2, plan.invT),
    );
  }
  if (mu && ver?.some((v) => v === 1)) {
    const v1 = mirostatV1Floor(input, plan, thr, t, e2, minP, mu);
    thr = thr ? (tf.maximum(thr, v1.floor) as tf.Tensor1D) : v1.floor;
    m ??= v1.zmax;
  }
  return { thr, zmax: m!, ...(hi ? { hi } : {}), ...(drawMax ? { drawMax } : {}) };
}

/**
 * Mirostat v1 on webgpu (after every filter but typical-p and XTC, whose upper bounds it does
 * not take; fusedPlan): what the filters kept is an upper set of the row's values (z ≥ thr and
 * min-p's pair), so its 100 largest are the row's 100 largest with those below the floors as
 * −Infinity (the top-k kernel, sorted), and its k-th largest is the row's k-th largest where
 * that is kept (else every kept token stays). k comes from those 100 as in the tfjs-op
 * processor (`mirostatV1Count`, float32); k ≤ 100 picks from them, a larger k takes a second
 * top-k kernel call with k on the device (its threshold search takes any k). Returns the floor
 * `[B]` (−FLT_MAX where v1 keeps everything, or is off) and the row max `[B, 1]`.
 */
function mirostatV1Floor(
  input: tf.Tensor2D,
  plan: FusedPlan,
  thr: tf.Tensor1D | undefined,
  t: tf.Tensor,
  e2: tf.Tensor,
  minP: boolean,
  mu: tf.Tensor1D,
): { floor: tf.Tensor1D; zmax: tf.Tensor } {
  const { batch, vocab } = plan;
  const M = MIROSTAT_M; // < V (fusedPlan)
  const webgl = tf.getBackend() === 'webgl';
  const win: { maxima?: tf.Tensor2D } = {};
  let s = webgl
    ? largest(input, M, 'webgl', undefined, win)
    : (tf.slice(
        tf.engine().runKernel(TOP_K_KERNEL, { logits: input, k: tf.fill([batch], M) }, { kmax: M } as unknown as tf.NamedAttrMap) as tf.Tensor2D,
        [0, 3],
        [batch, M],
      ) as tf.Tensor2D);
  if (thr) s = keepAtLeast(s, tf.reshape(thr, [batch, 1]));
  // min-p's pair as the draw tests it: drop where e2 − (z − t) > 0.
  if (minP) s = tf.where(tf.greater(tf.sub(e2, tf.sub(s, t)), 0), tf.fill(s.shape, -Infinity), s) as tf.Tensor2D;
  const zmax = tf.slice(s, [0, 0], [batch, 1]);
  const ver = plan.mirostat!;
  const on = (r: number): boolean => ver[r] === 1 && Number.isFinite(plan.invT[r]!); // greedy rows draw the max, which v1 keeps
  const inv = Float64Array.from(plan.invT, (v) => (Number.isFinite(v) ? v : 1));
  const nf = tf.sum(tf.cast(tf.isFinite(s), 'float32'), 1, true);
  const kInt = tf.floor(mirostatV1Count(s, inv, nf, tf.reshape(mu, [batch, 1]), vocab));
  const use = tf.logicalAnd(tf.cast(column(Array.from(ver, (_, r) => (on(r) ? 1 : 0))), 'bool'), tf.logicalAnd(tf.isFinite(kInt), tf.less(kInt, vocab)));
  const k = tf.where(use, tf.maximum(kInt, 1), tf.onesLike(kInt));
  const small = tf.lessEqual(k, M);
  const kthSmall = tf.reshape(pickPerRowAt(s, tf.reshape(tf.sub(tf.minimum(k, M), 1), [batch]) as tf.Tensor1D), [batch, 1]);
  // The row's k-th largest for k > 100: the kernel's threshold (−FLT_MAX where it is −Infinity, or k is off).
  const kBig = tf.reshape(tf.where(tf.logicalAnd(use, tf.logicalNot(small)), k, tf.zerosLike(k)), [batch]);
  // Rows with k ≤ 100 (most, on peaky rows) idle in that call. webgl: a bisection on the key
  // (webgl/kth-largest.ts) that skips the windows whose maximum is below its candidate.
  const kthBig = webgl
    ? tf.reshape(tf.engine().runKernel(KTH_LARGEST_KERNEL, { logits: input, maxima: win.maxima ?? windowMaxima(input), k: kBig }) as tf.Tensor, [batch, 1])
    : tf.slice(
        tf.engine().runKernel(TOP_K_KERNEL, { logits: input, k: kBig }, { kmax: 1, idleOff: true } as unknown as tf.NamedAttrMap) as tf.Tensor2D,
        [0, 0],
        [batch, 1],
      );
  const kth = tf.where(small, kthSmall, kthBig);
  const floor = tf.where(tf.logicalAnd(use, tf.greater(kth, -Infinity)), kth, tf.fill([batch, 1], -FLT_MAX));
  return { floor: tf.reshape(floor, [batch]) as tf.Tensor1D, zmax };
}

/**
 * The k largest logits of each row, in descending order. webgl: without sorting the row — the
 * window maxima (one pass) pick the k windows with the largest maxima, and the k largest of those
 * windows' logits are the row's k largest: a window whose maximum is below the k-th largest
 * maximum L holds nothing ≥ L, every logit > L lies in a chosen window, and the chosen maxima are
 * k logits ≥ L. The two small tf.topk calls run as shaders (deviceTopk: no CPU hand-off, no read-back).
 */
function largest(input: tf.Tensor2D, k: number, name: string, mask: tf.Tensor2D | undefined, out?: { maxima?: tf.Tensor2D }): tf.Tensor2D {
  const [batch, vocab] = input.shape;
  if (!windowPathFits(batch, vocab, k) || !hasKernels('windows', name)) {
    if (mask) throw new Error('tfjs-sampling (internal): a folded bitmask needs the window top-k');
    return deviceTopk(input, k).values;
  }
  const maxima = windowMaxima(input, mask);
  if (out) out.maxima = maxima;
  return deviceTopk(gatherWindows(input, deviceTopk(maxima, k).indices, mask).vals, k).values;
}

/** The window path takes k windows of 64 (V ≥ 64·k) and flat gather indices below 2^24 (float32 in webgl textures). */
function windowPathFits(batch: number, vocab: number, k: number): boolean {
  return Math.ceil(vocab / WINDOW) >= k && batch * vocab <= 2 ** 24;
}

/**
 * webgl: the logits of the chosen windows (`chosen` int32 `[B, n]` window ids) as `[B, n·64]`,
 * with their token columns `pos`; the last window's missing slots (past V) hold -Infinity, so
 * they never repeat a logit or rank ahead of a token. `mask`: the bitmask applied to them.
 */
function gatherWindows(input: tf.Tensor2D, chosen: tf.Tensor2D, mask?: tf.Tensor2D): { vals: tf.Tensor2D; pos: tf.Tensor2D } {
  const [batch, vocab] = input.shape;
  const n = chosen.shape[1];
  const int = (v: number): tf.Scalar => tf.scalar(v, 'int32');
  const cols = tf.reshape(tf.range(0, WINDOW, 1, 'int32'), [1, 1, WINDOW]);
  const pos = tf.reshape(tf.add(tf.mul(tf.expandDims(chosen, 2), int(WINDOW)), cols), [batch, n * WINDOW]) as tf.Tensor2D;
  const rowBase = tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), int(vocab)), [batch, 1]);
  const flat = tf.reshape(tf.add(rowBase, tf.minimum(pos, int(vocab - 1))), [batch * n * WINDOW]);
  let vals = tf.reshape(tf.gather(tf.reshape(input, [batch * vocab]), flat), [batch, n * WINDOW]) as tf.Tensor2D;
  if (mask) vals = maskGathered(vals, mask, pos);
  return { vals: tf.where(tf.less(pos, int(vocab)), vals, tf.fill([batch, n * WINDOW], -Infinity)) as tf.Tensor2D, pos };
}

/**
 * webgl: the bitmask applied to gathered logits `vals` of token columns `pos` (int32, same shape;
 * columns past V, masked anyway, read the last half), as the tfjs-op bitmask does (maskByHalves).
 */
function maskGathered(vals: tf.Tensor2D, mask: tf.Tensor2D, pos: tf.Tensor): tf.Tensor2D {
  const [batch, n] = vals.shape;
  const halves = mask.shape[1];
  const int = (v: number): tf.Scalar => tf.scalar(v, 'int32');
  const h = tf.minimum(tf.floorDiv(pos, int(16)), int(halves - 1));
  const rowBase = tf.reshape(tf.mul(tf.range(0, batch, 1, 'int32'), int(halves)), [batch, 1]);
  const words = tf.reshape(tf.gather(tf.reshape(mask, [batch * halves]), tf.reshape(tf.add(rowBase, h), [batch * n])), [batch, n]);
  const scale = tf.gather(tf.tensor1d(Float32Array.from({ length: 16 }, (_, i) => 2 ** -i)), tf.sub(pos, tf.mul(tf.floorDiv(pos, int(16)), int(16))));
  return maskByHalves(vals, words, scale);
}

/** webgl: each window's maximum, `[B, ceil(V / WINDOW)]` (one read). */
function windowMaxima(input: tf.Tensor2D, mask?: tf.Tensor2D): tf.Tensor2D {
  return tf.engine().runKernel(WINDOW_REDUCE_KERNEL, mask ? { logits: input, mask } : { logits: input }, {
    window: WINDOW,
    mode: 'max',
  } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/** The row max `[B, 1]` of the logits, masked (webgpu: the top-k kernel at k off; webgl: window maxima, masked or not). */
function maskedRowMax(input: tf.Tensor2D, mask: tf.Tensor2D | undefined): tf.Tensor {
  const [batch] = input.shape;
  // webgl: window maxima (one read; rowMax's own guard against tf.max's -1e20 start would read
  // the row twice more), then rowMax over the few windows.
  if (tf.getBackend() === 'webgl' && hasKernels('windows', 'webgl')) {
    return rowMax(windowMaxima(input, mask));
  }
  if (!mask) return rowMax(input);
  // webgpu (a mask is folded only where the kernels read it, foldsMask): the top-k kernel at k off.
  const out = tf.engine().runKernel(TOP_K_KERNEL, { logits: input, k: tf.zeros([batch]), mask }, { kmax: 1 } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
  return tf.slice(out, [0, 2], [batch, 1]);
}

/**
 * webgpu: top-p threshold without a sort (webgpu/top-p.ts): the row mass as a pair, the target
 * p · total as a pair (topPThreshold's arithmetic), then the digit search.
 */
export function sortFreeTopP(input: tf.Tensor2D, invT: Float64Array, topP: Float64Array, floor: tf.Tensor, zmax: tf.Tensor, mask?: tf.Tensor2D): tf.Tensor1D {
  const batch = input.shape[0];
  const [ihH, ihL] = invTemperaturePair(invT);
  if (tf.getBackend() === 'webgl') {
    // webgl/top-p.ts: a key bisection with integer masses (the mask, if any, is already applied: foldsMask).
    if (mask) throw new Error('tfjs-sampling (internal): the webgl top-p search takes masked logits');
    return tf.engine().runKernel(WEBGL_TOP_P_KERNEL, { logits: input, params: topPBisectParams(floor, zmax, ihH, ihL, topP) }) as tf.Tensor1D;
  }
  // webgpu/top-p.ts: the digit search forms its target from its first level's total.
  const pp = new Float32Array(batch * 4);
  for (let r = 0; r < batch; r++) {
    [pp[4 * r], pp[4 * r + 1]] = splitF32(topP[r]!);
    pp[4 * r + 2] = topP[r]! < 1 ? 1 : 0;
  }
  const params = tf.concat([floor, tf.reshape(zmax, [batch, 1]), ihH, ihL, tf.tensor2d(pp, [batch, 4])], 1);
  return tf.engine().runKernel(TOP_P_KERNEL, mask ? { logits: input, params, mask } : { logits: input, params }) as tf.Tensor1D;
}

/** webgl: 'uniform' / 'greedy' ids for the rows the kernel marked invalid (opt-in policies only). */
function applyPolicy(input: tf.Tensor2D, plan: FusedPlan, ids: tf.Tensor1D, keys: tf.Tensor1D): tf.Tensor1D {
  const { batch, vocab } = plan;
  // Noise alone over the whole vocabulary: threshold -FLT_MAX on zero logits, scale 1.
  const params = tf.concat([tf.fill([batch, 1], -FLT_MAX), tf.zeros([batch, 3]), tf.ones([batch, 2]), tf.zeros([batch, 2])], 1);
  const uniformIds = tf.engine().runKernel(THRESHOLD_DRAW_KERNEL, { logits: tf.zeros([batch, vocab]), keys, params }, {
    policy: 'error',
    minP: false,
  } as unknown as tf.NamedAttrMap) as tf.Tensor1D;
  const fallback = policyFallbackIds(input, plan.invalidRows as 'uniform' | 'greedy', uniformIds);
  return tf.where(tf.less(ids, 0), fallback, ids) as tf.Tensor1D;
}

/**
 * Whether the portable processors take the chain's threshold kernels: webgl (where tf.topk would
 * sort the row), unless the TFJS_SAMPLING_FUSED flag is off (then the tfjs-op formulation runs,
 * which the tests compare with the kernels).
 */
function processorKernels(vocab: number): boolean {
  if (tf.getBackend() !== 'webgl') return false;
  registerFusedFlag();
  return tf.env().getBool('TFJS_SAMPLING_FUSED') && gpuChainFits('webgl', vocab);
}

/**
 * The top-k processor's threshold without sorting the row (webgl): each row's k-th largest logit
 * (`K[r]` ≥ 1; rows the caller leaves off may hold anything) and, when the window path applies,
 * the `kmax` largest in descending order (what tf.topk's values would be); undefined where neither
 * kernel runs (the caller sorts).
 */
function processorTopK(input: tf.Tensor2D, K: Float64Array, kmax: number): { kth: tf.Tensor1D; sorted?: tf.Tensor2D } | undefined {
  const [batch, vocab] = input.shape;
  if (!processorKernels(vocab) || !hasKernels('windows', 'webgl')) return undefined;
  if (kmax * WINDOW <= vocab / 2 && batch * vocab <= 2 ** 24) {
    const sorted = largest(input, kmax, 'webgl', undefined);
    return {
      kth: pickPerRow(
        sorted,
        Int32Array.from(K, (k) => Math.max(k, 1) - 1),
      ),
      sorted,
    };
  }
  if (!hasKernels('kthLargest', 'webgl')) return undefined;
  const k = tf.tensor1d(Float32Array.from(K, (v) => Math.max(v, 1)));
  return { kth: tf.engine().runKernel(KTH_LARGEST_KERNEL, { logits: input, maxima: windowMaxima(input), k }) as tf.Tensor1D };
}

/**
 * The top-p processor's threshold without sorting the row (webgl's key search over every finite
 * logit): topPThreshold's result, bit for bit; undefined where the kernel does not run.
 */
function processorTopP(input: tf.Tensor2D, invT: Float64Array, P: Float64Array): tf.Tensor1D | undefined {
  const [batch, vocab] = input.shape;
  if (!processorKernels(vocab) || !hasKernels('topP', 'webgl')) return undefined;
  return sortFreeTopP(input, invT, P, tf.fill([batch, 1], -FLT_MAX), maskedRowMax(input, undefined));
}

/**
 * The k largest logits of each row in descending order without sorting the row (webgl's window
 * top-k, what tf.topk's values would be: it sorts the chosen windows' logits, never the row);
 * undefined where the window path does not apply (fewer than k windows: V < 64·k).
 */
function processorLargest(input: tf.Tensor2D, k: number): tf.Tensor2D | undefined {
  const [batch, vocab] = input.shape;
  if (!processorKernels(vocab) || !hasKernels('windows', 'webgl') || !windowPathFits(batch, vocab, k)) return undefined;
  return largest(input, k, 'webgl', undefined);
}

/**
 * The n largest logits of each row and their token ids, as tf.topk gives them (descending, ties in
 * index order), without sorting the row (webgl): the window maxima choose n windows as in
 * `largest`; taken in ascending order, their gathered logits keep the row's token order, so
 * tf.topk over them breaks ties as it would over the row. Where fewer than n tokens are finite,
 * the -Infinity ones it lists are the row's first: a chosen window without a finite logit is the
 * first such window (a tie of maxima goes to the lower index), and holds 64 ≥ n of them ahead of
 * every window left out. Undefined where the window path does not apply (V < 64·n).
 */
function processorTop(input: tf.Tensor2D, n: number): { values: tf.Tensor2D; indices: tf.Tensor2D } | undefined {
  const [batch, vocab] = input.shape;
  if (!processorKernels(vocab) || !hasKernels('windows', 'webgl') || !windowPathFits(batch, vocab, n)) return undefined;
  const chosen = deviceTopk(windowMaxima(input), n).indices;
  const ascending = tf.cast(tf.neg(deviceTopk(tf.neg(tf.cast(chosen, 'float32')), n).values), 'int32') as tf.Tensor2D;
  const { vals, pos } = gatherWindows(input, ascending);
  const top = deviceTopk(vals, n);
  return { values: top.values as tf.Tensor2D, indices: tf.gather(pos, top.indices, 1, 1) as tf.Tensor2D };
}

/**
 * Each row's k-th largest logit, k a float32 tensor `[B]` computed on the device (≥ 1; 0 idles
 * the row, whose value is then anything), without sorting the row (webgl's bisection on the key);
 * undefined where the kernel does not run.
 */
function processorKth(input: tf.Tensor2D, k: tf.Tensor1D): tf.Tensor1D | undefined {
  if (!processorKthAvailable(input.shape[1])) return undefined;
  return tf.engine().runKernel(KTH_LARGEST_KERNEL, { logits: input, maxima: windowMaxima(input), k }) as tf.Tensor1D;
}

/** Whether processorKth runs (webgl, its window and bisection kernels, the fused flag on). */
function processorKthAvailable(vocab: number): boolean {
  return processorKernels(vocab) && hasKernels('windows', 'webgl') && hasKernels('kthLargest', 'webgl');
}

/**
 * The typical-p processor's band without sorting the row (webgl: the chain's typical band at the
 * filters' 1/T, `minTokensToKeep` counted): `[B, 2]` (floor, upper bound) in logits, every token
 * kept on rows with p = 1; undefined where the kernels do not run. `zmax`: the processor's row max
 * (not read again here).
 */
function processorTypical(input: tf.Tensor2D, invT: Float64Array, P: Float64Array, M: Float64Array, zmax: tf.Tensor2D): tf.Tensor2D | undefined {
  const [batch, vocab] = input.shape;
  if (!processorKernels(vocab) || !gpuTypicalAvailable('webgl') || !invT.every((v) => Number.isFinite(v) && v > 0)) return undefined;
  const plan = { batch, vocab, invT, minKeep: M } as unknown as FusedPlan;
  const out = rowBands(
    input,
    bandParams(plan, { m: zmax, cut: column(P), minKeep: true }),
    'typical',
    false,
    true,
    true,
    M.some((v) => v > 1),
  );
  return tf.slice(out, [0, 0], [batch, 2]) as tf.Tensor2D;
}

/** The GPU chain as the webgl and webgpu entries hand it to the registry. */
export const GPU_CHAIN: GpuChain = {
  available: gpuChainAvailable,
  bandsAvailable: gpuBandsAvailable,
  typicalAvailable: gpuTypicalAvailable,
  mirostatV1Available: gpuMirostatV1Available,
  fits: gpuChainFits,
  run: runGpuChain,
  topK: processorTopK,
  topP: processorTopP,
  largest: processorLargest,
  top: processorTop,
  kth: processorKth,
  kthAvailable: processorKthAvailable,
  typical: processorTypical,
};
