// test/helpers/backend.ts for the device check (tools/device/pack.mjs aliases the tests'
// `./helpers/backend.js` imports to this file): everything as there, except that no heavy suite
// is "covered elsewhere". In CI, Node webgpu skips the fuzz properties and the token agreement
// because browser-webgpu runs the same WGSL kernels on the same SwiftShader adapter; on the
// device there is no Chromium, and these suites are exactly what must run on the real GPU.
// isSoftwareGpu is kept: the GPU fuzz profile, the 1,000-case GPU plan and the float32 delta are
// what a GPU backend gets, software or not.
export * from '../../test/helpers/backend.js';

export function coveredElsewhere(_suite: string, _backend: string): string | undefined {
  return undefined;
}
