// Stands in for the npm `webgpu` package in the device bundles (tools/device/pack.mjs aliases
// `webgpu` to this file for every importer but this one): the same `create` and `globals`, but
// every adapter that Dawn hands out is printed (vendor, architecture, device, description,
// fallback flag) and must be the real GPU. A software or fallback adapter (SwiftShader,
// llvmpipe, lavapipe, any CPU adapter), an adapter that is not NVIDIA's, or no adapter at all
// ends the process with exit code 3 and a banner, before any number is measured.
//   DEVPACK_GPU_VENDOR=<regex>    the vendor/architecture/description to require (default nvidia)
//   DEVPACK_ALLOW_SOFTWARE=1      accept any adapter (local test of the pack on SwiftShader)
import { create as createGpu, globals } from 'webgpu';

export { globals };

type Info = Record<string, unknown>;
interface Adapter {
  info?: Info;
  isFallbackAdapter?: boolean;
}
interface Gpu {
  requestAdapter(options?: Record<string, unknown>): Promise<Adapter | null>;
}

const allowSoftware = process.env.DEVPACK_ALLOW_SOFTWARE === '1';
const vendor = new RegExp(process.env.DEVPACK_GPU_VENDOR ?? 'nvidia', 'i');
const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|software|\bcpu\b/i;
const printed = new Set<string>();
/** Every distinct adapter handed out in this process (for the JSON results). */
export const adaptersSeen: Info[] = [];

function fail(why: string): never {
  const bar = '!'.repeat(100);
  console.error(
    `\n${bar}\n!! DEVICE CHECK FAILED: ${why}\n!! VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? ''} VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? ''}\n${bar}\n`,
  );
  process.exit(3);
}

/** The adapter's info as a plain object (Dawn's fields are prototype getters). */
export function adapterInfo(a: Adapter): Info {
  const out: Info = {};
  const info = a.info ?? {};
  for (const k of ['vendor', 'architecture', 'device', 'description', 'isFallbackAdapter', 'subgroupMinSize', 'subgroupMaxSize']) {
    const v = (info as Info)[k];
    if (v !== undefined) out[k] = v;
  }
  if (out.isFallbackAdapter === undefined && a.isFallbackAdapter !== undefined) out.isFallbackAdapter = a.isFallbackAdapter;
  return out;
}

/** Prints the adapter once and exits (code 3) unless it is the required hardware GPU. */
export function checkAdapter(a: Adapter | null, options?: Record<string, unknown>): void {
  if (!a) {
    fail(`Dawn returned no WebGPU adapter for ${JSON.stringify(options ?? {})}: no Vulkan loader (libvulkan.so.1) or no Vulkan driver (ICD) was found`);
  }
  const info = adapterInfo(a);
  const text = [info.vendor, info.architecture, info.device, info.description].join(' ');
  const software = info.isFallbackAdapter === true || SOFTWARE.test(text);
  const line = `[adapter] vendor=${String(info.vendor)} architecture=${String(info.architecture)} device=${String(info.device)} description=${String(info.description)} fallback=${String(info.isFallbackAdapter)}`;
  if (!printed.has(line)) {
    printed.add(line);
    adaptersSeen.push(info);
    console.log(`${line} (requested ${JSON.stringify(options ?? {})})`);
  }
  if (allowSoftware) {
    if (software || !vendor.test(text))
      console.log(`[adapter] WARNING: not the hardware GPU (${text.trim()}); accepted because DEVPACK_ALLOW_SOFTWARE=1 (local test only)`);
    return;
  }
  if (software) fail(`the WebGPU adapter is a software/CPU adapter (${text.trim()}, fallback ${String(info.isFallbackAdapter)}), not the GPU`);
  if (!vendor.test(text)) fail(`the WebGPU adapter (${text.trim()}) does not match ${vendor} (DEVPACK_GPU_VENDOR)`);
}

export function create(flags: string[]): unknown {
  const gpu = createGpu(flags) as unknown as Gpu;
  const request = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options?: Record<string, unknown>) => {
    const a = await request(options);
    checkAdapter(a, options);
    return a;
  };
  return gpu;
}
