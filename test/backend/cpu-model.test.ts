/**
 * End to end: a tiny random Gemma in a GGUF file gives the same logits on the CPU backend as on
 * the reference backend, for a prompt and a chunk (batched matmuls) and for token-by-token
 * decoding (matvecs), within MODEL_TOLERANCE.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import type { Backend } from '../../src/backend/types.js';
import { createCpuBackend } from '../../src/backend/cpu/index.js';
import { Session } from '../../src/engine/session.js';
import { GgmlType, ggmlTypeName } from '../../src/formats/ggml-types.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { GemmaModel } from '../../src/model/gemma.js';
import { loadWeights } from '../../src/model/weights.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';
import { buildKernels, nerr } from './helpers.js';
import { MODEL_TOLERANCE } from './tolerances.js';

async function load(file: string, backend: Backend): Promise<GemmaModel> {
  const ckpt = await openCheckpoint(file);
  try {
    return new GemmaModel(backend, ckpt.config, await loadWeights(ckpt, backend));
  } finally {
    await ckpt.close();
  }
}

/**
 * Logits of a 36-token prompt at every position (the float path of large batches), a 9-token
 * chunk (the integer path of small ones), then of 4 tokens decoded one at a time.
 */
async function logits(model: GemmaModel, ids: number[]): Promise<Float32Array[]> {
  const s = new Session(model, 64);
  const out = [await s.eval(ids.slice(0, 36), { allLogits: true }), await s.eval(ids.slice(36, 45), { allLogits: true })];
  for (const id of ids.slice(45)) out.push(await s.eval([id]));
  s.dispose();
  return out;
}

// hidden 192 = one 4-block group plus a 2-block tail; GQA with two KV heads. The K types need
// rows of whole 256-element super-blocks.
const config = tinyConfig({ hiddenSize: 192, intermediateSize: 384, numHeads: 4, numKvHeads: 2, headDim: 32, vocabSize: 300 });
const configK = tinyConfig({ hiddenSize: 256, intermediateSize: 512, numHeads: 4, numKvHeads: 1, headDim: 64, vocabSize: 300 });
const K_TYPES = new Set([GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_K]);
const dir = tmpDir();
const ids = [2, ...Array.from({ length: 48 }, (_, i) => (i * 53 + 17) % 300)];
const disposers: (() => Promise<void>)[] = [];
beforeAll(buildKernels);
afterAll(async () => { for (const d of disposers) await d(); });

describe.each(Object.keys(MODEL_TOLERANCE).map((t) => [ggmlTypeName(Number(t)), Number(t) as GgmlType] as const))(
  'tiny Gemma %s: cpu backend vs reference', (name, type) => {
    it.each([
      { label: '1 thread', o: { threads: 1 } },
      { label: '2 threads', o: { threads: 2, minParallelWork: 0 } },
      { label: '2 threads, weights over several 1 MiB memories', o: { threads: 2, minParallelWork: 0, arenaBytes: 1 << 20 } },
    ])('$label', async ({ label, o }) => {
      const file = path.join(dir, `tiny-${name}.gguf`);
      const c = K_TYPES.has(type) ? configK : config;
      await writeTinyGguf(file, c, randomWeights(c, { seed: 7 }), type);
      const cpu = await createCpuBackend(o);
      disposers.push(() => cpu.dispose());
      const [a, b] = [await logits(await load(file, cpu), ids), await logits(await load(file, new RefBackend()), ids)];
      const errs = a.map((x, i) => nerr(x, b[i]));
      console.log(`${name}, ${label}: logits normalised error, prompt ${errs[0].toExponential(2)}, chunk ${errs[1].toExponential(2)}, decode max ${Math.max(...errs.slice(2)).toExponential(2)}`);
      for (const e of errs) expect(e).toBeLessThanOrEqual(MODEL_TOLERANCE[type]!);
    });
  });
