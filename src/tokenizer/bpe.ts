/**
 * Byte-fallback BPE with the semantics of HF tokenizers' `BPE` model (models/bpe/word.rs):
 *
 * 1. Every code point of the normalised text becomes one symbol: its single-character piece if
 *    the vocabulary has one, else one `<0xHH>` piece per UTF-8 byte (byte fallback), else
 *    `<unk>` (consecutive unknowns fused when `fuse_unk`).
 * 2. Repeatedly merge the adjacent pair with the lowest merge rank; among equal ranks the
 *    leftmost pair goes first. HF does this with a heap whose stale entries it detects by the
 *    merged id; since symbols only grow, an entry is stale exactly when its pair changed, which
 *    is what checking the current pair's rank detects here.
 *
 * Gemma's normaliser only turns ' ' into '▁' and there is no pre-tokenizer, so HF runs BPE over
 * whole text segments. When no merge joins a piece not ending in '▁' to a piece starting with
 * '▁' (checked per vocabulary; true for Gemma, whose pieces only carry '▁' as a prefix run), no
 * symbol can ever span the point where a run of '▁' starts, so segments are cut there into
 * word-sized chunks whose results are cached. Output is identical to one BPE over the segment.
 */
import type { TokenizerSpec } from './spec.js';
import { CHUNK_HASH_MUL, ChunkCache } from './chunk-cache.js';
import { PieceIndex } from './piece-index.js';
import { bytePiece } from './spec.js';

const SPACE = 0x2581;
const NONE = -1;
/** Chunks up to this many code units are merged by linear scans instead of a heap. */
const SMALL = 48;
const CACHE_MAX_KEY = 64;
const TWO32 = 4294967296;
const SCRATCH_KEEP = 1 << 16;

export class BpeModel {
  private readonly bmpIds = new Int32Array(65536).fill(NONE);
  private readonly astralIds = new Map<number, number>();
  private readonly byteIds = new Int32Array(256).fill(NONE);
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  /** Open-addressing table (left, right) → rank; the merged id is `mergeNew[rank]`. */
  private readonly keyL: Int32Array;
  private readonly keyR: Int32Array;
  private readonly slotRank: Int32Array;
  private readonly mask: number;
  private readonly mergeNew: Int32Array;
  readonly chunkAtSpaces: boolean;
  private readonly cache = new ChunkCache(CACHE_MAX_KEY);
  private sym: Int32Array = new Int32Array(256);
  private nxt: Int32Array = new Int32Array(256);
  private prv: Int32Array = new Int32Array(256);
  private rank: Int32Array = new Int32Array(256);
  private heap: Float64Array = new Float64Array(256);

  constructor(spec: TokenizerSpec, index = new PieceIndex(spec.pieces)) {
    const { pieces, merges } = spec;
    for (let id = 0; id < pieces.length; id++) {
      const p = pieces[id]!;
      const cp = p.codePointAt(0)!;
      if (p.length === 1 && this.bmpIds[cp] === NONE) this.bmpIds[cp] = id;
      else if (p.length === 2 && cp > 0xffff && !this.astralIds.has(cp)) this.astralIds.set(cp, id);
    }
    for (let b = 0; b < 256; b++) this.byteIds[b] = index.get(bytePiece(b));
    this.unkId = spec.unkId;
    this.fuseUnk = spec.fuseUnk;

    const nm = merges.length >> 1;
    let cap = 1024;
    while (cap < nm * 2) cap <<= 1;
    this.mask = cap - 1;
    this.keyL = new Int32Array(cap).fill(NONE);
    this.keyR = new Int32Array(cap);
    this.slotRank = new Int32Array(cap);
    this.mergeNew = new Int32Array(nm).fill(NONE);
    let crossesSpaceRun = false;
    for (let r = 0; r < nm; r++) {
      const l = merges[2 * r]!;
      const rt = merges[2 * r + 1]!;
      const merged = index.getConcat(l, rt);
      // HF refuses to load a merge whose result is not a piece; such a merge can never apply.
      if (merged === NONE) continue;
      this.mergeNew[r] = merged;
      // Like HF's HashMap built from the merges list, a repeated pair keeps its last rank.
      let h = hash(l, rt) & this.mask;
      while (this.keyL[h] !== NONE && !(this.keyL[h] === l && this.keyR[h] === rt)) h = (h + 1) & this.mask;
      this.keyL[h] = l;
      this.keyR[h] = rt;
      this.slotRank[h] = r;
      const left = pieces[l]!;
      if (pieces[rt]!.charCodeAt(0) === SPACE && left.charCodeAt(left.length - 1) !== SPACE) crossesSpaceRun = true;
    }
    this.chunkAtSpaces = !crossesSpaceRun && this.bmpIds[SPACE] !== NONE;
  }

  /** Rank of the merge (l, r), or -1. */
  private rankOf(l: number, r: number): number {
    const keyL = this.keyL;
    let h = hash(l, r) & this.mask;
    for (;;) {
      const k = keyL[h]!;
      if (k === NONE) return NONE;
      if (k === l && this.keyR[h] === r) return this.slotRank[h]!;
      h = (h + 1) & this.mask;
    }
  }

  /**
   * Appends the ids of `text[from, to)` to `out`. Gemma's normaliser (' ' → '▁') is applied on
   * the fly: a space is read as '▁' when chunking and symbolising.
   */
  encode(text: string, from: number, to: number, out: number[]): void {
    let start = from;
    let h = 0;
    if (this.chunkAtSpaces) {
      let prevSpace = true;
      for (let i = from; i < to; i++) {
        const c = text.charCodeAt(i);
        const space = c === 0x20 || c === SPACE;
        if (space && !prevSpace) {
          this.encodeChunk(text, start, i, h, out);
          start = i;
          h = 0;
        }
        prevSpace = space;
        h = (Math.imul(h, CHUNK_HASH_MUL) + c) | 0;
      }
    } else if (to - from <= CACHE_MAX_KEY) {
      for (let i = from; i < to; i++) h = (Math.imul(h, CHUNK_HASH_MUL) + text.charCodeAt(i)) | 0;
    }
    this.encodeChunk(text, start, to, h, out);
  }

  /** BPE of `text[start, end)` (raw text), whose hash is `h` (only meaningful for cacheable lengths). */
  private encodeChunk(text: string, start: number, end: number, h: number, out: number[]): void {
    if (start === end) return;
    const hit = this.cache.get(text, start, end, h);
    if (hit !== undefined) {
      for (let k = 0; k < hit.length; k++) out.push(hit[k]!);
      return;
    }
    const chunk = start === 0 && end === text.length ? text : text.slice(start, end);
    const n = this.symbolize(chunk);
    const head = n === 0 ? NONE : n <= SMALL ? this.mergeSmall(n) : this.mergeHeap(n);
    const sym = this.sym;
    const nxt = this.nxt;
    if (chunk.length > CACHE_MAX_KEY) {
      for (let i = head; i !== NONE; i = nxt[i]!) out.push(sym[i]!);
      if (this.sym.length > SCRATCH_KEEP) this.resetScratch();
      return;
    }
    let count = 0;
    for (let i = head; i !== NONE; i = nxt[i]!) count++;
    const ids = new Int32Array(count);
    count = 0;
    for (let i = head; i !== NONE; i = nxt[i]!) {
      ids[count++] = sym[i]!;
      out.push(sym[i]!);
    }
    this.cache.set(chunk, h, ids);
  }

  /** Fills `sym` with the initial symbols of `chunk` (HF `BPE::merge_word`); returns their count. */
  private symbolize(chunk: string): number {
    let sym = this.sym;
    let n = 0;
    let pendingUnk = false;
    for (let i = 0; i < chunk.length; i++) {
      if (n + 5 > sym.length) sym = this.grow(n + 5);
      let cp = chunk.charCodeAt(i);
      if (cp === 0x20) cp = SPACE;
      let id: number;
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < chunk.length) {
        const lo = chunk.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i++;
        }
        id = cp > 0xffff ? (this.astralIds.get(cp) ?? NONE) : this.bmpIds[cp]!;
      } else {
        id = this.bmpIds[cp]!;
      }
      if (id !== NONE) {
        if (pendingUnk) {
          sym[n++] = this.unkId;
          pendingUnk = false;
        }
        sym[n++] = id;
        continue;
      }
      const m = this.appendBytes(cp, n);
      if (m > n) {
        // HF adds byte-fallback symbols without first flushing a pending <unk>.
        n = m;
        continue;
      }
      if (this.unkId === NONE) continue;
      if (pendingUnk && !this.fuseUnk) sym[n++] = this.unkId;
      pendingUnk = true;
    }
    if (pendingUnk) sym[n++] = this.unkId;
    return n;
  }

  /** Writes the byte pieces of `cp` at `sym[at…]`; returns the new end, or `at` if a byte piece is missing. */
  private appendBytes(cp: number, at: number): number {
    const b = this.byteIds;
    const sym = this.sym;
    let ids: number[];
    if (cp < 0x80) ids = [b[cp]!];
    else if (cp < 0x800) ids = [b[0xc0 | (cp >> 6)]!, b[0x80 | (cp & 63)]!];
    else if (cp < 0x10000) ids = [b[0xe0 | (cp >> 12)]!, b[0x80 | ((cp >> 6) & 63)]!, b[0x80 | (cp & 63)]!];
    else ids = [b[0xf0 | (cp >> 18)]!, b[0x80 | ((cp >> 12) & 63)]!, b[0x80 | ((cp >> 6) & 63)]!, b[0x80 | (cp & 63)]!];
    for (const id of ids) if (id === NONE) return at;
    for (const id of ids) sym[at++] = id;
    return at;
  }

  /** Lowest-rank-first merging by linear scans; returns the index of the first symbol. */
  private mergeSmall(n: number): number {
    const { sym, nxt, prv, rank } = this;
    for (let i = 0; i < n; i++) {
      nxt[i] = i + 1 < n ? i + 1 : NONE;
      prv[i] = i - 1;
      rank[i] = i + 1 < n ? this.rankOf(sym[i]!, sym[i + 1]!) : NONE;
    }
    for (;;) {
      let best = NONE;
      let bestRank = 0x7fffffff;
      for (let i = 0; i !== NONE; i = nxt[i]!) {
        const r = rank[i]!;
        if (r !== NONE && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best === NONE) return 0;
      const right = nxt[best]!;
      sym[best] = this.mergeNew[bestRank]!;
      const after = nxt[right]!;
      nxt[best] = after;
      if (after !== NONE) prv[after] = best;
      rank[best] = after !== NONE ? this.rankOf(sym[best]!, sym[after]!) : NONE;
      const before = prv[best]!;
      if (before !== NONE) rank[before] = this.rankOf(sym[before]!, sym[best]!);
    }
  }

  /** The same merge order with a 4-ary min-heap keyed by rank·2³² + position: O(n log n). */
  private mergeHeap(n: number): number {
    const { sym, nxt, prv } = this;
    let heap = this.heap;
    let size = 0;
    const push = (key: number): void => {
      if (size === heap.length) {
        const bigger = new Float64Array(heap.length * 2);
        bigger.set(heap);
        heap = this.heap = bigger;
      }
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 2;
        if (heap[p]! <= key) break;
        heap[i] = heap[p]!;
        i = p;
      }
      heap[i] = key;
    };
    for (let i = 0; i < n; i++) {
      nxt[i] = i + 1 < n ? i + 1 : NONE;
      prv[i] = i - 1;
      if (i + 1 < n) {
        const r = this.rankOf(sym[i]!, sym[i + 1]!);
        if (r !== NONE) push(r * TWO32 + i);
      }
    }
    while (size > 0) {
      const top = heap[0]!;
      const last = heap[--size]!;
      let i = 0;
      for (;;) {
        const first = 4 * i + 1;
        if (first >= size) break;
        let c = first;
        let min = heap[first]!;
        const stop = first + 4 < size ? first + 4 : size;
        for (let k = first + 1; k < stop; k++) {
          if (heap[k]! < min) {
            min = heap[k]!;
            c = k;
          }
        }
        if (min >= last) break;
        heap[i] = min;
        i = c;
      }
      heap[i] = last;

      const r = Math.floor(top / TWO32);
      const pos = top - r * TWO32;
      if (sym[pos] === NONE) continue;
      const right = nxt[pos]!;
      if (right === NONE || this.rankOf(sym[pos]!, sym[right]!) !== r) continue;
      sym[pos] = this.mergeNew[r]!;
      sym[right] = NONE;
      const after = nxt[right]!;
      nxt[pos] = after;
      if (after !== NONE) prv[after] = pos;
      const before = prv[pos]!;
      if (before !== NONE) {
        const rb = this.rankOf(sym[before]!, sym[pos]!);
        if (rb !== NONE) push(rb * TWO32 + before);
      }
      if (after !== NONE) {
        const ra = this.rankOf(sym[pos]!, sym[after]!);
        if (ra !== NONE) push(ra * TWO32 + pos);
      }
    }
    return 0;
  }

  /** Enlarges the scratch arrays, keeping the symbols written so far; returns the new `sym`. */
  private grow(min: number): Int32Array {
    let len = this.sym.length;
    while (len < min) len *= 2;
    const sym = new Int32Array(len);
    sym.set(this.sym);
    this.sym = sym;
    this.nxt = new Int32Array(len);
    this.prv = new Int32Array(len);
    this.rank = new Int32Array(len);
    return sym;
  }

  /** Drops the large buffers a huge chunk needed. */
  private resetScratch(): void {
    this.sym = new Int32Array(256);
    this.nxt = new Int32Array(256);
    this.prv = new Int32Array(256);
    this.rank = new Int32Array(256);
    this.heap = new Float64Array(256);
  }
}

function hash(l: number, r: number): number {
  let h = Math.imul(l, 0x9e3779b1) ^ Math.imul(r + 0x632be5ab, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}
