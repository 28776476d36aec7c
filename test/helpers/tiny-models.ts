/**
 * Tiny random Gemma checkpoints written by the project's own writers, in a temp folder:
 * HF folders (F32/BF16, single or sharded) and GGUF files (norms stored as 1 + w).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GemmaConfig } from '../../src/model/config.js';
import { writeGemmaGguf, writeGemmaHf } from '../../src/model/export.js';
import { randomTensor, type RandomWeightOptions } from '../../src/model/random.js';
import { gemmaTensorSpecs, type TensorSpec } from '../../src/model/tensor-names.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { syntheticVocab } from './synthetic-vocab.js';

export function tmpDir(prefix = 'gemma-ts-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function tinyConfig(over: Partial<GemmaConfig> = {}): GemmaConfig {
  return {
    vocabSize: 512, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 1,
    headDim: 16, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000, ...over,
  };
}

/** Random weights, cached so every writer of one model sees the same values. */
export function randomWeights(c: GemmaConfig, o: RandomWeightOptions = {}): (spec: TensorSpec) => Float32Array {
  const cache = new Map(gemmaTensorSpecs(c).map((s) => [s.name, randomTensor(s, o)]));
  return (spec) => cache.get(spec.name)!;
}

export async function writeTinyHf(dir: string, c: GemmaConfig, w: (s: TensorSpec) => Float32Array,
  type: GgmlType = GgmlType.F32, shardBytes?: number): Promise<string> {
  await writeGemmaHf(dir, c, w, { type, shardBytes });
  return dir;
}

/** A GGUF llama.cpp can load: it needs a vocabulary as long as the embedding. */
export async function writeTinyGguf(file: string, c: GemmaConfig, w: (s: TensorSpec) => Float32Array,
  type: GgmlType = GgmlType.F32): Promise<string> {
  await writeGemmaGguf(file, c, w, { type, tokenizer: syntheticVocab(c.vocabSize), name: 'tiny random gemma' });
  return file;
}
