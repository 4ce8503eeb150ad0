// First step of the device run: which WebGPU adapters Dawn finds (default and high-performance
// requests), with a device's main limits; exit 3 (webgpu-guard.ts) unless it is the real GPU.
import { create, globals } from './webgpu-guard.js';

process.env.XDG_RUNTIME_DIR ??= '/tmp';
Object.assign(globalThis, globals);
interface Device {
  limits: Record<string, number>;
  features: Iterable<string>;
  destroy(): void;
}
interface Adapter {
  requestDevice(): Promise<Device>;
}
const gpu = create([]) as { requestAdapter(o?: Record<string, unknown>): Promise<Adapter | null> };
for (const options of [undefined, { powerPreference: 'high-performance' }]) {
  const adapter = await gpu.requestAdapter(options);
  if (!adapter) continue; // the guard has exited already
  const device = await adapter.requestDevice();
  const l = device.limits;
  console.log(
    `[device] maxBufferSize ${l.maxBufferSize} maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize} maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup} ` +
      `maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}; features ${[...device.features].sort().join(',')}`,
  );
  device.destroy();
}
process.exit(0);
