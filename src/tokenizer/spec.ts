/**
 * The source-independent description of a Gemma vocabulary. Every loader (tokenizer.json,
 * SentencePiece ModelProto, GGUF metadata, the bundled asset) produces a `TokenizerSpec`, and
 * every writer consumes one, so all sources share one encoder and one decoder.
 *
 * Pieces are spelled as in Hugging Face's tokenizer.json: `▁` for a space and `\t` (not the
 * byte piece `<0x09>`) for id 226, because HF's GemmaConverter renames that piece and merges
 * involving tabs depend on it.
 */
import { GemmaError } from '../errors.js';
import { PieceIndex } from './piece-index.js';

/** Piece types as SentencePiece's ModelProto and GGUF's `tokenizer.ggml.token_type` number them. */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/**
 * A token matched verbatim in raw text before normalisation (HF "added token" with
 * `normalized: false`). `special` ones are the control tokens: skipped by
 * `skipSpecialTokens` and not matched when `parseSpecial` is false.
 */
export interface AddedTokenSpec {
  id: number;
  content: string;
  special: boolean;
}

export interface TokenizerSpec {
  /** id → piece. */
  pieces: string[];
  /** Merge pairs `[left0, right0, left1, right1, …]` in rank order (index = rank). */
  merges: Int32Array;
  addedTokens: AddedTokenSpec[];
  /** -1 when the vocabulary has no such token. */
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  /** HF BPE `fuse_unk`: consecutive unknown characters become one `<unk>`. */
  fuseUnk: boolean;
  /** Whether `encode` adds BOS by default (HF `add_bos_token`). */
  addBos: boolean;
  chatTemplate: string | null;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** Byte value of a `<0xHH>` piece, else -1 (the test HF's ByteFallback decoder applies). */
export function bytePieceValue(piece: string): number {
  if (piece.length !== 6) return -1;
  const m = BYTE_PIECE.exec(piece);
  return m ? parseInt(m[1]!, 16) : -1;
}

export function bytePiece(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Checks ids and merge pairs so the encoder can index without bounds checks. */
export function validateSpec(spec: TokenizerSpec, source: string): void {
  const n = spec.pieces.length;
  if (n === 0) throw new GemmaError(`${source}: the vocabulary is empty`);
  for (let i = 0; i < n; i++) {
    if (typeof spec.pieces[i] !== 'string') throw new GemmaError(`${source}: token id ${i} has no piece`);
  }
  if (spec.merges.length % 2 !== 0) throw new GemmaError(`${source}: odd merge array length`);
  for (let i = 0; i < spec.merges.length; i++) {
    const id = spec.merges[i]!;
    if (id < 0 || id >= n) throw new GemmaError(`${source}: merge ${i >> 1} refers to token id ${id} outside the vocabulary`);
  }
  for (const t of spec.addedTokens) {
    if (!Number.isInteger(t.id) || t.id < 0 || t.id >= n) {
      throw new GemmaError(`${source}: added token ${JSON.stringify(t.content)} has id ${t.id} outside the vocabulary`);
    }
    if (t.content.length === 0) throw new GemmaError(`${source}: added token id ${t.id} is empty`);
  }
  for (const [name, id] of [['unk', spec.unkId], ['bos', spec.bosId], ['eos', spec.eosId], ['pad', spec.padId]] as const) {
    if (!Number.isInteger(id) || id < -1 || id >= n) throw new GemmaError(`${source}: ${name} token id ${id} is outside the vocabulary`);
  }
}

/**
 * Merges implied by SentencePiece scores, exactly as HF transformers' `generate_merges`
 * (SentencePieceExtractor, used by GemmaConverter) derives them: every piece that splits into
 * two pieces contributes one merge per split point, splits of one piece ordered by
 * (left id, right id); merges are then stably sorted by the score of the merged piece,
 * highest first, so pieces with equal scores keep id order.
 */
export function mergesFromScores(pieces: readonly string[], scores: ArrayLike<number>, index = new PieceIndex(pieces)): Int32Array {
  const order = Array.from({ length: pieces.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  let out = new Int32Array(1 << 16);
  let len = 0;
  const local: number[] = [];
  const visit = (l: number, r: number): void => {
    local.push(l, r);
  };
  for (const id of order) {
    if (pieces[id]!.length < 2 || index.get(pieces[id]!) !== id) continue;
    local.length = 0;
    index.forEachSplit(id, visit);
    if (local.length === 0) continue;
    if (local.length > 2) sortPairs(local);
    if (len + local.length > out.length) {
      const bigger = new Int32Array(out.length * 2);
      bigger.set(out);
      out = bigger;
    }
    for (const x of local) out[len++] = x;
  }
  return out.slice(0, len);
}

function sortPairs(flat: number[]): void {
  const pairs: [number, number][] = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 0; i < pairs.length; i++) {
    flat[2 * i] = pairs[i]![0];
    flat[2 * i + 1] = pairs[i]![1];
  }
}

/**
 * Scores that make `mergesFromScores` (and llama.cpp's highest-score-first SentencePiece
 * merging) reproduce `merges`: score = −(rank of the first merge producing the piece), as the
 * llama.cpp converter notes explain. Pieces no merge produces get a score below every merge.
 */
export function scoresFromMerges(spec: TokenizerSpec): Float32Array {
  const n = spec.pieces.length;
  const firstRank = new Int32Array(n).fill(-1);
  const index = new PieceIndex(spec.pieces);
  const nm = spec.merges.length / 2;
  for (let r = 0; r < nm; r++) {
    const id = index.getConcat(spec.merges[2 * r]!, spec.merges[2 * r + 1]!);
    if (id !== -1 && firstRank[id] === -1) firstRank[id] = r;
  }
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = firstRank[i]! >= 0 ? -firstRank[i]! : -(nm + i);
  return scores;
}

/** Whether merges regenerated from `scoresFromMerges` equal the spec's own merges. */
export function mergesRoundTrip(spec: TokenizerSpec): boolean {
  const again = mergesFromScores(spec.pieces, scoresFromMerges(spec));
  if (again.length !== spec.merges.length) return false;
  for (let i = 0; i < again.length; i++) if (again[i] !== spec.merges[i]) return false;
  return true;
}
