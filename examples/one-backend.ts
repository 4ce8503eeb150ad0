// An app that runs one backend ships only that backend's kernels: the API from
// `tfjs-sampling/core`, the kernels from `tfjs-sampling/wasm`. The cpu backend, whose entry is not
// imported, runs the portable tfjs-op path: the same tokens, slower. (This process imports nothing
// else of the library: `npm run examples` runs each example in its own process.)
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createSampler, kernelBackends, selectBackend } from 'tfjs-sampling/core';
import 'tfjs-sampling/wasm';

const options = { temperature: 0.8, topK: 40, topP: 0.95, seed: 42 };
const rows = Array.from({ length: 4 }, (_, r) => Array.from({ length: 5000 }, (_, j) => Math.sin(j * 0.37 + r) * 3));
console.log('kernels in this bundle:', kernelBackends().join(', '));

const runs: Record<string, { path: string; ids: number[] }> = {};
for (const name of ['wasm', 'cpu']) {
  await selectBackend({ candidates: [name] });
  const logits = tf.tensor2d(rows);
  const sampler = createSampler(options);
  const ids = Array.from(await sampler.sampleIds(logits));
  runs[name] = { path: sampler.lastPath, ids };
  console.log(`${name}: ${sampler.lastPath.padEnd(10)} tokens ${ids.join(' ')}`);
  sampler.dispose();
  logits.dispose();
}
if (runs.wasm!.path !== 'fused:wasm' || runs.cpu!.path !== 'portable') throw new Error('unexpected paths');
if (runs.wasm!.ids.join() !== runs.cpu!.ids.join()) throw new Error('the tokens differ between the paths');
