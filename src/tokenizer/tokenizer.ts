/**
 * The Gemma tokenizer, built from a source-independent `TokenizerSpec`. Encoding follows HF
 * tokenizers' pipeline for Gemma's tokenizer.json: split the raw text around added tokens,
 * normalise each remaining span (' ' → '▁', nothing else: no dummy prefix), run byte-fallback
 * BPE over it, and prepend `<bos>` (TemplateProcessing) when asked.
 */
import { GemmaError } from '../errors.js';
import { AddedTokenMatcher } from './added-tokens.js';
import { BpeModel } from './bpe.js';
import { PieceIndex } from './piece-index.js';
import { renderChat } from './chat-template.js';
import { PieceDecoder, createStreamDecoder, type StreamDecoder } from './decoder.js';
import { validateSpec, type TokenizerSpec } from './spec.js';
import type { ChatMessage, ChatOptions, DecodeOptions, EncodeOptions, Tokenizer } from './types.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * JS strings may hold lone surrogates, which UTF-8 (and so HF, whose strings are Rust `str`)
 * cannot represent. They are replaced by U+FFFD, as `TextEncoder` does when such a string is
 * written out; the length in code units is unchanged.
 */
function wellFormed(text: string): string {
  const s = text as string & { isWellFormed?: () => boolean };
  if (s.isWellFormed ? s.isWellFormed() : !LONE_SURROGATE.test(text)) return text;
  return text.replace(LONE_SURROGATES, '\ufffd');
}

export class GemmaTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly stopIds: readonly number[];
  private readonly bpe: BpeModel;
  private readonly matcher: AddedTokenMatcher;
  private readonly dec: PieceDecoder;
  private readonly pieceIndex: PieceIndex;

  constructor(
    readonly spec: TokenizerSpec,
    source = 'tokenizer',
  ) {
    validateSpec(spec, source);
    this.vocabSize = spec.pieces.length;
    this.bosId = spec.bosId;
    this.eosId = spec.eosId;
    this.pieceIndex = new PieceIndex(spec.pieces);
    this.bpe = new BpeModel(spec, this.pieceIndex);
    this.matcher = new AddedTokenMatcher(spec.addedTokens);
    const special = new Uint8Array(spec.pieces.length);
    for (const t of spec.addedTokens) if (t.special) special[t.id] = 1;
    this.dec = new PieceDecoder(spec.pieces, special);
    const eot = this.pieceToId('<end_of_turn>');
    this.stopIds = [spec.eosId, ...(eot !== undefined ? [eot] : [])].filter((id) => id >= 0);
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new GemmaError(`encode expects a string, got ${typeof text}`);
    return this.encodeRanges(wellFormed(text), options.addBos ?? this.spec.addBos, options.parseSpecial ?? true, []);
  }

  private encodeRanges(text: string, addBos: boolean, parseSpecial: boolean, ranges: [number, number][]): number[] {
    const out: number[] = [];
    if (addBos && this.bosId >= 0) out.push(this.bosId);
    for (const seg of this.matcher.split(text, parseSpecial, ranges)) {
      if (seg.id >= 0) out.push(seg.id);
      else this.bpe.encode(text, seg.start, seg.end, out);
    }
    return out;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (!Array.isArray(ids) && !ArrayBuffer.isView(ids)) throw new GemmaError('decode expects an array of token ids');
    return this.dec.decode(ids, options.skipSpecialTokens ?? false);
  }

  createStreamDecoder(options: DecodeOptions = {}): StreamDecoder {
    return createStreamDecoder(this.dec, options.skipSpecialTokens ?? false);
  }

  applyChatTemplate(messages: readonly ChatMessage[], options: ChatOptions = {}): string {
    return this.renderChat(messages, options).text;
  }

  encodeChat(messages: readonly ChatMessage[], options: ChatOptions = {}): number[] {
    const { text, contentRanges } = this.renderChat(messages, options);
    const ids = this.encodeRanges(wellFormed(text), false, true, contentRanges);
    // The template normally writes `{{ bos_token }}` itself; never add a second one.
    if (this.bosId >= 0 && ids[0] !== this.bosId) ids.unshift(this.bosId);
    return ids;
  }

  private renderChat(messages: readonly ChatMessage[], options: ChatOptions) {
    return renderChat(messages, {
      template: this.spec.chatTemplate,
      bosToken: this.bosId >= 0 ? this.spec.pieces[this.bosId]! : '',
      eosToken: this.eosId >= 0 ? this.spec.pieces[this.eosId]! : '',
      addGenerationPrompt: options.addGenerationPrompt ?? false,
    });
  }

  idToPiece(id: number): string {
    this.dec.checkId(id);
    return this.spec.pieces[id]!;
  }

  pieceToId(piece: string): number | undefined {
    if (typeof piece !== 'string') return undefined;
    const id = this.pieceIndex.get(piece);
    return id >= 0 ? id : undefined;
  }

  isSpecial(id: number): boolean {
    this.dec.checkId(id);
    return this.dec.special[id] === 1;
  }
}
