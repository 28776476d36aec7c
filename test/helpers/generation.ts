import type { GenerateOptions, GenerateResult, StreamChunk } from '../../src/engine/types.js';

/** Every sampler stage switched on, for tests that compare runs token for token. */
export const CHAIN: GenerateOptions = {
  temperature: 1.5, topK: 50, topP: 0.95, minP: 0.02, typicalP: 0.95, repeatPenalty: 2.5, repeatLastN: 32,
  presencePenalty: 0.2, frequencyPenalty: 0.1, logitBias: { 300: 1.5, 301: -2 },
};

/** Drains a generation: its streamed chunks and its final result. */
export async function collect(it: AsyncIterator<StreamChunk, GenerateResult>): Promise<{ chunks: StreamChunk[]; result: GenerateResult }> {
  const chunks: StreamChunk[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return { chunks, result: r.value };
    chunks.push(r.value);
  }
}
