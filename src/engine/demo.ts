/**
 * The demo checkpoint: a tiny Gemma with random weights and the real 256000-piece vocabulary,
 * written as a Hugging Face folder (BF16, like the published checkpoints). It shows the whole
 * pipeline working on a fresh clone, since real weights are licence-gated. Its output is noise.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GgmlType } from '../formats/ggml-types.js';
import type { GemmaConfig } from '../model/config.js';
import { writeGemmaHf } from '../model/export.js';
import { randomTensor } from '../model/random.js';

export const DEMO_CONFIG: GemmaConfig = {
  vocabSize: 256000, hiddenSize: 64, intermediateSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 1,
  headDim: 32, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000,
};

export async function createDemoModel(dir: string): Promise<void> {
  await writeGemmaHf(dir, DEMO_CONFIG, (spec) => randomTensor(spec, { seed: 1234 }), { type: GgmlType.BF16 });
  await writeFile(path.join(dir, 'README.md'),
    '# Demo model: RANDOM WEIGHTS\n\nA tiny Gemma-1-shaped model with random weights, written by `gemma demo`.\n' +
    'It exercises loading, tokenizing and generation; its text is meaningless by design.\n');
}
