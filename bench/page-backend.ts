// Browser side, shared by the bench pages (bench/page-penalties, bench/page-chain): switches the
// page to webgl or webgpu and names its adapter.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';

/** Sets `backend` (webgl: every op a shader, no CPU forwarding) and returns its adapter's name. */
export async function usePageBackend(backend: 'webgl' | 'webgpu'): Promise<string> {
  // Small tensors would otherwise run on the CPU: every op runs as a shader.
  if (backend === 'webgl') tf.env().set('WEBGL_CPU_FORWARD', false);
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) {
    throw new Error(`backend ${backend} did not initialise (tf.getBackend() = ${tf.getBackend()})`);
  }
  await tf.ready();
  if (backend === 'webgl') {
    const gl = document.createElement('canvas').getContext('webgl2');
    const ext = gl?.getExtension('WEBGL_debug_renderer_info');
    return gl && ext ? String(gl.getParameter(ext.UNMASKED_RENDERER_WEBGL)) : 'unknown';
  }
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<{ info?: Record<string, string> } | null> } }).gpu;
  const a = (await gpu?.requestAdapter())?.info;
  return a ? `${a.vendor ?? ''} ${a.architecture ?? ''} ${a.description ?? ''}`.trim() : 'unknown';
}
