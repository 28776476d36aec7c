import { readFileSync } from 'node:fs';
import path from 'node:path';

export const FIXTURES = path.resolve(__dirname, '../fixtures');
export const TINY_MQA = path.join(FIXTURES, 'hf-tiny-mqa');

export interface GoldenCase { ids: number[]; shape: [number, number]; logits: Float32Array; greedy: number[] }

/** The Hugging Face transformers reference outputs for the tiny MQA model (float32, eager). */
export function loadGoldens(): GoldenCase[] {
  const json = JSON.parse(readFileSync(path.join(TINY_MQA, 'goldens.json'), 'utf8'));
  return json.cases.map((c: { ids: number[]; shape: [number, number]; logits_f32_b64: string; greedy: number[] }) => {
    const buf = Buffer.from(c.logits_f32_b64, 'base64');
    const logits = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    return { ids: c.ids, shape: c.shape, logits, greedy: c.greedy };
  });
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
