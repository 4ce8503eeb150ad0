// The measurement of `npm run bench:speculative` (see bench/speculative.ts), platform-neutral: run
// in Node for cpu, wasm and webgpu, and in headless Chromium (bench/page-speculative) for webgl and
// webgpu. Reports markdown lines through `log`.
import * as tf from '@tensorflow/tfjs-core';
import { generate, type GenerateOptions, type SamplerOptions } from '../src/index.js';
import type { CharModel } from '../model/char-model.js';
import { cachedStep, disposeCache, type PositionCache, type TransformerLM } from '../model/transformer.js';

export interface SpeculativeConfig {
  /** The backend's name in the report. */
  label: string;
  B: number;
  /** New tokens a row. */
  N: number;
  gammas: number[];
  rounds: number;
}

const TEXTS = ['春風', '明月照', '白日依山盡，', '孤舟', '江南', '山中', '秋夜', '長安'];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Config {
  name: string;
  mode?: 'exact' | 'rejection';
  gamma?: number;
  /** The transformer drafting for itself: every proposal kept under greedy decoding, the loop's own cost. */
  self?: boolean;
}

/** Per sampler setting (`<label> <setting> B<B> N<N>`), each run's speed-up against plain decoding: for bench/baseline.ts. */
export type SpeedUps = Record<string, Record<string, number>>;

/** Plain decoding against both modes and each γ, with the transformer as target and the MLP as draft. */
export async function measureSpeculative(lm: TransformerLM, mlp: CharModel, cfg: SpeculativeConfig, log: (line: string) => void): Promise<SpeedUps> {
  const speedUps: SpeedUps = {};
  const { B, N, gammas, rounds } = cfg;
  if (lm.vocab.join('\u0000') !== mlp.vocab.join('\u0000')) throw new Error('the MLP and the transformer must share a vocabulary');
  const baseTensors = tf.memory().numTensors;
  const gMax = Math.max(...gammas);
  const target = cachedStep(lm, { draftTokens: gMax });
  const prompts = Array.from({ length: B }, (_, r) => lm.encodePrompt(TEXTS[r % TEXTS.length]!));
  const settings: [string, SamplerOptions][] = [
    ['greedy', { temperature: 0 }],
    ['T 0.8 + top-k 40', { temperature: 0.8, topK: 40, seed: Array.from({ length: B }, (_, r) => 1000 + r) }],
  ];
  const configs: Config[] = [
    { name: 'plain' },
    ...gammas.flatMap((g): Config[] => [
      { name: `exact γ ${g}`, mode: 'exact', gamma: g },
      { name: `rejection γ ${g}`, mode: 'rejection', gamma: g },
    ]),
    { name: `exact γ ${gMax}, self-draft`, mode: 'exact', gamma: gMax, self: true },
  ];
  const selfDraft = cachedStep(lm, { draftTokens: gMax });
  log(
    `\n## ${cfg.label}: B = ${B}, ${N} new tokens a row, target: the transformer (position cache, ${gMax} spare slots), draft: the MLP (window ${mlp.contextLength})`,
  );
  // The draft's own cost: the MLP alone through generate, against the transformer alone.
  const alone = async (which: 'mlp' | 'transformer'): Promise<number> => {
    const t0 = performance.now();
    const r =
      which === 'mlp'
        ? await generate(mlp.model, { prompts, padId: 0, maxNewTokens: N, sampler: { temperature: 0 } })
        : await generate(target, { prompts, padId: 0, maxNewTokens: N, feed: 'new', sampler: { temperature: 0 } });
    disposeCache(r.state as PositionCache | undefined);
    return performance.now() - t0;
  };
  await alone('mlp');
  await alone('transformer');
  const costs = { mlp: [] as number[], transformer: [] as number[] };
  for (let i = 0; i < rounds; i++) {
    costs.mlp.push(await alone('mlp'));
    costs.transformer.push(await alone('transformer'));
  }
  // The target's cost per call: one token (plain decoding) against γ + 1 positions (a pass),
  // from a run whose step function reads each call's logits (not one of the timed runs).
  const perCall = async (draft: boolean): Promise<number> => {
    let ms = 0;
    let calls = 0;
    const timedStep: typeof target = async (tokens, ctx) => {
      const t0 = performance.now();
      const out = await target(tokens, ctx);
      await ('logits' in out ? out.logits : out).data();
      if (ctx.phase === 'decode') [ms, calls] = [ms + performance.now() - t0, calls + 1];
      return out;
    };
    const r = await generate(timedStep, {
      prompts,
      padId: 0,
      maxNewTokens: N,
      feed: 'new',
      sampler: { temperature: 0 },
      ...(draft ? { draft: { model: selfDraft, tokens: gMax } } : {}),
    });
    disposeCache(r.state);
    return ms / calls;
  };
  await perCall(false);
  await perCall(true); // warm-up: the pass's shapes (shaders on webgl / webgpu)
  const one = await perCall(false);
  const pass = await perCall(true);
  log(`target: ${one.toFixed(1)} ms a one-token decode call, ${pass.toFixed(1)} ms a pass over ${gMax + 1} positions (${(pass / one).toFixed(2)}×)`);
  log(
    `draft cost: the MLP alone ${median(costs.mlp).toFixed(0)} ms, the transformer alone ${median(costs.transformer).toFixed(0)} ms for ${N} greedy tokens a row: ratio ${(median(costs.mlp) / median(costs.transformer)).toFixed(2)}`,
  );
  for (const [label, sampler] of settings) {
    const options: GenerateOptions<PositionCache> = { prompts, padId: 0, maxNewTokens: N, feed: 'new', sampler };
    const run = async (c: Config): Promise<{ ms: number; tokens: number[][]; rate: number; perPass: number }> => {
      const t0 = performance.now();
      const r = await generate(target, c.mode ? { ...options, draft: { model: c.self ? selfDraft : mlp.model, tokens: c.gamma!, mode: c.mode } } : options);
      const ms = performance.now() - t0;
      disposeCache(r.state);
      if (tf.memory().numTensors !== baseTensors) throw new Error(`${c.name}: ${tf.memory().numTensors - baseTensors} tensors left`);
      if (r.tokens.some((row) => row.length !== N)) throw new Error(`${c.name}: a row stopped early`);
      return { ms, tokens: r.tokens, rate: r.draft?.acceptanceRate ?? NaN, perPass: r.draft?.tokensPerPass ?? 1 };
    };
    for (const c of configs) await run(c); // warm-up
    const times = new Map<string, number[]>(configs.map((c) => [c.name, []]));
    const last = new Map<string, Awaited<ReturnType<typeof run>>>();
    for (let i = 0; i < rounds; i++) {
      for (const c of configs) {
        const r = await run(c);
        times.get(c.name)!.push(r.ms);
        last.set(c.name, r);
      }
    }
    const plainMs = median(times.get('plain')!);
    const plainTokens = last.get('plain')!.tokens;
    log(`\n### ${label}\n`);
    log('| run | tokens/s | speed-up vs plain | proposals kept | tokens per target pass | tokens equal to plain |');
    log('| --- | --- | --- | --- | --- | --- |');
    const table: Record<string, number> = {};
    speedUps[`${cfg.label} ${label} B${B} N${N}`] = table;
    for (const c of configs) {
      const r = last.get(c.name)!;
      const ms = median(times.get(c.name)!);
      const same = r.tokens.reduce((n, row, q) => n + row.filter((t, j) => t === plainTokens[q]![j]).length, 0);
      const kept = c.mode ? `${(100 * r.rate).toFixed(1)}%` : '–';
      const equal = c.mode === 'exact' ? `${same} / ${B * N}` : '–';
      log(`| ${c.name} | ${((B * N * 1000) / ms).toFixed(1)} | ${(plainMs / ms).toFixed(2)}× | ${kept} | ${r.perPass.toFixed(2)} | ${equal} |`);
      if (c.mode) table[c.name] = plainMs / ms;
    }
  }
  return speedUps;
}
