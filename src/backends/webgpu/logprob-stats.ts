// sampleWithLogprobs' packed rows on webgpu in one kernel (WGSL, one workgroup per row, after the
// draw), instead of a chain of [B, V] tensor ops, tf.topk (a bitonic sort of the whole row: about
// 150 dispatches at V = 128256) and some 90 small ops. One read of the row gives:
//   - raw: the row max m and Σ e^(z − m) over the finite logits (an unevaluated float32 pair, the
//     sum rescaled as m rises), and whether the row is invalid for raw log-probabilities (NaN,
//     +Infinity or no finite logit);
//   - processed: over the tokens the threshold draw keeps (its keep test, threshold-draw.ts: z ≥
//     floor, min-p's pair, z ≤ hi), their max m', Σ e^((z − m')·1/T) as a pair (1/T a float32 pair,
//     the scaled difference clamped at −2048 as scaleByInvTemperature does) and the first index
//     of m' (a greedy row's q = 1 token);
//   - the n most probable tokens (n ≤ LOGPROB_TOP_MAX) under the raw or the processed logits,
//     descending, ties in index order (tf.topk's order; -Infinity tokens too, in index order):
//     each thread keeps its n best of the tokens it reads, and the lists are merged pairwise.
// and then writes the packed row of logprobs.ts (packLogprobs: the same float32 steps): the drawn
// id, its raw and processed log-probabilities, the n alternative ids and log-probabilities, with
// the same rules for greedy rows, invalid rows (negative ids), -Infinity and NaN. Without `raw`
// (logprobs' raw: false, or Mirostat alone) the raw sum is skipped and its column is NaN.
import * as tf from '@tensorflow/tfjs-core';
import { LOGPROB_STATS_KERNEL } from '../kernel-names.js';
import { maxWorkgroupSize, type WebGPUBackendLike, type WebGPUProgramLike } from './gumbel-argmax.js';

/** Per-row params: 0 floor, 1 hi, 2 min-p t, 3 min-p e, 4 1/T hi, 5 1/T lo (1, 0 on greedy rows), 6 greedy (1 or 0). */
export const LOGPROB_PARAMS = 7;
/** The packed row's columns before the alternatives (logprobs.ts PACKED_HEAD). */
const HEAD = 3;
const BACKEND = 'webgpu';
const WG = 64;
const FLT_MAX = '3.4028234663852886e38f';

class LogprobStatsProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames = ['lpLogits', 'lpParams', 'lpIds'];

  constructor(
    batch: number,
    private n: number,
    private processedTop: boolean,
    private minP: boolean,
    private upper: boolean,
    private raw: boolean,
  ) {
    this.shaderKey = `tfjsSamplingLogprobStats_${n}_${processedTop ? 'p' : 'r'}${minP ? '_minp' : ''}${upper ? '_up' : ''}${raw ? '' : '_noraw'}`;
    this.outputShape = [batch, HEAD + 2 * n];
    this.dispatch = [batch, 1, 1];
  }

  getUserCode(): string {
    const N = this.n;
    const kept = `lpFinite(z) && z >= floor${this.minP ? ' && !(mpE - (z - mpT) > 0.0f)' : ''}${this.upper ? ' && z <= hi' : ''}`;
    const lists =
      N > 0
        ? `
  var<workgroup> lpV : array<f32, ${WG * N}>;
  var<workgroup> lpI : array<u32, ${WG * N}>;`
        : '';
    const insert =
      N > 0
        ? `
      let v = ${this.processedTop ? 'select(-uniforms.INFINITY, z, isKept)' : 'z'};
      if (lpBetter(v, j, tv[${N - 1}], ti[${N - 1}])) {
        var k = ${N - 1}i;
        while (k > 0i && lpBetter(v, j, tv[k - 1i], ti[k - 1i])) {
          tv[k] = tv[k - 1i];
          ti[k] = ti[k - 1i];
          k--;
        }
        tv[k] = v;
        ti[k] = j;
      }`
        : '';
    const merge =
      N > 0
        ? `
    for (var k = 0u; k < ${N}u; k++) {
      lpV[lid * ${N}u + k] = tv[k];
      lpI[lid * ${N}u + k] = ti[k];
    }
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        // Merge the sorted lists of slots lid and lid + stride into lid's (read both first).
        var a = lid * ${N}u;
        var b = (lid + stride) * ${N}u;
        let aEnd = a + ${N}u;
        let bEnd = b + ${N}u;
        for (var k = 0u; k < ${N}u; k++) {
          let takeA = b >= bEnd || (a < aEnd && lpBetter(lpV[a], lpI[a], lpV[b], lpI[b]));
          if (takeA) {
            tv[k] = lpV[a];
            ti[k] = lpI[a];
            a++;
          } else {
            tv[k] = lpV[b];
            ti[k] = lpI[b];
            b++;
          }
        }
        for (var k = 0u; k < ${N}u; k++) {
          lpV[lid * ${N}u + k] = tv[k];
          lpI[lid * ${N}u + k] = ti[k];
        }
      }
      workgroupBarrier();
    }`
        : '';
    return `
  var<workgroup> lpM : array<f32, ${WG}>;
  var<workgroup> lpSH : array<f32, ${WG}>;
  var<workgroup> lpSL : array<f32, ${WG}>;
  var<workgroup> lpPM : array<f32, ${WG}>;
  var<workgroup> lpPH : array<f32, ${WG}>;
  var<workgroup> lpPL : array<f32, ${WG}>;
  var<workgroup> lpF : array<u32, ${WG}>;
  var<workgroup> lpC : array<u32, ${WG}>;${lists}

  fn lpFinite(z : f32) -> bool {
    return (bitcast<u32>(z) & 0x7fffffffu) < 0x7f800000u;
  }

  // Descending values, ties in index order (a NaN is never better: invalid rows are overwritten).
  fn lpBetter(va : f32, ia : u32, vb : f32, ib : u32) -> bool {
    return va > vb || (va == vb && ia < ib);
  }

  // A pair sum (hi, lo) taken at maximum m0, moved to m1 ≥ m0 (scaled by e^((m0 − m1)·1/T)).
  fn lpShift(s : vec2<f32>, m0 : f32, m1 : f32, ihH : f32, ihL : f32) -> vec2<f32> {
    if (s.x == 0.0f || m0 == m1) {
      return s;
    }
    let d0 = max(m0 - m1, -2048.0f / ihH); // e^(−2048) is 0; keeps d0·ihL finite
    return s * exp(d0 * ihH + d0 * ihL);
  }

  // Values at or below -FLT_MAX are -Infinity (logprobs.ts floorInf); NaN stays.
  fn lpFloorInf(x : f32) -> f32 {
    return select(x, -uniforms.INFINITY, x <= -${FLT_MAX});
  }

  // log q of token t with logit v (packLogprobs' logqOf): greedy rows 0 at the first maximum and
  // -Infinity elsewhere; else (v − m')·1/T as a pair (the difference itself where it is not
  // finite) − log S'.
  fn lpLogq(v : f32, t : u32, mp : f32, logSum : f32, first : u32, greedy : bool, ihH : f32, ihL : f32) -> f32 {
    if (greedy) {
      return select(-uniforms.INFINITY, 0.0f, t == first);
    }
    let d = v - mp;
    var scaled = select(d, d * ihH + d * ihL, lpFinite(d));
    if (!lpFinite(d) && lpFinite(v)) {
      // A row spanning past float32's range: v − max overflows, (v − max)/T need not. Halve first.
      let h = 0.5f * v - 0.5f * mp;
      scaled = 2.0f * (h * ihH + h * ihL);
    }
    return scaled - logSum;
  }

  fn lpAdd(s : vec2<f32>, x : f32) -> vec2<f32> {
    let t = s.x + x;
    let bb = t - s.x;
    return vec2<f32>(t, s.y + ((s.x - (t - bb)) + (x - bb)));
  }

  fn lpAdd2(s : vec2<f32>, u : vec2<f32>) -> vec2<f32> {
    let t = s.x + u.x;
    let bb = t - s.x;
    return vec2<f32>(t, s.y + u.y + ((s.x - (t - bb)) + (u.x - bb)));
  }

  fn main(index : i32) {
    let lid = localId.x;
    let row = workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z);
    let rows = u32(uniforms.lpLogitsShape.x);
    let vocab = u32(uniforms.lpLogitsShape.y);
    let r = min(row, rows - 1u);
    let base = r * vocab;
    let p = r * ${LOGPROB_PARAMS}u;
    let o = r * ${HEAD + 2 * N}u;
    let floor = lpParams[p];
    let hi = lpParams[p + 1u];
    let mpT = lpParams[p + 2u];
    let mpE = lpParams[p + 3u];
    let ihH = lpParams[p + 4u];
    let ihL = lpParams[p + 5u];
    let greedy = lpParams[p + 6u] > 0.0f;
    var mR = -${FLT_MAX};
    var sR = vec2<f32>(0.0f, 0.0f);
    var mP = -${FLT_MAX};
    var sP = vec2<f32>(0.0f, 0.0f);
    var first = 0xffffffffu;
    var bad = 0u;
    var cnt = 0u;${
      N > 0
        ? `
    var tv : array<f32, ${N}>;
    var ti : array<u32, ${N}>;
    for (var k = 0u; k < ${N}u; k++) {
      tv[k] = -uniforms.INFINITY;
      ti[k] = 0xffffffffu;
    }`
        : ''
    }
    // Four loads before any use: with one workgroup per row a large GPU keeps few warps in
    // flight, so each thread needs several reads outstanding to hide the memory latency. The
    // tokens are then taken in index order (the first maximum, the list's ties).
    for (var j0 = lid; j0 < vocab; j0 += ${4 * WG}u) {
      var zs = array<f32, 4>(
        lpLogits[base + j0],
        lpLogits[base + min(j0 + ${WG}u, vocab - 1u)],
        lpLogits[base + min(j0 + ${2 * WG}u, vocab - 1u)],
        lpLogits[base + min(j0 + ${3 * WG}u, vocab - 1u)],
      );
      for (var t = 0u; t < 4u; t++) {
      let j = j0 + t * ${WG}u;
      if (j >= vocab) {
        break;
      }
      let z = zs[t];
      if (lpFinite(z)) {
        cnt += 1u;${
          this.raw
            ? `
        if (z > mR) {
          sR = lpShift(sR, mR, z, 1.0f, 0.0f);
          mR = z;
        }
        sR = lpAdd(sR, exp(z - mR));`
            : ''
        }
      } else {
        let u = bitcast<u32>(z);
        if ((u & 0x7fffffffu) > 0x7f800000u || u == 0x7f800000u) {
          bad = 1u; // NaN or +Infinity (bits: a compiler may fold z != z)
        }
      }
      let isKept = ${kept};
      if (isKept) {
        if (z > mP) {
          sP = lpShift(sP, mP, z, ihH, ihL);
          mP = z;
          first = j;
        }
        let d = max(z - mP, -2048.0f / ihH);
        sP = lpAdd(sP, exp(d * ihH + d * ihL));
      }${insert}
      }
    }
    lpM[lid] = mR;
    lpSH[lid] = sR.x;
    lpSL[lid] = sR.y;
    lpPM[lid] = mP;
    lpPH[lid] = sP.x;
    lpPL[lid] = sP.y;
    lpF[lid] = first;
    lpC[lid] = cnt | (bad << 31u);
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        let q = lid + stride;${
          this.raw
            ? `
        let m = max(lpM[lid], lpM[q]);
        let a = lpShift(vec2<f32>(lpSH[lid], lpSL[lid]), lpM[lid], m, 1.0f, 0.0f);
        let b = lpShift(vec2<f32>(lpSH[q], lpSL[q]), lpM[q], m, 1.0f, 0.0f);
        let s = lpAdd2(a, b);
        lpM[lid] = m;
        lpSH[lid] = s.x;
        lpSL[lid] = s.y;`
            : ''
        }
        let mp = max(lpPM[lid], lpPM[q]);
        let pa = lpShift(vec2<f32>(lpPH[lid], lpPL[lid]), lpPM[lid], mp, ihH, ihL);
        let pb = lpShift(vec2<f32>(lpPH[q], lpPL[q]), lpPM[q], mp, ihH, ihL);
        let ps = lpAdd2(pa, pb);
        // The first index of the maximum: the other side's where its maximum is larger or equal
        // with a lower index (a side with nothing kept has index 0xffffffff).
        let fa = select(0xffffffffu, lpF[lid], lpPM[lid] == mp);
        let fb = select(0xffffffffu, lpF[q], lpPM[q] == mp);
        lpPM[lid] = mp;
        lpPH[lid] = ps.x;
        lpPL[lid] = ps.y;
        lpF[lid] = min(fa, fb);
        let ca = lpC[lid];
        let cb = lpC[q];
        lpC[lid] = ((ca & 0x7fffffffu) + (cb & 0x7fffffffu)) | ((ca | cb) & 0x80000000u);
      }
      workgroupBarrier();
    }${merge}
    if (lid == 0u && row < rows) {
      let c = lpC[0];
      let rawBad = (c & 0x7fffffffu) == 0u || (c & 0x80000000u) != 0u;
      // (z − max) − log S, not z − (max + log S): that sum rounds log S away next to a max of 1e19.
      let rawLog = ${this.raw ? 'select(log(lpSH[0] + lpSL[0]), uniforms.NAN, rawBad)' : 'uniforms.NAN'};
      let f0 = lpF[0];
      let mp = select(lpPM[0], -uniforms.INFINITY, f0 == 0xffffffffu);
      let logSum = log(lpPH[0] + lpPL[0]);
      let id = lpIds[r];
      let invalid = id < 0i;
      let at = u32(max(id, 0i));
      let zAt = lpLogits[base + at];
      result[o] = f32(id);
      result[o + 1u] = ${this.raw ? 'lpFloorInf(select((zAt - lpM[0]) - rawLog, uniforms.NAN, invalid))' : 'uniforms.NAN'};
      result[o + 2u] = lpFloorInf(select(lpLogq(zAt, at, mp, logSum, f0, greedy, ihH, ihL), uniforms.NAN, invalid));${
        N > 0
          ? `
      // A row without numbers: ids -1 and NaN (raw: the caller's row is invalid; processed: the
      // draw's code, or nothing kept).
      let rowBad = ${this.processedTop ? 'invalid || f0 == 0xffffffffu || isnan(logSum)' : 'rawBad'};
      for (var k = 0u; k < ${N}u; k++) {
        var t = lpI[k];
        ${
          this.processedTop
            ? `var lp = lpLogq(lpV[k], t, mp, logSum, f0, false, ihH, ihL);
        if (greedy) {
          // The first maximum, then every other token (at -Infinity) in index order.
          t = select((k - 1u) + select(0u, 1u, k - 1u >= f0), f0, k == 0u);
          lp = select(-uniforms.INFINITY, 0.0f, k == 0u);
        }`
            : 'let lp = (lpV[k] - lpM[0]) - rawLog;'
        }
        result[o + ${HEAD}u + k] = select(select(f32(t), -1.0f, t == 0xffffffffu), -1.0f, rowBad);
        result[o + ${HEAD + N}u + k] = select(lpFloorInf(lp), uniforms.NAN, rowBad);
      }`
          : ''
      }
    }
  }
`;
  }
}

function logprobStats(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, params, ids } = args.inputs as { logits: tf.TensorInfo; params: tf.TensorInfo; ids: tf.TensorInfo };
  const { n, processedTop, minP, upper, raw } = args.attrs as unknown as { n: number; processedTop: boolean; minP: boolean; upper: boolean; raw: boolean };
  return backend.runWebGPUProgram(new LogprobStatsProgram(logits.shape[0]!, n, processedTop, minP, upper, raw), [logits, params, ids], 'float32');
}

/** Registers the kernel for 'webgpu'; false when the device lacks 64 threads per workgroup. */
export function registerWebgpuLogprobStats(): boolean {
  try {
    if (tf.getKernel(LOGPROB_STATS_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    if (maxWorkgroupSize(backend) < WG) return false;
    tf.registerKernel({ kernelName: LOGPROB_STATS_KERNEL, backendName: BACKEND, kernelFunc: logprobStats as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
