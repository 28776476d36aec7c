/**
 * 100% equality with HF's goldens from every vocabulary source: tokenizer.json (object and
 * file/folder), the bundled default, and a SentencePiece model written by this library.
 * The GGUF source is covered in gguf.test.ts.
 */
import { mkdtempSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tokenizerFromHfJson } from '../../src/tokenizer/hf-json.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { tokenizerFromSentencePieceModel, tokenizerToSentencePieceModel } from '../../src/tokenizer/sentencepiece.js';
import { GEMMA_CONFIG_PATH, GEMMA_JSON_PATH, checkGoldens, gemmaJson } from './helpers.js';

checkGoldens('tokenizer.json (parsed)', () => tokenizerFromHfJson(gemmaJson().json, gemmaJson().config));

checkGoldens('the bundled default vocabulary', () => loadTokenizer());

checkGoldens('a HF folder on disk', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gemma-tok-'));
  copyFileSync(GEMMA_JSON_PATH, join(dir, 'tokenizer.json'));
  copyFileSync(GEMMA_CONFIG_PATH, join(dir, 'tokenizer_config.json'));
  return loadTokenizer(dir);
});

checkGoldens('a tokenizer.model written by tokenizerToSentencePieceModel', () => {
  const model = tokenizerToSentencePieceModel(tokenizerFromHfJson(gemmaJson().json, gemmaJson().config));
  return tokenizerFromSentencePieceModel(model, gemmaJson().config);
});

checkGoldens('a tokenizer.model file with no tokenizer_config.json', async () => {
  const model = tokenizerToSentencePieceModel(tokenizerFromHfJson(gemmaJson().json, gemmaJson().config));
  const dir = mkdtempSync(join(tmpdir(), 'gemma-tok-'));
  writeFileSync(join(dir, 'tokenizer.model'), model);
  return loadTokenizer(join(dir, 'tokenizer.model'));
});
