// Sort-free top-p for webgpu (WGSL): the row's threshold τ (keep z ≥ τ) without sorting V logits.
// With q_i = exp((z_i − zmax) · 1/T) over the finite logits ≥ a floor (an earlier top-k), token j
// is kept iff A(z_j) = Σ{ q_i : z_i > z_j } < p · total. A falls as z rises, so the kept set is
// {z ≥ τ}, τ the smallest logit whose A is below the target. One kernel, one workgroup per row:
// a most-significant-digit search on the order-preserving u32 key of z, 4 bits a level (8
// levels): per level, the mass (an unevaluated float32 pair: two-sums per thread, then a tree of
// two-sums) and count of each of 16 buckets among the keys that share the prefix; from the top
// bucket down, the lowest non-empty bucket whose mass strictly above it is still below the
// target holds τ (every bucket above is kept whole, none below keeps anything). The mass above
// the chosen bucket is carried to the next level. Once the keys sharing the prefix fit in
// workgroup memory, one pass copies them and later levels read the copy. After 8 levels the
// prefix is τ's key; ties of τ are kept. The first level's buckets hold every counted logit: their
// sum is the total, and target = p · total is formed from it as a pair (Dekker's product of p's
// float32 pair and the total, as topPThreshold does with tfjs ops), so no separate mass pass.
// ROW_MASS_KERNEL (the total alone) stays for the chain's other users and the tests.
// The comparison is the portable path's: (A_hi − t_hi) + (A_lo − t_lo) < 0 on pairs.
import * as tf from '@tensorflow/tfjs-core';
import { maxWorkgroupSize, type WebGPUBackendLike, type WebGPUProgramLike } from './gumbel-argmax.js';
import { maskedLoadWgsl } from './mask.js';

export const ROW_MASS_KERNEL = 'TfjsSamplingRowMass';
export const TOP_P_KERNEL = 'TfjsSamplingTopPThreshold';
const BACKEND = 'webgpu';
const WG = 64;
const CAP = 512;
const FLT_MAX = '3.4028234663852886e38f';

/** Shared WGSL: which logits count, their mass, the key order. */
const COMMON = `
  // params: 0 floor, 1 zmax, 2 1/T hi, 3 1/T lo (then, for the search: 4 target hi, 5 target lo, 6 on)
  fn tpCounts(z : f32, floor : f32) -> bool {
    return (bitcast<u32>(z) & 0x7fffffffu) < 0x7f800000u && z >= floor;
  }
  fn tpMass(z : f32, zmax : f32, ihH : f32, ihL : f32) -> f32 {
    // z − zmax is -Infinity past a span of FLT_MAX, and -Infinity·ihL NaN: clamped where the
    // mass is 0 anyway (d·1/T < −2048), as scaleByInvTemperature does.
    let d = max(z - zmax, -2048.0f / ihH);
    return exp(d * ihH + d * ihL);
  }
  fn tpKey(z : f32) -> u32 {
    var u = bitcast<u32>(z);
    u = select(u, 0u, u == 0x80000000u); // -0 as +0
    return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
  }
  fn tpValue(key : u32) -> f32 {
    return bitcast<f32>(select(~key, key & 0x7fffffffu, (key & 0x80000000u) != 0u));
  }
  fn tpRow() -> u32 {
    return workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z);
  }
`;

class RowMassProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames = ['tmLogits', 'tmParams'];

  constructor(
    batch: number,
    private masked: boolean,
  ) {
    if (masked) this.variableNames = [...this.variableNames, 'tmMask'];
    this.shaderKey = `tfjsSamplingRowMass_${WG}${masked ? '_mask' : ''}`;
    this.outputShape = [batch, 2];
    this.dispatch = [batch, 1, 1];
  }

  getUserCode(): string {
    return `
  ${COMMON}
  ${maskedLoadWgsl('tmZ', 'tmLogits', this.masked ? 'tmMask' : undefined)}
  var<workgroup> tmH : array<f32, ${WG}>;
  var<workgroup> tmL : array<f32, ${WG}>;

  fn main(index : i32) {
    let lid = localId.x;
    let row = tpRow();
    let rows = u32(uniforms.tmLogitsShape.x);
    let vocab = u32(uniforms.tmLogitsShape.y);
    let r = min(row, rows - 1u);
    let base = r * vocab;
    let floor = tmParams[r * 4u];
    let zmax = tmParams[r * 4u + 1u];
    let ihH = tmParams[r * 4u + 2u];
    let ihL = tmParams[r * 4u + 3u];
    var hi = 0.0f;
    var lo = 0.0f;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let z = tmZ(base, r, j);
      if (tpCounts(z, floor)) {
        let q = tpMass(z, zmax, ihH, ihL);
        let s = hi + q;
        let bb = s - hi;
        lo += (hi - (s - bb)) + (q - bb);
        hi = s;
      }
    }
    tmH[lid] = hi;
    tmL[lid] = lo;
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        let a = tmH[lid];
        let b = tmH[lid + stride];
        let s = a + b;
        let bb = s - a;
        tmL[lid] = tmL[lid] + tmL[lid + stride] + ((a - (s - bb)) + (b - bb));
        tmH[lid] = s;
      }
      workgroupBarrier();
    }
    if (lid == 0u && row < rows) {
      result[2u * row] = tmH[0];
      result[2u * row + 1u] = tmL[0];
    }
  }
`;
  }
}

class TopPProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames = ['tpLogits', 'tpParams'];

  constructor(
    batch: number,
    private masked: boolean,
  ) {
    if (masked) this.variableNames = [...this.variableNames, 'tpMask'];
    this.shaderKey = `tfjsSamplingTopPThreshold2_${WG}_${CAP}${masked ? '_mask' : ''}`;
    this.outputShape = [batch];
    this.dispatch = [batch, 1, 1];
  }

  getUserCode(): string {
    return `
  ${COMMON}
  ${maskedLoadWgsl('tpZ', 'tpLogits', this.masked ? 'tpMask' : undefined)}
  var<workgroup> tpH : array<f32, ${16 * WG}>;
  var<workgroup> tpL : array<f32, ${16 * WG}>;
  var<workgroup> tpC : array<u32, ${16 * WG}>;
  var<workgroup> tpBuf : array<u32, ${CAP}>;
  var<workgroup> tpN : atomic<u32>;
  // 0 prefix, 1 copied (0 no, 1 yes, 2 now), 2 done (no bucket qualifies: keep all)
  var<workgroup> tpS : array<u32, 3>;
  // mass strictly above the prefix, as a pair
  var<workgroup> tpM : array<f32, 2>;


  fn main(index : i32) {
    let lid = localId.x;
    let row = tpRow();
    let rows = u32(uniforms.tpLogitsShape.x);
    let vocab = u32(uniforms.tpLogitsShape.y);
    let r = min(row, rows - 1u);
    let base = r * vocab;
    let p = r * 8u;
    let floor = tpParams[p];
    let zmax = tpParams[p + 1u];
    let ihH = tpParams[p + 2u];
    let ihL = tpParams[p + 3u];
    // p as a float32 pair; the target is formed at the first level (lid 0 decides alone).
    let pH = tpParams[p + 4u];
    let pL = tpParams[p + 5u];
    var tH = 0.0f;
    var tL = 0.0f;
    let on = tpParams[p + 6u] != 0.0f;
    ${digitSearchStartWgsl('tp', '0u')}
      // Four reads of the row issued before any use (one workgroup per row leaves a large GPU
      // few warps to hide memory latency); each thread still takes its tokens in index order.
      for (var j0 = lid; j0 < n; j0 += ${4 * WG}u) {
        var zs = array<f32, 4>(0.0f, 0.0f, 0.0f, 0.0f);
        if (!copied) {
          for (var t = 0u; t < 4u; t++) {
            zs[t] = tpZ(base, r, min(j0 + t * ${WG}u, n - 1u));
          }
        }
        for (var t = 0u; t < 4u; t++) {
          let j = j0 + t * ${WG}u;
          if (j >= n) {
            break;
          }
          var key = 0u;
          var ok = false;
          if (copied) {
            key = tpBuf[j];
            ok = true;
          } else {
            let z = zs[t];
            ok = tpCounts(z, floor);
            key = tpKey(z);
          }
          if (ok && (level == 0u || (key >> hiShift) == prefix)) {
            let b = (key >> shift) & 15u;
            let q = tpMass(tpValue(key), zmax, ihH, ihL);
            let hi = bh[b];
            let s = hi + q;
            let bb = s - hi;
            bl[b] += (hi - (s - bb)) + (q - bb);
            bh[b] = s;
            bc[b] += 1u;
          }
        }
      }
      ${digitLevelWgsl('tp', WG, CAP, undefined, TARGET_WGSL)}
      workgroupBarrier();
      if (tpS[1] == 2u) {
        let np = tpS[0];
        for (var j = lid; j < vocab; j += ${WG}u) {
          let z = tpZ(base, r, j);
          let key = tpKey(z);
          if (tpCounts(z, floor) && (key >> shift) == np) {
            let at = atomicAdd(&tpN, 1u);
            tpBuf[min(at, ${CAP - 1}u)] = key;
          }
        }
      }
      workgroupBarrier();
      if (lid == 0u && tpS[1] == 2u) {
        tpS[1] = 1u;
      }
    }
    if (lid == 0u && row < rows) {
      let tau = tpValue(tpS[0]);
      let keepAll = !on || tpS[2] != 0u || !(tau > -uniforms.INFINITY);
      result[row] = select(tau, -${FLT_MAX}, keepAll);
    }
  }
`;
  }
}

/** At the first level, lid 0: the total (the 16 buckets' pairs summed) and target = p · total. */
const TARGET_WGSL = `
      if (lid == 0u && level == 0u) {
        var sH = 0.0f;
        var sL = 0.0f;
        for (var d = 15i; d >= 0i; d--) {
          let x = tpH[u32(d) * ${WG}u];
          let s = sH + x;
          let bb = s - sH;
          sL = sL + tpL[u32(d) * ${WG}u] + ((sH - (s - bb)) + (x - bb));
          sH = s;
        }
        // Dekker's error term with halves of at most 12 bits cut by masking (not Veltkamp's
        // multiply-and-subtract, which a contracting compiler could fuse): every partial product
        // is exact, so err = pH · sH − prod exactly, as the tfjs-op twoProd finds it.
        let prod = pH * sH;
        let ah = bitcast<f32>(bitcast<u32>(pH) & 0xfffff000u);
        let al = pH - ah;
        let bh = bitcast<f32>(bitcast<u32>(sH) & 0xfffff000u);
        let bl = sH - bh;
        let err = (((ah * bh - prod) + ah * bl) + al * bh) + al * bl;
        tH = prod;
        tL = err + (pH * sL + pL * sH);
      }`;

/**
 * The digit search's start (WGSL): state `<p>S` / `<p>M` / `<p>N` (and `<p>Q` when `counted`) cleared, `done` (a u32 expression:
 * 1 where the row keeps everything) as the done flag, then the head of each of the 8 levels of 4 bits
 * up to `n`, how many keys the level histograms (the row, the copied candidates, or none once done).
 * Leaves the level's loop open: the caller histograms into bh / bl / bc, then digitLevelWgsl.
 */
export function digitSearchStartWgsl(p: string, done: string, counted = false): string {
  return `if (lid == 0u) {
      ${p}S[0] = 0u;${
        counted
          ? `
      ${p}Q = 0u;`
          : ''
      }
      ${p}S[1] = 0u;
      ${p}S[2] = ${done};
      ${p}M[0] = 0.0f;
      ${p}M[1] = 0.0f;
      atomicStore(&${p}N, 0u);
    }
    workgroupBarrier();
    for (var level = 0u; level < 8u; level++) {
      let shift = 28u - 4u * level;
      let hiShift = shift + 4u;
      let prefix = ${p}S[0];
      let copied = ${p}S[1] != 0u;
      var bh : array<f32, 16>;
      var bl : array<f32, 16>;
      var bc : array<u32, 16>;
      for (var b = 0u; b < 16u; b++) {
        bh[b] = 0.0f;
        bl[b] = 0.0f;
        bc[b] = 0u;
      }
      // Once done (no bucket qualifies: keep all), later levels histogram nothing.
      let n = select(select(vocab, atomicLoad(&${p}N), copied), 0u, ${p}S[2] != 0u);`;
}

/**
 * One level of the digit search (WGSL, shared by TOP_P_KERNEL and the bands kernel's 'typical'
 * mode): each thread's 16 bucket sums (bh, bl as float32 pairs, bc counts) merged across the
 * workgroup, then, from the top bucket down, the last non-empty one whose mass above it is still
 * below the target (tH, tL) narrows the prefix; none: done (keep all). Arrays `<p>H`, `<p>L`,
 * `<p>C` (16·wg), state `<p>S` (prefix, copied, done) and `<p>M` (the mass above, a pair); in
 * scope: lid, bh, bl, bc, prefix, copied, tH, tL. With `minKeep` (a u32 expression in scope), a
 * bucket also qualifies while fewer than that many keys lie above it (minTokensToKeep: the
 * counts above are kept in the workgroup u32 `<p>Q`). `beforeDecide` runs after the merge, before
 * the decision (top-p: its target from the first level's total).
 */
export function digitLevelWgsl(p: string, wg: number, cap: number, minKeep?: string, beforeDecide = ''): string {
  return `
      for (var b = 0u; b < 16u; b++) {
        ${p}H[b * ${wg}u + lid] = bh[b];
        ${p}L[b * ${wg}u + lid] = bl[b];
        ${p}C[b * ${wg}u + lid] = bc[b];
      }
      workgroupBarrier();
      for (var stride = ${wg / 2}u; stride > 0u; stride = stride >> 1u) {
        if (lid < stride) {
          for (var b = 0u; b < 16u; b++) {
            let i = b * ${wg}u + lid;
            let o = i + stride;
            let x = ${p}H[i];
            let y = ${p}H[o];
            let s = x + y;
            let bb = s - x;
            ${p}L[i] = ${p}L[i] + ${p}L[o] + ((x - (s - bb)) + (y - bb));
            ${p}H[i] = s;
            ${p}C[i] = ${p}C[i] + ${p}C[o];
          }
        }
        workgroupBarrier();
      }${beforeDecide}
      if (lid == 0u && ${p}S[2] == 0u) {
        var cH = ${p}M[0];
        var cL = ${p}M[1];${
          minKeep
            ? `
        var cK = ${p}Q;
        var bestK = 0u;`
            : ''
        }
        var best = 16u;
        var bestH = 0.0f;
        var bestL = 0.0f;
        var bestC = 0u;
        for (var d = 15i; d >= 0i; d--) {
          let at = u32(d) * ${wg}u;
          let c = ${p}C[at];
          if (c == 0u) {
            continue;
          }
          if (!((cH - tH) + (cL - tL) < 0.0f)${minKeep ? ` && !(cK < ${minKeep})` : ''}) {
            break;
          }
          best = u32(d);
          bestH = cH;
          bestL = cL;
          bestC = c;${
            minKeep
              ? `
          bestK = cK;
          cK += c;`
              : ''
          }
          let x = ${p}H[at];
          let s = cH + x;
          let bb = s - cH;
          cL = cL + ${p}L[at] + ((cH - (s - bb)) + (x - bb));
          cH = s;
        }
        if (best == 16u) {
          ${p}S[2] = 1u;
        } else {
          ${p}S[0] = (prefix << 4u) | best;
          ${p}M[0] = bestH;
          ${p}M[1] = bestL;${
            minKeep
              ? `
          ${p}Q = bestK;`
              : ''
          }
          if (!copied && bestC <= ${cap}u) {
            ${p}S[1] = 2u;
          }
        }
      }
`;
}

function rowMass(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, params, mask } = args.inputs as { logits: tf.TensorInfo; params: tf.TensorInfo; mask?: tf.TensorInfo };
  return backend.runWebGPUProgram(new RowMassProgram(logits.shape[0]!, mask !== undefined), mask ? [logits, params, mask] : [logits, params], 'float32');
}

function topPThreshold(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, params, mask } = args.inputs as { logits: tf.TensorInfo; params: tf.TensorInfo; mask?: tf.TensorInfo };
  return backend.runWebGPUProgram(new TopPProgram(logits.shape[0]!, mask !== undefined), mask ? [logits, params, mask] : [logits, params], 'float32');
}

/** Registers both kernels for 'webgpu'; false when the device lacks 64 threads or 16 KiB. */
export function registerWebgpuTopP(): boolean {
  try {
    if (tf.getKernel(TOP_P_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    if (maxWorkgroupSize(backend) < WG || (backend.device?.limits?.maxComputeWorkgroupStorageSize ?? 16384) < 16384) return false;
    tf.registerKernel({ kernelName: ROW_MASS_KERNEL, backendName: BACKEND, kernelFunc: rowMass as unknown as tf.KernelFunc });
    tf.registerKernel({ kernelName: TOP_P_KERNEL, backendName: BACKEND, kernelFunc: topPThreshold as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
