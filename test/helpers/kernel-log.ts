// Which kernels a piece of code runs, recorded at the engine (tf.engine().runKernel): the tests
// that prove a path runs no sort or mask over a whole row.
import * as tf from '@tensorflow/tfjs-core';

/** What {@link kernelLog} recorded. */
export interface KernelLog<T> {
  value: T;
  /** Every kernel run, in order (`name:count` for the threshold draw's counting variant). */
  names: string[];
  /** The kernels that took an input of at least `wide` elements. */
  wide: string[];
}

/** Runs `f` and records the kernels it runs; the engine is restored even when `f` throws. */
export async function kernelLog<T>(f: () => Promise<T> | T, wide = Number.POSITIVE_INFINITY): Promise<KernelLog<T>> {
  const engine = tf.engine();
  const run = engine.runKernel.bind(engine);
  const names: string[] = [];
  const wideNames: string[] = [];
  engine.runKernel = ((name: string, inputs: tf.NamedTensorMap, attrs?: Record<string, unknown>) => {
    names.push(attrs?.count ? `${name}:count` : name);
    if (Object.values(inputs).some((t) => t.size >= wide)) wideNames.push(name);
    return (run as (...a: unknown[]) => unknown)(name, inputs, attrs);
  }) as typeof engine.runKernel;
  try {
    return { value: await f(), names, wide: wideNames };
  } finally {
    engine.runKernel = run;
  }
}
