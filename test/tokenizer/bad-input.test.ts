/** Hostile input: no crash, and a one-line GemmaError naming the problem where one is due. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { GemmaError } from '../../src/errors.js';
import { tokenizerFromGgufMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { tokenizerFromHfJson } from '../../src/tokenizer/hf-json.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import { tokenizerFromSentencePieceModel, tokenizerToSentencePieceModel } from '../../src/tokenizer/sentencepiece.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';

function expectGemmaError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(GemmaError);
  expect((err as Error).message).toMatch(pattern);
  expect((err as Error).message).not.toContain('\n');
}

async function expectRejects(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GemmaError);
  expect((err as Error).message).toMatch(pattern);
}

describe('bad input', () => {
  let tok: Tokenizer;
  let dir: string;
  beforeAll(async () => {
    tok = await loadTokenizer();
    dir = mkdtempSync(join(tmpdir(), 'gemma-tok-bad-'));
  });

  it('replaces lone surrogates by U+FFFD, as UTF-8 encoding would', () => {
    expect(tok.encode('a\ud800b')).toEqual(tok.encode('a\ufffdb'));
    expect(tok.encode('\udc00')).toEqual(tok.encode('\ufffd'));
    expect(tok.encode('x\ud83d')).toEqual(tok.encode('x\ufffd'));
    expect(tok.decode(tok.encode('a\ud800b', { addBos: false }))).toBe('a\ufffdb');
    expect(tok.encode('😀')).toEqual(tok.encode('\ud83d\ude00'));
  });

  it('handles NUL bytes through byte fallback', () => {
    const ids = tok.encode('a\u0000b\u0000', { addBos: false });
    expect(ids).toContain(217);
    expect(tok.decode(ids)).toBe('a\u0000b\u0000');
  });

  it('encodes a 10 MB string in linear time', () => {
    const unit = 'Hello, world! 你好 😀 <start_of_turn> \t\tcode(x) {}\n  ';
    const text = unit.repeat(Math.ceil((10 * 1024 * 1024) / unit.length));
    const t0 = performance.now();
    const ids = tok.encode(text);
    const ms = performance.now() - t0;
    expect(ids.length).toBeGreaterThan(2_000_000);
    expect(ms).toBeLessThan(10_000);
    expect(tok.decode(ids, { skipSpecialTokens: false }).length).toBe(text.length + '<bos>'.length);
  });

  it('encodes 1 MB without any space (one heap-merged chunk)', () => {
    const ids = tok.encode('a'.repeat(1 << 20), { addBos: false });
    expect(tok.decode(ids)).toBe('a'.repeat(1 << 20));
  });

  it('rejects ids outside the vocabulary and non-integers', () => {
    expectGemmaError(() => tok.decode([1, 256000]), /token id 256000 is outside the vocabulary/);
    expectGemmaError(() => tok.decode([-1]), /token id -1/);
    expectGemmaError(() => tok.decode([1.5]), /token id 1.5/);
    expectGemmaError(() => tok.decode([Number.NaN]), /token id NaN/);
    expectGemmaError(() => tok.createStreamDecoder().push(999999), /outside the vocabulary/);
    expectGemmaError(() => tok.idToPiece(300000), /outside the vocabulary/);
    expectGemmaError(() => tok.decode('12' as unknown as number[]), /array/);
    expect(tok.decode([])).toBe('');
  });

  it('rejects non-string text', () => {
    expectGemmaError(() => tok.encode(42 as unknown as string), /expects a string/);
  });

  it('rejects corrupt or unsupported tokenizer.json', () => {
    expectGemmaError(() => tokenizerFromHfJson('{"model": {"type": "BPE", "vocab"'), /tokenizer\.json is not valid JSON/);
    expectGemmaError(() => tokenizerFromHfJson('[]'), /must be a JSON object/);
    expectGemmaError(() => tokenizerFromHfJson({}), /normalizer/);
    const base = {
      normalizer: { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }] },
    };
    const model = { type: 'BPE', byte_fallback: true, vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b'] };
    expect(tokenizerFromHfJson({ ...base, model }).encode('ab', { addBos: false })).toEqual([2]);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, model: { ...model, type: 'Unigram' } }), /Unigram.*not supported/);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, model: { ...model, merges: ['a c'] } }), /merge 0 "a c" uses a piece that is not in the vocabulary/);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, model: { ...model, merges: ['b a'] } }), /produces a piece/);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, model: { ...model, vocab: { a: 0, b: 5 } , merges: [] } }), /token id 1 has no piece/);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, model: { ...model, vocab: { a: 'x' } } }), /non-negative integers/);
    expectGemmaError(() => tokenizerFromHfJson({ ...base, pre_tokenizer: { type: 'Metaspace' }, model }), /pre_tokenizer/);
  });

  it('rejects corrupt tokenizer.model bytes', () => {
    expectGemmaError(() => tokenizerFromSentencePieceModel(new Uint8Array(0)), /no pieces/);
    expectGemmaError(() => tokenizerFromSentencePieceModel(new Uint8Array([0x0a, 0xff])), /corrupt/);
    expectGemmaError(() => tokenizerFromSentencePieceModel(new TextEncoder().encode('{"not": "protobuf"}')), /tokenizer\.model/);
    let s = 1;
    for (let k = 0; k < 200; k++) {
      const junk = Uint8Array.from({ length: 64 + (k % 50) }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 24));
      try {
        tokenizerFromSentencePieceModel(junk);
      } catch (e) {
        expect(e).toBeInstanceOf(GemmaError);
      }
    }
  });

  it('rejects a truncated real tokenizer.model', async () => {
    const model = tokenizerToSentencePieceModel(await loadTokenizer());
    expectGemmaError(() => tokenizerFromSentencePieceModel(model.subarray(0, model.length - 7)), /corrupt/);
  });

  it('refuses to serialise tokenizers it did not create', () => {
    const fake = { ...tok } as Tokenizer;
    expectGemmaError(() => tokenizerToSentencePieceModel(fake), /created by this library/);
  });

  it('rejects bad GGUF tokenizer metadata', () => {
    expectGemmaError(() => tokenizerFromGgufMetadata(new Map()), /has no tokenizer/);
    expectGemmaError(() => tokenizerFromGgufMetadata(new Map([['tokenizer.ggml.model', 'gpt2']])), /"gpt2" is not supported/);
    const meta = new Map<string, unknown>([
      ['tokenizer.ggml.model', 'llama'],
      ['tokenizer.ggml.tokens', ['a', 'b']],
      ['tokenizer.ggml.scores', [0]],
    ]);
    expectGemmaError(() => tokenizerFromGgufMetadata(meta), /scores has 1 entries for 2 tokens/);
    meta.set('tokenizer.ggml.scores', [0, 0]);
    meta.set('tokenizer.ggml.bos_token_id', 7);
    expectGemmaError(() => tokenizerFromGgufMetadata(meta), /bos_token_id 7 is outside/);
  });

  it('reports missing, empty and corrupt files by path', async () => {
    await expectRejects(loadTokenizer(join(dir, 'nope.json')), /no such file: .*nope\.json/);
    writeFileSync(join(dir, 'tokenizer.json'), '{"model": ');
    await expectRejects(loadTokenizer(join(dir, 'tokenizer.json')), /tokenizer\.json.*not valid JSON/);
    writeFileSync(join(dir, 'bad.model'), new Uint8Array([1, 2, 3, 4, 5]));
    await expectRejects(loadTokenizer(join(dir, 'bad.model')), /bad\.model/);
    writeFileSync(join(dir, 'bad.gguf'), 'GGUF-not-really');
    await expectRejects(loadTokenizer(join(dir, 'bad.gguf')), /bad\.gguf/);
    writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
    await expectRejects(loadTokenizer(join(dir, 'tokenizer_config.json')), /has no vocabulary/);
    const empty = mkdtempSync(join(tmpdir(), 'gemma-tok-empty-'));
    await expectRejects(loadTokenizer(empty), /no tokenizer\.json, tokenizer\.model or single \.gguf/);
    await expectRejects(loadTokenizer(''), /non-empty path/);
  });
});
