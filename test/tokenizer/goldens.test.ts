import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizerFromHfJson } from '../../src/tokenizer/hf-json.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { gemmaJson, goldens } from './helpers.js';

function checkGoldens(name: string, load: () => Tokenizer | Promise<Tokenizer>): void {
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

checkGoldens('tokenizer.json', () => tokenizerFromHfJson(gemmaJson().json, gemmaJson().config));
