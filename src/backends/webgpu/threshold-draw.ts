// The webgpu draw of the fused GPU chain (WGSL), registered as THRESHOLD_DRAW_KERNEL: the raw
// input logits plus per-row thresholds in, int32 ids (or invalid-row codes) out. It replaces the
// masked [B, V] logits of the portable path, its score tensor and its invalid-row passes:
//   kept_j  = z_j ≥ thr  and  !(mpE > z_j − mpT)  and  z_j ≤ hi   (floors; min-p pair; XTC's bound)
//   score_j = (z_j − zmax) · ih + scale · g(key, j)  for kept tokens, −Infinity otherwise
//   id      = the lowest index of the largest score (as TfjsSamplingGumbelArgmax)
// and, in the same reduction, the row's invalid code as src/select/invalid.ts defines it: NaN in
// the input → -1, else +Infinity in the input → -2, else no finite kept logit → -3; with the
// policies 'uniform' (lowest-index argmax of the noise alone, over the whole vocabulary) and
// 'greedy' (lowest-index argmax of the finite input logits, uniform if none) done in the same
// pass. NaN and ±Infinity are detected from the bits (WGSL may assume finite floats). With a
// per-call bitmask (webgpu/mask.ts) a token is kept only where the mask allows it too — tested
// after the threshold, so mostly for the few tokens that pass it — and flag 8 records a finite
// input logit, so that a row the mask empties gets the processors' code -6.
// Two passes like the draw kernel: (row, slice) workgroups write 7 words per slice, then one
// workgroup per row reduces them (skipped when a row is one slice).
import * as tf from '@tensorflow/tfjs-core';
import {
  chunkRangeWgsl,
  prunedDrawWgsl,
  commonCode,
  maxWorkgroupSize,
  sliceSize,
  webgpuDrawConfig,
  type ProgramUniform,
  type WebGPUBackendLike,
  type WebGPUProgramLike,
} from './gumbel-argmax.js';
import { maskAllowsWgsl, maskedLoadWgsl } from './mask.js';
import { PROCESSOR_INVALID_CODE } from '../../invalid-rows.js';

import { THRESHOLD_DRAW_KERNEL } from '../kernel-names.js';

export { THRESHOLD_DRAW_KERNEL };
const BACKEND = 'webgpu';
const WG2 = 64;
const WORDS = 7;

export type Policy = 'error' | 'uniform' | 'greedy';

/** Declarations and the reduction of the per-thread state (value/index pairs, flags). */
function stateCode(wg: number, policy: Policy, masked = false): string {
  const u = policy !== 'error';
  const f = policy === 'greedy';
  return `
  var<workgroup> gaV : array<f32, ${wg}>;
  var<workgroup> gaI : array<u32, ${wg}>;
  var<workgroup> tdF : array<u32, ${wg}>;
  ${u ? `var<workgroup> tdUV : array<f32, ${wg}>; var<workgroup> tdUI : array<u32, ${wg}>;` : ''}
  ${f ? `var<workgroup> tdFV : array<f32, ${wg}>; var<workgroup> tdFI : array<u32, ${wg}>;` : ''}

  // The id of a row: the draw, or the invalid code / fallback of the policy.
  fn tdFinal(bi : u32, flags : u32, ui : u32, fi : u32) -> i32 {
    var code = 0;
    // Masked: flag 8 = the input had a finite logit, so the mask left the row empty.
    if ((flags & 4u) == 0u) { code = ${masked ? `select(-3, ${PROCESSOR_INVALID_CODE['no-finite-logit']}, (flags & 8u) != 0u)` : '-3'}; }
    if ((flags & 2u) != 0u) { code = -2; }
    if ((flags & 1u) != 0u) { code = -1; }
    if (code == 0) { return i32(bi); }
    ${policy === 'error' ? 'return code;' : policy === 'uniform' ? 'return i32(ui);' : 'return select(i32(ui), i32(fi), fi != 0xffffffffu);'}
  }
`;
}

function reduceCode(wg: number, policy: Policy): string {
  const u = policy !== 'error';
  const f = policy === 'greedy';
  return `
    gaV[lid] = bestV;
    gaI[lid] = bestI;
    tdF[lid] = flags;
    ${u ? 'tdUV[lid] = uV; tdUI[lid] = uI;' : ''}
    ${f ? 'tdFV[lid] = fV; tdFI[lid] = fI;' : ''}
    workgroupBarrier();
    for (var stride = ${wg / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        let o = lid + stride;
        if (gaBetter(gaV[o], gaI[o], gaV[lid], gaI[lid])) {
          gaV[lid] = gaV[o];
          gaI[lid] = gaI[o];
        }
        tdF[lid] = tdF[lid] | tdF[o];
        ${u ? 'if (gaBetter(tdUV[o], tdUI[o], tdUV[lid], tdUI[lid])) { tdUV[lid] = tdUV[o]; tdUI[lid] = tdUI[o]; }' : ''}
        ${f ? 'if (gaBetter(tdFV[o], tdFI[o], tdFV[lid], tdFI[lid])) { tdFV[lid] = tdFV[o]; tdFI[lid] = tdFI[o]; }' : ''}
      }
      workgroupBarrier();
    }`;
}

function writeCode(direct: boolean, policy: Policy, slot: string): string {
  const ui = policy !== 'error' ? 'tdUI[0]' : '0u';
  const fi = policy === 'greedy' ? 'tdFI[0]' : '0xffffffffu';
  if (direct) return `result[${slot}] = tdFinal(gaI[0], tdF[0], ${ui}, ${fi});`;
  return `
      let at = ${slot} * ${WORDS}u;
      result[at] = bitcast<i32>(gaV[0]);
      result[at + 1u] = i32(gaI[0]);
      result[at + 2u] = i32(tdF[0]);
      result[at + 3u] = ${policy !== 'error' ? 'bitcast<i32>(tdUV[0])' : '0'};
      result[at + 4u] = i32(${ui});
      result[at + 5u] = ${policy === 'greedy' ? 'bitcast<i32>(tdFV[0])' : '0'};
      result[at + 6u] = i32(${fi});`;
}

/** The draw's keep test of a logit `z` (thr, mpT, mpE, hi in scope); KeptCountProgram uses it too. */
function keepWgsl(minP: boolean, upper: boolean): string {
  return `z >= thr${minP ? ' && !(mpE - (z - mpT) > 0.0f)' : ''}${upper ? ' && z <= hi' : ''}`;
}

/** Pass 1: one workgroup per (row, slice). */
class SliceProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames = ['tdLogits', 'tdKeys', 'tdParams'];
  uniforms = 'numChunks : i32, chunkSize : i32,';

  constructor(
    batch: number,
    chunks: number,
    private wg: number,
    private prune: boolean,
    private policy: Policy,
    private minP: boolean,
    private masked: boolean,
    private upper: boolean,
  ) {
    if (masked) this.variableNames = [...this.variableNames, 'tdMask'];
    this.workgroupSize = [wg, 1, 1];
    this.outputShape = chunks === 1 ? [batch] : [batch, WORDS * chunks];
    this.dispatch = [batch * chunks, 1, 1];
    this.direct = chunks === 1;
    this.shaderKey = `tfjsSamplingThresholdDraw_${this.direct ? 'direct' : 'pairs'}_${prune ? 'pruned' : 'dense'}_${policy}_${minP ? 'minp' : ''}_${masked ? 'mask' : ''}_${upper ? 'upper_' : ''}${wg}`;
  }

  private direct: boolean;

  private scan(): string {
    // The portable path's masks: drop z < thr, and drop where step(e2 - (z - t)) is 1.
    const keep = keepWgsl(this.minP, this.upper);
    const u = this.policy !== 'error';
    const f = this.policy === 'greedy';
    const m = this.masked;
    const side = `
      let zb = bitcast<u32>(z) & 0x7fffffffu;
      flags = flags | select(0u, 1u, zb > 0x7f800000u) | select(0u, 2u, bitcast<u32>(z) == 0x7f800000u)${m ? ' | select(0u, 8u, zb < 0x7f800000u)' : ''};
      ${f ? 'if (zb < 0x7f800000u && z > fV) { fV = z; fI = j; }' : ''}`;
    if (!this.prune || u) {
      // Software adapters, and policies that need the noise of every token: one straight path.
      return `
    for (; j < end; j += ${this.wg}u) {
      let z = tdLogits[base + j];
      ${side}
      let keep = ${keep}${m ? ' && tdAllows(r, j, z)' : ''};
      flags = flags | select(0u, 4u, keep);
      let g = gaGumbel(gaMix(key + j * 0x9e3779b9u));
      let v = select(negInf, (z - zmax) * ih + sc * g, keep);
      let better = v > bestV;
      bestV = select(bestV, v, better);
      bestI = select(bestI, j, better);
      ${u ? 'if (g > uV) { uV = g; uI = j; }' : ''}
    }`;
    }
    return `
    let noisy = sc != 0.0f;
    let bounded = sc > 0.0f;
    for (; j < end; j += ${this.wg}u) {
      let z = tdLogits[base + j];
      ${side}
      if (!(${keep})) {
        continue;
      }
      ${m ? 'if (!tdAllows(r, j, z)) { continue; } // the mask only where the threshold passes' : ''}
      flags = flags | 4u;
      let s = (z - zmax) * ih;
      ${prunedDrawWgsl()}
    }`;
  }

  getUserCode(): string {
    const u = this.policy !== 'error';
    const f = this.policy === 'greedy';
    return `
  ${commonCode()}
  ${stateCode(this.wg, this.policy, this.masked)}
  ${this.masked ? maskAllowsWgsl('tdAllows', 'tdMask') : ''}

  fn main(index : i32) {
    ${chunkRangeWgsl('tdLogitsShape')}
    let key = bitcast<u32>(tdKeys[r]);
    let p = r * 8u;
    let thr = tdParams[p];
    let mpT = tdParams[p + 1u];
    let mpE = tdParams[p + 2u];
    let zmax = tdParams[p + 3u];
    let ih = tdParams[p + 4u];
    let sc = tdParams[p + 5u];
    ${this.upper ? 'let hi = tdParams[p + 6u];' : ''}
    let negInf = -uniforms.INFINITY;
    let base = r * vocab;

    var bestV = negInf;
    var bestI = 0xffffffffu;
    var flags = 0u;
    ${u ? 'var uV = negInf; var uI = 0xffffffffu;' : ''}
    ${f ? 'var fV = negInf; var fI = 0xffffffffu;' : ''}
    var j = start + lid;
    if (j < end) {
      bestI = j; // nothing kept: the lowest index
      ${u ? 'uI = j;' : ''}
    }
    ${this.scan()}
    ${reduceCode(this.wg, this.policy)}
    if (lid == 0u && valid) {
      ${writeCode(this.direct, this.policy, this.direct ? 'row' : 'wg')}
    }
  }
`;
  }
}

/** Pass 2: one workgroup per row over that row's slices. */
class RowProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG2, 1, 1];
  variableNames = ['tdPairs'];

  constructor(
    batch: number,
    private policy: Policy,
    private masked: boolean,
  ) {
    this.outputShape = [batch];
    this.dispatch = [batch, 1, 1];
    this.shaderKey = `tfjsSamplingThresholdDraw_rows_${policy}_${masked ? 'mask_' : ''}${WG2}`;
  }

  getUserCode(): string {
    const u = this.policy !== 'error';
    const f = this.policy === 'greedy';
    return `
  ${commonCode()}
  ${stateCode(WG2, this.policy, this.masked)}

  fn main(index : i32) {
    let lid = localId.x;
    let row = gaWorkgroupIndex();
    let rows = u32(uniforms.tdPairsShape.x);
    let chunks = u32(uniforms.tdPairsShape.y) / ${WORDS}u;
    let valid = row < rows;
    var end = chunks;
    if (!valid) {
      end = 0u;
    }
    var bestV = -uniforms.INFINITY;
    var bestI = 0xffffffffu;
    var flags = 0u;
    ${u ? 'var uV = -uniforms.INFINITY; var uI = 0xffffffffu;' : ''}
    ${f ? 'var fV = -uniforms.INFINITY; var fI = 0xffffffffu;' : ''}
    for (var c = lid; c < end; c += ${WG2}u) {
      let at = ${WORDS}u * (row * chunks + c);
      let v = bitcast<f32>(tdPairs[at]);
      let i = u32(tdPairs[at + 1u]);
      if (gaBetter(v, i, bestV, bestI)) {
        bestV = v;
        bestI = i;
      }
      flags = flags | u32(tdPairs[at + 2u]);
      ${u ? 'let v2 = bitcast<f32>(tdPairs[at + 3u]); let i2 = u32(tdPairs[at + 4u]); if (gaBetter(v2, i2, uV, uI)) { uV = v2; uI = i2; }' : ''}
      ${f ? 'let v3 = bitcast<f32>(tdPairs[at + 5u]); let i3 = u32(tdPairs[at + 6u]); if (gaBetter(v3, i3, fV, fI)) { fV = v3; fI = i3; }' : ''}
    }
    ${reduceCode(WG2, this.policy)}
    if (lid == 0u && valid) {
      ${writeCode(true, this.policy, 'row')}
    }
  }
`;
  }
}

/**
 * Tests only (attribute `count`, see fused-observer.ts): per row, how many tokens pass the draw's
 * keep test with the same parameters — on greedy rows (scale 0) those equal to the row max — or
 * -1 where the row holds NaN or +Infinity or nothing passes. One workgroup per row.
 */
class KeptCountProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG2, 1, 1];
  variableNames = ['tdLogits', 'tdParams'];

  constructor(
    batch: number,
    private minP: boolean,
    private masked: boolean,
    private upper: boolean,
  ) {
    if (masked) this.variableNames = [...this.variableNames, 'tdMask'];
    this.outputShape = [batch];
    this.dispatch = [batch, 1, 1];
    this.shaderKey = `tfjsSamplingThresholdDraw_count_${minP ? 'minp' : ''}_${masked ? 'mask' : ''}_${upper ? 'upper_' : ''}${WG2}`;
  }

  getUserCode(): string {
    return `
  ${commonCode()}
  ${maskedLoadWgsl('tdZ', 'tdLogits', this.masked ? 'tdMask' : undefined)}
  var<workgroup> kcN : array<u32, ${WG2}>;
  var<workgroup> kcF : array<u32, ${WG2}>;

  fn main(index : i32) {
    let lid = localId.x;
    let row = gaWorkgroupIndex();
    let rows = u32(uniforms.tdLogitsShape.x);
    let vocab = u32(uniforms.tdLogitsShape.y);
    let valid = row < rows;
    let r = min(row, rows - 1u);
    var end = vocab;
    if (!valid) {
      end = 0u;
    }
    let p = r * 8u;
    let thr = tdParams[p];
    let mpT = tdParams[p + 1u];
    let mpE = tdParams[p + 2u];
    let zmax = tdParams[p + 3u];
    let sc = tdParams[p + 5u];
    ${this.upper ? 'let hi = tdParams[p + 6u];' : ''}
    let base = r * vocab;
    var n = 0u;
    var flags = 0u;
    for (var j = lid; j < end; j += ${WG2}u) {
      let z = tdZ(base, r, j);
      let zb = bitcast<u32>(z) & 0x7fffffffu;
      flags = flags | select(0u, 1u, zb > 0x7f800000u || bitcast<u32>(z) == 0x7f800000u);
      if ((${keepWgsl(this.minP, this.upper)}) && (sc != 0.0f || z >= zmax)) {
        n = n + 1u;
      }
    }
    kcN[lid] = n;
    kcF[lid] = flags;
    workgroupBarrier();
    for (var stride = ${WG2 / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        kcN[lid] = kcN[lid] + kcN[lid + stride];
        kcF[lid] = kcF[lid] | kcF[lid + stride];
      }
      workgroupBarrier();
    }
    if (lid == 0u && valid) {
      result[row] = select(i32(kcN[0]), -1, kcF[0] != 0u || kcN[0] == 0u);
    }
  }
`;
  }
}

function thresholdDraw(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, keys, params, mask } = args.inputs as { logits: tf.TensorInfo; keys: tf.TensorInfo; params: tf.TensorInfo; mask?: tf.TensorInfo };
  const { policy, minP, count, upper = false } = args.attrs as unknown as { policy: Policy; minP: boolean; count?: boolean; upper?: boolean };
  if (count)
    return backend.runWebGPUProgram(
      new KeptCountProgram(logits.shape[0]!, minP, mask !== undefined, upper),
      mask ? [logits, params, mask] : [logits, params],
      'int32',
    );
  const [batch, vocab] = logits.shape as [number, number];
  const config = webgpuDrawConfig(backend);
  const chunk = sliceSize(batch, vocab, config);
  const chunks = Math.ceil(vocab / chunk);
  const uniforms: ProgramUniform[] = [
    { type: 'int32', data: [chunks] },
    { type: 'int32', data: [chunk] },
  ];
  const first = backend.runWebGPUProgram(
    new SliceProgram(batch, chunks, config.wg, config.prune, policy, minP, mask !== undefined, upper),
    mask ? [logits, keys, params, mask] : [logits, keys, params],
    'int32',
    uniforms,
  );
  if (chunks === 1) return first;
  const out = backend.runWebGPUProgram(new RowProgram(batch, policy, mask !== undefined), [first], 'int32');
  backend.disposeData(first.dataId);
  return out;
}

/** Registers the kernel for 'webgpu'; false when the backend or its device cannot run it. */
export function registerWebgpuThresholdDraw(): boolean {
  try {
    if (tf.getKernel(THRESHOLD_DRAW_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function' || typeof backend.disposeData !== 'function') return false;
    // 7 arrays of wg words in workgroup memory (greedy policy).
    if (maxWorkgroupSize(backend) < WG2 || (backend.device?.limits?.maxComputeWorkgroupStorageSize ?? 16384) < 7 * 4 * 256) return false;
    tf.registerKernel({ kernelName: THRESHOLD_DRAW_KERNEL, backendName: BACKEND, kernelFunc: thresholdDraw as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
