/**
 * Full-size loading check (not a test): writes a Gemma-2B-shaped checkpoint with random
 * weights as a sharded BF16 Hugging Face folder (as published: ~5 GB in shards of ≤ 2 GB)
 * once into bench/.models/, then loads it on the reference backend and reports load time,
 * peak RSS and the time of a few reference-backend evaluations.
 *
 *   npx tsx bench/load-full-size.ts [--size 2b|7b] [--backend ref]
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../src/engine/model.js';
import { GgmlType } from '../src/formats/ggml-types.js';
import type { GemmaConfig } from '../src/model/config.js';
import { writeGemmaHf } from '../src/model/export.js';
import { randomTensor } from '../src/model/random.js';

const SHAPES: Record<string, GemmaConfig> = {
  '2b': { vocabSize: 256000, hiddenSize: 2048, intermediateSize: 16384, numLayers: 18, numHeads: 8, numKvHeads: 1, headDim: 256, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000 },
  '7b': { vocabSize: 256000, hiddenSize: 3072, intermediateSize: 24576, numLayers: 28, numHeads: 16, numKvHeads: 16, headDim: 256, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000 },
};

const size = process.argv.includes('--size') ? process.argv[process.argv.indexOf('--size') + 1] : '2b';
const config = SHAPES[size];
if (!config) throw new Error(`--size must be 2b or 7b`);
const dir = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '.models', `gemma-${size}-random-bf16`);

if (!existsSync(path.join(dir, 'config.json'))) {
  console.log(`writing ${dir} (random weights) …`);
  const t = performance.now();
  await writeGemmaHf(dir, config, (spec) => randomTensor(spec, { seed: 1, matrixStd: 0.02, embedStd: 0.01 }),
    { type: GgmlType.BF16, shardBytes: 2e9 });
  console.log(`written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
const t0 = performance.now();
const model = await loadModel(dir, { backend: 'ref' });
const loadS = (performance.now() - t0) / 1000;
const gib = (n: number) => (n / 2 ** 30).toFixed(2);
console.log(`loaded ${model.info.tensorCount} tensors, ${gib(model.info.bytes)} GiB in ${loadS.toFixed(1)} s; RSS ${gib(process.memoryUsage().rss)} GiB`);
const s = model.createSession();
const ids = model.tokenizer.encode('The quick brown fox jumps over the lazy dog.');
let t = performance.now();
await s.eval(ids);
console.log(`prompt of ${ids.length} tokens: ${((performance.now() - t) / 1000).toFixed(1)} s`);
t = performance.now();
await s.eval([235265]);
console.log(`one decode step: ${((performance.now() - t) / 1000).toFixed(1)} s (reference backend)`);
clearInterval(sampler);
console.log(`peak RSS ${gib(Math.max(peak, process.memoryUsage().rss))} GiB`);
await model.dispose();
