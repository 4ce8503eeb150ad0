// Which backends this machine can run, and why the others are skipped. Used by vitest.config.ts.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Headless Chromium with WebGL2 and WebGPU on SwiftShader, no background network traffic. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--ignore-gpu-blocklist',
  '--enable-unsafe-webgpu',
];
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface Probe {
  name: string;
  ok: boolean;
  why?: string;
}

function resolvable(pkg: string): boolean {
  try {
    require.resolve(pkg);
    return true;
  } catch {
    return false;
  }
}

function probeWebgpuNode(): Probe {
  const name = 'webgpu (Node, Dawn)';
  if (!resolvable('webgpu')) return { name, ok: false, why: 'npm package `webgpu` is not installed (npm ci)' };
  if (!existsSync(SWIFTSHADER_ICD)) {
    return { name, ok: false, why: `no SwiftShader Vulkan driver at ${SWIFTSHADER_ICD}; apt-get install chromium` };
  }
  const script =
    "const {create,globals}=await import('webgpu');Object.assign(globalThis,globals);" + 'const a=await create([]).requestAdapter();process.exit(a?0:3);';
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (r.status === 0) return { name, ok: true };
  const out = `${r.stderr ?? ''}${r.stdout ?? ''}`;
  if (out.includes('libvulkan.so.1')) {
    return { name, ok: false, why: 'no Vulkan loader (libvulkan.so.1); apt-get install libvulkan1' };
  }
  return { name, ok: false, why: `Dawn found no WebGPU adapter (exit ${r.status}): ${out.trim().split('\n').slice(-2).join(' ')}` };
}

export function probeAll(): Record<'cpu' | 'wasm' | 'webgpu' | 'tensorflow' | 'browser', Probe> {
  return {
    cpu: { name: 'cpu', ok: true },
    wasm: resolvable('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')
      ? { name: 'wasm', ok: true }
      : { name: 'wasm', ok: false, why: '@tensorflow/tfjs-backend-wasm is not installed (npm ci)' },
    webgpu: probeWebgpuNode(),
    tensorflow: resolvable('@tensorflow/tfjs-node')
      ? { name: 'tensorflow (tfjs-node)', ok: true }
      : {
          name: 'tensorflow (tfjs-node)',
          ok: false,
          why: '@tensorflow/tfjs-node is not installed (optional: its install downloads libtensorflow, so it needs internet access)',
        },
    browser: existsSync(CHROMIUM)
      ? { name: 'webgl + webgpu (Chromium)', ok: true }
      : { name: 'webgl + webgpu (Chromium)', ok: false, why: `no Chromium at ${CHROMIUM}; apt-get install chromium (or set CHROMIUM_PATH)` },
  };
}
