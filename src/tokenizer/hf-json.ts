/**
 * Hugging Face `tokenizer.json` (+ optional `tokenizer_config.json`) → TokenizerSpec.
 *
 * Only the pipeline Gemma uses is accepted — normaliser `Replace(' ', '▁')`, no pre-tokenizer,
 * a BPE model with byte fallback, decoder `Replace('▁', ' ') → ByteFallback → Fuse` — so a
 * file that would tokenize differently is rejected instead of silently mis-tokenized.
 */
import { GemmaError } from '../errors.js';
import { applyHfConfig, isObject, parseJsonText, type Json } from './hf-config.js';
import { PieceIndex } from './piece-index.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';
import { GemmaTokenizer } from './tokenizer.js';

const WHAT = 'tokenizer.json';

function fail(problem: string): never {
  throw new GemmaError(`${WHAT}: ${problem}`);
}

function isReplace(v: unknown, from: string, to: string): boolean {
  return isObject(v) && v.type === 'Replace' && isObject(v.pattern) && v.pattern.String === from && v.content === to;
}

function checkPipeline(json: Json): void {
  let norm = json.normalizer;
  if (isObject(norm) && norm.type === 'Sequence' && Array.isArray(norm.normalizers) && norm.normalizers.length === 1) {
    norm = norm.normalizers[0];
  }
  if (!isReplace(norm, ' ', '▁')) fail("unsupported normalizer (expected Gemma's Replace ' ' → '▁')");
  if (json.pre_tokenizer !== null && json.pre_tokenizer !== undefined) fail('unsupported pre_tokenizer (Gemma has none)');
  const dec = json.decoder;
  const steps = isObject(dec) && dec.type === 'Sequence' && Array.isArray(dec.decoders) ? dec.decoders : null;
  const ok =
    steps !== null &&
    steps.length === 3 &&
    isReplace(steps[0], '▁', ' ') &&
    isObject(steps[1]) &&
    steps[1].type === 'ByteFallback' &&
    isObject(steps[2]) &&
    steps[2].type === 'Fuse';
  if (!ok) fail("unsupported decoder (expected Gemma's Replace '▁' → ' ', ByteFallback, Fuse)");
}

function readAdded(json: Json): AddedTokenSpec[] {
  const list = json.added_tokens ?? [];
  if (!Array.isArray(list)) fail('added_tokens must be an array');
  return list.map((t, i) => {
    if (!isObject(t) || !Number.isInteger(t.id) || typeof t.content !== 'string') fail(`added_tokens[${i}] needs an integer id and a string content`);
    if (t.normalized === true || t.lstrip === true || t.rstrip === true || t.single_word === true) {
      fail(`added token ${JSON.stringify(t.content)} uses normalized/lstrip/rstrip/single_word, which Gemma does not`);
    }
    return { id: t.id as number, content: t.content, special: t.special === true };
  });
}

/** Whether TemplateProcessing puts `bosPiece` first in single-sequence encodings. */
function postProcessorAddsBos(json: Json, bosPiece: string | undefined): boolean {
  const pp = json.post_processor;
  if (!isObject(pp) || pp.type !== 'TemplateProcessing' || !Array.isArray(pp.single)) return false;
  const first = pp.single[0];
  return isObject(first) && isObject(first.SpecialToken) && first.SpecialToken.id === bosPiece;
}

export function specFromHfJson(jsonIn: unknown, configIn?: unknown): TokenizerSpec {
  const json = parseJsonText(jsonIn, WHAT);
  const config = parseJsonText(configIn, 'tokenizer_config.json');
  if (!isObject(json)) fail('must be a JSON object');
  checkPipeline(json);
  const model = json.model;
  if (!isObject(model)) fail('has no model');
  if (model.type !== 'BPE') fail(`model type ${JSON.stringify(model.type)} is not supported (Gemma uses BPE)`);
  if (model.byte_fallback !== true) fail('model.byte_fallback must be true for Gemma');
  if (model.ignore_merges === true) fail('model.ignore_merges is not supported');
  if (model.continuing_subword_prefix || model.end_of_word_suffix) fail('subword prefixes/suffixes are not supported');
  if (typeof model.dropout === 'number' && model.dropout > 0) fail('BPE dropout is not supported');
  const vocab = model.vocab;
  if (!isObject(vocab)) fail('model.vocab must be an object of piece → id');

  const added = readAdded(json);
  let size = 0;
  for (const piece in vocab) {
    const id = vocab[piece];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) fail('model.vocab ids must be non-negative integers');
    if (id >= size) size = id + 1;
  }
  for (const t of added) size = Math.max(size, t.id + 1);
  if (size > 1 << 24) fail(`vocabulary of ${size} ids is implausibly large`);
  const pieces = new Array<string>(size);
  for (const piece in vocab) pieces[vocab[piece] as number] = piece;
  // HF resolves an id through the added vocabulary first.
  for (const t of added) pieces[t.id] = t.content;
  for (let i = 0; i < size; i++) if (pieces[i] === undefined) fail(`token id ${i} has no piece`);

  const index = new PieceIndex(pieces);
  const list = model.merges;
  if (!Array.isArray(list)) fail('model.merges must be an array');
  const merges = new Int32Array(list.length * 2);
  for (let r = 0; r < list.length; r++) {
    const m: unknown = list[r];
    let l = -1;
    let rt = -1;
    if (typeof m === 'string') {
      const sp = m.indexOf(' ');
      if (sp < 0 || m.indexOf(' ', sp + 1) >= 0) fail(`merge ${r} ${JSON.stringify(m)} does not have two parts`);
      l = index.getRange(m, 0, sp);
      rt = index.getRange(m, sp + 1, m.length);
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      l = index.get(m[0]);
      rt = index.get(m[1]);
    } else fail(`merge ${r} is neither "a b" nor ["a", "b"]`);
    if (l < 0 || rt < 0) fail(`merge ${r} ${JSON.stringify(m)} uses a piece that is not in the vocabulary`);
    if (index.getConcat(l, rt) < 0) fail(`merge ${r} ${JSON.stringify(m)} produces a piece that is not in the vocabulary`);
    merges[2 * r] = l;
    merges[2 * r + 1] = rt;
  }

  const unkName = model.unk_token;
  const unkId = typeof unkName === 'string' ? index.get(unkName) : -1;
  const find = (name: string): number => index.get(name);
  const spec: TokenizerSpec = {
    pieces,
    merges,
    addedTokens: added.sort((a, b) => a.id - b.id),
    unkId,
    bosId: find('<bos>'),
    eosId: find('<eos>'),
    padId: find('<pad>'),
    fuseUnk: model.fuse_unk === true,
    addBos: false,
    chatTemplate: null,
  };
  spec.addBos = postProcessorAddsBos(json, spec.bosId >= 0 ? pieces[spec.bosId] : undefined);
  applyHfConfig(spec, config, WHAT);
  return spec;
}

/** A tokenizer from a parsed (or raw text) tokenizer.json and optional tokenizer_config.json. */
export function tokenizerFromHfJson(json: unknown, config?: unknown): GemmaTokenizer {
  return new GemmaTokenizer(specFromHfJson(json, config), WHAT);
}
