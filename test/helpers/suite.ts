// Per-backend suite setup shared by the core suites: switch, prove the switch, and check that
// no test leaves a tensor behind.
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { useBackend } from './backend.js';

export function backendSuite(backend: string): void {
  beforeAll(async () => {
    await useBackend(backend);
    expect(tf.getBackend()).toBe(backend);
  });
  let before = 0;
  beforeEach(() => {
    before = tf.memory().numTensors;
  });
  afterEach(() => {
    expect(tf.memory().numTensors).toBe(before);
  });
}
