import type { StreamDecoder } from './decoder.js';

export type { StreamDecoder };

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface EncodeOptions {
  /** Prepend `<bos>`; defaults to the vocabulary's `add_bos_token` (true for Gemma, as HF). */
  addBos?: boolean;
  /**
   * Recognise special (control) tokens such as `<start_of_turn>` written in the text; default
   * true, as HF. With false they are tokenized as plain text (HF `split_special_tokens=True`),
   * which is how untrusted text is kept from injecting turn markers. Non-special added tokens
   * (`<unused0>`, newline runs, `<table>`, …) are always recognised, as in HF.
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (`<bos>`, `<eos>`, `<pad>`, `<unk>`, turn markers), as HF does. */
  skipSpecialTokens?: boolean;
}

export interface ChatOptions {
  /** Append the opening of a model turn (`<start_of_turn>model\n`). Default false, as HF. */
  addGenerationPrompt?: boolean;
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Ids that end a generated turn: `<eos>` and, when present, `<end_of_turn>`. */
  readonly stopIds: readonly number[];
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /**
   * The prompt text produced by the vocabulary's chat template (or the built-in Gemma format).
   * System messages are merged into the next user turn, as llama.cpp does for Gemma.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options?: ChatOptions): string;
  /**
   * Token ids of `applyChatTemplate`'s text, with control tokens recognised only in the
   * template's own text, never inside message content; exactly one leading `<bos>`.
   */
  encodeChat(messages: readonly ChatMessage[], options?: ChatOptions): number[];
  /** Incremental, UTF-8-safe decoder whose outputs concatenate to `decode(ids)`. */
  createStreamDecoder(options?: DecodeOptions): StreamDecoder;
  /** The vocabulary piece of an id (as HF spells it: '▁' for spaces). */
  idToPiece(id: number): string;
  pieceToId(piece: string): number | undefined;
  isSpecial(id: number): boolean;
}
