/**
 * Byte-for-byte against llama.cpp's own quantizer: fixtures/llama-quant.json records, for tiny
 * random Gemmas, the storage type llama_model_quantize chose for every tensor and a SHA-256 of
 * the bytes it wrote (plain types with --pure, presets with its mix rules). Converting the same
 * weights from a Hugging Face folder must give the same types and the same bytes: the same
 * quantizers (Q8_0, Q4_0, … Q6_K), the same norm offset (fround(1 + w)), the same Q4_K_M /
 * Q4_K_S / Q5_K_M / Q5_K_S choices and the same fallbacks for rows that K-quants do not divide.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/convert/convert.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { ggmlTypeName } from '../../src/formats/ggml-types.js';
import { readGguf } from '../../src/formats/gguf.js';
import { randomWeights, tmpDir } from '../helpers/tiny-models.js';
import { FIXTURE_CONFIGS } from './fixtures/llama-quant-cases.js';
import { writeHfModel } from './helpers.js';

interface Run { config: string; type: string; fileType: number; tensors: Record<string, string> }
const fixture: { runs: Run[] } = JSON.parse(readFileSync(path.join(__dirname, 'fixtures', 'llama-quant.json'), 'utf8'));

async function describeFile(file: string): Promise<{ fileType: unknown; tensors: Record<string, string> }> {
  const src = await openFileSource(file);
  try {
    const g = await readGguf(src);
    const tensors: Record<string, string> = {};
    for (const t of g.tensors) {
      tensors[t.name] = `${ggmlTypeName(t.type)} ${createHash('sha256').update(await src.read(t.offset, t.byteLength)).digest('hex').slice(0, 16)}`;
    }
    return { fileType: g.metadata.get('general.file_type'), tensors };
  } finally {
    await src.close();
  }
}

describe.each(Object.entries(FIXTURE_CONFIGS))('llama.cpp quantizer, %s model', (key, { config, seed }) => {
  const dir = tmpDir('gemma-convert-lq-');
  const runs = fixture.runs.filter((r) => r.config === key);
  let hf: Promise<string> | undefined;
  const source = () => (hf ??= writeHfModel(path.join(dir, 'hf'), config, randomWeights(config, { seed })));

  it.each(runs.map((r) => [r.type, r] as const))('%s: same tensor types and bytes', async (type, run) => {
    const out = path.join(dir, `${type}.gguf`);
    await convertModel(await source(), out, { type, threads: key === 'k' ? 2 : 1 });
    const ours = await describeFile(out);
    expect(ours.fileType).toBe(run.fileType);
    expect(ours.tensors).toEqual(run.tensors);
  });
});
