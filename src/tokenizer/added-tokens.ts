/**
 * Splits raw text around added tokens the way HF tokenizers' `AddedVocabulary` does for tokens
 * with `normalized: false` (all of Gemma's): one leftmost-longest, non-overlapping scan over
 * every added token (`<bos>`, `<start_of_turn>`, `<unused0>`, newline runs, `▁▁`, `<table>`, …).
 *
 * When special tokens must not be parsed (HF `split_special_tokens` / `encode_special_tokens`),
 * HF still finds special matches but drops them, leaving their text in the surrounding segment;
 * the scan resumes after the dropped match. This module does the same, and additionally drops
 * special matches that overlap a protected range (chat message content).
 */
import type { AddedTokenSpec } from './spec.js';

interface TrieNode {
  children: Map<number, TrieNode>;
  /** Added token ending here, or -1. */
  token: number;
}

/** A piece of the input: either an added token or plain text to normalise and run through BPE. */
export type Segment = { id: number; start: number; end: number } | { id: -1; start: number; end: number };

export class AddedTokenMatcher {
  private readonly root: TrieNode = { children: new Map(), token: -1 };
  private readonly first = new Uint8Array(65536);
  private readonly tokens: AddedTokenSpec[];

  constructor(tokens: readonly AddedTokenSpec[]) {
    this.tokens = [...tokens];
    this.tokens.forEach((t, k) => {
      let node = this.root;
      for (let i = 0; i < t.content.length; i++) {
        const c = t.content.charCodeAt(i);
        let next = node.children.get(c);
        if (!next) node.children.set(c, (next = { children: new Map(), token: -1 }));
        node = next;
      }
      // HF keeps the first registration of a duplicate content.
      if (node.token === -1) node.token = k;
      this.first[t.content.charCodeAt(0)] = 1;
    });
  }

  /**
   * Segments `text` into added tokens and plain spans, in order. `protectedRanges` is a sorted
   * list of `[start, end)` code-unit ranges in which special tokens are not recognised.
   */
  split(text: string, parseSpecial: boolean, protectedRanges: readonly [number, number][] = []): Segment[] {
    const out: Segment[] = [];
    let plainStart = 0;
    let i = 0;
    let pr = 0;
    const n = text.length;
    const first = this.first;
    while (i < n) {
      if (first[text.charCodeAt(i)] === 0) {
        i++;
        continue;
      }
      const k = this.longestAt(text, i);
      if (k === -1) {
        i++;
        continue;
      }
      const tok = this.tokens[k]!;
      const end = i + tok.content.length;
      if (tok.special) {
        while (pr < protectedRanges.length && protectedRanges[pr]![1] <= i) pr++;
        const overlaps = pr < protectedRanges.length && protectedRanges[pr]![0] < end;
        if (!parseSpecial || overlaps) {
          i = end;
          continue;
        }
      }
      if (plainStart < i) out.push({ id: -1, start: plainStart, end: i });
      out.push({ id: tok.id, start: i, end });
      plainStart = i = end;
    }
    if (plainStart < n) out.push({ id: -1, start: plainStart, end: n });
    return out;
  }

  private longestAt(text: string, start: number): number {
    let node: TrieNode | undefined = this.root;
    let best = -1;
    for (let j = start; j < text.length; j++) {
      node = node.children.get(text.charCodeAt(j));
      if (!node) break;
      if (node.token !== -1) best = node.token;
    }
    return best;
  }
}
