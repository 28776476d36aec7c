/**
 * Gemma vocabularies in GGUF metadata, with llama.cpp's conventions (its convert_hf_to_gguf.py
 * and llama-vocab.cpp):
 *
 *   tokenizer.ggml.model        "llama" (SentencePiece)
 *   tokenizer.ggml.tokens       pieces; USER_DEFINED ones with real spaces instead of '▁';
 *                               id 226 is the byte piece `<0x09>`
 *   tokenizer.ggml.scores       float32; higher merges first
 *   tokenizer.ggml.token_type   int32: 1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte
 *   tokenizer.ggml.{bos,eos,unknown,padding}_token_id, add_bos_token, add_eos_token,
 *   add_space_prefix (false: Gemma has no dummy prefix), tokenizer.chat_template
 *
 * Written files use scores = −(first merge rank), which makes llama.cpp's highest-score-first
 * merging reproduce HF's merge order. Special added tokens are CONTROL and other added tokens
 * USER_DEFINED, mirroring HF's `special` flag; when reading files from llama.cpp's converter,
 * its CONTROL marking of `<unusedN>`, `<mask>`, `<2mass>` and `[@BOS@]` is undone.
 */
import { GemmaError } from '../errors.js';
import type { GgufMetadataEntry } from '../formats/gguf-encode.js';
import { GgufValueType } from '../formats/gguf-types.js';
import { GEMMA_TURN_MARKERS, markSpecial } from './hf-config.js';
import { scoredVocabFromSpec, specFromScoredVocab } from './scored-vocab.js';
import { PieceType, type TokenizerSpec } from './spec.js';
import { GemmaTokenizer } from './tokenizer.js';
import type { Tokenizer } from './types.js';

const WHAT = 'GGUF tokenizer metadata';
const K = 'tokenizer.ggml.';

function numberOf(v: unknown, key: string): number {
  if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new GemmaError(`${WHAT}: ${key} must be a number`);
}

function arrayOf(meta: Map<string, unknown>, key: string, n: number | undefined): unknown[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new GemmaError(`${WHAT}: ${key} must be an array`);
  if (n !== undefined && v.length !== n) throw new GemmaError(`${WHAT}: ${key} has ${v.length} entries for ${n} tokens`);
  return v;
}

export function specFromGgufMetadata(meta: Map<string, unknown>): TokenizerSpec {
  if (!(meta instanceof Map)) throw new GemmaError(`${WHAT}: expected a Map of GGUF keys`);
  const model = meta.get(`${K}model`);
  if (model === undefined) throw new GemmaError(`${WHAT}: the file has no tokenizer (${K}model missing)`);
  if (model !== 'llama') throw new GemmaError(`${WHAT}: tokenizer model ${JSON.stringify(model)} is not supported (Gemma uses "llama", SentencePiece)`);
  const tokens = arrayOf(meta, `${K}tokens`, undefined);
  if (!tokens || tokens.length === 0) throw new GemmaError(`${WHAT}: ${K}tokens is missing or empty`);
  const pieces = tokens.map((t, i) => {
    if (typeof t !== 'string') throw new GemmaError(`${WHAT}: ${K}tokens[${i}] is not a string`);
    return t;
  });
  const n = pieces.length;
  const scores = (arrayOf(meta, `${K}scores`, n) ?? new Array<number>(n).fill(0)).map((s) => numberOf(s, `${K}scores`));
  const types = (arrayOf(meta, `${K}token_type`, n) ?? new Array<number>(n).fill(PieceType.NORMAL)).map((t) => numberOf(t, `${K}token_type`));
  const id = (key: string, fallback: number): number => {
    const v = meta.get(`${K}${key}`);
    if (v === undefined) return fallback;
    const x = numberOf(v, `${K}${key}`);
    if (!Number.isInteger(x) || x < 0 || x >= n) throw new GemmaError(`${WHAT}: ${K}${key} ${x} is outside the vocabulary of ${n}`);
    return x;
  };
  const addBos = meta.get(`${K}add_bos_token`);
  const template = meta.get('tokenizer.chat_template');
  const spec = specFromScoredVocab(
    {
      pieces,
      scores,
      types,
      unkId: id('unknown_token_id', types.indexOf(PieceType.UNKNOWN)),
      bosId: id('bos_token_id', pieces.indexOf('<bos>')),
      eosId: id('eos_token_id', pieces.indexOf('<eos>')),
      padId: id('padding_token_id', pieces.indexOf('<pad>')),
      addBos: typeof addBos === 'boolean' ? addBos : true,
      chatTemplate: typeof template === 'string' ? template : null,
    },
    WHAT,
    { userDefinedSpaces: true, unmarkLooksSpecial: true },
  );
  for (const name of GEMMA_TURN_MARKERS) markSpecial(spec, name);
  return spec;
}

/** A tokenizer from GGUF metadata (`GgufFile.metadata`). */
export function tokenizerFromGgufMetadata(meta: Map<string, unknown>): GemmaTokenizer {
  return new GemmaTokenizer(specFromGgufMetadata(meta), WHAT);
}

/** The tokenizer.* entries for a GGUF file, following llama.cpp's conventions (see above). */
export function tokenizerToGgufMetadata(tok: Tokenizer): GgufMetadataEntry[] {
  if (!(tok instanceof GemmaTokenizer)) throw new GemmaError('tokenizerToGgufMetadata needs a tokenizer created by this library');
  const spec = tok.spec;
  const v = scoredVocabFromSpec(spec, WHAT, { userDefinedSpaces: true });
  const arr = (key: string, itemType: GgufValueType, value: (string | number)[]): GgufMetadataEntry => ({
    key,
    type: GgufValueType.ARRAY,
    itemType,
    value,
  });
  const entries: GgufMetadataEntry[] = [
    { key: `${K}model`, type: GgufValueType.STRING, value: 'llama' },
    arr(`${K}tokens`, GgufValueType.STRING, v.pieces),
    arr(`${K}scores`, GgufValueType.FLOAT32, Array.from(v.scores)),
    arr(`${K}token_type`, GgufValueType.INT32, Array.from(v.types)),
  ];
  const ids: [string, number][] = [
    ['bos_token_id', spec.bosId],
    ['eos_token_id', spec.eosId],
    ['unknown_token_id', spec.unkId],
    ['padding_token_id', spec.padId],
  ];
  for (const [key, id] of ids) if (id >= 0) entries.push({ key: `${K}${key}`, type: GgufValueType.UINT32, value: id });
  entries.push(
    { key: `${K}add_bos_token`, type: GgufValueType.BOOL, value: spec.addBos },
    { key: `${K}add_eos_token`, type: GgufValueType.BOOL, value: false },
    { key: `${K}add_space_prefix`, type: GgufValueType.BOOL, value: false },
  );
  if (spec.chatTemplate !== null) entries.push({ key: 'tokenizer.chat_template', type: GgufValueType.STRING, value: spec.chatTemplate });
  return entries;
}
