// The per-call token bitmask read inside the GPU chain's webgpu kernels (top-k, row mass, top-p,
// threshold draw), instead of a separate [B, V] pass that writes masked logits: each kernel loads
// logit j of row r through one function that applies the mask as the bitmask edit does — a
// cleared bit makes the logit -Infinity, NaN and +Infinity stay (the invalid-row rule sees them).
// The mask is int32 [B, ceil(V/32)], bit j & 31 of word j >> 5 allows token j.

/**
 * WGSL `fn name(base : u32, r : u32, j : u32) -> f32`: logit j of row r (base = r · V) of the
 * storage array `logits`, masked by the storage array `mask` when there is one.
 */
export function maskedLoadWgsl(name: string, logits: string, mask: string | undefined): string {
  if (!mask) return `fn ${name}(base : u32, r : u32, j : u32) -> f32 { return ${logits}[base + j]; }`;
  return `fn ${name}(base : u32, r : u32, j : u32) -> f32 {
    let z = ${logits}[base + j];
    let w = bitcast<u32>(${mask}[r * u32(uniforms.${mask}Shape.y) + (j >> 5u)]);
    let u = bitcast<u32>(z);
    // Kept: an allowed token, NaN, +Infinity. Not a constant -Infinity: WGSL rejects one.
    let keep = ((w >> (j & 31u)) & 1u) == 1u || (u & 0x7fffffffu) > 0x7f800000u || u == 0x7f800000u;
    return select(-uniforms.INFINITY, z, keep);
  }`;
}
