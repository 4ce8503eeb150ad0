// Task presets: the seed article's recommended temperature ranges by task, as ready sampler
// options. Never imports tfjs.
import { SamplingError } from './errors.js';
import { normalizeOptions } from './options.js';
import type { SamplerOptions } from './types.js';

/** The tasks of the article's table of recommended temperatures. */
export type TaskName = 'code' | 'translation' | 'summarisation' | 'dialogue' | 'creative' | 'brainstorming';

/** One row of the table: the recommended range and ready options for `createSampler`. */
export interface TaskPreset {
  readonly task: TaskName;
  /** What the task is, in words. */
  readonly description: string;
  /** The article's recommended temperatures, [low, high] inclusive. */
  readonly range: readonly [low: number, high: number];
  /** Ready options: the middle of the range and a tail filter; no seed. */
  readonly options: Readonly<SamplerOptions>;
  /** Why these filters, in one sentence. */
  readonly why: string;
}

// Filters. Below T = 1 the tempered distribution is already sharp: top-p 0.95 only drops the
// long tail of individually unlikely tokens whose 5% of mass is where the mistakes are. From T = 1
// up, temperature moves mass into that tail and a fixed top-p keeps ever more of it; min-p keeps
// only tokens within a factor m of the most probable one (after temperature), so its cut follows
// the model's confidence — wide when many tokens are plausible, narrow when one is clear.
const LOW_T_WHY = 'top-p 0.95 drops the unlikely tail; at T < 1 it removes little else';
const HIGH_T_WHY = 'min-p cuts the tail relative to the top token, so the high T spreads mass only among plausible tokens';

function preset(task: TaskName, description: string, low: number, high: number, filters: SamplerOptions, why: string): TaskPreset {
  const temperature = Math.round(((low + high) / 2) * 1000) / 1000;
  return Object.freeze({
    task,
    description,
    range: Object.freeze([low, high] as const),
    options: Object.freeze({ temperature, ...filters }),
    why,
  });
}

/**
 * Recommended sampler settings by task, from the seed article's table of temperature ranges:
 *
 * | task | range | `options` |
 * | --- | --- | --- |
 * | `code` | 0.2–0.5 | T 0.35, top-p 0.95 |
 * | `translation` | 0.3–0.7 | T 0.5, top-p 0.95 |
 * | `summarisation` | 0.5–0.8 | T 0.65, top-p 0.95 |
 * | `dialogue` | 0.7–1.0 | T 0.85, top-p 0.95 |
 * | `creative` | 0.8–1.2 | T 1.0, min-p 0.05 |
 * | `brainstorming` | 1.0–1.5 | T 1.25, min-p 0.1 |
 *
 * The temperature is the middle of the range. Below T = 1, top-p 0.95 trims the unlikely tail;
 * from T = 1 up, min-p (relative to the top token, after temperature) trims it instead, since
 * a fixed top-p keeps more and more of a tail that temperature has flattened. The ranges are
 * rules of thumb, not measurements: tune within them (see {@link presetOptions}).
 *
 * @example
 * const sampler = createSampler(TASK_PRESETS.code.options); // T 0.35, top-p 0.95
 * TASK_PRESETS.dialogue.range;                               // [0.7, 1]
 */
export const TASK_PRESETS: Readonly<Record<TaskName, TaskPreset>> = Object.freeze({
  code: preset('code', 'code generation', 0.2, 0.5, { topP: 0.95 }, LOW_T_WHY),
  translation: preset('translation', 'translation', 0.3, 0.7, { topP: 0.95 }, LOW_T_WHY),
  summarisation: preset('summarisation', 'summarisation', 0.5, 0.8, { topP: 0.95 }, LOW_T_WHY),
  dialogue: preset('dialogue', 'dialogue, chat', 0.7, 1.0, { topP: 0.95 }, LOW_T_WHY),
  creative: preset('creative', 'creative writing', 0.8, 1.2, { minP: 0.05 }, HIGH_T_WHY),
  brainstorming: preset('brainstorming', 'brainstorming', 1.0, 1.5, { minP: 0.1 }, HIGH_T_WHY),
});

/** The task names, in the article's order (lowest temperatures first). */
export const TASK_NAMES: readonly TaskName[] = Object.freeze(Object.keys(TASK_PRESETS) as TaskName[]);

/**
 * The options of a task preset merged with yours (yours win), validated like `createSampler`'s.
 * Throws `SamplingError` for an unknown task (argument `task`) or a bad option.
 *
 * @example
 * const sampler = createSampler(presetOptions('dialogue', { seed: 7 }));
 * presetOptions('code', { temperature: 0.2 }); // { temperature: 0.2, topP: 0.95 }
 */
export function presetOptions(task: TaskName, overrides: SamplerOptions = {}): SamplerOptions {
  return mergeChecked(presetOf(task).options, overrides);
}

/** The preset of a task; throws `SamplingError` (argument `task`) for an unknown name. */
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
  if (typeof overrides !== 'object' || overrides === null) throw new SamplingError('overrides', 'must be an object of sampler options', overrides);
  const options: SamplerOptions = { ...base, ...overrides };
  normalizeOptions(options); // the sampler's own checks: typed errors now, not at createSampler
  return options;
}
