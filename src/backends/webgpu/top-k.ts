// Sort-free top-k for webgpu (WGSL): per row, the k-th largest logit by radix select on the
// order-preserving u32 key of the float, plus the k-th..1st values sorted, registered as the tfjs
// kernel TOP_K_KERNEL. One workgroup per row, no read-back:
//   - up to three histogram levels (11, 11 and 10 bits of the key) in workgroup memory; each
//     level finds the digit holding the k-th largest and narrows the prefix;
//   - as soon as every key at or above the current prefix fits in TK_CAP slots, one more pass
//     copies them into workgroup memory and later levels read that copy instead of the row
//     (typically: one histogram pass and one copy pass over the row);
//   - the keys above the k-th (fewer than k) are ranked against each other (k ≤ 1024: cheap).
// Output float32 [B, kmax + 3] per row: the threshold (k-th largest; -FLT_MAX where the row keeps
// everything: k off, or the k-th largest is -Infinity), the number of finite logits ≥ it, the row
// max, then the kmax largest logits in descending order with those below the threshold as
// -Infinity (top-k's `sorted` hint: what tf.topk + keepAtLeast gives).
// With attribute idleOff, rows whose k is off do nothing and output -FLT_MAX, 0, 0 (no row max).
// The threshold search takes any k < V; the sorted output assumes k ≤ kmax.
// -0 is keyed as +0, so key order is float order and "≥ threshold" keeps ties exactly.
import * as tf from '@tensorflow/tfjs-core';
import { maxWorkgroupSize, webgpuDrawConfig, type ProgramUniform, type WebGPUBackendLike, type WebGPUProgramLike } from './gumbel-argmax.js';
import { maskAllowsWgsl, maskWordAllows } from './mask.js';

export const TOP_K_KERNEL = 'TfjsSamplingTopK';
/** The largest k (per row) the kernel takes; larger k fall back to tf.topk. */
export const TOP_K_MAX = 1024;
const BACKEND = 'webgpu';
const FLT_MAX = '3.4028234663852886e38f';

class TopKProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  variableNames = ['tkLogits', 'tkK'];
  uniforms = 'kmax : i32,';
  private wg: number;

  constructor(
    batch: number,
    kmax: number,
    wg: number,
    private masked: boolean,
    private idleOff = false,
  ) {
    if (masked) this.variableNames = [...this.variableNames, 'tkMask'];
    this.wg = wg;
    this.workgroupSize = [wg, 1, 1];
    this.outputShape = [batch, kmax + 3];
    this.dispatch = [batch, 1, 1];
    this.shaderKey = `tfjsSamplingTopK_${masked ? 'mask_' : ''}${idleOff ? 'idle_' : ''}${wg}`;
  }

  getUserCode(): string {
    const WG = this.wg;
    const per = 2048 / WG;
    return `
  const TK_CAP : u32 = ${TOP_K_MAX}u;
  const TK_NEG_INF : u32 = 0x007fffffu; // tkKey(-Infinity)
  var<workgroup> tkHist : array<atomic<u32>, 2048>;
  var<workgroup> tkBuf : array<u32, ${TOP_K_MAX}>;
  var<workgroup> tkPart : array<u32, ${WG}>;
  // 0 prefix, 1 rank left inside the prefix, 2 keys above the prefix, 3 copied (0 no, 1 yes, 2 now), 4 keys at the last digit
  var<workgroup> tkState : array<u32, 5>;
  var<workgroup> tkN : atomic<u32>;
  var<workgroup> tkMax : atomic<u32>;
  var<workgroup> tkG : atomic<u32>;

  ${this.masked ? maskAllowsWgsl('tkAllows', 'tkMask') : ''}

  // The key of token j after the mask, from its raw key. The mask only lowers a key (to
  // -Infinity's), so a pass testing "key at or above a bound" that -Infinity's key fails may
  // test the raw key first and apply the mask to the few tokens that pass.
  fn tkMasked(base : u32, r : u32, j : u32, key : u32) -> u32 {
    ${this.masked ? 'return select(TK_NEG_INF, key, tkAllows(r, j, tkLogits[base + j]));' : 'return key;'}
  }

  fn tkKey(z : f32) -> u32 {
    var u = bitcast<u32>(z);
    u = select(u, 0u, u == 0x80000000u); // -0 as +0
    return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
  }

  fn tkValue(key : u32) -> f32 {
    return bitcast<f32>(select(~key, key & 0x7fffffffu, (key & 0x80000000u) != 0u));
  }

  fn main(index : i32) {
    let lid = localId.x;
    let row = workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z);
    let rows = u32(uniforms.tkLogitsShape.x);
    let vocab = u32(uniforms.tkLogitsShape.y);
    let kmax = u32(uniforms.kmax);
    let valid = row < rows;
    let r = min(row, rows - 1u);
    let base = r * vocab;
    let kIn = tkK[r];
    let rowOn = kIn >= 1.0f && kIn < f32(vocab);
    // Rows that are off select k = 1 (their result is ignored), so every row has < kmax keys above.
    let k = select(1u, u32(kIn), rowOn);
    ${
      this.idleOff
        ? `// Idle where off: the threshold alone (-FLT_MAX), no row max.
    if (lid == 0u) {
      tkState[0] = select(0u, 1u, rowOn);
    }
    if (workgroupUniformLoad(&tkState[0]) == 0u) {
      if (valid) {
        let at = r * (kmax + 3u);
        for (var p = lid; p < kmax + 3u; p += ${WG}u) {
          result[at + p] = select(-uniforms.INFINITY, select(0.0f, -${FLT_MAX}, p == 0u), p < 3u);
        }
      }
      return;
    }
    workgroupBarrier();`
        : ''
    }
    if (lid == 0u) {
      tkState[0] = 0u;
      tkState[1] = k;
      tkState[2] = 0u;
      tkState[3] = 0u;
      tkState[4] = 0u;
      atomicStore(&tkN, 0u);
      atomicStore(&tkMax, 0u);
      atomicStore(&tkG, 0u);
    }
    for (var level = 0u; level < 3u; level++) {
      let shift = select(select(0u, 10u, level == 1u), 21u, level == 0u);
      let bits = select(11u, 10u, level == 2u);
      let mask = (1u << bits) - 1u;
      let hi = shift + bits;
      for (var i = lid; i < 2048u; i += ${WG}u) {
        atomicStore(&tkHist[i], 0u);
      }
      workgroupBarrier();
      let prefix = tkState[0];
      let copied = tkState[3] != 0u;
      if (level == 0u) {
        var m = 0u;
        var ninf = 0u;
        ${
          this.masked
            ? `// Masked: four consecutive tokens a thread, one mask word for the four.
        let wrow = r * u32(uniforms.tkMaskShape.y);
        for (var q = lid * 4u; q < vocab; q += ${4 * WG}u) {
          let w = bitcast<u32>(tkMask[wrow + (q >> 5u)]);
          for (var j = q; j < min(q + 4u, vocab); j++) {
            let z = tkLogits[base + j];
            let key = select(TK_NEG_INF, tkKey(z), ${maskWordAllows('w', 'j', 'z')});`
            : `
        for (var j = lid; j < vocab; j += ${WG}u) {
          {
            let key = tkKey(tkLogits[base + j]);`
        }
            m = max(m, key);
            // -Infinity (masked, banned) counted per thread: one bucket's atomics would serialize.
            if (key == TK_NEG_INF) {
              ninf += 1u;
            } else {
              atomicAdd(&tkHist[key >> 21u], 1u);
            }
          }
        }
        if (ninf > 0u) {
          atomicAdd(&tkHist[TK_NEG_INF >> 21u], ninf);
        }
        atomicMax(&tkMax, m);
      } else if (copied) {
        let n = atomicLoad(&tkN);
        for (var i = lid; i < n; i += ${WG}u) {
          let key = tkBuf[i];
          if ((key >> hi) == prefix) {
            atomicAdd(&tkHist[(key >> shift) & mask], 1u);
          }
        }
      } else {
        var ninf = 0u;
        let lazy = (TK_NEG_INF >> hi) != prefix;
        for (var j = lid; j < vocab; j += ${WG}u) {
          var key = tkKey(tkLogits[base + j]);
          if (!lazy || (key >> hi) == prefix) {
            key = tkMasked(base, r, j, key);
          }
          if ((key >> hi) == prefix) {
            if (key == TK_NEG_INF) {
              ninf += 1u;
            } else {
              atomicAdd(&tkHist[(key >> shift) & mask], 1u);
            }
          }
        }
        if (ninf > 0u) {
          atomicAdd(&tkHist[(TK_NEG_INF >> shift) & mask], ninf);
        }
      }
      workgroupBarrier();
      var s = 0u;
      for (var i = lid * ${per}u; i < (lid + 1u) * ${per}u; i++) {
        s += atomicLoad(&tkHist[i]);
      }
      tkPart[lid] = s;
      workgroupBarrier();
      if (lid == 0u) {
        let kRem = tkState[1];
        var above = 0u;
        var t = ${WG - 1}u;
        loop {
          let c = tkPart[t];
          if (above + c >= kRem || t == 0u) {
            break;
          }
          above += c;
          t -= 1u;
        }
        var d = (t + 1u) * ${per}u - 1u;
        var c = 0u;
        loop {
          c = atomicLoad(&tkHist[d]);
          if (above + c >= kRem || d == t * ${per}u) {
            break;
          }
          above += c;
          d -= 1u;
        }
        tkState[0] = (prefix << bits) | d;
        tkState[1] = kRem - above;
        tkState[2] = tkState[2] + above;
        tkState[4] = c;
        if (!copied && tkState[2] + c <= TK_CAP) {
          tkState[3] = 2u;
        }
      }
      workgroupBarrier();
      if (tkState[3] == 2u) {
        let p = tkState[0];
        let lazy = (TK_NEG_INF >> shift) < p;
        for (var j = lid; j < vocab; j += ${WG}u) {
          var key = tkKey(tkLogits[base + j]);
          if (!lazy || (key >> shift) >= p) {
            key = tkMasked(base, r, j, key);
          }
          if ((key >> shift) >= p) {
            let at = atomicAdd(&tkN, 1u);
            tkBuf[min(at, TK_CAP - 1u)] = key;
          }
        }
      }
      workgroupBarrier();
      if (lid == 0u && tkState[3] == 2u) {
        tkState[3] = 1u;
      }
    }
    workgroupBarrier();
    let kth = tkState[0];
    let gt = tkState[2];
    let ties = tkState[4];
    if (tkState[3] == 0u) {
      // Never copied (many keys share the prefix): copy the keys above the k-th, fewer than k.
      let lazy = TK_NEG_INF <= kth;
      for (var j = lid; j < vocab; j += ${WG}u) {
        var key = tkKey(tkLogits[base + j]);
        if (!lazy || key > kth) {
          key = tkMasked(base, r, j, key);
        }
        if (key > kth) {
          let at = atomicAdd(&tkN, 1u);
          tkBuf[min(at, TK_CAP - 1u)] = key;
        }
      }
    }
    workgroupBarrier();
    // The keys above the k-th, compacted into the histogram's memory, then ranked.
    let n = min(atomicLoad(&tkN), TK_CAP);
    for (var i = lid; i < n; i += ${WG}u) {
      let key = tkBuf[i];
      if (key > kth) {
        let at = atomicAdd(&tkG, 1u);
        atomicStore(&tkHist[at], key);
      }
    }
    workgroupBarrier();
    let g = atomicLoad(&tkG);
    let out = r * (kmax + 3u);
    for (var i = lid; i < g; i += ${WG}u) {
      let key = atomicLoad(&tkHist[i]);
      var rank = 0u;
      for (var j = 0u; j < g; j++) {
        let o = atomicLoad(&tkHist[j]);
        rank += select(0u, 1u, o > key || (o == key && j < i));
      }
      if (valid && rank < kmax) {
        result[out + 3u + rank] = tkValue(key);
      }
    }
    let thrV = tkValue(kth);
    let negInf = -uniforms.INFINITY;
    for (var p = g + lid; p < kmax; p += ${WG}u) {
      if (valid) {
        result[out + 3u + p] = select(negInf, thrV, p < g + ties);
      }
    }
    if (lid == 0u && valid) {
      // NaN or -Infinity as the k-th: keep everything (safeThreshold of the portable path).
      let keepAll = !rowOn || (kth <= 0x007fffffu) || (kth > 0xff800000u);
      result[out] = select(thrV, -${FLT_MAX}, keepAll);
      result[out + 1u] = f32(select(gt + ties, gt, kth <= 0x007fffffu));
      result[out + 2u] = tkValue(atomicLoad(&tkMax));
    }
  }
`;
  }
}

function topK(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, k, mask } = args.inputs as { logits: tf.TensorInfo; k: tf.TensorInfo; mask?: tf.TensorInfo };
  const { kmax, idleOff = false } = args.attrs as unknown as { kmax: number; idleOff?: boolean };
  const [batch] = logits.shape as [number, number];
  const wg = Math.min(webgpuDrawConfig(backend).wg >= 256 ? 256 : 64, maxWorkgroupSize(backend));
  const uniforms: ProgramUniform[] = [{ type: 'int32', data: [kmax] }];
  return backend.runWebGPUProgram(new TopKProgram(batch, kmax, wg, mask !== undefined, idleOff), mask ? [logits, k, mask] : [logits, k], 'float32', uniforms);
}

/** Registers the kernel for 'webgpu'; false when the device lacks the workgroup memory or size. */
export function registerWebgpuTopK(): boolean {
  try {
    if (tf.getKernel(TOP_K_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    const limits = backend.device?.limits;
    if (maxWorkgroupSize(backend) < 64 || (limits?.maxComputeWorkgroupStorageSize ?? 16384) < 16384) return false;
    tf.registerKernel({ kernelName: TOP_K_KERNEL, backendName: BACKEND, kernelFunc: topK as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
