/**
 * SentencePiece-style vocabularies (pieces + scores + types), as stored in tokenizer.model and
 * in GGUF metadata, converted to and from a TokenizerSpec the way HF transformers'
 * GemmaConverter converts tokenizer.model into tokenizer.json:
 *
 * - the byte piece `<0x09>` becomes the plain piece `\t` (so tabs merge, e.g. into `\t\t`);
 * - CONTROL and USER_DEFINED pieces become added tokens matched verbatim in raw text, CONTROL
 *   ones special; unk/bos/eos/pad are special too;
 * - merges come from the scores (`mergesFromScores`).
 *
 * Writing goes the other way, with scores = −(first merge rank), which both this reader and
 * llama.cpp's SentencePiece tokenizer (highest score merges first) turn back into HF's merges.
 */
import { GemmaError } from '../errors.js';
import {
  PieceType,
  bytePieceValue,
  mergesFromScores,
  mergesRoundTrip,
  scoresFromMerges,
  type AddedTokenSpec,
  type TokenizerSpec,
} from './spec.js';

export interface ScoredVocab {
  pieces: string[];
  scores: ArrayLike<number>;
  types: ArrayLike<number>;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  addBos: boolean;
  chatTemplate: string | null;
}

const TAB_BYTE = '<0x09>';

/**
 * Added tokens that llama.cpp's converter marks CONTROL only because they "look special"
 * (`does_token_look_special`) although HF has them as ordinary added tokens.
 */
const LOOKS_SPECIAL = /^(?:<unused\d+>|<mask>|<2mass>|\[@BOS@\])$/;

export interface ReadConventions {
  /** llama.cpp writes USER_DEFINED pieces with real spaces instead of '▁'. */
  userDefinedSpaces: boolean;
  /** Undo llama.cpp's CONTROL marking of look-special added tokens. */
  unmarkLooksSpecial: boolean;
}

export function specFromScoredVocab(v: ScoredVocab, what: string, conv: ReadConventions): TokenizerSpec {
  const n = v.pieces.length;
  if (v.scores.length !== n || v.types.length !== n) {
    throw new GemmaError(`${what}: ${n} pieces but ${v.scores.length} scores and ${v.types.length} types`);
  }
  const pieces = v.pieces.slice();
  const tab = pieces.indexOf(TAB_BYTE);
  if (tab >= 0 && !pieces.includes('\t')) pieces[tab] = '\t';
  const reserved = new Set([v.unkId, v.bosId, v.eosId, v.padId]);
  const added: AddedTokenSpec[] = [];
  for (let id = 0; id < n; id++) {
    const type = v.types[id]!;
    if (type === PieceType.USER_DEFINED) {
      if (conv.userDefinedSpaces) pieces[id] = pieces[id]!.replaceAll(' ', '▁');
      added.push({ id, content: pieces[id]!, special: false });
    } else if (type === PieceType.CONTROL || type === PieceType.UNKNOWN || reserved.has(id)) {
      const looks = conv.unmarkLooksSpecial && !reserved.has(id) && LOOKS_SPECIAL.test(pieces[id]!);
      if (pieces[id]!.length > 0) added.push({ id, content: pieces[id]!, special: !looks });
    }
  }
  return {
    pieces,
    merges: mergesFromScores(pieces, v.scores),
    addedTokens: added,
    unkId: v.unkId,
    bosId: v.bosId,
    eosId: v.eosId,
    padId: v.padId,
    fuseUnk: true,
    addBos: v.addBos,
    chatTemplate: v.chatTemplate,
  };
}

export interface WriteConventions {
  userDefinedSpaces: boolean;
}

/** The SentencePiece view of a spec; throws if its merges are not expressible as scores. */
export function scoredVocabFromSpec(spec: TokenizerSpec, what: string, conv: WriteConventions): ScoredVocab {
  if (!mergesRoundTrip(spec)) {
    throw new GemmaError(`${what}: this vocabulary's merge order cannot be expressed as SentencePiece scores`);
  }
  const n = spec.pieces.length;
  const pieces = spec.pieces.slice();
  const types = new Int32Array(n).fill(PieceType.NORMAL);
  for (let id = 0; id < n; id++) if (bytePieceValue(pieces[id]!) >= 0) types[id] = PieceType.BYTE;
  const tab = pieces.indexOf('\t');
  if (tab >= 0 && !pieces.includes(TAB_BYTE)) {
    pieces[tab] = TAB_BYTE;
    types[tab] = PieceType.BYTE;
  }
  for (const t of spec.addedTokens) {
    types[t.id] = t.special ? PieceType.CONTROL : PieceType.USER_DEFINED;
    if (!t.special && conv.userDefinedSpaces) pieces[t.id] = pieces[t.id]!.replaceAll('▁', ' ');
  }
  if (spec.unkId >= 0) types[spec.unkId] = PieceType.UNKNOWN;
  return {
    pieces,
    scores: scoresFromMerges(spec),
    types,
    unkId: spec.unkId,
    bosId: spec.bosId,
    eosId: spec.eosId,
    padId: spec.padId,
    addBos: spec.addBos,
    chatTemplate: spec.chatTemplate,
  };
}
