/**
 * GGUF vocabularies written by tokenizerToGgufMetadata: HF goldens from the metadata and from
 * a file (written by writeGguf, read back by loadTokenizer), llama.cpp's conventions, and
 * llama.cpp itself (node-llama-cpp, vocabulary-only load) tokenizing the file like HF.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getLlama, type LlamaModel } from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource } from '../../src/formats/source.js';
import { encodeGgufHeader } from '../../src/formats/gguf-encode.js';
import { readGguf } from '../../src/formats/gguf.js';
import { gguf, writeGguf, type GgufMetadataEntry } from '../../src/formats/gguf-writer.js';
import { tokenizerFromGgufMetadata, tokenizerToGgufMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { loadBundledTokenizer, loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { checkGoldens, goldens } from './helpers.js';

/** Gemma 2B hyper-parameters: llama.cpp reads them even for a vocabulary-only load. */
const GEMMA_HPARAMS: GgufMetadataEntry[] = [
  gguf.str('general.architecture', 'gemma'),
  gguf.str('general.name', 'Gemma 1 vocabulary'),
  gguf.u32('gemma.context_length', 8192),
  gguf.u32('gemma.embedding_length', 2048),
  gguf.u32('gemma.block_count', 18),
  gguf.u32('gemma.feed_forward_length', 16384),
  gguf.u32('gemma.attention.head_count', 8),
  gguf.u32('gemma.attention.head_count_kv', 1),
  gguf.u32('gemma.attention.key_length', 256),
  gguf.u32('gemma.attention.value_length', 256),
  gguf.f32('gemma.attention.layer_norm_rms_epsilon', 1e-6),
];

let entries: Promise<GgufMetadataEntry[]> | undefined;
const metadata = (): Promise<GgufMetadataEntry[]> => (entries ??= loadBundledTokenizer().then((t) => tokenizerToGgufMetadata(t)));

let file: Promise<string> | undefined;
function ggufFile(): Promise<string> {
  file ??= (async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'gemma-tok-gguf-')), 'vocab.gguf');
    await writeGguf(path, [...GEMMA_HPARAMS, ...(await metadata())], []);
    return path;
  })();
  return file;
}

checkGoldens('GGUF metadata written by tokenizerToGgufMetadata', async () =>
  tokenizerFromGgufMetadata(new Map((await metadata()).map((e) => [e.key, e.value]))),
);

describe('GGUF file round trip', () => {
  it('readGguf keeps a leading U+FEFF in strings (8 Gemma pieces start with one)', async () => {
    const { header } = encodeGgufHeader([gguf.strArray('t', ['\ufeff#', '\ufeff\ufeff'])], [], 32);
    const read = await readGguf(bufferSource(header));
    expect(read.metadata.get('t')).toEqual(['\ufeff#', '\ufeff\ufeff']);
  });
});

checkGoldens('a GGUF file written with writeGguf', async () => loadTokenizer(await ggufFile()));

describe("GGUF vocabulary follows llama.cpp's conventions", () => {
  let meta: Map<string, unknown>;
  beforeAll(async () => {
    meta = new Map((await metadata()).map((e) => [e.key, e.value]));
  });

  it('stores piece types, byte pieces and user-defined spaces as llama.cpp does', () => {
    const tokens = meta.get('tokenizer.ggml.tokens') as string[];
    const types = meta.get('tokenizer.ggml.token_type') as number[];
    expect(meta.get('tokenizer.ggml.model')).toBe('llama');
    expect([tokens[226], types[226]]).toEqual(['<0x09>', 6]);
    expect([tokens[217], types[217]]).toEqual(['<0x00>', 6]);
    expect([tokens[139], types[139]]).toEqual(['  ', 4]);
    expect([tokens[108], types[108]]).toEqual(['\n', 4]);
    expect([tokens[7], types[7]]).toEqual(['<unused0>', 4]);
    expect(types.slice(0, 4)).toEqual([3, 3, 3, 2]);
    expect([types[106], types[107]]).toEqual([3, 3]);
    expect(types[1000]).toBe(1);
    expect(meta.get('tokenizer.ggml.bos_token_id')).toBe(2);
    expect(meta.get('tokenizer.ggml.eos_token_id')).toBe(1);
    expect(meta.get('tokenizer.ggml.add_space_prefix')).toBe(false);
    expect(meta.get('tokenizer.ggml.add_bos_token')).toBe(true);
    expect(typeof meta.get('tokenizer.chat_template')).toBe('string');
  });

  it('reads llama.cpp-converted files, whose look-special added tokens are CONTROL', () => {
    const types = [...(meta.get('tokenizer.ggml.token_type') as number[])];
    for (let id = 4; id <= 105; id++) types[id] = 3;
    const tok = tokenizerFromGgufMetadata(new Map([...meta, ['tokenizer.ggml.token_type', types]]));
    expect(tok.isSpecial(7)).toBe(false);
    expect(tok.isSpecial(106)).toBe(true);
    expect(tok.encode('<unused0><start_of_turn>', { parseSpecial: false, addBos: false })[0]).toBe(7);
  });
});

/** Texts with 32+ consecutive spaces are left out: llama.cpp matches the longest user-defined
 * space run there, HF merges by BPE (documented in the llama.cpp oracle notes). */
const LONG_SPACE_RUN = / {32}/;

describe('llama.cpp tokenizes a GGUF written here like HF', () => {
  let model: LlamaModel;
  let ours: Tokenizer;
  const extra = [
    'Hello world', '  two  spaces ', '\t\ttabs\t', '你好，世界 😀 👩‍👩‍👧', '<start_of_turn>user\nhi<end_of_turn>\n',
    'x <eos> <bos> y', '<unused0><mask><table>', 'a\u0000b', 'ﬁ Å 𝕏', 'def f(x):\n    return x\n',
  ];

  beforeAll(async () => {
    // 'fatal': a vocabulary-only load still logs a harmless "missing tensor token_embd.weight".
    const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, logLevel: 'fatal' as never });
    model = await llama.loadModel({ modelPath: await ggufFile(), vocabOnly: true });
    ours = await loadBundledTokenizer();
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('matches HF ids on the golden texts and extra texts (parse_special on)', () => {
    let compared = 0;
    for (const g of goldens.encode) {
      if (LONG_SPACE_RUN.test(g.text)) continue;
      expect([...model.tokenize(g.text, true)], JSON.stringify(g.text.slice(0, 50))).toEqual(g.raw_no_special);
      compared++;
    }
    expect(compared).toBeGreaterThan(300);
    for (const t of extra) expect([...model.tokenize(t, true)], JSON.stringify(t)).toEqual(ours.encode(t, { addBos: false }));
  });

  it('matches parseSpecial: false with parse_special off', () => {
    for (const t of extra) expect([...model.tokenize(t, false)], JSON.stringify(t)).toEqual(ours.encode(t, { addBos: false, parseSpecial: false }));
  });

  it('detokenizes golden encodings to the same text', () => {
    for (const g of goldens.encode.slice(0, 100)) expect(model.detokenize(g.raw_no_special as never)).toBe(ours.decode(g.raw_no_special));
  });
});
