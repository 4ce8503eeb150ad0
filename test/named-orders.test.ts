// The named orders against their anchors (docs/semantics.md "Named orders"; src/options.ts
// NAMED_ORDERS: "An option a named order does not have is an error (the anchor has no such
// sampler)"). Dynamic temperature is llama.cpp's `temp-ext` sampler
// (ggml-org/llama.cpp src/llama-sampler.cpp `llama_sampler_init_temp_ext`); Hugging Face's
// `_get_logits_processor` builds only TemperatureLogitsWarper and vLLM's v1 `Sampler.sample` only
// divides by each request's temperature, so neither anchor has it. The order 'llama.cpp' takes
// it (the control case).
import { describe, expect, it } from 'vitest';
import { createSampler, type SamplerOptions } from '../src/index.js';
import { BACKENDS } from './helpers/backend.js';
import { backendSuite } from './helpers/suite.js';
import { caught } from './helpers/errors.js';

const LACKING: { order: 'hf' | 'vllm'; opts: SamplerOptions }[] = [
  { order: 'hf', opts: { dynamicTemperature: { range: 0.5 } } },
  { order: 'vllm', opts: { dynamicTemperature: { range: 0.5, exponent: 2 } } },
  { order: 'hf', opts: { temperature: 0.8, dynamicTemperature: [{ range: 0.5 }, undefined] } },
  // vLLM's filters keep no minimum (no min_tokens_to_keep).
  { order: 'vllm', opts: { topK: 5, minTokensToKeep: 3 } },
];

describe.each(BACKENDS)('named orders against their anchors on %s', (backend) => {
  backendSuite(backend);

  it.each(LACKING)('order $order lacks what $opts asks for: an error naming `order`', ({ order, opts }) => {
    const err = caught(() => createSampler({ ...opts, order }).dispose());
    expect(err.argument).toBe('order');
    expect(err.message).toContain(`"${order}"`);
  });

  it('order "llama.cpp" takes dynamic temperature (its temp-ext sampler)', () => {
    const s = createSampler({ order: 'llama.cpp', dynamicTemperature: { range: 0.5 } });
    expect(s.name).toContain('temperature');
    s.dispose();
  });
});
