// The backend the training script runs on (Node only). wasm trains this model about 20x faster
// than the pure-JS cpu backend here, but two gaps in tfjs-backend-wasm 4.22 have to be bridged,
// for this process only (the saved model is plain tfjs Layers and runs anywhere):
//  1. BatchMatMul with transposeA/transposeB takes a slow path (measured ~25x slower than an
//     explicit Transpose followed by a plain matmul). Backprop through Dense layers uses exactly
//     those flags, so the kernel is wrapped to transpose first.
//  2. There is no UnsortedSegmentSum kernel, which the gradient of Gather (the Embedding layer)
//     uses; the gradient is re-registered with ScatterNd, which also sums duplicate indices.
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type TrainBackend = 'wasm' | 'cpu';

let patched = false;

function patchWasm(): void {
  if (patched) return;
  patched = true;
  const matmul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (!matmul || !transpose) throw new Error('train-backend: wasm BatchMatMul/Transpose kernels not found');
  type Info = tf.TensorInfo;
  const swapLast = (x: Info, backend: tf.KernelBackend): Info => {
    const perm = x.shape.map((_, i) => i);
    const n = perm.length;
    [perm[n - 2], perm[n - 1]] = [perm[n - 1]!, perm[n - 2]!];
    return transpose.kernelFunc({ inputs: { x }, backend, attrs: { perm } }) as Info;
  };
  tf.unregisterKernel('BatchMatMul', 'wasm');
  tf.registerKernel({
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    ...(matmul.setupFunc ? { setupFunc: matmul.setupFunc } : {}),
    kernelFunc: ({ inputs, backend: anyBackend, attrs = {} }) => {
      const backend = anyBackend as tf.KernelBackend;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      if (!transposeA && !transposeB) return matmul.kernelFunc({ inputs, backend, attrs });
      const a = transposeA ? swapLast(inputs.a!, backend) : inputs.a!;
      const b = transposeB ? swapLast(inputs.b!, backend) : inputs.b!;
      const out = matmul.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
      if (a !== inputs.a) backend.disposeData(a.dataId);
      if (b !== inputs.b) backend.disposeData(b.dataId);
      return out;
    },
  });
  tf.registerGradient({
    kernelName: 'GatherV2',
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved as [tf.Tensor, tf.Tensor];
      const { axis, batchDims } = attrs as { axis: number; batchDims: number };
      if (axis !== 0 || batchDims !== 0) throw new Error('train-backend: Gather gradient only for axis 0 (an embedding lookup)');
      const rows = x.shape.slice(1);
      return {
        x: () => tf.scatterND(tf.reshape(indices, [-1, 1]), tf.reshape(dy as tf.Tensor, [-1, ...rows]), x.shape),
        indices: () => tf.zerosLike(indices),
      };
    },
  });
}

/** Sets the tfjs backend for training; wasm gets the patches above. */
export async function setTrainBackend(name: TrainBackend): Promise<void> {
  if (name === 'wasm') {
    const file = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
    setWasmPaths(file.slice(0, file.lastIndexOf('/') + 1)); // the trailing slash matters
    if (!(await tf.setBackend('wasm'))) throw new Error('train-backend: the wasm backend failed to initialise');
    patchWasm();
  } else if (!(await tf.setBackend('cpu'))) {
    throw new Error('train-backend: the cpu backend failed to initialise');
  }
  await tf.ready();
}
