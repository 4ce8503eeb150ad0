// The fused sampling kernel of the cpu backend: the chain and the draw on the backend's own
// Float32Array, in float64, without a tensor op per stage.
import { FUSED_KERNEL } from '../kernel-names.js';
import * as tf from '@tensorflow/tfjs-core';
import { keptBuffer, keptInput, keptList, sampleRows, upperKept, type FusedPlan } from '../js/sample-rows.js';
import { sampleRowsSimd } from '../wasm-simd/sample-rows-simd.js';
import { fusedObserver } from '../fused-observer.js';
import { packRows } from '../js/edit-kernels.js';

interface CpuBackend {
  data: { get(id: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: 'int32' | 'float32', values: Int32Array | Float32Array): tf.TensorInfo;
}

export function registerCpuKernel(): void {
  tf.registerKernel({
    kernelName: FUSED_KERNEL,
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as CpuBackend;
      let plan = (attrs as unknown as { plan: FusedPlan }).plan;
      const values = b.data.get((inputs.logits as tf.TensorInfo).dataId).values as Float32Array;
      // Mirostat: μ in (read in place, no read-back), the drawn tokens' surprise out.
      const surprise = plan.mirostat ? new Float32Array(plan.batch) : undefined;
      if (surprise) plan = { ...plan, mirostatMu: b.data.get((inputs.mu as tf.TensorInfo).dataId).values as Float32Array, surprise };
      const lp = plan.logprobs;
      if (lp)
        plan = {
          ...plan,
          keptOut: keptBuffer(plan.batch, plan.vocab),
          keptInv: new Float64Array(plan.batch).fill(1),
          keptMax: new Float64Array(plan.batch),
          keptSum: new Float64Array(plan.batch).fill(NaN),
        };
      const out = new Int32Array(plan.batch);
      const observe = plan.drawOnly ? undefined : fusedObserver();
      const kept = observe ? new Int32Array(plan.batch) : undefined;
      const simd = sampleRowsSimd(values, plan, out, kept);
      if (!simd) sampleRows(values, plan, out, kept);
      if (observe) observe({ path: 'fused:cpu', kernel: simd ? 'simd' : 'js', counts: kept!, edited: plan.editRow !== undefined || plan.mask !== undefined });
      const ids = b.makeTensorInfo([plan.batch], 'int32', out);
      const outputs = surprise ? [ids, b.makeTensorInfo([plan.batch], 'float32', surprise)] : [ids];
      if (lp) {
        const packed = new Float32Array(plan.batch * (3 + 2 * lp.n));
        packRows(
          values,
          plan.keptOut!,
          out,
          () => false,
          plan.keptInv!,
          plan.batch,
          plan.vocab,
          lp.n,
          lp,
          packed,
          { max: plan.keptMax!, S: plan.keptSum! },
          { list: keptList, upper: upperKept(plan), input: keptInput },
        );
        outputs.push(b.makeTensorInfo([plan.batch, 3 + 2 * lp.n], 'float32', packed));
      }
      return outputs.length === 1 ? ids : outputs;
    },
  });
}
