/**
 * SentencePiece `tokenizer.model` files: a serialized `ModelProto` (sentencepiece_model.proto):
 *
 *   ModelProto      { repeated SentencePiece pieces = 1; TrainerSpec trainer_spec = 2;
 *                     NormalizerSpec normalizer_spec = 3; }
 *   SentencePiece   { string piece = 1; float score = 2; Type type = 3 [default NORMAL]; }
 *   TrainerSpec     { ModelType model_type = 3 (UNIGRAM=1, BPE=2); int32 vocab_size = 4;
 *                     bool byte_fallback = 35; int32 unk_id = 40 [0], bos_id = 41 [1],
 *                     eos_id = 42 [2], pad_id = 43 [-1]; }
 *   NormalizerSpec  { string name = 1; bool add_dummy_prefix = 3; bool remove_extra_whitespaces = 4;
 *                     bool escape_whitespaces = 5; }
 *
 * The normaliser fields are not consulted: like HF's GemmaConverter, Gemma's pipeline (spaces
 * to '▁', no dummy prefix) is applied to every model.
 */
import { GemmaError } from '../errors.js';
import { GEMMA_TURN_MARKERS, applyHfConfig } from './hf-config.js';
import { ProtoReader, ProtoWriter } from './protobuf.js';
import { specFromScoredVocab, scoredVocabFromSpec } from './scored-vocab.js';
import { PieceType, type TokenizerSpec } from './spec.js';
import { GemmaTokenizer } from './tokenizer.js';
import type { Tokenizer } from './types.js';

const WHAT = 'tokenizer.model';
const BPE = 2;
const MODEL_TYPES: Record<number, string> = { 1: 'Unigram', 2: 'BPE', 3: 'Word', 4: 'Char' };

export function specFromSentencePieceModel(bytes: Uint8Array, config?: unknown): TokenizerSpec {
  if (!(bytes instanceof Uint8Array)) throw new GemmaError(`${WHAT}: expected bytes (Uint8Array)`);
  const r = new ProtoReader(bytes, 0, bytes.length, WHAT);
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  let modelType = 1;
  let unkId = 0;
  let bosId = 1;
  let eosId = 2;
  let padId = -1;
  for (let f = r.next(); f; f = r.next()) {
    if (f.field === 1) {
      const p = r.message(f, `${WHAT} piece ${pieces.length}`);
      let piece: string | undefined;
      let score = 0;
      let type: number = PieceType.NORMAL;
      for (let g = p.next(); g; g = p.next()) {
        if (g.field === 1) piece = p.string(g);
        else if (g.field === 2) score = p.float(g);
        else if (g.field === 3) type = p.int32(g);
      }
      if (piece === undefined) throw new GemmaError(`${WHAT} is corrupt: piece ${pieces.length} has no text`);
      if (type < PieceType.NORMAL || type > PieceType.BYTE) throw new GemmaError(`${WHAT} is corrupt: piece ${pieces.length} has type ${type}`);
      pieces.push(piece);
      scores.push(score);
      types.push(type);
    } else if (f.field === 2) {
      const t = r.message(f, `${WHAT} trainer_spec`);
      for (let g = t.next(); g; g = t.next()) {
        if (g.field === 3) modelType = t.int32(g);
        else if (g.field === 40) unkId = t.int32(g);
        else if (g.field === 41) bosId = t.int32(g);
        else if (g.field === 42) eosId = t.int32(g);
        else if (g.field === 43) padId = t.int32(g);
      }
    }
  }
  if (pieces.length === 0) throw new GemmaError(`${WHAT} is corrupt or not a SentencePiece model: it has no pieces`);
  if (modelType !== BPE) {
    throw new GemmaError(`${WHAT}: ${MODEL_TYPES[modelType] ?? `type ${modelType}`} models are not supported (Gemma uses BPE)`);
  }
  const id = (v: number): number => (v >= 0 && v < pieces.length ? v : -1);
  const spec = specFromScoredVocab(
    { pieces, scores, types, unkId: id(unkId), bosId: id(bosId), eosId: id(eosId), padId: id(padId), addBos: true, chatTemplate: null },
    WHAT,
    { userDefinedSpaces: false, unmarkLooksSpecial: false },
  );
  applyHfConfig(spec, config, WHAT, GEMMA_TURN_MARKERS);
  return spec;
}

/** A tokenizer from the bytes of a SentencePiece BPE `tokenizer.model` (+ optional tokenizer_config.json). */
export function tokenizerFromSentencePieceModel(bytes: Uint8Array, config?: unknown): GemmaTokenizer {
  return new GemmaTokenizer(specFromSentencePieceModel(bytes, config), WHAT);
}

export function sentencePieceModelFromSpec(spec: TokenizerSpec): Uint8Array {
  const v = scoredVocabFromSpec(spec, WHAT, { userDefinedSpaces: false });
  const model = new ProtoWriter(1 << 22);
  for (let i = 0; i < v.pieces.length; i++) {
    const p = new ProtoWriter(32).string(1, v.pieces[i]!).float(2, v.scores[i]!);
    if (v.types[i] !== PieceType.NORMAL) p.int(3, v.types[i]!);
    model.message(1, p);
  }
  const trainer = new ProtoWriter()
    .int(3, BPE)
    .int(4, v.pieces.length)
    .bool(35, true)
    .int(40, v.unkId)
    .int(41, v.bosId)
    .int(42, v.eosId)
    .int(43, v.padId);
  const normalizer = new ProtoWriter().string(1, 'identity').bool(3, false).bool(4, false).bool(5, true);
  return model.message(2, trainer).message(3, normalizer).finish();
}

/** Serialises a tokenizer as a SentencePiece BPE ModelProto that loads back identically. */
export function tokenizerToSentencePieceModel(tok: Tokenizer): Uint8Array {
  if (!(tok instanceof GemmaTokenizer)) throw new GemmaError('tokenizerToSentencePieceModel needs a tokenizer created by this library');
  return sentencePieceModelFromSpec(tok.spec);
}
