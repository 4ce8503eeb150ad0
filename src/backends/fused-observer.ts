// Test hook, not public API (not exported from src/index.ts): what the fused paths decide. Every
// built-in filter keeps a top segment of its row in logit order (ties kept), so a row's kept set
// is fixed by its size; the fused paths report that size per row to an observer, and tests
// compare it with the finite entries of reference.process. With no observer set (always, outside
// tests) the paths only test a module variable: no extra pass, kernel or read-back.
//
// counts[r], what each path reports:
//   ordinary rows  the number of tokens the draw may pick: those passing the draw's own
//                  predicate (cpu/wasm: z ≥ threshold, -Infinity never; SIMD: the float32
//                  threshold handed to the module's draw, over the candidates it scans; GPU: the
//                  threshold-draw kernel's keep test, same code string, same per-row parameters);
//   greedy rows    (T = 0) the number of tokens tied at the row's maximum, of which the draw
//                  returns the lowest index (the reference's kept tokens equal to its maximum);
//   invalid rows   (NaN, +Infinity, nothing finite) -1.
import * as tf from '@tensorflow/tfjs-core';

/** One fused sampling call, as the observer sees it. */
export interface FusedKeptEvent {
  /** The sampler's `lastPath` for this call: `fused:cpu`, `fused:wasm`, `fused:webgl`, `fused:webgpu`. */
  path: string;
  /** The kernel that decided: `js` (typed-array kernel), `simd` (WebAssembly SIMD), `gpu-chain`. */
  kernel: 'js' | 'simd' | 'gpu-chain';
  /** Kept count per row (see above); a promise on GPU backends (an asynchronous read-back). */
  counts: Int32Array | Promise<Int32Array>;
  /** cpu / wasm: whether the history processors' sparse row editor ran inside the kernel. */
  edited?: boolean;
}

export type FusedObserver = (event: FusedKeptEvent) => void;

let observer: FusedObserver | undefined;

/** Sets (or with `undefined` clears) the observer of the fused paths. Tests only. */
export function setFusedObserver(fn: FusedObserver | undefined): void {
  observer = fn;
}

/** The observer, or undefined (the fused paths skip all reporting work then). */
export function fusedObserver(): FusedObserver | undefined {
  return observer;
}

/**
 * The kept counts in an int32 `[B]` tensor made inside a tidy (GPU paths): kept past it, read
 * asynchronously, then disposed. Only ever called when an observer is set.
 */
export function readKeptCounts(counts: tf.Tensor): Promise<Int32Array> {
  const t = tf.keep(counts);
  return t.data().then(
    (d) => {
      t.dispose();
      return Int32Array.from(d as Int32Array);
    },
    (err: unknown) => {
      t.dispose();
      throw err;
    },
  );
}
