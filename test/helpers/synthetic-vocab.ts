/**
 * A made-up SentencePiece vocabulary of any size, as GGUF metadata, so that llama.cpp accepts
 * tiny models whose vocabulary is smaller than Gemma's. Tests feed token ids directly.
 */
import { gguf, type GgufMetadataEntry } from '../../src/formats/gguf-writer.js';

export function syntheticVocab(size: number): GgufMetadataEntry[] {
  const tokens: string[] = ['<pad>', '<eos>', '<bos>', '<unk>'];
  const types: number[] = [3, 3, 3, 2]; // CONTROL, CONTROL, CONTROL, UNKNOWN
  for (let b = 0; b < 256 && tokens.length < size; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(6); // BYTE
  }
  while (tokens.length < size) {
    tokens.push(`▁t${tokens.length}`);
    types.push(1); // NORMAL
  }
  return [
    gguf.str('tokenizer.ggml.model', 'llama'),
    gguf.strArray('tokenizer.ggml.tokens', tokens),
    gguf.f32Array('tokenizer.ggml.scores', tokens.map((_, i) => -i)),
    gguf.i32Array('tokenizer.ggml.token_type', types),
    gguf.u32('tokenizer.ggml.bos_token_id', 2),
    gguf.u32('tokenizer.ggml.eos_token_id', 1),
    gguf.u32('tokenizer.ggml.unknown_token_id', 3),
    gguf.u32('tokenizer.ggml.padding_token_id', 0),
  ];
}
