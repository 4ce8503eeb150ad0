// Row statistics for the bands of the GPU chain on webgpu (WGSL), one workgroup per row, so that
// top-nσ, ε, η and XTC become a floor (or, for XTC, an upper bound) of the threshold draw instead
// of tfjs-op processors with masked [B, V] copies. Registered as BANDS_KERNEL with a `mode`:
//   'moments': the row max and the floor max − n·σ, σ the population standard deviation of the
//              finite logits (n from params; -FLT_MAX where n = 0). Two reads of the row: the max
//              and min first, then Welford's update of u = (z − max)/range (|u| ≤ 1, so huge
//              logits neither overflow nor lose the spread), merged across threads by Chan's rule.
//   'mass':    over the kept tokens (z ≥ floor, z ≤ hi, min-p's pair test), with a = (z − m)·1/T
//              and m the kept maximum: Σ e^a and Σ e^a·a, each an unevaluated float32 pair, m, and
//              the kept tokens' count.
//              With `online`, m is found in the same read (a running maximum; the sums are
//              rescaled when it rises), so a chain without top-k or top-p needs no max pass.
//   'above':   over the kept tokens with z ≥ cut: their smallest logit and their count.
//   'typical': locally typical sampling's band (p in params column 7; 1 = off). The mass pass
//              (online) gives m, S = Σ e^a and the centre c = Σ e^a·a / S (−ln q − H = c − a);
//              then top-p's digit search (webgpu/top-p.ts) on the key of −|z − zc| (zc = m + c·T,
//              the centre in logit units) instead of z finds the farthest distance D whose strictly closer mass is below p·S, or with
//              fewer than minTokensToKeep (params column 8) kept tokens strictly closer (ties of D
//              kept); a last read gives the least and the largest kept logit with |z − zc| ≤ D
//              (d is monotone on each side of c, so they bound exactly that set). Output
//              [B, 3]: the floor, the upper bound and the kept maximum (-FLT_MAX, FLT_MAX and
//              m where the row keeps everything).
// The caller (gpu-chain.ts) turns them into thresholds with [B] ops.
import * as tf from '@tensorflow/tfjs-core';
import { maxWorkgroupSize, type WebGPUBackendLike, type WebGPUProgramLike } from './gumbel-argmax.js';
import { digitLevelWgsl, digitSearchStartWgsl } from './top-p.js';

export const BANDS_KERNEL = 'TfjsSamplingBands';
export type BandsMode = 'moments' | 'mass' | 'above' | 'typical';
const BACKEND = 'webgpu';
const WG = 64;
const FLT_MAX = '3.4028234663852886e38f';
/** 'typical': candidates copied to workgroup memory once they fit (as webgpu/top-p.ts). */
const CAP = 512;
/**
 * Per-row params: 0 floor, 1 hi, 2 m, 3 1/T hi, 4 1/T lo, 5 min-p t, 6 min-p e, 7 n (moments),
 * cut (above) or p (typical), 8 minTokensToKeep (typical: the band holds at least that many of
 * the closest kept tokens; 1 = off).
 */
export const BAND_PARAMS = 9;

class BandsProgram implements WebGPUProgramLike {
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  variableNames = ['bdLogits', 'bdParams'];

  constructor(
    batch: number,
    private mode: BandsMode,
    private minP: boolean,
    private online: boolean,
  ) {
    if (mode === 'typical') this.online = true;
    this.shaderKey = `tfjsSamplingBands_${mode}_${minP ? 'minp' : ''}_${this.online ? 'online_' : ''}${WG}`;
    this.outputShape = [batch, mode === 'mass' ? 6 : mode === 'typical' ? 3 : 2];
    this.dispatch = [batch, 1, 1];
  }

  private body(): string {
    const reduce = (merge: string): string => `
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        let o = lid + stride;
        ${merge}
      }
      workgroupBarrier();
    }`;
    const kept = `bdFinite(z) && z >= floor && z <= hi${this.minP ? ' && !(mpE - (z - mpT) > 0.0f)' : ''}`;
    if (this.mode === 'moments') {
      return `
    // Pass 1: max and min of the finite logits.
    var mx = -${FLT_MAX};
    var mn = ${FLT_MAX};
    var cnt = 0u;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let z = bdLogits[base + j];
      if (bdFinite(z)) {
        mx = max(mx, z);
        mn = min(mn, z);
        cnt += 1u;
      }
    }
    bdA[lid] = mx;
    bdB[lid] = mn;
    bdN[lid] = f32(cnt);
    ${reduce('bdA[lid] = max(bdA[lid], bdA[o]); bdB[lid] = min(bdB[lid], bdB[o]); bdN[lid] = bdN[lid] + bdN[o];')}
    let zmax = bdA[0];
    let half = zmax * 0.5f - bdB[0] * 0.5f; // half the range: no overflow
    // u = (z − max) / range as (d·(2^64/half))·2^-64 past half = 2^64 (1/half would be subnormal,
    // which GPUs may flush to 0); halves under the smallest normal float32 give u = 0.
    let after = select(1.0f, 5.421010862427522e-20f, half > 18446744073709551616.0f);
    let scale = select(0.0f, 1.0f / (half * after), half >= 1.1754943508222875e-38f);
    let total = bdN[0];
    workgroupBarrier();
    // Pass 2: Welford over u = (z − max) / range.
    var n = 0.0f;
    var mean = 0.0f;
    var m2 = 0.0f;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let z = bdLogits[base + j];
      if (bdFinite(z)) {
        let u = ((z * 0.5f - zmax * 0.5f) * scale) * after;
        n += 1.0f;
        let d = u - mean;
        mean += d / n;
        m2 += d * (u - mean);
      }
    }
    bdN[lid] = n;
    bdA[lid] = mean;
    bdB[lid] = m2;
    ${reduce(
      `let na = bdN[lid];
        let nb = bdN[o];
        let nn = na + nb;
        if (nb > 0.0f) {
          let d = bdA[o] - bdA[lid];
          bdA[lid] = bdA[lid] + d * (nb / nn);
          bdB[lid] = bdB[lid] + bdB[o] + d * d * (na / nn) * nb;
          bdN[lid] = nn;
        }`,
    )}
    if (lid == 0u && row < rows) {
      // σ = sqrt(M2 / n) · range; the floor max − n·σ, finite or -FLT_MAX.
      let sigma = (sqrt(max(bdB[0], 0.0f) / max(total, 1.0f)) * 2.0f) * half; // σ_u ≤ 1/2: finite where 2·half is not
      let ns = bdParams[p + 7u];
      let f = zmax - ns * sigma;
      result[2u * row] = select(-${FLT_MAX}, max(f, -${FLT_MAX}), ns > 0.0f && total > 0.0f);
      result[2u * row + 1u] = select(-uniforms.INFINITY, zmax, total > 0.0f);
    }`;
    }
    if (this.mode === 'mass' || this.mode === 'typical') {
      // online: m is the running maximum of the kept tokens, the sums rescaled when it rises
      // (one read of the row gives the max too); else m comes in the params.
      const on = this.online;
      // 'typical' sums e^a·d with d = z − m unscaled (its centre in logit units): the scaled a of a
      // row spread over a few ulps at a large T is subnormal, which GPUs flush, and the centre
      // Σ e^a·a / S with it.
      const typ = this.mode === 'typical';
      return `
    var m = ${on ? `-${FLT_MAX}` : 'bdParams[p + 2u]'};
    let ihH = bdParams[p + 3u];
    let ihL = bdParams[p + 4u];
    var sH = 0.0f;
    var sL = 0.0f;
    var aH = 0.0f;
    var aL = 0.0f;
    var cnt = 0u;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let z = bdLogits[base + j];
      if (${kept}) {
        cnt += 1u;
        ${
          on
            ? `if (z > m) {
          let v = bdShift(vec4<f32>(sH, sL, aH, aL), m, z, ihH, ihL, ${typ});
          sH = v.x;
          sL = v.y;
          aH = v.z;
          aL = v.w;
          m = z;
        }`
            : ''
        }
        let d = max(z - m, -2048.0f / ihH); // see bdShift
        let a = d * ihH + d * ihL;
        let x = exp(a);
        var s = sH + x;
        var bb = s - sH;
        sL += (sH - (s - bb)) + (x - bb);
        sH = s;
        let xa = select(x * ${typ ? 'd' : 'a'}, 0.0f, x == 0.0f); // → 0 where e^a underflows
        s = aH + xa;
        bb = s - aH;
        aL += (aH - (s - bb)) + (xa - bb);
        aH = s;
      }
    }
    bdA[lid] = sH;
    bdB[lid] = sL;
    bdN[lid] = aH;
    bdC[lid] = aL;
    bdM[lid] = m;
    bdK[lid] = f32(cnt);
    ${reduce(
      `${
        on
          ? `let mm = max(bdM[lid], bdM[o]);
        let va = bdShift(vec4<f32>(bdA[lid], bdB[lid], bdN[lid], bdC[lid]), bdM[lid], mm, ihH, ihL, ${typ});
        let vb = bdShift(vec4<f32>(bdA[o], bdB[o], bdN[o], bdC[o]), bdM[o], mm, ihH, ihL, ${typ});
        bdM[lid] = mm;`
          : `let va = vec4<f32>(bdA[lid], bdB[lid], bdN[lid], bdC[lid]);
        let vb = vec4<f32>(bdA[o], bdB[o], bdN[o], bdC[o]);`
      }
        var s = va.x + vb.x;
        var bb = s - va.x;
        bdB[lid] = va.y + vb.y + ((va.x - (s - bb)) + (vb.x - bb));
        bdA[lid] = s;
        s = va.z + vb.z;
        bb = s - va.z;
        bdC[lid] = va.w + vb.w + ((va.z - (s - bb)) + (vb.z - bb));
        bdN[lid] = s;
        bdK[lid] = bdK[lid] + bdK[o];`,
    )}
    ${
      this.mode === 'typical'
        ? typicalSearch(kept)
        : `if (lid == 0u && row < rows) {
      result[6u * row] = bdA[0];
      result[6u * row + 1u] = bdB[0];
      result[6u * row + 2u] = bdN[0];
      result[6u * row + 3u] = bdC[0];
      result[6u * row + 4u] = bdM[0];
      result[6u * row + 5u] = bdK[0];
    }`
    }`;
    }
    return `
    let cut = bdParams[p + 7u];
    var mn = uniforms.INFINITY;
    var cnt = 0u;
    for (var j = lid; j < vocab; j += ${WG}u) {
      let z = bdLogits[base + j];
      if (${kept} && z >= cut) {
        mn = min(mn, z);
        cnt += 1u;
      }
    }
    bdA[lid] = mn;
    bdN[lid] = f32(cnt);
    ${reduce('bdA[lid] = min(bdA[lid], bdA[o]); bdN[lid] = bdN[lid] + bdN[o];')}
    if (lid == 0u && row < rows) {
      result[2u * row] = bdA[0];
      result[2u * row + 1u] = bdN[0];
    }`;
  }

  getUserCode(): string {
    return `
  ${this.mode === 'typical' ? TYPICAL_DECLS : ''}
  var<workgroup> bdA : array<f32, ${WG}>;
  var<workgroup> bdB : array<f32, ${WG}>;
  var<workgroup> bdN : array<f32, ${WG}>;
  var<workgroup> bdC : array<f32, ${WG}>;
  var<workgroup> bdM : array<f32, ${WG}>;
  var<workgroup> bdK : array<f32, ${WG}>;

  // The mass sums (Σ e^a as a pair, Σ e^a·a as a pair) taken at maximum m0, moved to m1 ≥ m0:
  // a' = a + δ with δ = (m0 − m1)·1/T, so Σ e^a' = e^δ·Σ e^a and Σ e^a'·a' = e^δ·(Σ e^a·a + δ·Σ e^a).
  // logit: the second sum is Σ e^a·d (d = z − m unscaled), moved by m0 − m1 instead of δ.
  fn bdShift(v : vec4<f32>, m0 : f32, m1 : f32, ihH : f32, ihL : f32, logit : bool) -> vec4<f32> {
    if (v.x == 0.0f || m0 == m1) {
      return v;
    }
    // Clamped where e^δ is 0 anyway, as scaleByInvTemperature does: m0 − m1 is -Infinity past a
    // span of FLT_MAX, and -Infinity·ihL NaN where ihL is 0 or negative.
    let d0 = max(m0 - m1, -2048.0f / ihH);
    let dl = d0 * ihH + d0 * ihL;
    let r = exp(dl);
    let sh = select(dl, d0, logit);
    return vec4<f32>(r * v.x, r * v.y, r * (v.z + sh * v.x), r * (v.w + sh * v.y));
  }

  fn bdFinite(z : f32) -> bool {
    return (bitcast<u32>(z) & 0x7fffffffu) < 0x7f800000u;
  }

  fn main(index : i32) {
    let lid = localId.x;
    let row = workgroupId.x + numWorkgroups.x * (workgroupId.y + numWorkgroups.y * workgroupId.z);
    let rows = u32(uniforms.bdLogitsShape.x);
    let vocab = u32(uniforms.bdLogitsShape.y);
    let r = min(row, rows - 1u);
    let base = r * vocab;
    let p = r * ${BAND_PARAMS}u;
    let floor = bdParams[p];
    let hi = bdParams[p + 1u];
    let mpT = bdParams[p + 5u];
    let mpE = bdParams[p + 6u];
    ${this.body()}
  }
`;
  }
}

/** 'typical': the digit search's workgroup memory (15.9 KiB with the bands' arrays) and key. */
const TYPICAL_DECLS = `
  var<workgroup> tyH : array<f32, ${16 * WG}>;
  var<workgroup> tyL : array<f32, ${16 * WG}>;
  var<workgroup> tyC : array<u32, ${16 * WG}>;
  var<workgroup> tyBuf : array<u32, ${CAP}>;
  var<workgroup> tyN : atomic<u32>;
  // 0 prefix, 1 copied (0 no, 1 yes, 2 now), 2 done (no bucket qualifies: keep all)
  var<workgroup> tyS : array<u32, 3>;
  // mass strictly closer than the prefix, as a pair
  var<workgroup> tyM : array<f32, 2>;
  // how many kept tokens are strictly closer than the prefix (minTokensToKeep)
  var<workgroup> tyQ : u32;

  // The order-preserving key of −|z − zc| (larger: closer to the centre zc = m + c·T, in logit
  // units: one subtraction, so every read computes the same key — a product-sum like
  // (z − m)·1/T − c may be fused into an fma at one site and not at another, and a boundary
  // token's key then moves by an ulp between the search and the band's last read).
  fn tyKey(z : f32, zc : f32) -> u32 {
    var u = bitcast<u32>(-abs(z - zc));
    u = select(u, 0u, u == 0x80000000u); // -0 as +0
    return select(u | 0x80000000u, ~u, (u & 0x80000000u) != 0u);
  }
`;

/**
 * 'typical' after the mass pass (m, S and Σ e^a·(z − m) reduced into bdM, bdA/bdB, bdN/bdC): the digit
 * search of webgpu/top-p.ts on tyKey, 4 bits a level, then the band's extreme kept logits.
 */
function typicalSearch(kept: string): string {
  return `
    let mk = bdM[0];
    let total = bdA[0] + bdB[0];
    let zc = mk + (bdN[0] + bdC[0]) / total; // the centre Σ e^a·(z − m) / S, in logit units
    let tp = bdParams[p + 7u];
    let tH = tp * bdA[0];
    let tL = tp * bdB[0];
    let on = tp < 1.0f && total > 0.0f && mk > -${FLT_MAX};
    let keepM = u32(max(bdParams[p + 8u], 1.0f));
    ${digitSearchStartWgsl('ty', 'select(1u, 0u, on)', true)}
      for (var j = lid; j < n; j += ${WG}u) {
        var z = 0.0f;
        var ok = true;
        if (copied) {
          z = bitcast<f32>(tyBuf[j]);
        } else {
          z = bdLogits[base + j];
          ok = ${kept};
        }
        let key = tyKey(z, zc);
        if (ok && (level == 0u || (key >> hiShift) == prefix)) {
          let b = (key >> shift) & 15u;
          let dz = max(z - mk, -2048.0f / ihH); // see bdShift
          let q = exp(dz * ihH + dz * ihL);
          let h = bh[b];
          let s = h + q;
          let bb = s - h;
          bl[b] += (h - (s - bb)) + (q - bb);
          bh[b] = s;
          bc[b] += 1u;
        }
      }
      ${digitLevelWgsl('ty', WG, CAP, 'keepM')}
      workgroupBarrier();
      if (tyS[1] == 2u) {
        let np = tyS[0];
        for (var j = lid; j < vocab; j += ${WG}u) {
          let z = bdLogits[base + j];
          if ((${kept}) && (tyKey(z, zc) >> shift) == np) {
            let at = atomicAdd(&tyN, 1u);
            tyBuf[min(at, ${CAP - 1}u)] = bitcast<u32>(z);
          }
        }
      }
      workgroupBarrier();
      if (lid == 0u && tyS[1] == 2u) {
        tyS[1] = 1u;
      }
    }
    // The kept band: the extreme kept logits with key ≥ D's.
    let keyD = tyS[0];
    let all = tyS[2] != 0u;
    var lo = ${FLT_MAX};
    var up = -${FLT_MAX};
    if (!all) {
      for (var j = lid; j < vocab; j += ${WG}u) {
        let z = bdLogits[base + j];
        if ((${kept}) && tyKey(z, zc) >= keyD) {
          lo = min(lo, z);
          up = max(up, z);
        }
      }
    }
    workgroupBarrier();
    bdA[lid] = lo;
    bdB[lid] = up;
    workgroupBarrier();
    for (var stride = ${WG / 2}u; stride > 0u; stride = stride >> 1u) {
      if (lid < stride) {
        bdA[lid] = min(bdA[lid], bdA[lid + stride]);
        bdB[lid] = max(bdB[lid], bdB[lid + stride]);
      }
      workgroupBarrier();
    }
    if (lid == 0u && row < rows) {
      result[3u * row] = select(bdA[0], -${FLT_MAX}, all);
      result[3u * row + 1u] = select(bdB[0], ${FLT_MAX}, all);
      result[3u * row + 2u] = select(bdB[0], mk, all);
    }`;
}

function bands(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as WebGPUBackendLike;
  const { logits, params } = args.inputs as { logits: tf.TensorInfo; params: tf.TensorInfo };
  const { mode, minP, online = false } = args.attrs as unknown as { mode: BandsMode; minP: boolean; online?: boolean };
  return backend.runWebGPUProgram(
    new BandsProgram(logits.shape[0]!, mode, minP, online && mode !== 'moments' && mode !== 'above'),
    [logits, params],
    'float32',
  );
}

/** Registers the kernel for 'webgpu'; false when the device lacks 64 threads per workgroup. */
export function registerWebgpuBands(): boolean {
  try {
    if (tf.getKernel(BANDS_KERNEL, BACKEND)) return true;
    const backend = tf.findBackend(BACKEND) as unknown as WebGPUBackendLike | null;
    if (!backend || typeof backend.runWebGPUProgram !== 'function') return false;
    if (maxWorkgroupSize(backend) < WG) return false;
    tf.registerKernel({ kernelName: BANDS_KERNEL, backendName: BACKEND, kernelFunc: bands as unknown as tf.KernelFunc });
    return true;
  } catch {
    return false;
  }
}
