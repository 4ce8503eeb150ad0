// The webgpu draw kernel (WGSL): not written yet; returning false keeps the portable draw.
export function registerWebgpuGumbelArgmax(): boolean {
  return false;
}
