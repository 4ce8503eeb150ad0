// Browser demo: the Tang poem character model generating through the library's sampler on
// WebGPU or WebGL, with the next-token distribution before and after the sampler's processors;
// and a JSON mode, where the JSON character model writes records that match a JSON schema
// (generate's grammar option, on @mlc-ai/web-xgrammar, imported on first use).
// Built by Vite (demo/web/vite.config.ts); driven by demo/web/test/demo.e2e.ts in CI.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Title, Tooltip } from 'chart.js';
import {
  createGrammarEngine,
  createSampler,
  entropy,
  generateStream,
  type GenerateResult,
  type GrammarEngine,
  type SampledLogprobs,
  SamplingError,
  selectBackend,
  softmax,
  type NamedOrder,
  type SampleContext,
  type Sampler,
  type SamplerOptions,
  type StepFunction,
} from 'tfjs-sampling';
import { contextWindows, loadCharModel, type CharModel } from '../../model/char-model.js';
import { PACKAGE_SCHEMA, SCHEMAS } from '../../model/json/schemas.js';
import { cachedStep, disposeCache, loadTransformer, type KVCache, type TransformerLM } from '../../model/transformer.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Title, Tooltip);

const TOP = 20;
const RENDER_EVERY_MS = 250; // chart refresh while generating: live, without an extra read-back every step

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const SLIDERS = ['temperature', 'topK', 'topP', 'minP', 'maxTokens', 'jsonMaxTokens'] as const;
/** Sliders that set the length of a run, not the sampler. */
const LENGTH_SLIDERS: readonly string[] = ['maxTokens', 'jsonMaxTokens'];
/** The sampler picker's sliders (beside the selects `mirostat` and `order`). */
const PICKER_SLIDERS = [
  'typicalP',
  'minTokensToKeep',
  'xtcProbability',
  'xtcThreshold',
  'dynatempRange',
  'dynatempExponent',
  'mirostatTau',
  'mirostatEta',
] as const;
const SELECTS = ['mirostat', 'order'] as const;
type SliderId = (typeof SLIDERS)[number] | (typeof PICKER_SLIDERS)[number];
const slider = (id: SliderId): number => Number($<HTMLInputElement>(id).value);
const choice = (id: (typeof SELECTS)[number]): string => $<HTMLSelectElement>(id).value;

/** What the page exposes to the e2e test (and to a curious console). */
export interface DemoHandle {
  tf: typeof tf;
  ready: boolean;
  generating: boolean;
  vocab: readonly string[];
  /** The loaded model and the sampler the sliders describe now (the last valid one). */
  lm?: CharModel;
  sampler(): Sampler;
  /** Generated text of the last (or current) run. */
  generated: string;
  /** Tokens per second of the last finished run. */
  tokensPerSecond: number;
  /** The message of the SamplingError the picker's current options raise; undefined when they are valid. */
  optionsError?: string | undefined;
  /** True when nothing runs or waits to run (no generation, no chart render): tensors are counted then. */
  settled(): boolean;
  /** 'poem' or 'json' (the mode select). */
  mode: Mode;
  /** JSON mode: true once its model and grammar engine are loaded (both once per page). */
  jsonReady: boolean;
  /** JSON mode: whether the last finished record parsed with JSON.parse (undefined before one, or after Stop). */
  valid?: boolean | undefined;
}

type Mode = 'poem' | 'json';

declare global {
  interface Window {
    __demo?: DemoHandle;
  }
}

const handle: DemoHandle = {
  tf,
  ready: false,
  generating: false,
  vocab: [],
  generated: '',
  tokensPerSecond: NaN,
  sampler: () => current,
  settled: () => !handle.generating && !rendering && renderTimer === undefined,
  mode: 'poem',
  jsonReady: false,
};
window.__demo = handle;

let cm: CharModel;
/** Logits [1, V] of the position the chart shows; the page's only long-lived tensor besides the weights. */
let held: tf.Tensor2D | undefined;
let heldCaption = '';
let seed = 1;

/** The sliders' options; the picker's are passed at their off values unless set. */
function samplerOptions(): SamplerOptions {
  const options: SamplerOptions = {
    temperature: slider('temperature'),
    topK: slider('topK'),
    topP: slider('topP'),
    minP: slider('minP'),
    typicalP: slider('typicalP'),
    minTokensToKeep: slider('minTokensToKeep'),
    xtc: { probability: slider('xtcProbability'), threshold: slider('xtcThreshold') },
    dynamicTemperature: { range: slider('dynatempRange'), exponent: slider('dynatempExponent') },
    seed: seed++,
  };
  const version = choice('mirostat');
  if (version === '1' || version === '2') options.mirostat = { version: version === '1' ? 1 : 2, tau: slider('mirostatTau'), eta: slider('mirostatEta') };
  const order = choice('order');
  if (order !== 'default') options.order = order as NamedOrder;
  return options;
}

/** A sampler for the controls, or the SamplingError's message for an invalid combination. */
function trySampler(): Sampler | string {
  try {
    return createSampler(samplerOptions());
  } catch (e) {
    if (e instanceof SamplingError) return e.message;
    throw e;
  }
}

const first = trySampler();
let current: Sampler = typeof first === 'string' ? createSampler({ seed: seed++ }) : first;

// generate() keeps the sampler it is given; this one forwards to whatever the sliders say now,
// so a slider moved mid-generation applies from the next token.
const live: Sampler = {
  get name() {
    return current.name;
  },
  get step() {
    return current.step;
  },
  get processors() {
    return current.processors;
  },
  get lastPath() {
    return current.lastPath;
  },
  sample: (logits, context) => current.sample(logits, context),
  sampleIds: (logits, context) => current.sampleIds(logits, context),
  sampleWithLogprobs: (logits, context, options) => current.sampleWithLogprobs(logits, context, options),
  sampleIdsWithLogprobs: (logits, context, options) => current.sampleIdsWithLogprobs(logits, context, options),
  probabilities: ((logits: tf.Tensor, context?: SampleContext) => current.probabilities(logits, context)) as Sampler['probabilities'],
  process: ((logits: tf.Tensor, context?: SampleContext) => current.process(logits, context)) as Sampler['process'],
  reset: () => current.reset(),
  begin: (prompts) => current.begin(prompts),
  restartRows: (rows, prompts) => current.restartRows(rows, prompts),
  accept: (ids) => current.accept(ids),
  dispose: () => current.dispose(),
  clone: () => current.clone(),
};

function setHeld(logits: tf.Tensor2D, caption: string): void {
  held?.dispose();
  held = logits;
  heldCaption = caption;
}

/**
 * Logits [1, V] for the token after `ids`. The window is built on the host from ids the page
 * already has: a fixed [1, contextLength] input, so no op changes shape from step to step
 * (on WebGL every new shape compiles a new shader).
 */
function nextLogits(ids: readonly number[]): tf.Tensor2D {
  return tf.tidy(() => cm.model.predict(contextWindows(cm, [ids])) as tf.Tensor2D);
}

const label = (id: number): string => {
  if (id === cm.newlineId) return '⏎';
  if (id === cm.padId) return '<pad>';
  if (id === cm.unkId) return '<unk>';
  return cm.vocab[id] ?? `#${id}`;
};

const chart = new Chart<'bar', number[], string>($<HTMLCanvasElement>('chart'), {
  type: 'bar',
  data: {
    labels: [],
    datasets: [
      { label: 'softmax(raw logits)', data: [], backgroundColor: '#a7b0c0' },
      { label: 'after the sampler (probabilities)', data: [], backgroundColor: '#2563eb' },
    ],
  },
  options: {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    scales: {
      x: { ticks: { font: { size: 15 }, autoSkip: false, maxRotation: 0 } },
      y: { beginAtZero: true, title: { display: true, text: 'probability' } },
    },
    plugins: { title: { display: true, text: '' }, legend: { position: 'top' } },
  },
});

let rendering = false;
let renderAgain = false;
let lastRender = 0;
let renderTimer: ReturnType<typeof setTimeout> | undefined;

/** Re-processes the held logits with the current sampler and redraws chart and entropy. */
async function render(): Promise<void> {
  if (rendering) {
    renderAgain = true;
    return;
  }
  rendering = true;
  lastRender = performance.now();
  try {
    while (held) {
      renderAgain = false;
      const T = slider('temperature');
      const logits = held;
      const caption = heldCaption;
      const V = logits.shape[1];
      // One read-back: raw softmax, processed probabilities, and both entropies.
      const packed = tf.tidy(() => {
        const raw = softmax(logits);
        const q = current.probabilities(logits);
        return tf.concat([tf.reshape(raw, [V]), tf.reshape(q, [V]), entropy(q), entropy(raw)]);
      });
      let data: Float32Array;
      try {
        data = (await packed.data()) as Float32Array;
      } finally {
        packed.dispose();
      }
      const raw = data.subarray(0, V);
      const q = data.subarray(V, 2 * V);
      const top = Array.from(raw.keys())
        .sort((a, b) => raw[b]! - raw[a]! || a - b)
        .slice(0, TOP);
      let kept = 0;
      for (let i = 0; i < V; i++) if (q[i]! > 0) kept++;
      chart.data.labels = top.map(label);
      chart.data.datasets[0]!.data = top.map((i) => raw[i]!);
      chart.data.datasets[1]!.data = top.map((i) => q[i]!);
      chart.options.plugins!.title!.text = `${caption} — top ${TOP} of ${V} by raw probability`;
      chart.update();
      const h = data[2 * V]!;
      const entropyEl = $('entropy');
      entropyEl.textContent = `${h.toFixed(3)} bits`;
      entropyEl.dataset.bits = String(h);
      entropyEl.dataset.temperature = String(T); // lets the test wait for this setting's render
      entropyEl.dataset.sampler = current.name;
      $('entropy-raw').textContent = `${data[2 * V + 1]!.toFixed(3)} bits`;
      $('kept').textContent = `${kept} of ${V}`;
      showMemory();
      if (!renderAgain) break;
    }
  } finally {
    rendering = false;
  }
}

/** Renders now (sliders, idle) or at most every RENDER_EVERY_MS (while generating). */
function scheduleRender(now = false): void {
  if (renderTimer !== undefined) {
    if (!now) return;
    clearTimeout(renderTimer);
  }
  const wait = now ? 0 : Math.max(0, RENDER_EVERY_MS - (performance.now() - lastRender));
  renderTimer = setTimeout(() => {
    renderTimer = undefined;
    render().catch(fail);
  }, wait);
}

function showMemory(): void {
  const m = tf.memory();
  const el = $('debug');
  el.textContent = `tf.memory(): ${m.numTensors} tensors, ${(m.numBytes / 1e6).toFixed(2)} MB · sampler path: ${current.lastPath}`;
  el.dataset.numTensors = String(m.numTensors);
}

function fail(e: unknown): void {
  console.error(e);
  $('error').textContent = e instanceof Error ? e.message : String(e);
}

/**
 * Rebuilds the sampler from the controls. An invalid combination (e.g. order "vllm" with
 * typical-p) keeps the last valid sampler, shows the message and disables Generate.
 */
function updateSampler(): void {
  const next = trySampler();
  handle.optionsError = typeof next === 'string' ? next : undefined;
  $('options-error').textContent = handle.optionsError ?? '';
  if (typeof next !== 'string') {
    const old = current;
    current = next;
    old.dispose(); // frees Mirostat's μ; generate() holds `live`, never `old`
    $('chain').textContent = `chain: ${current.name}`;
    scheduleRender(true);
  }
  syncButton();
}

/** Generate is off while loading or while the options are invalid; Stop is always on. */
function syncButton(): void {
  const loading = !handle.ready || (handle.mode === 'json' && !handle.jsonReady);
  $<HTMLButtonElement>('generate').disabled = !handle.generating && (loading || handle.optionsError !== undefined);
  // The mode and the schema stay as they are while a run uses them.
  $<HTMLSelectElement>('mode').disabled = handle.generating;
  $<HTMLSelectElement>('schema').disabled = handle.generating;
}

const status = (text: string): void => {
  $('status').textContent = text;
};

/** The prompt's ids; the model starts every poem from an all-pad window, so nothing is prepended. */
function promptIds(): number[] {
  return cm.encode($<HTMLTextAreaElement>('prompt').value.replace(/\n/g, ''));
}

function showPromptDistribution(): void {
  setHeld(nextLogits(promptIds()), 'next token after the prompt');
  scheduleRender(true);
}

let controller: AbortController | undefined;

/** The token just drawn: q (processed) and p (the model's), and the top alternatives under q. */
function showChosen(id: number, lp: SampledLogprobs | undefined): void {
  if (!lp) return;
  const pct = (v: number): string => `${(100 * Math.exp(v)).toFixed(1)}%`;
  const show = (t: number): string => (t === cm.newlineId ? '⏎' : cm.decode([t]));
  const alts = Array.from(lp.topIds[0]!, (t, i) => `${show(t)} ${pct(lp.topLogprobs[0]![i]!)}`).join(', ');
  const el = $('chosen');
  el.textContent = `last: ${show(id)} q ${pct(lp.processed[0]!)} (model p ${pct(lp.raw[0]!)}) · top: ${alts}`;
  el.dataset.q = String(Math.exp(lp.processed[0]!));
}

async function run(): Promise<void> {
  controller = new AbortController();
  const button = $<HTMLButtonElement>('generate');
  button.textContent = 'Stop';
  handle.generating = true;
  handle.generated = '';
  const out = $('output');
  const promptText = $<HTMLTextAreaElement>('prompt').value.replace(/\n/g, '');
  out.innerHTML = '';
  const promptSpan = document.createElement('span');
  promptSpan.className = 'prompt';
  promptSpan.textContent = promptText;
  const gen = document.createElement('span');
  gen.id = 'generated';
  out.append(promptSpan, gen);
  const ids = promptIds();
  const all = [...ids];
  let count = 0;
  // `all` is up to date when a step runs: the loop body below runs before the generator resumes.
  const step: StepFunction = (_tokens, { step: n }) => {
    const logits = nextLogits(all);
    setHeld(tf.clone(logits), `step ${n}: the distribution this token was drawn from`);
    return logits; // generate() disposes it; the clone stays for the chart
  };
  status(`generating on ${tf.getBackend()}…`);
  const t0 = performance.now();
  let stopped = false;
  try {
    for await (const s of generateStream(step, {
      prompts: [ids.length ? ids : [cm.padId]], // an empty prompt is the all-pad window
      padId: cm.padId,
      maxNewTokens: slider('maxTokens'),
      stopTokens: [cm.newlineId],
      sampler: live,
      signal: controller.signal,
      // The chosen token's probability and the alternatives, read back with the id.
      logprobs: { topLogprobs: 3, mode: 'processed' },
    })) {
      const id = s.tokens[0]!;
      all.push(id);
      count++;
      showChosen(id, s.logprobs);
      if (id !== cm.newlineId) handle.generated += cm.decode([id]);
      gen.textContent = handle.generated;
      scheduleRender();
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
    stopped = true;
  } finally {
    const seconds = (performance.now() - t0) / 1000;
    handle.tokensPerSecond = count / seconds;
    const speed = $('speed');
    speed.textContent = `${count} tokens in ${seconds.toFixed(2)} s · ${handle.tokensPerSecond.toFixed(1)} tokens/s`;
    speed.dataset.tokensPerSecond = String(handle.tokensPerSecond);
    status(stopped ? 'stopped' : 'done');
    // After the newline that ends a poem the model starts afresh (it never sees a newline in its window).
    const ended = all.at(-1) === cm.newlineId && count > 0;
    setHeld(nextLogits(ended ? [] : all), ended ? 'first character of the next poem' : 'next token after the text');
    handle.generating = false;
    button.textContent = 'Generate';
    controller = undefined;
    syncButton();
    scheduleRender(true);
  }
}

// ---------------------------------------------------------------------------------------------
// JSON mode: the JSON character model writes one record per click, constrained to the chosen
// schema by the grammar engine; the chart is hidden (it shows the poem model's distribution).

/** The schemas to pick from, by the select's value (the first word of the name). */
const JSON_SCHEMAS: Record<string, { name: string; schema: object }> = Object.fromEntries(
  Object.entries({ "package (the shape of the model's training records)": PACKAGE_SCHEMA, ...SCHEMAS }).map(([name, schema]) => [
    name.split(' ')[0]!,
    { name, schema },
  ]),
);

let json: { lm: TransformerLM; engine: GrammarEngine } | undefined;
let jsonLoading: Promise<void> | undefined;
const readyStatus: Partial<Record<Mode, string>> = {};

function showSchema(): void {
  const picked = JSON_SCHEMAS[$<HTMLSelectElement>('schema').value];
  $('schema-text').textContent = picked ? JSON.stringify(picked.schema, null, 2) : '';
}

async function setMode(mode: Mode): Promise<void> {
  handle.mode = mode;
  document.body.dataset.mode = mode;
  $('title-model').textContent = mode === 'json' ? 'JSON character model, grammar-constrained' : 'Tang poem character model';
  $('output').classList.toggle('json', mode === 'json');
  $('output').textContent = ''; // the other mode's text
  $('speed').textContent = '';
  const ready = readyStatus[mode];
  if (ready) status(ready);
  syncButton();
  if (mode === 'json') await loadJson();
}

/** The JSON model and its grammar engine, loaded on the first switch to JSON mode, once. */
function loadJson(): Promise<void> {
  jsonLoading ??= (async () => {
    status('loading the JSON model and the grammar engine…');
    const lm = await loadTransformer(new URL('json/model.json', location.href).href);
    try {
      const { padId, unkId, newlineId } = lm.config;
      // Tokens without text (pad, unk, and the stop token newline) are null: the grammar allows the
      // stop token only where a record may end.
      const tokens = lm.vocab.map((t, id) => (id === padId || id === unkId || id === newlineId ? null : t));
      const engine = await createGrammarEngine({ tokens }, { xgrammar: await import('@mlc-ai/web-xgrammar') });
      json = { lm, engine };
    } catch (e) {
      lm.dispose();
      throw e;
    }
    readyStatus.json = `JSON model loaded: ${lm.vocab.length} tokens, window ${lm.config.window}; grammar engine ready`;
    if (handle.mode === 'json') status(readyStatus.json);
    handle.jsonReady = true;
    showMemory();
    syncButton();
  })().catch((e: unknown) => {
    jsonLoading = undefined; // the next switch to JSON mode tries again
    throw e;
  });
  return jsonLoading;
}

/**
 * One record for the chosen schema: generateStream with the grammar and the KV-cache step,
 * stepped by hand so that the last KV cache (the result's `state`) can be disposed; on Stop the
 * stream disposes it.
 */
async function runJson(): Promise<void> {
  if (!json) return;
  const { lm, engine } = json;
  const { padId, newlineId } = lm.config;
  const schema = JSON_SCHEMAS[$<HTMLSelectElement>('schema').value]!.schema;
  const maxNewTokens = slider('jsonMaxTokens');
  controller = new AbortController();
  const button = $<HTMLButtonElement>('generate');
  button.textContent = 'Stop';
  handle.generating = true;
  handle.generated = '';
  handle.valid = undefined;
  syncButton();
  const out = $('output');
  out.innerHTML = '';
  const gen = document.createElement('span');
  gen.id = 'generated';
  out.append(gen);
  const validity = $('validity');
  validity.textContent = '';
  delete validity.dataset.valid;
  status(`generating a record on ${tf.getBackend()}…`);
  const stream = generateStream(cachedStep(lm), {
    prompts: [[newlineId]], // a record starts after a newline, as in training
    padId,
    feed: 'new',
    maxNewTokens,
    stopTokens: [newlineId],
    keepStop: false,
    sampler: live,
    signal: controller.signal,
    grammar: { engine, rows: { jsonSchema: schema } },
  });
  const t0 = performance.now();
  let count = 0;
  let result: GenerateResult<KVCache> | undefined;
  let stopped = false;
  try {
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        result = next.value;
        break;
      }
      const id = next.value.tokens[0]!;
      count++;
      if (id !== newlineId) handle.generated += lm.decode([id]);
      gen.textContent = handle.generated;
    }
  } catch (e) {
    if (!controller.signal.aborted) throw e;
    stopped = true; // the stream disposed the KV cache
  } finally {
    if (!result) await stream.return(undefined as never); // ended early: the stream frees what it holds
    disposeCache(result?.state);
    if (result) {
      handle.generated = lm.decode(result.tokens[0]!); // keepStop: false, so without the newline
      gen.textContent = handle.generated;
      try {
        JSON.parse(handle.generated);
        handle.valid = true;
        validity.textContent = 'valid JSON ✓';
      } catch (e) {
        handle.valid = false;
        const cut = result.finishReasons[0] === 'length' ? ` (cut at ${maxNewTokens} tokens: raise max tokens)` : '';
        validity.textContent = `not valid JSON: ${e instanceof Error ? e.message : String(e)}${cut}`;
      }
      validity.dataset.valid = String(handle.valid);
    }
    const seconds = (performance.now() - t0) / 1000;
    handle.tokensPerSecond = count / seconds;
    const speed = $('speed');
    speed.textContent = `${count} tokens in ${seconds.toFixed(2)} s · ${handle.tokensPerSecond.toFixed(1)} tokens/s`;
    speed.dataset.tokensPerSecond = String(handle.tokensPerSecond);
    status(stopped ? 'stopped' : result ? 'done' : 'failed');
    handle.generating = false;
    button.textContent = 'Generate';
    controller = undefined;
    syncButton();
    showMemory();
  }
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  // ?backend=webgl|webgpu forces one; a software WebGPU adapter (SwiftShader) is only used when asked.
  const forced = params.get('backend');
  const choice = await selectBackend({
    candidates: forced ? [forced] : ['webgpu', 'webgl'],
    allowSoftwareGpu: forced === 'webgpu' || params.has('software'),
  });
  $('backend').textContent = tf.getBackend();
  $('backend').dataset.selected = choice.name;
  const skipped = choice.attempts.filter((a) => !a.ok).map((a) => `${a.name}: ${a.why}`);
  $('backend-why').textContent = skipped.length ? `(skipped ${skipped.join('; ')})` : '';

  cm = await loadCharModel(new URL('model.json', location.href).href);
  handle.vocab = cm.vocab;
  handle.lm = cm;

  for (const id of [...SLIDERS, ...PICKER_SLIDERS]) {
    const input = $<HTMLInputElement>(id);
    const show = (): void => {
      $(`${id}-value`).textContent = input.value;
    };
    show();
    input.addEventListener('input', () => {
      show();
      if (!LENGTH_SLIDERS.includes(id)) updateSampler();
    });
  }
  for (const id of SELECTS) $(id).addEventListener('input', updateSampler);
  updateSampler(); // the controls' state, also when the browser restored it
  let promptTimer: ReturnType<typeof setTimeout> | undefined;
  $('prompt').addEventListener('input', () => {
    clearTimeout(promptTimer);
    promptTimer = setTimeout(() => {
      if (!handle.generating) showPromptDistribution();
    }, 200);
  });
  const button = $<HTMLButtonElement>('generate');
  button.addEventListener('click', () => {
    if (controller) controller.abort(new DOMException('stopped by the user', 'AbortError'));
    else (handle.mode === 'json' ? runJson() : run()).catch(fail);
  });
  const schemaSelect = $<HTMLSelectElement>('schema');
  for (const name of Object.keys(JSON_SCHEMAS)) schemaSelect.add(new Option(name, name));
  schemaSelect.addEventListener('input', showSchema);
  showSchema();
  $('mode').addEventListener('input', () => {
    setMode($<HTMLSelectElement>('mode').value === 'json' ? 'json' : 'poem').catch(fail);
  });

  showPromptDistribution(); // also compiles the model's shaders before the first run
  await render();
  // Likewise the draw's shaders (a fresh sampler then starts at step 0 again).
  const warm = current.sample(held!);
  await warm.data();
  warm.dispose();
  current.reset();
  readyStatus.poem = `model loaded: ${cm.vocab.length} characters, context ${cm.contextLength}`;
  status(readyStatus.poem);
  handle.ready = true;
  syncButton();
  if ($<HTMLSelectElement>('mode').value === 'json') await setMode('json'); // the browser restored the select
}

main().catch((e) => {
  status('failed');
  fail(e);
});
