/**
 * What `tokenizer_config.json` contributes on top of a vocabulary, as transformers applies it:
 * the chat template, `add_bos_token`, the names of the bos/eos/pad/unk tokens, and which added
 * tokens are special (`added_tokens_decoder`, `additional_special_tokens`).
 */
import { GemmaError } from '../errors.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';

export type Json = Record<string, unknown>;

/** Gemma's turn markers are special in HF through tokenizer_config.json; without one, assume so. */
export const GEMMA_TURN_MARKERS = ['<start_of_turn>', '<end_of_turn>'];

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJsonText(v: unknown, what: string): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch (e) {
    throw new GemmaError(`${what} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

/** A token named in the config: a string or an AddedToken-like `{ content }`. */
function tokenName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** HF allows a single template or a list of named ones; the one named "default" is used. */
function chatTemplateOf(config: Json, what: string): string | null | undefined {
  const t = config.chat_template;
  if (t === undefined || t === null) return undefined;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => isObject(x) && x.name === 'default') ?? t[0];
    if (isObject(named) && typeof named.template === 'string') return named.template;
  }
  throw new GemmaError(`${what}: chat_template must be a string or a list of {name, template}`);
}

/**
 * Applies `config` (a parsed tokenizer_config.json, or undefined) to `spec` in place.
 * `defaultSpecials` are made special when there is no config at all (HF ships Gemma's turn
 * markers as special tokens through the config's `additional_special_tokens`).
 */
export function applyHfConfig(spec: TokenizerSpec, config: unknown, what: string, defaultSpecials: readonly string[] = []): void {
  if (config === undefined || config === null) {
    for (const name of defaultSpecials) markSpecial(spec, name);
    return;
  }
  if (!isObject(config)) throw new GemmaError(`${what}: tokenizer_config.json must be a JSON object`);
  const template = chatTemplateOf(config, what);
  if (template !== undefined) spec.chatTemplate = template;
  if (config.add_bos_token !== undefined) {
    if (typeof config.add_bos_token !== 'boolean') throw new GemmaError(`${what}: add_bos_token must be a boolean`);
    spec.addBos = config.add_bos_token;
  }

  const decoderTable = config.added_tokens_decoder;
  if (decoderTable !== undefined) {
    if (!isObject(decoderTable)) throw new GemmaError(`${what}: added_tokens_decoder must be an object`);
    const byId = new Map(spec.addedTokens.map((t) => [t.id, t]));
    for (const [key, value] of Object.entries(decoderTable)) {
      const id = Number(key);
      if (!Number.isInteger(id) || id < 0 || id >= spec.pieces.length || !isObject(value) || typeof value.content !== 'string') {
        throw new GemmaError(`${what}: added_tokens_decoder entry ${JSON.stringify(key)} is malformed or outside the vocabulary`);
      }
      const special = value.special === true;
      const known = byId.get(id);
      if (known) known.special = special;
      else {
        const t: AddedTokenSpec = { id, content: value.content, special };
        spec.addedTokens.push(t);
        byId.set(id, t);
      }
    }
    spec.addedTokens.sort((a, b) => a.id - b.id);
  }
  const extra = config.additional_special_tokens;
  if (Array.isArray(extra)) for (const name of extra) if (tokenName(name)) markSpecial(spec, tokenName(name)!);

  const named = (key: string): number | undefined => {
    const name = tokenName(config[key]);
    if (name === undefined) return undefined;
    const id = spec.pieces.indexOf(name);
    if (id < 0) throw new GemmaError(`${what}: ${key} ${JSON.stringify(name)} is not in the vocabulary`);
    markSpecial(spec, name);
    return id;
  };
  spec.bosId = named('bos_token') ?? spec.bosId;
  spec.eosId = named('eos_token') ?? spec.eosId;
  spec.padId = named('pad_token') ?? spec.padId;
  spec.unkId = named('unk_token') ?? spec.unkId;
}

/** Makes the added token `name` special, adding it as an added token if needed (HF `add_special_tokens`). */
export function markSpecial(spec: TokenizerSpec, name: string): void {
  const t = spec.addedTokens.find((x) => x.content === name);
  if (t) {
    t.special = true;
    return;
  }
  const id = spec.pieces.indexOf(name);
  if (id < 0) return;
  spec.addedTokens.push({ id, content: name, special: true });
  spec.addedTokens.sort((a, b) => a.id - b.id);
}
