/**
 * Cache of BPE results per chunk (word-sized piece of normalised text), looked up by a hash
 * computed while scanning the text, so a hit costs no substring allocation: the stored key is
 * compared with the text in place. Full tables are simply cleared (bounded memory).
 */
export const CHUNK_HASH_MUL = 0x01000193;

export class ChunkCache {
  private keys: (string | undefined)[];
  private values: (Int32Array | undefined)[];
  private hashes: Int32Array;
  private count = 0;
  private readonly mask: number;

  constructor(private readonly maxKeyLength: number, capacityLog2 = 18) {
    const cap = 1 << capacityLog2;
    this.mask = cap - 1;
    this.keys = new Array<string | undefined>(cap);
    this.values = new Array<Int32Array | undefined>(cap);
    this.hashes = new Int32Array(cap);
  }

  private slotOf(h: number): number {
    h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
    return (h ^ (h >>> 16)) & this.mask;
  }

  /** The ids cached for `text.slice(start, end)` whose hash is `h`, if any. */
  get(text: string, start: number, end: number, h: number): Int32Array | undefined {
    const len = end - start;
    if (len > this.maxKeyLength) return undefined;
    for (let s = this.slotOf(h); ; s = (s + 1) & this.mask) {
      const key = this.keys[s];
      if (key === undefined) return undefined;
      if (this.hashes[s] === h && key.length === len && text.startsWith(key, start)) return this.values[s];
    }
  }

  set(key: string, h: number, ids: Int32Array): void {
    if (key.length > this.maxKeyLength) return;
    if (this.count * 2 > this.mask) {
      this.keys = new Array<string | undefined>(this.mask + 1);
      this.values = new Array<Int32Array | undefined>(this.mask + 1);
      this.count = 0;
    }
    let s = this.slotOf(h);
    while (this.keys[s] !== undefined) s = (s + 1) & this.mask;
    this.keys[s] = key;
    this.hashes[s] = h;
    this.values[s] = ids;
    this.count++;
  }
}
