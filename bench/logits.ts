// Benchmark inputs, identical in Node and in the browser page (no Node or tfjs imports).
//   peaky: Zipf-like, like a real model's next-token logits: z = -s·ln(rank) + small noise, with
//          the ranks shuffled over the vocabulary (a few dominant tokens, a heavy tail).
//   flat:  near-equal logits (small noise around 0): top-p must keep most of the vocabulary,
//          the worst case for sort-based top-p.

export type LogitsShape = 'peaky' | 'flat';
export const LOGITS_SHAPES: readonly LogitsShape[] = ['peaky', 'flat'];

/** Zipf exponent of the peaky rows (p ∝ rank^-s at T = 1) and the noise added to every logit. */
export const PEAKY_S = 1.1;
export const PEAKY_NOISE = 0.1;
export const FLAT_NOISE = 0.1;

/** mulberry32: a tiny seeded generator, fast enough for 64 × 262144 values (the tests' generators use it too). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform generator. */
export function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Row-major float32 [B, V] logits, deterministic in (shape, B, V). */
export function makeLogits(shape: LogitsShape, B: number, V: number): Float32Array {
  const r = mulberry32((shape === 'peaky' ? 0x5eed : 0xf1a7) ^ Math.imul(B, 0x9e3779b1) ^ Math.imul(V, 0x85ebca6b));
  const out = new Float32Array(B * V);
  const rank = new Int32Array(V);
  for (let b = 0; b < B; b++) {
    const base = b * V;
    if (shape === 'flat') {
      for (let j = 0; j < V; j++) out[base + j] = FLAT_NOISE * normal(r);
      continue;
    }
    for (let j = 0; j < V; j++) rank[j] = j + 1;
    for (let j = V - 1; j > 0; j--) {
      const k = Math.floor(r() * (j + 1));
      const t = rank[j]!;
      rank[j] = rank[k]!;
      rank[k] = t;
    }
    for (let j = 0; j < V; j++) out[base + j] = -PEAKY_S * Math.log(rank[j]!) + PEAKY_NOISE * normal(r);
  }
  return out;
}
