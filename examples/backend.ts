// Picks the best tfjs backend for the examples with the library's selectBackend(): in Node
// tensorflow (if @tensorflow/tfjs-node is installed), webgpu (a hardware adapter), wasm, cpu.
// TFJS_SAMPLING_BACKEND=<name> forces one.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { selectBackend } from 'tfjs-sampling';

export interface PickedBackend {
  /** What `tf.getBackend()` reports after the switch. */
  name: string;
  /** Why this backend, and why not the better ones, in words. */
  reason: string;
}

export async function pickBackend(): Promise<PickedBackend> {
  process.env.XDG_RUNTIME_DIR ??= '/tmp'; // Dawn's Vulkan probe complains without it
  const forced = process.env.TFJS_SAMPLING_BACKEND;
  const choice = await withNodeErrorHandling(() => selectBackend(forced ? { candidates: [forced], allowSoftwareGpu: true } : {}));
  if (tf.getBackend() !== choice.name) throw new Error(`backend ${choice.name} did not stay active`);
  const skipped = choice.attempts.filter((a) => !a.ok).map((a) => `${a.name}: ${a.why}`);
  return { name: choice.name, reason: forced ? `TFJS_SAMPLING_BACKEND=${forced}` : skipped.length ? `not ${skipped.join('; not ')}` : 'the first choice' };
}

/**
 * The wasm module installs `uncaughtException` / `unhandledRejection` listeners that rethrow,
 * so a crash is reported at a line of its minified source. Dropping them restores Node's own
 * report (the process still exits non-zero).
 */
async function withNodeErrorHandling<T>(init: () => Promise<T>): Promise<T> {
  const emitter: NodeJS.EventEmitter = process;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = events.map((e) => new Set(emitter.listeners(e)));
  try {
    return await init();
  } finally {
    events.forEach((e, i) => {
      for (const l of emitter.listeners(e)) {
        if (!before[i]!.has(l)) emitter.removeListener(e, l as (...args: unknown[]) => void);
      }
    });
  }
}
