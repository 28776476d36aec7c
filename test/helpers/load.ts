import { RefBackend } from '../../src/backend/ref/ref-backend.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { GemmaModel } from '../../src/model/gemma.js';
import { loadWeights } from '../../src/model/weights.js';
import { Session } from '../../src/engine/session.js';
import path from 'node:path';
import { createDemoModel } from '../../src/engine/demo.js';
import { loadModel, type Model } from '../../src/engine/model.js';
import { tmpDir } from './tiny-models.js';

/** Loads a checkpoint onto the reference backend without a tokenizer (for logits tests). */
export async function loadRef(source: string): Promise<{ model: GemmaModel; session: (ctx?: number) => Session }> {
  const ckpt = await openCheckpoint(source);
  try {
    const backend = new RefBackend();
    const model = new GemmaModel(backend, ckpt.config, await loadWeights(ckpt, backend));
    return { model, session: (ctx = ckpt.config.contextLength) => new Session(model, ctx) };
  } finally {
    await ckpt.close();
  }
}

/** Writes the demo model (real vocabulary, random weights) into a fresh temporary folder and loads it. */
export async function loadDemoModel(): Promise<Model> {
  const dir = path.join(tmpDir(), 'demo');
  await createDemoModel(dir);
  return loadModel(dir);
}
