// Counts read-backs where they happen: at the active backend instance (tf.backend()), not at the
// engine. Kernels call `backend.readSync` directly (webgl's tf.topk hand-off does), so a spy on
// tf.engine() cannot see those reads; wrapping the instance's own methods sees every one.
import * as tf from '@tensorflow/tfjs-core';

export type ReadMethod = 'readSync' | 'read' | 'readToGPU';
const METHODS: readonly ReadMethod[] = ['readSync', 'read', 'readToGPU'];

export interface ReadEvent {
  method: ReadMethod;
  /** Shape of the tensor read, where the engine knows it (kernel inputs and user tensors). */
  shape: number[] | undefined;
  /**
   * True when the values were only on the device (webgl texture, webgpu buffer) and the call had
   * to download them; false when a host copy existed (cpu, wasm, or a tensor not yet uploaded).
   * readToGPU never downloads (it copies on the device).
   */
  download: boolean;
  /** Made by a kernel while it runs (engine kernel depth > 0), not by a dataSync / data() call. */
  inKernel: boolean;
}

interface BackendInternals {
  texData?: { get(id: object): { values?: unknown } | undefined };
  tensorMap?: { get(id: object): { values?: unknown } | undefined };
}

function onDeviceOnly(backend: BackendInternals, dataId: object): boolean {
  const store = backend.texData ?? backend.tensorMap; // webgl ?? webgpu
  if (!store) return false;
  return store.get(dataId)?.values == null;
}

interface EngineState {
  state: { kernelDepth: number; tensorInfo: { get(id: object): { shape: number[] } | undefined } };
}

function shapeOf(dataId: object): number[] | undefined {
  return (tf.engine() as unknown as EngineState).state.tensorInfo.get(dataId)?.shape.slice();
}

function inKernel(): boolean {
  return (tf.engine() as unknown as EngineState).state.kernelDepth > 0;
}

/**
 * Wraps `readSync`, `read` and `readToGPU` of the active backend instance and records each
 * outermost call (a backend method calling another — cpu's `read` calls `readSync` — counts
 * once). Call `stop()` to unwrap; the events stay readable.
 */
export function startCounting(): { events: ReadEvent[]; stop: () => void } {
  const backend = tf.backend() as unknown as Record<string, unknown> & BackendInternals;
  const events: ReadEvent[] = [];
  let depth = 0;
  const restore: Array<() => void> = [];
  for (const method of METHODS) {
    const original = backend[method];
    if (typeof original !== 'function') continue;
    const own = Object.hasOwn(backend, method);
    backend[method] = function (this: unknown, ...args: unknown[]): unknown {
      const dataId = args[0] as object;
      if (depth === 0) {
        events.push({ method, shape: shapeOf(dataId), download: method !== 'readToGPU' && onDeviceOnly(backend, dataId), inKernel: inKernel() });
      }
      depth++;
      try {
        // The synchronous part of an async `read` runs here; nested calls made later (after an
        // await) by the backend itself are rare and would count as extra reads (never fewer).
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      } finally {
        depth--;
      }
    };
    restore.push(() => {
      if (own) backend[method] = original;
      else delete backend[method];
    });
  }
  let stopped = false;
  return {
    events,
    stop: () => {
      if (stopped) return;
      stopped = true;
      restore.forEach((r) => r());
    },
  };
}

/** Runs `f` and returns its result with the reads the active backend saw during it. */
export function countReads<T>(f: () => T): { result: T; reads: ReadEvent[] } {
  const counter = startCounting();
  try {
    return { result: f(), reads: counter.events };
  } finally {
    counter.stop();
  }
}

/** `countReads` for an async region (counts until the promise settles). */
export async function countReadsAsync<T>(f: () => Promise<T>): Promise<{ result: T; reads: ReadEvent[] }> {
  const counter = startCounting();
  try {
    return { result: await f(), reads: counter.events };
  } finally {
    counter.stop();
  }
}

/**
 * The reads that are read-backs: a download of device-only data (webgl, webgpu; inside a kernel
 * or not), or a synchronisation with the host outside any kernel (dataSync / data() by the
 * library or the user, on any backend). What remains is a host backend's kernel reading its own
 * memory (cpu kernels go through `backend.bufferSync` → `readSync`): no data moves, nothing waits.
 */
export function readBacks(reads: readonly ReadEvent[]): ReadEvent[] {
  return reads.filter((r) => r.download || !r.inKernel);
}

/** One line per read, for assertion messages: `readSync [2,128256] download in-kernel`. */
export function describeReads(reads: readonly ReadEvent[]): string {
  return reads.map((r) => `${r.method} [${r.shape?.join(',') ?? '?'}]${r.download ? ' download' : ''}${r.inKernel ? ' in-kernel' : ''}`).join('; ') || 'none';
}
