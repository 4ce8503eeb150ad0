// The per-call token bitmask read inside the GPU chain's webgl shaders (window maxima and counts,
// the threshold draw), instead of a separate [B, V] pass that writes masked logits. webgl keeps
// int32 as float32 texels, so the mask travels as its words' exact 16-bit halves: float32
// [B, 2·ceil(V/32)] (uploadMaskWords); half j >> 4 holds token j's bit at j & 15. As the bitmask
// edit does, a cleared bit makes the logit -Infinity and NaN / +Infinity stay.

/**
 * GLSL `float maskedZ(uint h, int j, float z)`: logit z of token j masked by `h`, the 16-bit half
 * that holds its bit (`uint(getMask(b, j >> 4))`: fetch it once per 16 tokens).
 */
export const MASKED_Z_GLSL = `
float maskedZ(uint h, int j, float z) {
  uint u = floatBitsToUint(z);
  bool keep = ((h >> uint(j & 15)) & 1u) == 1u || (u & 0x7fffffffu) >= 0x7f800000u && u != 0xff800000u;
  return keep ? z : uintBitsToFloat(0xff800000u);
}
`;

/**
 * GLSL: masks the bits `zu` (uvec4) of four tokens `tok` (ivec4) of row `b` in place. `aligned`:
 * the four are consecutive from a multiple of 4, so they share one 16-bit half (one fetch).
 */
export function maskBits4Glsl(zu: string, tok: string, aligned: boolean): string {
  const h = aligned
    ? `uvec4(uint(getMask(b, ${tok}.x >> 4)))`
    : `uvec4(uint(getMask(b, ${tok}.x >> 4)), uint(getMask(b, ${tok}.y >> 4)), uint(getMask(b, ${tok}.z >> 4)), uint(getMask(b, ${tok}.w >> 4)))`;
  return `{
    uvec4 bits = (${h} >> uvec4(${tok} & 15)) & 1u;
    uvec4 special = uvec4(greaterThanEqual(${zu} & 0x7fffffffu, uvec4(0x7f800000u))) * uvec4(notEqual(${zu}, uvec4(0xff800000u)));
    uvec4 k = bits | special; // 0 or 1 per lane (mix of uvec4 needs GLSL ES 3.1)
    ${zu} = ${zu} * k + uvec4(0xff800000u) * (1u - k);
  }`;
}
