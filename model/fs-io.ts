// A tfjs IOHandler on the local file system (Node only), so that models load and save without
// @tensorflow/tfjs-node. Layout: <dir>/model.json (topology, weights manifest, metadata) and
// <dir>/weights.bin, the same files tf.io.http loads in a browser.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { loadCharModel, type CharModel } from './char-model.js';
import { loadTransformer, type TransformerLM } from './transformer.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';

/** The committed model: <repo>/model/weights. */
export const DEFAULT_WEIGHTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'weights');

/**
 * An IOHandler that saves to and loads from `dir`. Every shard named in the manifest is read,
 * so models written by other tools (several .bin shards) load too.
 *
 * @example
 * await model.save(fileSystemIO('model/weights'));
 * const again = await tfl.loadLayersModel(fileSystemIO('model/weights'));
 */
export function fileSystemIO(dir: string): tf.io.IOHandler {
  return {
    async save(artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
      const topology = artifacts.modelTopology;
      if (topology === undefined || topology instanceof ArrayBuffer) {
        throw new Error('fileSystemIO.save: the model topology must be JSON (got a binary or no topology)');
      }
      mkdirSync(dir, { recursive: true });
      const weights = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const manifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }];
      const json: tf.io.ModelJSON = { modelTopology: topology, weightsManifest: manifest };
      // Copy the optional fields that are set (exactOptionalPropertyTypes: never write undefined).
      for (const key of [
        'format',
        'generatedBy',
        'convertedBy',
        'trainingConfig',
        'signature',
        'userDefinedMetadata',
        'modelInitializer',
        'initializerSignature',
      ] as const) {
        if (artifacts[key] !== undefined) Object.assign(json, { [key]: artifacts[key] });
      }
      writeFileSync(path.join(dir, WEIGHTS_BIN), new Uint8Array(weights));
      writeFileSync(path.join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
    async load(): Promise<tf.io.ModelArtifacts> {
      const json = JSON.parse(readFileSync(path.join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const p of group.paths) {
            const bytes = readFileSync(path.join(dir, p));
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** Loads the character model from a folder (default: the committed weights in model/weights). */
export async function loadCharModelFromDisk(dir: string = DEFAULT_WEIGHTS_DIR): Promise<CharModel> {
  return loadCharModel(fileSystemIO(dir));
}

/** The committed transformer: <repo>/model/transformer/weights. */
export const DEFAULT_TRANSFORMER_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'transformer', 'weights');

/** Loads the character transformer from a folder (default: the committed weights in model/transformer/weights). */
export async function loadTransformerFromDisk(dir: string = DEFAULT_TRANSFORMER_DIR): Promise<TransformerLM> {
  return loadTransformer(fileSystemIO(dir));
}

/** The committed JSON character transformer: <repo>/model/json/weights. */
export const DEFAULT_JSON_MODEL_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'json', 'weights');

/**
 * Loads the JSON character transformer (ASCII vocabulary, model/json/vocab.ts) from a folder
 * (default: the committed weights in model/json/weights). Its vocabulary is `lm.vocab` (id -> text)
 * and its special ids `lm.config.padId`, `unkId` and `newlineId` (the end of a record).
 */
export async function loadJsonModelFromDisk(dir: string = DEFAULT_JSON_MODEL_DIR): Promise<TransformerLM> {
  return loadTransformer(fileSystemIO(dir));
}
