// The fused sampling kernel of the wasm backend: typed-array code reading the logits in place in
// the wasm heap (no copy) and writing the ids into the output's heap memory.
import { FUSED_KERNEL } from '../kernel-names.js';
import * as tf from '@tensorflow/tfjs-core';
import { keptBuffer, keptInput, keptList, sampleRows, upperKept, type FusedPlan } from '../js/sample-rows.js';
import { sampleRowsSimd, simdHeap, type WasmHeap } from '../wasm-simd/sample-rows-simd.js';
import { fusedObserver } from '../fused-observer.js';
import { packRows } from '../js/edit-kernels.js';

interface WasmBackend {
  dataIdMap: { get(id: object): { memoryOffset: number } };
  wasm: { HEAPU8: Uint8Array; asm?: { memory?: unknown }; _malloc?(bytes: number): number; _free?(ptr: number): void };
  makeOutput(shape: number[], dtype: 'int32' | 'float32'): tf.TensorInfo;
}

/** The Emscripten module's memory and allocator, where it exposes them. */
function heapOf(b: WasmBackend): WasmHeap | undefined {
  const { asm, _malloc, _free } = b.wasm;
  const memory = asm?.memory;
  if (!(memory instanceof WebAssembly.Memory) || memory.buffer !== b.wasm.HEAPU8.buffer || !_malloc || !_free) return undefined;
  return { memory, malloc: (n) => _malloc.call(b.wasm, n), free: (p) => _free.call(b.wasm, p) };
}

export function registerWasmKernel(): void {
  tf.registerKernel({
    kernelName: FUSED_KERNEL,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const b = backend as unknown as WasmBackend;
      let plan = (attrs as unknown as { plan: FusedPlan }).plan;
      // Allocate first: growing the heap would detach views made before. The SIMD module's
      // scratch in the heap first of all (it reads the logits there, in place).
      const h0 = heapOf(b);
      const mod = h0 ? simdHeap(h0, plan.vocab) : undefined;
      const out = b.makeOutput([plan.batch], 'int32');
      const sOut = plan.mirostat ? b.makeOutput([plan.batch], 'float32') : undefined;
      const lp = plan.logprobs;
      const pOut = lp ? b.makeOutput([plan.batch, 3 + 2 * lp.n], 'float32') : undefined;
      if (lp)
        plan = {
          ...plan,
          keptOut: keptBuffer(plan.batch, plan.vocab),
          keptInv: new Float64Array(plan.batch).fill(1),
          keptMax: new Float64Array(plan.batch),
          keptSum: new Float64Array(plan.batch).fill(NaN),
          ...(lp.raw ? { rawMax: new Float64Array(plan.batch), rawSum: new Float64Array(plan.batch).fill(NaN) } : {}),
        };
      const heap = b.wasm.HEAPU8.buffer;
      const x = b.dataIdMap.get((inputs.logits as tf.TensorInfo).dataId);
      const values = new Float32Array(heap, x.memoryOffset, plan.batch * plan.vocab);
      const ids = new Int32Array(heap, b.dataIdMap.get(out.dataId).memoryOffset, plan.batch);
      // Mirostat: μ in (read in place in the heap), the drawn tokens' surprise out.
      if (sOut) {
        const mu = new Float32Array(heap, b.dataIdMap.get((inputs.mu as tf.TensorInfo).dataId).memoryOffset, plan.batch);
        plan = { ...plan, mirostatMu: mu, surprise: new Float32Array(heap, b.dataIdMap.get(sOut.dataId).memoryOffset, plan.batch) };
      }
      const observe = plan.drawOnly ? undefined : fusedObserver();
      const kept = observe ? new Int32Array(plan.batch) : undefined;
      const simd = sampleRowsSimd(values, plan, ids, kept, mod);
      if (!simd) sampleRows(values, plan, ids, kept);
      if (observe) observe({ path: 'fused:wasm', kernel: simd ? 'simd' : 'js', counts: kept!, edited: plan.editRow !== undefined || plan.mask !== undefined });
      if (pOut) {
        // Views again: nothing above allocates in the heap, but the packing's own views are fresh.
        const h = b.wasm.HEAPU8.buffer;
        const packed = new Float32Array(h, b.dataIdMap.get(pOut.dataId).memoryOffset, plan.batch * (3 + 2 * lp!.n));
        packRows(
          new Float32Array(h, x.memoryOffset, plan.batch * plan.vocab),
          plan.keptOut!,
          new Int32Array(h, b.dataIdMap.get(out.dataId).memoryOffset, plan.batch),
          () => false,
          plan.keptInv!,
          plan.batch,
          plan.vocab,
          lp!.n,
          lp!,
          packed,
          { max: plan.keptMax!, S: plan.keptSum! },
          { list: keptList, upper: upperKept(plan), input: keptInput },
          simd && plan.rawSum ? { max: plan.rawMax!, S: plan.rawSum } : undefined,
        );
      }
      const outputs = [out, ...(sOut ? [sOut] : []), ...(pOut ? [pOut] : [])];
      return outputs.length === 1 ? out : outputs;
    },
  });
}
