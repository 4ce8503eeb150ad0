import * as tf from '@tensorflow/tfjs-core';
import { isBuiltinProcessor } from './builtin.js';
import { Described, SamplingError } from './errors.js';
import { isTensor } from './logits.js';
import { freshLogits } from './processors/ops.js';
import type { NormalizedOptions } from './options.js';
import { minPOf } from './processors/min-p.js';
import { temperatureOfRows } from './processors/temperature.js';
import { topKOf } from './processors/top-k.js';
import { topPOf } from './processors/top-p.js';
import { topNSigmaOf } from './processors/top-n-sigma.js';
import { epsilonCutoffOf } from './processors/epsilon-cutoff.js';
import { etaCutoffOf } from './processors/eta-cutoff.js';
import { typicalPOf } from './processors/typical-p.js';
import { xtcOfRows } from './processors/xtc.js';
import { mirostatOfRows } from './processors/mirostat.js';
import type { LogitsProcessor, SamplingState } from './types.js';

export { isBuiltinProcessor };

/**
 * Tensor processors for the enabled built-ins, in order. They read their rows from the options'
 * plan sources (plan.ts): the arrays the fused paths read, resolved once per batch size.
 */
export function builtinProcessors(opts: NormalizedOptions): LogitsProcessor[] {
  const src = opts.sources;
  return opts.builtins.map(({ name, value, minKeep = 1, dynamic, xtc, mirostat }) => {
    const rows = { value: src.value[name], minKeep: src.minKeep };
    switch (name) {
      case 'temperature':
        return temperatureOfRows(value, dynamic, { T: rows.value, dynamic: dynamic && src.dynamic });
      case 'top-k':
        return topKOf(value, minKeep, rows);
      case 'top-p':
        return topPOf(value, minKeep, rows);
      case 'min-p':
        return minPOf(value, minKeep, rows);
      case 'top-n-sigma':
        return topNSigmaOf(value, rows.value);
      case 'typical-p':
        return typicalPOf(value, minKeep, rows);
      case 'epsilon-cutoff':
        return epsilonCutoffOf(value, minKeep, rows);
      case 'eta-cutoff':
        return etaCutoffOf(value, minKeep, rows);
      case 'xtc':
        return xtcOfRows(xtc!, minKeep, { xtc: src.xtc!, minKeep: src.minKeep });
      case 'mirostat':
        return mirostatOfRows(mirostat!, undefined, src.mirostat);
    }
  });
}

/** A chain's result: the final state, and per row whether a user processor made NaN / +Infinity. */
export interface ChainResult {
  state: SamplingState;
  /** bool `[B]`: some user processor returned NaN in the row (undefined: no user processor). */
  madeNaN?: tf.Tensor1D;
  /** bool `[B]`: some user processor returned +Infinity in the row. */
  madeInf?: tf.Tensor1D;
}

/**
 * Runs processors in order (inside the caller's tf.tidy). After each user processor (anything
 * the built-in factories did not make, whatever its name) the chain checks what it returned,
 * and records the rows it made NaN or +Infinity — right there, because a
 * later filter may mask such a value away and hide it from the invalid-row rule.
 */
let running: { processors: readonly LogitsProcessor[]; at: number } | undefined;

/**
 * While a chain runs a processor's `apply`: the processor after it in that chain (a built-in may
 * do its successor's work in the same pass, which the successor then skips); undefined outside a
 * chain (a processor applied on its own does only its own work).
 */
export function nextInChain(): LogitsProcessor | undefined {
  return running ? running.processors[running.at + 1] : undefined;
}

export function runChain(processors: readonly LogitsProcessor[], state: SamplingState): ChainResult {
  const outer = running;
  try {
    return runChainIn(processors, state);
  } finally {
    running = outer;
  }
}

function runChainIn(processors: readonly LogitsProcessor[], state: SamplingState): ChainResult {
  let s = state;
  freshLogits.delete(s.logits); // the caller's tensor is never fresh
  let madeNaN: tf.Tensor1D | undefined;
  let madeInf: tf.Tensor1D | undefined;
  processors.forEach((p, i) => {
    const builtin = isBuiltinProcessor(p);
    if (!builtin) freshLogits.delete(s.logits); // a user processor may keep what it sees
    running = { processors, at: i };
    const next = p.apply(s);
    running = undefined;
    if (builtin) {
      s = next;
      return;
    }
    if (isTensor((next as SamplingState | undefined)?.logits)) freshLogits.delete(next.logits);
    checkOutput(next, s, i, p.name);
    // A new object: no sort hint of a built-in survives a user processor.
    s = next === s ? next : { ...next };
    const nan = tf.any(tf.isNaN(s.logits), 1) as tf.Tensor1D;
    const inf = tf.any(tf.equal(s.logits, Infinity), 1) as tf.Tensor1D;
    madeNaN = madeNaN ? (tf.logicalOr(madeNaN, nan) as tf.Tensor1D) : nan;
    madeInf = madeInf ? (tf.logicalOr(madeInf, inf) as tf.Tensor1D) : inf;
  });
  freshLogits.delete(s.logits); // what leaves the chain may reach the caller
  return { state: s, ...(madeNaN ? { madeNaN } : {}), ...(madeInf ? { madeInf } : {}) };
}

function checkOutput(next: unknown, before: SamplingState, i: number, name: string): void {
  const n = next as SamplingState;
  const ok =
    typeof n === 'object' &&
    n !== null &&
    isTensor(n.logits) &&
    !n.logits.isDisposed &&
    n.logits.dtype === 'float32' &&
    n.logits.rank === 2 &&
    n.logits.shape[0] === before.batch &&
    n.logits.shape[1] === before.vocab &&
    n.batch === before.batch &&
    n.vocab === before.vocab &&
    n.invTemperature?.length === before.batch;
  if (ok) return;
  const what =
    typeof n !== 'object' || n === null
      ? String(n)
      : isTensor(n.logits)
        ? `logits ${n.logits.isDisposed ? 'disposed' : `${n.logits.dtype} [${n.logits.shape.join(', ')}]`}`
        : `an object without a logits tensor`;
  throw new SamplingError(
    `processors[${i}]`,
    `(${JSON.stringify(name)}) must return a SamplingState with live float32 logits [${before.batch}, ${before.vocab}] and the same batch, vocab and invTemperature length`,
    new Described(what),
  );
}
