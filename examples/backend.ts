// Picks the best tfjs backend available in Node for the examples: wasm, else cpu.
// (A proper backend selector will live in the library later; this stays small on purpose.)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface PickedBackend {
  /** What `tf.getBackend()` reports after the switch. */
  name: 'wasm' | 'cpu';
  /** Why this backend, in words. */
  reason: string;
}

/**
 * Switches tfjs to wasm if it initialises, else to cpu, and checks `tf.getBackend()` (a failed
 * wasm init otherwise falls back to cpu silently). `TFJS_SAMPLING_BACKEND=cpu` (or `wasm`)
 * forces one.
 */
export async function pickBackend(): Promise<PickedBackend> {
  const forced = process.env.TFJS_SAMPLING_BACKEND;
  if (forced !== undefined && forced !== 'cpu' && forced !== 'wasm') {
    throw new Error(`TFJS_SAMPLING_BACKEND must be "cpu" or "wasm", but is ${JSON.stringify(forced)}`);
  }
  let why = `TFJS_SAMPLING_BACKEND=${forced}`;
  if (forced !== 'cpu') {
    try {
      const require = createRequire(import.meta.url);
      const wasmFile = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm');
      setWasmPaths(path.dirname(wasmFile) + '/'); // the trailing slash matters
      const ok = await withNodeErrorHandling(() => tf.setBackend('wasm'));
      if (ok && tf.getBackend() === 'wasm') {
        await tf.ready();
        return { name: 'wasm', reason: forced ? why : 'initialised; faster than the plain-JS cpu backend' };
      }
      why = `wasm did not initialise (setBackend('wasm') returned ${ok}, tf.getBackend() = ${tf.getBackend()})`;
    } catch (err) {
      why = `wasm did not initialise: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (forced === 'wasm') throw new Error(why);
  }
  if (!(await tf.setBackend('cpu')) || tf.getBackend() !== 'cpu') {
    throw new Error(`neither wasm nor cpu initialised (${why})`);
  }
  await tf.ready();
  return { name: 'cpu', reason: why };
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
