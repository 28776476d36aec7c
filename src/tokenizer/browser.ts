/**
 * The browser-safe part of the tokenizer (no Node modules): everything in index.ts except the
 * file loaders. Vocabulary bytes or JSON must be supplied by the caller.
 */
export type { ChatMessage, ChatOptions, ChatRole, DecodeOptions, EncodeOptions, StreamDecoder, Tokenizer } from './types.js';
export { GemmaTokenizer } from './tokenizer.js';
export { tokenizerFromHfJson } from './hf-json.js';
export { tokenizerFromSentencePieceModel, tokenizerToSentencePieceModel } from './sentencepiece.js';
export { tokenizerFromGgufMetadata, tokenizerToGgufMetadata } from './gguf-vocab.js';
export { GEMMA_CHAT_TEMPLATE } from './chat-template.js';
