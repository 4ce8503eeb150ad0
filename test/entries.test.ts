// The package entries: `tfjs-sampling/core` carries no backend kernels and `tfjs-sampling/<backend>`
// adds one backend's (src/backends/registry.ts). Each configuration runs in a fresh process
// (test/fixtures/entry-probe.ts), since the registry lives in the module graph: with core alone
// cpu and wasm run the portable path; an entry switches its backend to the fused kernel and the
// edit kernels and leaves the other backend portable; the tokens are the same in every
// configuration, and no call leaves a tensor behind. (The GPU entries' contents are checked by
// bench/bundle.ts, which builds them, in bench:smoke.)
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '..');

interface Run {
  ids: number[];
  path: string;
}
type Probe = { kernelBackends: string[] } & Record<string, Run | number | boolean | string[]>;

function probe(...entries: string[]): Probe {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/fixtures/entry-probe.ts', ...entries], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Probe;
}

describe('package entries', () => {
  it('core alone runs the portable path; each backend entry brings its own kernels only; the tokens never change', { timeout: 120_000 }, () => {
    const core = probe();
    const cpu = probe('cpu');
    const wasm = probe('wasm');
    const all = probe('index');
    expect(core.kernelBackends).toEqual([]);
    expect(cpu.kernelBackends).toEqual(['cpu']);
    expect(wasm.kernelBackends).toEqual(['wasm']);
    expect(all.kernelBackends).toEqual(['cpu', 'wasm', 'webgl', 'webgpu']);
    const runs = { core, cpu, wasm, all };
    for (const [config, p] of Object.entries(runs)) {
      for (const backend of ['cpu', 'wasm']) {
        const entry = config === 'all' || config === backend;
        expect(p[`${backend}:edits`], `${config} ${backend}: edit kernels`).toBe(entry);
        expect(p[`${backend}:leaked`], `${config} ${backend}: tensors left`).toBe(0);
        for (const chain of ['chain', 'penalties']) {
          const run = p[`${backend}:${chain}`] as Run;
          expect(run.path, `${config} ${backend} ${chain}`).toBe(entry ? `fused:${backend}` : 'portable');
          expect(run.ids, `${config} ${backend} ${chain}: tokens`).toEqual((core[`cpu:${chain}`] as Run).ids);
        }
      }
    }
  });
});
