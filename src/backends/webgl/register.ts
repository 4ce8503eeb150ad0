// Registration of the library's webgl kernels, shared by every kernel file.
import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendWebGL } from '@tensorflow/tfjs-backend-webgl';

/** A webgl kernel body: the backend, the named inputs and the attributes of the call. */
export type WebglKernel = (backend: MathBackendWebGL, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => tf.TensorInfo;

/**
 * Registers `kernels` (name → body) for 'webgl' once. False — nothing registered — where the
 * webgl backend is missing or not WebGL2, or, with `float32` (the default), lacks float32 render
 * targets (or forces float16 textures): kernels that keep exact integers or keys in texels need them.
 */
export function registerWebglKernels(kernels: Record<string, WebglKernel>, float32 = true): boolean {
  try {
    const names = Object.keys(kernels);
    if (names.every((name) => tf.getKernel(name, 'webgl'))) return true;
    if (!tf.findBackend('webgl')) return false;
    const env = tf.env();
    if (env.getNumber('WEBGL_VERSION') !== 2) return false;
    if (float32 && (!env.getBool('WEBGL_RENDER_FLOAT32_ENABLED') || env.getBool('WEBGL_FORCE_F16_TEXTURES'))) return false;
    for (const [name, body] of Object.entries(kernels)) {
      if (tf.getKernel(name, 'webgl')) continue;
      tf.registerKernel({
        kernelName: name,
        backendName: 'webgl',
        kernelFunc: ({ inputs, backend, attrs }) => body(backend as unknown as MathBackendWebGL, inputs, attrs ?? {}),
      });
    }
    return true;
  } catch {
    return false;
  }
}
