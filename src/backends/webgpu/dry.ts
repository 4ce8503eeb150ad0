// DRY on webgpu in two dispatches, where the tfjs-op formulation (processors/dry.ts) takes
// ~80 + 3·log₂N: a copy of the logits, then one workgroup per row that edits only the penalised
// tokens of the copy, in place. The rule is dryRepeatsInto's (src/dry-rule.ts):
//   1. the repeat limit from the newest sequence breaker: per distance d < m (threads stride over
//      d) the longest breaker whose head is the token d back and whose tail follows it, as the key
//      d·64 + 63 − length; the smallest key of the row (a min-reduction) gives limit = d − length;
//   2. per lag k in [1, m): n_k = min(matches, m − k, limit), kept when n_k ≥ allowedLength. Each
//      token's longest n is found by walking the previous-occurrence links the history keeps,
//      from the token's latest column in the window (the one with no later occurrence), so every
//      column is visited once and every penalised token is written by one thread;
//   3. that token's logit minus the penalty for n (float32; an overflowed penalty, +Infinity in
//      the table, bans: NaN and +Infinity stay).
import * as tf from '@tensorflow/tfjs-core';
import type { ProgramUniform, WebGPUBackendLike, WebGPUProgramLike } from './gumbel-argmax.js';
import { copyGPU } from '../gpu-edits.js';

export const DRY_WEBGPU_KERNEL = 'TfjsSamplingDryWebgpu';
const BACKEND = 'webgpu';
const WG = 64;

/** Edits the penalised tokens of `result` (the copy) in place; one workgroup per row. */
class DryPatchProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey = `tfjsSamplingDryPatch_${WG}`;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  // Seven inputs and the output: WebGPU's default limit is 8 storage buffers per stage.
  variableNames = ['drZ', 'drW', 'drS', 'drPrev', 'drLater', 'drTable', 'drRows'];
  uniforms = 'zero : i32,';

  constructor(shape: [number, number]) {
    this.outputShape = shape;
    this.dispatch = [shape[0], 1, 1];
  }

  getUserCode(): string {
    return `
  var<workgroup> drKey : array<u32, ${WG}>;

  // The longest breaker of row r whose head is t (the token d back from the newest, column c)
  // and whose tail follows it in the window; -1: none. A one-token breaker has length 0.
  fn drLongest(r : i32, c : i32, d : i32, t : i32) -> i32 {
    let N = uniforms.drWShape.y;
    let R = uniforms.drRowsShape.y;
    let K = R - 3;
    var longest = -1;
    var p = 0;
    loop {
      if (p >= K) { break; }
      let len = drRows[r * R + 3 + p];
      if (len <= 0) { break; }
      let L = len - 1;
      if (drRows[r * R + 3 + p + 1] == t && L > longest && L <= d) {
        var ok = true;
        for (var j = 0; j < L; j++) {
          if (drW[r * N + c + 1 + j] != drRows[r * R + 3 + p + 2 + j]) { ok = false; break; }
        }
        if (ok) { longest = L; }
      }
      p += len + 1;
    }
    return longest;
  }

  fn drIsSingle(r : i32, t : i32) -> bool {
    let R = uniforms.drRowsShape.y;
    let K = R - 3;
    var found = false;
    var p = 0;
    loop {
      if (p >= K) { break; }
      let len = drRows[r * R + 3 + p];
      if (len <= 0) { break; }
      if (len == 1 && drRows[r * R + 3 + p + 1] == t) { found = true; }
      p += len + 1;
    }
    return found;
  }

  // Workgroup r edits row r (the dispatch has one workgroup per row).
  fn main(index : i32) {
    let N = uniforms.drWShape.y;
    let V = uniforms.drZShape.y;
    let lid = i32(localId.x);
    let r = i32(workgroupId.x);
    let R = uniforms.drRowsShape.y;
    let m = drRows[r * R];
    let A = drRows[r * R + 1];
    let on = drRows[r * R + 2] != 0 && m > A;
    var best = 0xffffffffu;
    if (on) {
      for (var d = lid; d < m; d += ${WG}) {
        let c = N - 1 - d;
        let L = drLongest(r, c, d, drW[r * N + c]);
        if (L >= 0) { best = min(best, u32(d) * 64u + u32(63 - L)); }
      }
    }
    drKey[lid] = best;
    workgroupBarrier();
    for (var s = ${WG / 2}; s > 0; s = s >> 1u) {
      if (lid < s) { drKey[lid] = min(drKey[lid], drKey[lid + s]); }
      workgroupBarrier();
    }
    let first = drKey[0];
    var limit = m;
    if (first != 0xffffffffu) { limit = i32(first / 64u) - (63 - i32(first % 64u)); }
    if (on && limit >= A) {
      for (var k = 1 + lid; k < m; k += ${WG}) {
        let c = N - k;
        let t = drW[r * N + c];
        // The token's latest column in the window walks its chain of earlier occurrences.
        if (drLater[r * N + c] == 0 && t >= 0 && t < V && !drIsSingle(r, t)) {
          var n = -1;
          var cc = c;
          loop {
            let kk = N - cc;
            if (kk >= m) { break; }
            let sm = drS[r * N + cc];
            if (sm >= A) {
              let nk = min(min(sm, m - kk), limit);
              if (nk >= A) { n = max(n, nk); }
            }
            cc = drPrev[r * N + cc];
            if (cc < 0) { break; }
          }
          if (n >= 0) {
            let v = drZ[r * V + t];
            let pen = drTable[r * (N + 1) + n];
            let u = bitcast<u32>(v);
            let keepsBits = (u & 0x7fffffffu) > 0x7f800000u || u == 0x7f800000u; // NaN, +Infinity
            var out = v - pen;
            if (bitcast<u32>(pen) == 0x7f800000u) { out = select(bitcast<f32>(0xff800000u ^ u32(uniforms.zero)), v, keepsBits); }
            result[r * V + t] = out;
          }
        }
      }
    }
  }
`;
  }
}

interface DryInputs {
  logits: tf.TensorInfo;
  tokens: tf.TensorInfo;
  matches: tf.TensorInfo;
  previous: tf.TensorInfo;
  later: tf.TensorInfo;
  table: tf.TensorInfo;
  /** int32 `[B, 3 + K]`: m, allowedLength, on, then the row's breakers (see processors/dry.ts). */
  rows: tf.TensorInfo;
}

function dryWebgpu({ inputs, backend }: { inputs: DryInputs; backend: WebGPUBackendLike }): tf.TensorInfo {
  const { logits, tokens, matches, previous, later, table, rows } = inputs;
  const out = copyGPU(backend, logits, false);
  const uniforms: ProgramUniform[] = [{ type: 'int32', data: [0] }];
  return backend.runWebGPUProgram(
    new DryPatchProgram(logits.shape as [number, number]),
    [logits, tokens, matches, previous, later, table, rows],
    'float32',
    uniforms,
    out,
  );
}

/** Registers {@link DRY_WEBGPU_KERNEL}; false where the backend cannot run it. */
export function registerWebgpuDry(): boolean {
  // (Batches over 65,535 rows, a dispatch's limit, take the tfjs-op path: see processors/dry.ts.)
  try {
    if (tf.getKernel(DRY_WEBGPU_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    tf.registerKernel({ kernelName: DRY_WEBGPU_KERNEL, backendName: BACKEND, kernelFunc: dryWebgpu as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
