// The per-call token bitmask read inside the GPU chain's webgpu kernels (top-k, row mass, top-p,
// threshold draw), instead of a separate [B, V] pass that writes masked logits: each kernel loads
// logit j of row r through one function that applies the mask as the bitmask edit does — a
// cleared bit makes the logit -Infinity, NaN and +Infinity stay (the invalid-row rule sees them;
// -Infinity stays too, which is the same value). The mask is int32 [B, ceil(V/32)], bit j & 31
// of word j >> 5 allows token j.

/** WGSL: whether the mask word `w` leaves logit `z` of token `j` as it is. */
export function maskWordAllows(w: string, j: string, z: string): string {
  return `((${w} >> (${j} & 31u)) & 1u) == 1u || (bitcast<u32>(${z}) & 0x7fffffffu) >= 0x7f800000u`;
}

/**
 * WGSL `fn name(base : u32, r : u32, j : u32) -> f32`: logit j of row r (base = r · V) of the
 * storage array `logits`, masked by the storage array `mask` when there is one.
 */
export function maskedLoadWgsl(name: string, logits: string, mask: string | undefined): string {
  if (!mask) return `fn ${name}(base : u32, r : u32, j : u32) -> f32 { return ${logits}[base + j]; }`;
  return `fn ${name}(base : u32, r : u32, j : u32) -> f32 {
    let z = ${logits}[base + j];
    let w = bitcast<u32>(${mask}[r * u32(uniforms.${mask}Shape.y) + (j >> 5u)]);
    // Not a constant -Infinity: WGSL rejects one.
    return select(-uniforms.INFINITY, z, ${maskWordAllows('w', 'j', 'z')});
  }`;
}

/**
 * WGSL `fn name(r : u32, j : u32, z : f32) -> bool`: whether the mask leaves logit z of token j
 * in row r as it is; otherwise it becomes -Infinity. A kernel that tests its threshold first
 * needs the mask only for the tokens that pass.
 */
export function maskAllowsWgsl(name: string, mask: string): string {
  return `fn ${name}(r : u32, j : u32, z : f32) -> bool {
    let w = bitcast<u32>(${mask}[r * u32(uniforms.${mask}Shape.y) + (j >> 5u)]);
    return ${maskWordAllows('w', 'j', 'z')};
  }`;
}
