/** Tiny Hugging Face folders with a tokenizer, for conversion tests. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { writeGemmaHf } from '../../src/model/export.js';
import type { GemmaConfig } from '../../src/model/config.js';
import type { TensorSpec } from '../../src/model/tensor-names.js';
import { tokenizerFromGgufMetadata, tokenizerToSentencePieceModel } from '../../src/tokenizer/browser.js';
import { syntheticVocab } from '../helpers/synthetic-vocab.js';

/** A made-up SentencePiece tokenizer.model of `size` pieces (see synthetic-vocab.ts). */
export function syntheticTokenizerModel(size: number): Uint8Array {
  return tokenizerToSentencePieceModel(tokenizerFromGgufMetadata(new Map(syntheticVocab(size).map((e) => [e.key, e.value]))));
}

/** An HF folder (config.json, safetensors, tokenizer.model) holding `weights`. */
export async function writeHfModel(dir: string, c: GemmaConfig, weights: (s: TensorSpec) => Float32Array,
  o: { type?: GgmlType; shardBytes?: number; tokenizer?: boolean } = {}): Promise<string> {
  await writeGemmaHf(dir, c, weights, { type: o.type ?? GgmlType.F32, shardBytes: o.shardBytes });
  if (o.tokenizer !== false) writeFileSync(path.join(dir, 'tokenizer.model'), syntheticTokenizerModel(c.vocabSize));
  return dir;
}
