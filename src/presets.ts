// Task presets: the seed article's recommended temperature ranges by task, as ready sampler
// options. Never imports tfjs.
import { SamplingError } from './errors.js';
import { normalizeOptions } from './options.js';
import type { SamplerOptions } from './types.js';

/** The tasks of the article's table of recommended temperatures. */
export type TaskName = 'code' | 'translation' | 'summarisation' | 'dialogue' | 'creative' | 'brainstorming';

/** One row of the table: the recommended range and ready options for `createSampler`. */
export interface TaskPreset {
  /** The task. */
  readonly task: TaskName;
  /** What the task is, in words. */
  readonly description: string;
  /** The article's recommended temperatures, [low, high] inclusive. */
  readonly range: readonly [low: number, high: number];
  /** Ready options: the middle of the range and min-p 0.05; no seed. */
  readonly options: Readonly<SamplerOptions>;
  /** Why this filter, in one sentence. */
  readonly why: string;
}

// One tail filter for every task (why: see TASK_PRESETS); examples/article/task-presets.ts
// prints the contrast with top-p.
const MIN_P = 0.05;
const WHY = 'min-p 0.05: only tokens ≥ 1/20 as likely as the top one after temperature; the cut (T · ln 20 logits) widens with T';

function preset(task: TaskName, description: string, low: number, high: number): TaskPreset {
  const temperature = Math.round(((low + high) / 2) * 1000) / 1000;
  return Object.freeze({
    task,
    description,
    range: Object.freeze([low, high] as const),
    options: Object.freeze({ temperature, minP: MIN_P }),
    why: WHY,
  });
}

/**
 * Recommended sampler settings by task, from the seed article's table of temperature ranges:
 *
 * | task | range | `options` |
 * | --- | --- | --- |
 * | `code` | 0.2–0.5 | T 0.35, min-p 0.05 |
 * | `translation` | 0.3–0.7 | T 0.5, min-p 0.05 |
 * | `summarisation` | 0.5–0.8 | T 0.65, min-p 0.05 |
 * | `dialogue` | 0.7–1.0 | T 0.85, min-p 0.05 |
 * | `creative` | 0.8–1.2 | T 1.0, min-p 0.05 |
 * | `brainstorming` | 1.0–1.5 | T 1.25, min-p 0.05 |
 *
 * The temperature is the middle of the range. min-p 0.05 (applied after temperature) drops
 * every token less than 1/20 as likely as the most probable one: a cut of T · ln 20 logits
 * below the top, which widens as T rises, so the presets go from focused to varied without
 * sampling the long tail — a fixed top-p does not: at T 0.85, top-p 0.95 keeps ~500 tokens of
 * a Zipf-shaped 2000-token row. The ranges are the article's rules of thumb, not measurements:
 * tune within them (see {@link presetOptions}).
 *
 * @example
 * const sampler = createSampler(TASK_PRESETS.code.options); // T 0.35, min-p 0.05
 * TASK_PRESETS.dialogue.range;                               // [0.7, 1]
 */
export const TASK_PRESETS: Readonly<Record<TaskName, TaskPreset>> = Object.freeze({
  code: preset('code', 'code generation', 0.2, 0.5),
  translation: preset('translation', 'translation', 0.3, 0.7),
  summarisation: preset('summarisation', 'summarisation', 0.5, 0.8),
  dialogue: preset('dialogue', 'dialogue, chat', 0.7, 1.0),
  creative: preset('creative', 'creative writing', 0.8, 1.2),
  brainstorming: preset('brainstorming', 'brainstorming', 1.0, 1.5),
});

/**
 * The task names, in the article's order (lowest temperatures first).
 *
 * @example
 * TASK_NAMES; // ['code', 'translation', 'summarisation', 'dialogue', 'creative', 'brainstorming']
 */
export const TASK_NAMES: readonly TaskName[] = Object.freeze(Object.keys(TASK_PRESETS) as TaskName[]);

/**
 * The options of a task preset merged with yours (yours win), validated like `createSampler`'s.
 * Throws `SamplingError` for an unknown task (argument `task`) or a bad option.
 *
 * @example
 * const sampler = createSampler(presetOptions('dialogue', { seed: 7 }));
 * presetOptions('code', { temperature: 0.2 }); // { temperature: 0.2, minP: 0.05 }
 */
export function presetOptions(task: TaskName, overrides: SamplerOptions = {}): SamplerOptions {
  return mergeChecked(presetOf(task).options, overrides);
}

/**
 * The preset of a task; throws `SamplingError` (argument `task`) for an unknown name.
 *
 * @example
 * const { options, description } = taskPreset('code');
 * const sampler = createSampler(options);
 */
export function taskPreset(task: TaskName): TaskPreset {
  return presetOf(task);
}

function presetOf(task: unknown): TaskPreset {
  if (typeof task !== 'string' || !Object.hasOwn(TASK_PRESETS, task)) {
    throw new SamplingError('task', `must be one of ${TASK_NAMES.join(', ')}`, task);
  }
  return TASK_PRESETS[task as TaskName];
}

function mergeChecked(base: Readonly<SamplerOptions>, overrides: SamplerOptions): SamplerOptions {
  if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides))
    throw new SamplingError('overrides', 'must be an object of sampler options', overrides);
  const options: SamplerOptions = { ...base, ...overrides };
  normalizeOptions(options, 'overrides'); // the sampler's own checks: typed errors now, not at createSampler
  return options;
}
