// The webgl draw kernel (GLSL ES 3.0): not written yet; returning false keeps the portable draw.
export function registerWebglGumbelArgmax(): boolean {
  return false;
}
