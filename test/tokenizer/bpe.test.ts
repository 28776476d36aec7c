/**
 * The optimised encoder (chunking at '▁' runs, chunk cache, linear-scan and heap merging)
 * against a deliberately naive implementation of HF's BPE over whole segments.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { specFromHfJson } from '../../src/tokenizer/hf-json.js';
import { mergesFromScores, scoresFromMerges, type TokenizerSpec } from '../../src/tokenizer/spec.js';
import { GemmaTokenizer } from '../../src/tokenizer/tokenizer.js';
import { gemmaJson } from './helpers.js';

/** HF BPE, literally: lowest-rank adjacent pair first, leftmost on ties, over the whole segment. */
function naiveEncoder(spec: TokenizerSpec): (text: string) => number[] {
  const index = new Map<string, number>();
  spec.pieces.forEach((p, i) => {
    if (!index.has(p)) index.set(p, i);
  });
  const ranks = new Map<string, number>();
  for (let r = 0; r < spec.merges.length / 2; r++) ranks.set(`${spec.merges[2 * r]},${spec.merges[2 * r + 1]}`, r);
  return (text) => naiveEncode(spec, index, ranks, text);
}

function naiveEncode(spec: TokenizerSpec, index: Map<string, number>, ranks: Map<string, number>, text: string): number[] {
  const added = [...spec.addedTokens].sort((a, b) => b.content.length - a.content.length);
  const out: number[] = [];
  const bpe = (segment: string): void => {
    const syms: number[] = [];
    for (const ch of segment.replaceAll(' ', '▁')) {
      const id = index.get(ch);
      if (id !== undefined) syms.push(id);
      else for (const b of new TextEncoder().encode(ch)) syms.push(index.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
    }
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = ranks.get(`${syms[i]},${syms[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      syms.splice(best, 2, index.get(spec.pieces[syms[best]!]! + spec.pieces[syms[best + 1]!]!)!);
    }
    out.push(...syms);
  };
  let plain = 0;
  let i = 0;
  while (i < text.length) {
    const t = added.find((a) => text.startsWith(a.content, i));
    if (!t) {
      i++;
      continue;
    }
    if (plain < i) bpe(text.slice(plain, i));
    out.push(t.id);
    plain = i = i + t.content.length;
  }
  if (plain < text.length) bpe(text.slice(plain));
  return out;
}

describe('BPE engine', () => {
  let spec: TokenizerSpec;
  let tok: GemmaTokenizer;
  let texts: string[];

  beforeAll(() => {
    spec = specFromHfJson(gemmaJson().json, gemmaJson().config);
    tok = new GemmaTokenizer(spec);
    let s = 7;
    const rnd = (n: number): number => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s >>> 4) % n;
    };
    const piece = (): string => spec.pieces[217 + rnd(spec.pieces.length - 217)]!;
    texts = [
      'abcabcabc'.repeat(40),
      '漢字かなカナ한글'.repeat(30),
      '😀🎉'.repeat(100),
      ' '.repeat(200) + 'x',
      'x' + '\t'.repeat(100),
      '<<<>>>'.repeat(50),
      'a'.repeat(1000),
    ];
    for (let k = 0; k < 60; k++) {
      let t = '';
      const n = 5 + rnd(120);
      for (let j = 0; j < n; j++) t += rnd(3) === 0 ? piece().replaceAll('▁', '') : piece().replaceAll('▁', ' ');
      texts.push(t);
    }
  });

  it('chunks at the start of every space run for Gemma', () => {
    expect((tok as unknown as { bpe: { chunkAtSpaces: boolean } }).bpe.chunkAtSpaces).toBe(true);
  });

  it('matches naive whole-segment BPE, on short and long (heap-merged) chunks', () => {
    const naive = naiveEncoder(spec);
    for (const text of texts) expect(tok.encode(text, { addBos: false }), JSON.stringify(text.slice(0, 60))).toEqual(naive(text));
  });

  it('gives the same ids when encoding the same text again (cache hits)', () => {
    for (const text of texts.slice(0, 20)) expect(tok.encode(text)).toEqual(tok.encode(text));
  });

  it('regenerates HF merges exactly from rank-derived scores', () => {
    const again = mergesFromScores(spec.pieces, scoresFromMerges(spec));
    expect(again.length).toBe(spec.merges.length);
    expect(Buffer.from(again.buffer).equals(Buffer.from(spec.merges.buffer))).toBe(true);
  });
});
