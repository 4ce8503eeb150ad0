// Measuring: adaptive repetitions within a time budget, a cap on a single run, tfjs memory and
// tensor-leak accounting, and the per-backend cell loop shared by the Node and browser runners.
// Runs in Node and in the browser page (no Node imports).
import * as tf from '@tensorflow/tfjs-core';
import { makeLogits, type LogitsShape } from './logits.js';
import type { MethodDef } from './methods.js';

export interface Cell {
  B: number;
  V: number;
  logits: LogitsShape;
}

export interface BenchOptions {
  /** Wall time per (cell, method) for the timed repetitions, after the warm-up run. */
  budgetMs: number;
  /**
   * A single run longer than this is reported as '>cap' (a first run between 1× and 2× the cap
   * gets a second try: it may be paying for compilation); so is a cell that a smaller cell of the
   * same series predicts above SKIP_FACTOR × the cap (skipped without running).
   */
  capMs: number;
  minReps: number;
  maxReps: number;
  /** Skip a cell without running it when a smaller cell of the same series predicts > SKIP_FACTOR × cap. */
  estimate: boolean;
}

export const DEFAULT_OPTIONS: BenchOptions = { budgetMs: 2000, capMs: 8000, minReps: 3, maxReps: 50, estimate: true };

/**
 * Predictions scale a smaller cell's time linearly in B·V. Measured on the software GPU
 * adapters they overestimate up to ≈2.5× (rows run in parallel), so only predictions above
 * 4 × cap skip a cell; anything closer is run and judged by its own warm-up.
 */
export const SKIP_FACTOR = 4;

export type Status = 'ok' | 'cap' | 'error';

export interface Result extends Timing {
  runner: 'node' | 'browser';
  /** cpu, wasm, webgpu (Node); browser-webgl, browser-webgpu; js (plain JS in Node, no tfjs). */
  backend: string;
  B: number;
  V: number;
  logits: LogitsShape;
  method: string;
  /** For '>cap' cells skipped without running: the time predicted from a smaller cell. */
  estimateMs?: number;
  /** Peak tfjs-accounted bytes above the level before the call, during one step. */
  peakExtraBytes?: number;
  /** Tensors left allocated per step after the first (the method disposed what it returned). */
  leakedTensorsPerStep?: number;
  /** Tensors still allocated after all the runs of this (cell, method), caches included. */
  retainedTensors?: number;
  /** Sampler.lastPath after the run ('portable', 'fused:<backend>'), for our sampler. */
  path?: string;
}

/** One (cell, method)'s timing. */
export interface Timing {
  status: Status;
  /** Median of the timed repetitions (ms), warm-up excluded. */
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  reps: number;
  /** The warm-up run (first call: shader compilation, ORT session creation, …); for '>cap', the run that exceeded the cap. */
  firstMs?: number;
  error?: string;
}

/** One benchmark step. `run` does the work and the one read-back; `before` is untimed. */
export interface Runnable {
  run(): Promise<ArrayLike<number | bigint> | undefined>;
  before?(): void;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const now = (): number => performance.now();

/** Checks that a sampling method returned B token ids in [0, V). */
export function checkIds(out: ArrayLike<number | bigint>, cell: Cell): void {
  if (out.length !== cell.B) throw new Error(`returned ${out.length} ids, expected ${cell.B}`);
  for (let r = 0; r < out.length; r++) {
    const id = Number(out[r]);
    if (!Number.isInteger(id) || id < 0 || id >= cell.V) throw new Error(`row ${r}: id ${id} not in [0, ${cell.V})`);
  }
}

/**
 * Warm-up run, then timed runs until the budget is spent (at least `minReps` when that fits in
 * twice the budget, at most `maxReps`). A warm-up longer than the cap ends the measurement.
 * `onFirst` sees the warm-up's output (validation, memory accounting).
 */
export async function measure(step: Runnable, opts: BenchOptions, onFirst?: (out: ArrayLike<number | bigint> | undefined) => void): Promise<Timing> {
  try {
    step.before?.();
    let t0 = now();
    const out = await step.run();
    const firstMs = now() - t0;
    onFirst?.(out);
    if (firstMs > opts.capMs) {
      // Up to twice the cap, the first call may be paying for compilation (shaders, sessions):
      // the cap applies to a second run.
      if (firstMs > 2 * opts.capMs) return { status: 'cap', reps: 0, firstMs };
      step.before?.();
      t0 = now();
      await step.run();
      const againMs = now() - t0;
      if (againMs > opts.capMs) return { status: 'cap', reps: 0, firstMs: againMs };
    }
    const times: number[] = [];
    let spent = 0;
    for (;;) {
      const n = times.length;
      const mean = n > 0 ? spent / n : firstMs;
      const more = n < opts.maxReps && (spent < opts.budgetMs || (n < opts.minReps && spent + mean < 2 * opts.budgetMs));
      if (!more && n > 0) break;
      step.before?.();
      t0 = now();
      await step.run();
      const dt = now() - t0;
      times.push(dt);
      spent += dt;
    }
    return { status: 'ok', medianMs: median(times), minMs: Math.min(...times), maxMs: Math.max(...times), reps: times.length, firstMs };
  } catch (e) {
    return { status: 'error', reps: 0, error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * Peak tfjs-accounted bytes while `fn` runs: wraps the engine's trackTensor (every tensor a
 * kernel or tf.tensor() creates passes through it), so it works on every backend without
 * tf.profile's per-kernel timers (which read back synchronously where no GPU timer exists).
 */
async function peakBytesDuring<T>(fn: () => Promise<T>): Promise<{ value: T; peakExtra: number }> {
  type Info = { dataId: object; size: number; dtype: string };
  const engine = tf.engine() as unknown as {
    state: { tensorInfo: WeakMap<object, unknown> };
    trackTensor: (a: Info, ...rest: unknown[]) => unknown;
    disposeTensor: (a: Info) => unknown;
  };
  // Bytes of the data buffers created during the step: tfjs's numBytes counts a view (a reshape,
  // a [B, V] handle on the caller's logits) as a second copy of its buffer; here a tensor counts
  // only when its buffer is new, and stops counting when the buffer is freed.
  const mine = new Map<object, number>();
  let now = 0;
  let peak = 0;
  const own = { track: Object.hasOwn(engine, 'trackTensor'), dispose: Object.hasOwn(engine, 'disposeTensor') };
  const track = engine.trackTensor;
  const dispose = engine.disposeTensor;
  engine.trackTensor = function (this: typeof engine, a: Info, ...rest: unknown[]) {
    const fresh = !this.state.tensorInfo.has(a.dataId);
    const r = track.call(this, a, ...rest);
    if (fresh && a.dtype !== 'string' && a.dtype !== 'complex64') {
      const bytes = a.size * (a.dtype === 'bool' ? 1 : 4);
      mine.set(a.dataId, bytes);
      now += bytes;
      if (now > peak) peak = now;
    }
    return r;
  };
  engine.disposeTensor = function (this: typeof engine, a: Info) {
    const r = dispose.call(this, a);
    const bytes = mine.get(a.dataId);
    if (bytes !== undefined && !this.state.tensorInfo.has(a.dataId)) {
      mine.delete(a.dataId);
      now -= bytes;
    }
    return r;
  };
  try {
    const value = await fn();
    return { value, peakExtra: peak };
  } finally {
    if (own.track) engine.trackTensor = track;
    else delete (engine as { trackTensor?: unknown }).trackTensor;
    if (own.dispose) engine.disposeTensor = dispose;
    else delete (engine as { disposeTensor?: unknown }).disposeTensor;
  }
}

/** `measure` on the current tfjs backend, plus peak memory (warm-up step) and tensors leaked. */
export async function measureTensor(
  step: Runnable,
  cell: Cell,
  opts: BenchOptions,
  validate: boolean,
): Promise<Timing & { peakExtraBytes?: number; leakedTensorsPerStep?: number; retainedTensors?: number }> {
  const before = tf.memory().numTensors;
  let afterFirst = before;
  let peakExtraBytes: number | undefined;
  let runs = 0;
  const counted: Runnable = {
    run: async () => {
      runs++;
      if (runs > 1) return step.run();
      const { value, peakExtra } = await peakBytesDuring(() => step.run());
      peakExtraBytes = peakExtra;
      afterFirst = tf.memory().numTensors;
      return value;
    },
    ...(step.before ? { before: step.before } : {}),
  };
  const timing = await measure(counted, opts, (out) => {
    if (validate && out) checkIds(out, cell);
  });
  const after = tf.memory().numTensors;
  // Per step: growth after the first step (a one-time cache shows in retainedTensors only).
  const perStep = runs > 1 ? (after - afterFirst) / (runs - 1) : after - before;
  return {
    ...timing,
    ...(peakExtraBytes !== undefined ? { peakExtraBytes } : {}),
    ...(runs > 0 ? { leakedTensorsPerStep: perStep, retainedTensors: after - before } : {}),
  };
}

/** Predicts a run's time from the largest measured smaller cell of the same series (linear in B·V). */
export class Estimator {
  private seen = new Map<string, { size: number; ms: number }[]>();
  /** Only runs at least this long predict: below it fixed overheads dominate. */
  constructor(private minMs = 100) {}
  record(series: string, cell: Cell, ms: number | undefined): void {
    if (ms === undefined || ms < this.minMs) return;
    const list = this.seen.get(series) ?? [];
    list.push({ size: cell.B * cell.V, ms });
    this.seen.set(series, list);
  }
  predict(series: string, cell: Cell): number | undefined {
    const size = cell.B * cell.V;
    let best: { size: number; ms: number } | undefined;
    for (const s of this.seen.get(series) ?? []) if (s.size <= size && (!best || s.size > best.size)) best = s;
    return best ? (best.ms * size) / best.size : undefined;
  }
}

/** Cells in the order they are run: per logits shape, B then V ascending. */
export function cellsOf(batches: number[], vocabs: number[], shapes: LogitsShape[]): Cell[] {
  const cells: Cell[] = [];
  for (const logits of shapes)
    for (const B of [...batches].sort((a, b) => a - b)) for (const V of [...vocabs].sort((a, b) => a - b)) cells.push({ B, V, logits });
  return cells;
}

export interface BackendRun {
  runner: 'node' | 'browser';
  /** The tfjs backend name that tf.getBackend() must report. */
  tfBackend: string;
  /** The name results carry (browser-webgl, …). */
  label: string;
  cells: Cell[];
  methods: MethodDef[];
  opts: BenchOptions;
}

/**
 * Every (cell, method) of one tfjs backend: the logits tensor is made once per cell; each
 * method is set up, measured (time, memory, leaks), torn down. Results are reported as they come.
 */
export async function runBackend(run: BackendRun, report: (r: Result) => void | Promise<void>): Promise<Result[]> {
  const results: Result[] = [];
  const est = new Estimator();
  for (const cell of run.cells) {
    if (tf.getBackend() !== run.tfBackend) {
      throw new Error(`tf.getBackend() is ${tf.getBackend()}, expected ${run.tfBackend}`);
    }
    let x: tf.Tensor2D | undefined;
    for (const m of run.methods) {
      const base = { runner: run.runner, backend: run.label, B: cell.B, V: cell.V, logits: cell.logits, method: m.id } as const;
      const series = `${m.id}|${cell.logits}`;
      const predicted = run.opts.estimate ? est.predict(series, cell) : undefined;
      let result: Result;
      if (predicted !== undefined && predicted > SKIP_FACTOR * run.opts.capMs) {
        result = { ...base, status: 'cap', reps: 0, estimateMs: predicted };
      } else {
        x ??= tf.tensor2d(makeLogits(cell.logits, cell.B, cell.V), [cell.B, cell.V]);
        let path: string | undefined;
        try {
          const inst = m.tensor!(x, cell);
          const t = await measureTensor(inst, cell, run.opts, m.returnsIds);
          path = inst.path?.();
          inst.dispose?.();
          result = { ...base, ...t, ...(path !== undefined ? { path } : {}) };
        } catch (e) {
          result = { ...base, status: 'error', reps: 0, error: e instanceof Error ? e.message : String(e) };
        }
        est.record(series, cell, result.status === 'ok' ? result.medianMs : result.firstMs);
      }
      results.push(result);
      await report(result);
    }
    x?.dispose();
  }
  return results;
}
