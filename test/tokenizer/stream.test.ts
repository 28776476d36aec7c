/**
 * Streaming decode concatenates to exactly `decode(ids)` for any id sequence, including
 * multi-byte characters split across byte-fallback tokens and invalid byte runs.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { goldens } from './helpers.js';

function streamAll(tok: Tokenizer, ids: number[], skipSpecialTokens = false): { text: string; parts: string[] } {
  const d = tok.createStreamDecoder({ skipSpecialTokens });
  const parts = ids.map((id) => d.push(id));
  parts.push(d.flush());
  return { text: parts.join(''), parts };
}

const BYTE0 = 217; // <0x00>; the byte pieces are ids 217..472 (226 is '\t')

describe('stream decoder', () => {
  let tok: Tokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer();
  });

  it('byte pieces are where the tests assume', () => {
    expect(tok.idToPiece(BYTE0)).toBe('<0x00>');
    expect(tok.idToPiece(BYTE0 + 0xf0)).toBe('<0xF0>');
    expect(tok.idToPiece(226)).toBe('\t');
  });

  it('matches decode on the golden id sequences', () => {
    for (const g of goldens.decode) {
      expect(streamAll(tok, g.ids).text).toBe(g.text);
      expect(streamAll(tok, g.ids, true).text).toBe(g.text_skip_special);
    }
  });

  it('holds a character split across byte tokens until it is complete', () => {
    const emoji = [...new TextEncoder().encode('😀')].map((b) => BYTE0 + b);
    const hello = tok.encode('hello', { addBos: false });
    const { text, parts } = streamAll(tok, [...hello, ...emoji, ...hello]);
    expect(text).toBe('hello😀hello');
    expect(parts.slice(hello.length, hello.length + emoji.length - 1).join('')).toBe('');
    expect(tok.decode(emoji)).toBe('😀');
  });

  it('emits U+FFFD per byte for invalid runs, as soon as they are invalid', () => {
    const ids = [BYTE0 + 0xe2, BYTE0 + 0x41, BYTE0 + 0x82];
    const { text, parts } = streamAll(tok, ids);
    expect(text).toBe(tok.decode(ids));
    expect(text).toBe('\ufffd\ufffd\ufffd');
    expect(parts[1]).toBe('\ufffd\ufffd');
    const cut = [BYTE0 + 0xf0, BYTE0 + 0x9f];
    expect(streamAll(tok, cut).text).toBe('\ufffd\ufffd');
  });

  it('matches decode on random id sequences rich in byte and special tokens', () => {
    let s = 99;
    const rnd = (n: number): number => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      return (s >>> 8) % n;
    };
    const pool = () => {
      const k = rnd(10);
      if (k < 5) return BYTE0 + (rnd(3) === 0 ? rnd(256) : 0x80 + rnd(0x78));
      if (k < 7) return rnd(8) === 0 ? 0 : [1, 2, 3, 106, 107][rnd(5)]!;
      return rnd(tok.vocabSize);
    };
    for (let i = 0; i < 2000; i++) {
      const ids = Array.from({ length: 1 + rnd(24) }, pool);
      expect(streamAll(tok, ids).text).toBe(tok.decode(ids));
      expect(streamAll(tok, ids, true).text).toBe(tok.decode(ids, { skipSpecialTokens: true }));
    }
  });

  it('round-trips multilingual text through encode and streaming decode', () => {
    const text = 'Emoji 🧑🏽‍🚀 CJK 𠀀𪚥 漢字 and ŧĥïś — done.';
    const ids = tok.encode(text, { addBos: false });
    expect(streamAll(tok, ids).text).toBe(text);
  });

  it('flush resets the decoder', () => {
    const d = tok.createStreamDecoder();
    expect(d.push(BYTE0 + 0xc3)).toBe('');
    expect(d.flush()).toBe('\ufffd');
    expect(d.push(BYTE0 + 0x41)).toBe('');
    expect(d.flush()).toBe('A');
  });
});
