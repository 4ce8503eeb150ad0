// Why the default draw is Gumbel-max: how often each mechanism, run on tensors in float32,
// disagrees with the same mechanism in float64 for the same random numbers.
//   npx tsx bench/draw-choice.ts [backend]      (default: wasm)
import * as tf from '@tensorflow/tfjs-core';
import { createSampler, reference, stepKey, rowKey, uniform } from '../src/index.js';
import { useBackend } from '../test/helpers/backend.js';
import { flatten, makeRows, type Shape } from '../test/helpers/logits.js';

const backend = process.argv[2] ?? 'wasm';
await useBackend(backend);

function inverseCdfReference(rows: Float32Array[], us: number[]): number[] {
  return rows.map((row, r) => {
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    const e = Array.from(row, (v) => Math.exp(v - max));
    let total = 0;
    for (const v of e) total += v;
    const target = us[r]! * total;
    let c = 0;
    for (let j = 0; j < e.length; j++) {
      c += e[j]!;
      if (c > target) return j;
    }
    return e.length - 1;
  });
}

async function inverseCdfTensor(rows: Float32Array[], us: number[]): Promise<Int32Array> {
  const B = rows.length;
  const V = rows[0]!.length;
  const ids = tf.tidy(() => {
    const x = tf.tensor2d(flatten(rows), [B, V]);
    const e = tf.exp(tf.sub(x, tf.max(x, 1, true)));
    const c = tf.cumsum(e, 1);
    const target = tf.mul(tf.tensor2d(us, [B, 1]), tf.slice(c, [0, V - 1], [B, 1]));
    // smallest j with C_j > target = number of j with C_j <= target
    return tf.cast(tf.sum(tf.sub(1, tf.step(tf.sub(c, target))), 1), 'int32');
  });
  const out = (await ids.data()) as Int32Array;
  ids.dispose();
  return out;
}

const lines: string[] = [];
for (const V of [32000, 128256]) {
  for (const shape of ['flat', 'peaky'] as Shape[]) {
    const B = V > 100000 ? 100 : 200;
    const rows = makeRows(shape, B, V, 'draw-choice');
    const us = rows.map((_, r) => uniform(stepKey(rowKey(1, r), 0), 0));
    const inv = await inverseCdfTensor(rows, us);
    const invRef = inverseCdfReference(rows, us);
    const invDiff = invRef.filter((t, r) => t !== inv[r]).length;
    const x = tf.tensor2d(flatten(rows), [B, V]);
    const g = await createSampler({ seed: 1 }).sampleIds(x);
    x.dispose();
    const gRef = reference.sample(rows, { seed: 1 });
    const gDiff = gRef.filter((t, r) => t !== g[r]).length;
    lines.push(`| ${V} | ${shape} | ${B} | ${invDiff} (${((100 * invDiff) / B).toFixed(1)}%) | ${gDiff} (${((100 * gDiff) / B).toFixed(1)}%) |`);
  }
}
console.log(`backend: ${tf.getBackend()} (no truncation, temperature 1)`);
console.log('| V | logits | rows | inverse CDF (float32 cumsum) ≠ float64 | Gumbel-max ≠ reference |');
console.log('|---|---|---|---|---|');
for (const l of lines) console.log(l);
