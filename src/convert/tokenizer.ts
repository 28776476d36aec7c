/**
 * The tokenizer a converted file embeds, as llama.cpp's converter writes it for Gemma
 * (convert_hf_to_gguf.py: SentencePiece vocabulary, `tokenizer.ggml.pre = "default"`, the
 * chat template, `add_space_prefix = false`, and `eot_token_id` = `<end_of_turn>`):
 *
 * - from a Hugging Face folder: its tokenizer.json or tokenizer.model (+ tokenizer_config.json);
 * - from a GGUF file: its tokenizer.* metadata, copied unchanged;
 * - from a source without any: the bundled Gemma 1 vocabulary, only if the embedding has
 *   exactly its 256000 rows (otherwise token ids would not mean the same thing).
 */
import { GemmaError } from '../errors.js';
import type { GgufMetadataEntry } from '../formats/gguf-encode.js';
import { GgufValueType } from '../formats/gguf-types.js';
import { loadBundledTokenizer, loadTokenizer } from '../tokenizer/load.js';
import { tokenizerToGgufMetadata } from '../tokenizer/gguf-vocab.js';
import type { Tokenizer } from '../tokenizer/types.js';
import type { ConvertSource } from './source.js';

export interface TokenizerChoice {
  entries: GgufMetadataEntry[];
  /** Where it came from, for the report. */
  description: string;
  /** Set when the bundled vocabulary was used. */
  warning?: string;
}

function withLlamaCppExtras(entries: GgufMetadataEntry[], tok: Tokenizer): GgufMetadataEntry[] {
  const out = [...entries];
  const has = (k: string) => out.some((e) => e.key === k);
  if (!has('tokenizer.ggml.pre')) out.splice(1, 0, { key: 'tokenizer.ggml.pre', type: GgufValueType.STRING, value: 'default' });
  const eot = tok.pieceToId('<end_of_turn>');
  if (eot !== undefined && !has('tokenizer.ggml.eot_token_id')) {
    out.push({ key: 'tokenizer.ggml.eot_token_id', type: GgufValueType.UINT32, value: eot });
  }
  return out;
}

function checkSize(tok: Tokenizer, src: ConvertSource, where: string): void {
  if (tok.vocabSize !== src.config.vocabSize) {
    throw new GemmaError(`${where}: the tokenizer has ${tok.vocabSize} tokens but the embedding has ${src.config.vocabSize} rows`);
  }
}

export async function chooseTokenizer(src: ConvertSource): Promise<TokenizerChoice> {
  if (src.format === 'gguf' && src.gguf!.metadata.has('tokenizer.ggml.tokens')) {
    const g = src.gguf!;
    const entries: GgufMetadataEntry[] = [];
    for (const [key, value] of g.metadata) {
      if (!key.startsWith('tokenizer.')) continue;
      const items = g.arrayItemTypes.get(key);
      entries.push({ key, type: g.metadataTypes.get(key)!, value, ...(items ? { itemType: items } : {}) });
    }
    const tokens = g.metadata.get('tokenizer.ggml.tokens');
    if (Array.isArray(tokens) && tokens.length !== src.config.vocabSize) {
      throw new GemmaError(`${src.path}: the tokenizer has ${tokens.length} tokens but the embedding has ${src.config.vocabSize} rows`);
    }
    return { entries, description: `copied from ${src.path}` };
  }
  if (src.tokenizerDir !== undefined) {
    const tok = await loadTokenizer(src.tokenizerDir);
    checkSize(tok, src, src.tokenizerDir);
    return { entries: withLlamaCppExtras(tokenizerToGgufMetadata(tok), tok), description: `from ${src.tokenizerDir}` };
  }
  const tok = await loadBundledTokenizer();
  if (tok.vocabSize !== src.config.vocabSize) {
    throw new GemmaError(`${src.path}: no tokenizer (tokenizer.json or tokenizer.model) and the embedding has ${src.config.vocabSize} rows, ` +
      `not the ${tok.vocabSize} of the bundled Gemma vocabulary; add the model's tokenizer files`);
  }
  return {
    entries: withLlamaCppExtras(tokenizerToGgufMetadata(tok), tok),
    description: 'bundled Gemma 1 vocabulary (the source has none)',
    warning: `${src.path} has no tokenizer; embedding the bundled Gemma 1 vocabulary (same size: ${tok.vocabSize})`,
  };
}
