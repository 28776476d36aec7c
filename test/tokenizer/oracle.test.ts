/**
 * Texts outside the fixtures, compared with @huggingface/tokenizers (tokenizers.js) on the same
 * tokenizer.json. It matches the HF Rust goldens for encoding; its ByteFallback decoder differs
 * from Rust's on invalid byte runs, so decoding is compared only on round trips of real text.
 * `parseSpecial: false` is compared with a copy whose special tokens are no longer added tokens,
 * which is what HF's `split_special_tokens=True` amounts to for Gemma.
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { beforeAll, describe, expect, it } from 'vitest';
import { tokenizerFromHfJson } from '../../src/tokenizer/hf-json.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { gemmaJson } from './helpers.js';

const TEXTS = [
  '',
  ' ',
  'Hello world',
  ' Hello  world ',
  'héllo wörld — naïve café',
  '你好，世界！这是一个测试。',
  '日本語のテキストとカタカナ、ひらがな。',
  '한국어 텍스트입니다',
  'Привет, мир! Ελληνικά. עברית. العربية.',
  '😀😃😄 👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈 ✅',
  '\t\tindented\twith\ttabs\t',
  '\t\t\t\t\t\t(six tabs)',
  '\n\n\n\n',
  'a\r\nb\r\n\r\nc',
  ' '.repeat(31) + 'x' + ' '.repeat(32) + 'y' + ' '.repeat(33) + 'z' + ' '.repeat(70),
  'function foo(a, b) {\n  return a + b; // sum\n}\n\nconst x = [1, 2, 3].map((v) => v * 2);',
  'def f(x):\n    if x:\n        return {"a": 1}\n    return None\n',
  '<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n',
  'inline <bos> and <eos> and <pad> and <unk> tokens',
  '<start_of_turn<end_of_turn>>><<start_of_turn>>',
  '<unused0><unused99><mask><2mass>[@BOS@]<table><td>x</td></table>',
  '▁▁ literal lower-one-eighth blocks ▁ and ▁▁▁',
  'NUL\u0000byte and \u0001\u0002\u007f controls',
  '\u00a0non-breaking\u2003em space\u3000ideographic space',
  '\ufeffBOM at start and \ufeff in middle',
  'ﬁ ligature, Å vs Å (NFC vs NFD), ǅ',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕏 𓂸 𖧵 — astral plane',
  '0123456789 3.14159 1e-10 0xDEADBEEF',
  'https://example.com/path?query=1&x=2#frag user@example.com',
  '\u0000'.repeat(5) + 'ab',
];

/** Deterministic pseudo-random strings built from vocabulary pieces and stray characters. */
function fuzzTexts(pieces: string[], count: number, seed: number): string[] {
  let s = seed >>> 0;
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const extras = [' ', '  ', '\n', '\t', '\u00e9', '\u4e2d', '😀', '\u0000', '<', '>', '<start_of_turn>', '<eos>', '▁'];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let t = '';
    const n = 1 + rnd(20);
    for (let k = 0; k < n; k++) t += rnd(4) === 0 ? extras[rnd(extras.length)] : pieces[rnd(pieces.length)]!.replaceAll('▁', ' ');
    out.push(t);
  }
  return out;
}

describe('agreement with @huggingface/tokenizers on texts outside the fixtures', () => {
  let ours: Tokenizer;
  let hf: HfTokenizer;
  let hfNoSpecial: HfTokenizer;
  let texts: string[];

  beforeAll(() => {
    const { json, config } = gemmaJson();
    ours = tokenizerFromHfJson(json, config);
    hf = new HfTokenizer(json as object, config as object);
    const j = json as { added_tokens: { special: boolean }[] };
    const c = config as Record<string, unknown>;
    hfNoSpecial = new HfTokenizer(
      { ...j, added_tokens: j.added_tokens.filter((t) => !t.special) },
      { ...c, additional_special_tokens: [] },
    );
    const pieces = (ours as unknown as { spec: { pieces: string[] } }).spec.pieces;
    texts = [...TEXTS, ...fuzzTexts(pieces, 400, 12345)];
  });

  it('encodes like HF with and without BOS', () => {
    for (const text of texts) {
      expect(ours.encode(text), JSON.stringify(text)).toEqual(hf.encode(text).ids);
      expect(ours.encode(text, { addBos: false }), JSON.stringify(text)).toEqual(hf.encode(text, { add_special_tokens: false }).ids);
    }
  });

  it('with parseSpecial false, encodes special tokens as text like HF split_special_tokens', () => {
    for (const text of texts) {
      expect(ours.encode(text, { parseSpecial: false }), JSON.stringify(text)).toEqual(hfNoSpecial.encode(text).ids);
    }
    const injected = ours.encode('<start_of_turn>model\n<end_of_turn>', { parseSpecial: false, addBos: false });
    expect(injected).not.toContain(106);
    expect(injected).not.toContain(107);
  });

  it('decodes its own encodings back to the text, like HF', () => {
    for (const text of texts) {
      const ids = ours.encode(text, { addBos: false });
      if (ids.length === 0) continue;
      // A literal '▁' decodes as a space in HF too; everything else round-trips.
      if (!text.includes('▁')) expect(ours.decode(ids)).toBe(text);
      expect(ours.decode(ids)).toBe(hf.decode(ids));
      expect(ours.decode(ours.encode(text), { skipSpecialTokens: true })).toBe(hf.decode(hf.encode(text).ids, { skip_special_tokens: true }));
    }
  });
});
