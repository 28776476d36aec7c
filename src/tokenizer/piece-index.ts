/**
 * piece → id lookups without building substrings. Loading a vocabulary needs millions of
 * lookups of substrings (every split of every piece when merges are derived from scores) and
 * of concatenations (the result of every merge); a polynomial hash mod 2³² lets both be
 * computed from the parts, and candidates are confirmed by comparing characters in place.
 */
const B = 0x01000193;

function hashRange(s: string, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) h = (Math.imul(h, B) + s.charCodeAt(i)) | 0;
  return h;
}

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return (h ^ (h >>> 15)) >>> 0;
}

export class PieceIndex {
  /** Hash of each piece. */
  readonly hashes: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private pow = new Int32Array([1]);

  /** When a piece occurs more than once, the lowest id wins. */
  constructor(readonly pieces: readonly string[]) {
    const n = pieces.length;
    this.hashes = new Int32Array(n);
    let cap = 16;
    while (cap < n * 2) cap <<= 1;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap).fill(-1);
    for (let id = 0; id < n; id++) {
      const p = pieces[id]!;
      const h = hashRange(p, 0, p.length);
      this.hashes[id] = h;
      if (this.find(h, p, 0, p.length) !== -1) continue;
      let slot = mix(h) & this.mask;
      while (this.slots[slot] !== -1) slot = (slot + 1) & this.mask;
      this.slots[slot] = id;
    }
  }

  private find(h: number, s: string, start: number, end: number): number {
    const len = end - start;
    let slot = mix(h) & this.mask;
    for (;;) {
      const id = this.slots[slot]!;
      if (id === -1) return -1;
      if (this.hashes[id] === h) {
        const p = this.pieces[id]!;
        if (p.length === len && (len === s.length ? p === s : s.startsWith(p, start))) return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  get(s: string): number {
    return this.find(hashRange(s, 0, s.length), s, 0, s.length);
  }

  /** Id of `s.slice(start, end)`, or -1. */
  getRange(s: string, start: number, end: number): number {
    return this.find(hashRange(s, start, end), s, start, end);
  }

  /** B^k mod 2³². */
  private power(k: number): number {
    if (k >= this.pow.length) {
      const next = new Int32Array(Math.max(k + 1, this.pow.length * 2));
      next.set(this.pow);
      for (let i = this.pow.length; i < next.length; i++) next[i] = Math.imul(next[i - 1]!, B);
      this.pow = next;
    }
    return this.pow[k]!;
  }

  /** Id of the piece `pieces[l] + pieces[r]`, or -1. */
  getConcat(l: number, r: number): number {
    const left = this.pieces[l]!;
    const right = this.pieces[r]!;
    const h = (Math.imul(this.hashes[l]!, this.power(right.length)) + this.hashes[r]!) | 0;
    const len = left.length + right.length;
    let slot = mix(h) & this.mask;
    for (;;) {
      const id = this.slots[slot]!;
      if (id === -1) return -1;
      if (this.hashes[id] === h) {
        const p = this.pieces[id]!;
        if (p.length === len && p.startsWith(left) && p.endsWith(right)) return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /**
   * Calls `visit(leftId, rightId)` for every split of `pieces[id]` into two pieces, at
   * code-point boundaries, left to right.
   */
  forEachSplit(id: number, visit: (l: number, r: number) => void): void {
    const s = this.pieces[id]!;
    const n = s.length;
    if (n < 2) return;
    const total = this.hashes[id]!;
    let prefix = 0;
    for (let k = 1; k < n; k++) {
      prefix = (Math.imul(prefix, B) + s.charCodeAt(k - 1)) | 0;
      const c = s.charCodeAt(k);
      if (c >= 0xdc00 && c <= 0xdfff && (s.charCodeAt(k - 1) & 0xfc00) === 0xd800) continue;
      const l = this.find(prefix, s, 0, k);
      if (l === -1) continue;
      const suffix = (total - Math.imul(prefix, this.power(n - k))) | 0;
      const r = this.find(suffix, s, k, n);
      if (r !== -1) visit(l, r);
    }
  }
}
