import * as tf from '@tensorflow/tfjs-core';
import { builtin } from '../builtin.js';
import { SamplingError } from '../errors.js';
import { DRY_MAX_BREAKER, dryRowOf, dryWindowWidth, type DryRow, type DrySpec } from '../history-options.js';
import { dryPenaltyTable, referenceDry } from '../reference/dry.js';
import type { LogitsProcessor, SamplingState } from '../types.js';
import type { DryWindow } from '../history.js';
import { dryKernel, editKernelsAvailable, jsKernelsAvailable } from '../backends/js-kernels.js';
import { DRY_WEBGPU_KERNEL } from '../backends/webgpu/dry.js';
import { hasKernels } from '../backends/registry.js';
import { dryRule } from '../dry-rule.js';
import { DeviceCache, column, maskWhere, withLogits } from './ops.js';
import { rowScatterAdd } from '../backends/webgl-scatter.js';

/**
 * "No breaker here" in the breaker keys: above every key (< 2^22: N ≤ 65536, 64 slots per
 * position) and small enough that key − NO_KEY stays an exact float32 integer.
 */
const NO_KEY = 2 ** 23;

/**
 * DRY, "Don't Repeat Yourself" (llama.cpp `dry`, from koboldcpp; the scheme of p-e-w): a token
 * that would extend a repeat of the history's end — the last n tokens occurred before and were
 * followed by this token — loses `multiplier · base^(n − allowedLength)` from its logit, n the
 * longest such repeat (n ≥ allowedLength; the exponent clamped as llama.cpp does). The newest
 * sequence breaker caps n; one-token breakers are never penalised.
 *
 * Reads the window the sampler keeps on the device (`tokens.dryWindow()`: the last N tokens, per
 * lag the suffix-match length, per column the previous occurrence of its token; all updated in
 * O(B·N) by each accept), so nothing is uploaded or read back: on cpu and wasm one typed-array
 * pass; elsewhere tfjs ops on `[B, N]` — the repeat lengths, the breaker limit, ⌈log₂ N⌉ rounds
 * of pointer jumping for the longest repeat per token — then one scatter of the penalties into
 * `[B, V]` and one subtraction. N is fixed per sampler (no new shapes per step).
 *
 * @example
 * createSampler({ dry: { multiplier: 0.8, base: 1.75, allowedLength: 2, sequenceBreakers: [[13]] } });
 */
export function dry(spec: DrySpec, includePrompt: boolean): LogitsProcessor {
  const N = dryWindowWidth(spec);
  const cache = new DeviceCache();
  return builtin({
    name: 'dry',
    apply(state: SamplingState): SamplingState {
      const tokens = state.tokens;
      if (!tokens) throw new SamplingError('dry', "must run in a sampler's chain (it reads the sampler's token history)", undefined);
      const { batch: B, vocab: V } = state;
      const rows = Array.from({ length: B }, (_, r) => dryRowOf(spec, r));
      const lengths = includePrompt ? tokens.lengths : tokens.generated;
      const m = rows.map((p, r) => (p ? Math.min(lengths[r]!, p.window) : 0));
      // Host-known: no row has more tokens than it allows to repeat, nothing to penalise.
      if (rows.every((p, r) => !p || m[r]! <= p.allowedLength)) return state;
      const kernel = jsKernelsAvailable();
      const window = tokens.dryWindow(!kernel); // the one-pass kernel needs no occurrence links
      if (kernel) {
        const { tokens: w, matches } = window;
        return withLogits(
          state,
          dryKernel(
            state.logits,
            w,
            matches,
            rows.map((p, r) => (p ? { m: m[r]!, rule: dryRule(p) } : undefined)),
          ),
        );
      }
      if (B <= 65535 && editKernelsAvailable() && tf.getBackend() === 'webgpu' && hasKernels('dry', 'webgpu')) {
        const [table] = cache.get(`${B}:webgpu`, () => [webgpuTable(rows, N)]);
        const breakers = breakerWords(rows);
        const K = breakers.length / B;
        const params = new Int32Array(B * (3 + K));
        rows.forEach((p, r) => {
          if (p) params.set([m[r]!, p.allowedLength, 1], r * (3 + K));
          params.set(breakers.subarray(r * K, (r + 1) * K), r * (3 + K) + 3);
        });
        const rowParams = tf.tensor2d(params, [B, 3 + K], 'int32');
        const out = tf.engine().runKernel(DRY_WEBGPU_KERNEL, { logits: state.logits, ...window, table: table!, rows: rowParams }) as tf.Tensor2D;
        return withLogits(state, out);
      }
      const [table, banTable, single] = cache.get(`${B}x${V}`, () => deviceTables(rows, N, V));
      return withLogits(state, applyOnDevice(state.logits, window, rows, m, { table: table!, ban: banTable, single }));
    },
    reference: referenceDry(spec, includePrompt),
    reset: () => cache.dispose(),
  });
}

/**
 * Per row (B rows): the penalties for n = 0 … N (float32, `[B, N + 1]`; an overflowed penalty
 * is 0 there and 1 in the ban table, present only when some penalty overflows) and, when there
 * are one-token breakers, the `[B, V]` 0/1 table of them.
 */
function deviceTables(rows: readonly (DryRow | undefined)[], N: number, V: number): tf.Tensor[] {
  const B = rows.length;
  const table = new Float32Array(B * (N + 1));
  const ban = new Float32Array(B * (N + 1));
  const single = new Float32Array(B * V);
  rows.forEach((p, r) => {
    if (!p) return;
    dryPenaltyTable(p, N).forEach((v, n) => {
      if (v === Infinity) ban[r * (N + 1) + n] = 1;
      else table[r * (N + 1) + n] = v;
    });
    for (const b of p.breakers) if (b.length === 1) single[r * V + b[0]!] = 1;
  });
  const out: tf.Tensor[] = [tf.tensor2d(table, [B, N + 1])];
  out.push(ban.some((v) => v === 1) ? tf.tensor2d(ban, [B, N + 1]) : tf.zeros([0]));
  if (rows.some((p) => p?.breakers.some((b) => b.length === 1))) out.push(tf.tensor2d(single, [B, V]));
  return out;
}

/** webgpu: per row the penalties for n = 0 … N (float32 `[B, N + 1]`; +Infinity where a penalty overflows: a ban). */
function webgpuTable(rows: readonly (DryRow | undefined)[], N: number): tf.Tensor {
  const table = new Float32Array(rows.length * (N + 1));
  rows.forEach((p, r) => p && table.set(Float32Array.from(dryPenaltyTable(p, N)), r * (N + 1)));
  return tf.tensor2d(table, [rows.length, N + 1]);
}

/** Each row's sequence breakers, `B · K` int32: each breaker as its length then its tokens, a 0 after the last. */
function breakerWords(rows: readonly (DryRow | undefined)[]): Int32Array {
  const enc = rows.map((p) => [...(p?.breakers ?? []).flatMap((b) => [b.length, ...b]), 0]);
  const K = Math.max(...enc.map((e) => e.length));
  const out = new Int32Array(rows.length * K);
  enc.forEach((e, r) => out.set(e, r * K));
  return out;
}

/** `x[r, idx[r, j]]` for a `[B, n]` x and int32 `[B, k]` column indices (a flat gather: tfjs 8658). */
function gatherRows(x: tf.Tensor2D, idx: tf.Tensor2D): tf.Tensor2D {
  const [B, n] = x.shape as [number, number];
  const flat = tf.add(idx, tf.mul(tf.reshape(tf.range(0, B, 1, 'int32'), [B, 1]), tf.scalar(n, 'int32')));
  return tf.gather(tf.reshape<tf.Rank.R1>(x, [B * n]), flat) as tf.Tensor as tf.Tensor2D;
}

/** 1 where a == b (integer-valued float32 tensors), else 0. */
const same = (a: tf.Tensor, b: tf.Tensor): tf.Tensor => tf.step(tf.sub(0.5, tf.abs(tf.sub(a, b))));

/** The tfjs-op form of dryKernel (the same repeat lengths and float32 differences). */
function applyOnDevice(
  z: tf.Tensor2D,
  links: DryWindow,
  rows: readonly (DryRow | undefined)[],
  m: readonly number[],
  t: { table: tf.Tensor; ban: tf.Tensor | undefined; single: tf.Tensor | undefined },
): tf.Tensor2D {
  const [B, V] = z.shape;
  const { tokens: w, matches } = links;
  const N = w.shape[1];
  const col = tf.reshape(tf.range(0, N, 1, 'float32'), [1, N]);
  const lag = tf.sub(N, col); // column c holds lag N − c; its candidate is the token at c
  const mCol = column(m);
  const wf = tf.cast(w, 'float32');
  const valid = tf.mul(tf.step(tf.add(wf, 0.5)), tf.step(tf.sub(V - 0.5, wf))); // 0 ≤ token < V
  const safe = tf.cast(tf.mul(wf, valid), 'int32'); // -1 → 0 (its flags are multiplied by 0)
  const isSingle = t.single ? tf.mul(gatherRows(t.single as tf.Tensor2D, safe as tf.Tensor2D), valid) : undefined;

  // The repeat limit: the newest breaker head inside the window (distance d = N − 1 − c < m)
  // with its longest matching tail ℓ gives m' = d − ℓ; key d·64 + 63 − ℓ, the smallest wins.
  const dist = tf.sub(N - 1, col);
  const inWindow = tf.step(tf.sub(tf.add(col, 0.5), tf.sub(N, mCol))); // c ≥ N − m
  let key: tf.Tensor | undefined;
  const addKeys = (hit: tf.Tensor, tail: number): void => {
    const k = tf.add(tf.mul(hit, tf.sub(tf.add(tf.mul(dist, 64), 63 - tail), NO_KEY)), NO_KEY); // hit ? key : NO_KEY
    key = key ? tf.minimum(key, k) : k;
  };
  if (isSingle) addKeys(tf.mul(isSingle, inWindow), 0);
  const multi = new Map<string, { seq: readonly number[]; rows: number[] }>();
  rows.forEach((p, r) =>
    p?.breakers.forEach((b) => {
      if (b.length < 2) return;
      const e = multi.get(b.join()) ?? { seq: b, rows: rows.map(() => 0) };
      e.rows[r] = 1;
      multi.set(b.join(), e);
    }),
  );
  for (const { seq, rows: on } of multi.values()) {
    const tail = seq.length - 1;
    if (tail >= N || tail >= DRY_MAX_BREAKER) continue; // the head must have its tail after it
    let hit: tf.Tensor = tf.ones([B, N - tail]);
    seq.forEach((tok, o) => (hit = tf.mul(hit, same(tf.slice(wf, [0, o], [B, N - tail]), tf.scalar(tok)))));
    const padded = tf.pad(hit, [
      [0, 0],
      [0, tail],
    ]);
    addKeys(tf.mul(tf.mul(padded, inWindow), column(on)), tail);
  }
  let limit: tf.Tensor = mCol;
  if (key) {
    const first = tf.min(key, 1, true); // identity-safe: keys ≤ 2^23, below webgl's 1e20 start
    const d = tf.floor(tf.div(first, 64));
    const rep = tf.sub(d, tf.sub(63, tf.sub(first, tf.mul(d, 64))));
    const found = tf.step(tf.sub(NO_KEY - 0.5, first));
    limit = tf.add(tf.mul(found, tf.sub(rep, mCol)), mCol);
  }

  // Repeat length per lag: min(matches, m − k, limit); kept when k ≤ m − 1 and n ≥ allowedLength.
  const A = column(rows.map((p) => p?.allowedLength ?? 0));
  const n = tf.minimum(tf.minimum(tf.cast(matches, 'float32'), tf.sub(mCol, lag)), limit);
  let keep = tf.mul(tf.mul(tf.step(tf.sub(tf.sub(mCol, lag), 0.5)), tf.step(tf.sub(tf.add(n, 0.5), A))), valid);
  if (isSingle) keep = tf.mul(keep, tf.sub(1, isSingle));
  const nk = tf.sub(tf.mul(keep, tf.add(n, 1)), 1); // n where kept, −1 elsewhere

  // The longest repeat per token: each column links to the previous occurrence of its token
  // (kept with the window); ⌈log₂ N⌉ rounds of pointer jumping take the max along each chain,
  // and the token's latest occurrence (no later one) carries it. No sort.
  const rowStart = tf.mul(tf.reshape(tf.range(0, B, 1, 'int32'), [B, 1]), tf.scalar(N, 'int32'));
  const cols = tf.reshape(tf.range(0, N, 1, 'int32'), [1, N]);
  const none = tf.cast(tf.less(links.previous, 0), 'int32'); // no previous occurrence: links to itself
  let ptr = tf.reshape(tf.add(rowStart, tf.add(links.previous, tf.mul(none, tf.add(cols, tf.scalar(1, 'int32'))))), [B * N]);
  let best = tf.reshape(nk, [B * N]);
  for (let reach = 1; reach < N; reach *= 2) {
    best = tf.maximum(best, tf.gather(best, ptr));
    if (reach * 2 < N) ptr = tf.gather(ptr, ptr);
  }
  best = tf.reshape(best, [B, N]);
  const last = tf.mul(tf.sub(1, tf.cast(links.later, 'float32')), tf.step(tf.add(best, 0.5)));
  const at = tf.cast(tf.maximum(best, 0), 'int32') as tf.Tensor2D;
  // One value per token (its latest column): rowScatterAdd is exact, and linear on webgl too.
  const scatter = (values: tf.Tensor): tf.Tensor2D => rowScatterAdd(w as tf.Tensor2D, tf.mul(values, last) as tf.Tensor2D, V);
  let out: tf.Tensor = tf.sub(z, scatter(gatherRows(t.table as tf.Tensor2D, at)));
  if (t.ban && t.ban.size > 0) out = maskWhere(out, tf.step(tf.sub(scatter(gatherRows(t.ban as tf.Tensor2D, at)), 0.5)));
  return out as tf.Tensor2D;
}
