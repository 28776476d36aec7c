/**
 * Node-side loading: files, Hugging Face folders, GGUF files and the bundled default
 * vocabulary (assets/tokenizer/, a gzipped SentencePiece model written by this library from
 * Gemma 1's tokenizer.json, plus the relevant part of its tokenizer_config.json).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { GemmaError } from '../errors.js';
import { fileError, openFileSource } from '../formats/file-source.js';
import { readGguf } from '../formats/gguf.js';
import { tokenizerFromGgufMetadata } from './gguf-vocab.js';
import { tokenizerFromHfJson } from './hf-json.js';
import { tokenizerFromSentencePieceModel } from './sentencepiece.js';
import type { GemmaTokenizer } from './tokenizer.js';
import type { Tokenizer } from './types.js';

export const BUNDLED_MODEL_FILE = 'gemma1-tokenizer.model.gz';
export const BUNDLED_CONFIG_FILE = 'gemma1-tokenizer_config.json';

let bundled: Promise<GemmaTokenizer> | undefined;

/**
 * Loads a tokenizer from `tokenizer.json`, `tokenizer.model`, a `.gguf` file, or a folder
 * holding one of them (tokenizer_config.json next to it is applied); with no source, the
 * bundled Gemma 1 vocabulary.
 */
export async function loadTokenizer(source?: string): Promise<Tokenizer> {
  if (source === undefined) return loadBundledTokenizer();
  if (typeof source !== 'string' || source.length === 0) throw new GemmaError('tokenizer source must be a non-empty path');
  let isDir: boolean;
  try {
    isDir = (await stat(source)).isDirectory();
  } catch (e) {
    throw fileError(source, e);
  }
  return isDir ? loadFolder(source) : loadFile(source);
}

export function loadBundledTokenizer(): Promise<GemmaTokenizer> {
  bundled ??= (async () => {
    const dir = await bundledAssetDir();
    const model = gunzipSync(await readFile(join(dir, BUNDLED_MODEL_FILE)));
    const config = await readFile(join(dir, BUNDLED_CONFIG_FILE), 'utf8');
    return tokenizerFromSentencePieceModel(new Uint8Array(model.buffer, model.byteOffset, model.byteLength), JSON.parse(config));
  })();
  bundled.catch(() => (bundled = undefined));
  return bundled;
}

/**
 * assets/ sits at the package root, next to src/ (tests run the TS sources) and dist/ (the
 * compiled package): walk up from this module until it appears.
 */
export async function bundledAssetDir(): Promise<string> {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'assets', 'tokenizer');
    try {
      await stat(join(candidate, BUNDLED_MODEL_FILE));
      return candidate;
    } catch {
      const up = dirname(dir);
      if (up === dir) throw new GemmaError(`bundled tokenizer asset ${BUNDLED_MODEL_FILE} not found above ${fileURLToPath(import.meta.url)}`);
      dir = up;
    }
  }
}

async function readOptionalConfig(dir: string): Promise<unknown> {
  const path = join(dir, 'tokenizer_config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(path, e);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new GemmaError(`${path}: not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

async function loadFolder(dir: string): Promise<Tokenizer> {
  const names = await readdir(dir).catch((e: unknown) => {
    throw fileError(dir, e);
  });
  if (names.includes('tokenizer.json')) return loadFile(join(dir, 'tokenizer.json'));
  if (names.includes('tokenizer.model')) return loadFile(join(dir, 'tokenizer.model'));
  const ggufs = names.filter((n) => n.toLowerCase().endsWith('.gguf'));
  if (ggufs.length === 1) return loadFile(join(dir, ggufs[0]!));
  throw new GemmaError(`${dir}: no tokenizer.json, tokenizer.model or single .gguf file in this folder`);
}

async function loadFile(path: string): Promise<Tokenizer> {
  const name = basename(path);
  if (name === 'tokenizer_config.json') {
    throw new GemmaError(`${path}: tokenizer_config.json has no vocabulary; pass tokenizer.json or the folder`);
  }
  const ext = extname(path).toLowerCase();
  let kind = ext === '.json' ? 'json' : ext === '.model' ? 'spm' : ext === '.gguf' ? 'gguf' : undefined;
  if (kind === undefined) kind = await sniff(path);
  if (kind === 'gguf') return loadGguf(path);
  const bytes = await readFile(path).catch((e: unknown) => {
    throw fileError(path, e);
  });
  const config = await readOptionalConfig(dirname(path));
  return namingPath(path, async () =>
    kind === 'json'
      ? tokenizerFromHfJson(bytes.toString('utf8'), config)
      : tokenizerFromSentencePieceModel(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), config),
  );
}

async function loadGguf(path: string): Promise<Tokenizer> {
  const source = await openFileSource(path);
  try {
    return await namingPath(path, async () => tokenizerFromGgufMetadata((await readGguf(source)).metadata));
  } finally {
    await source.close();
  }
}

/** Prefixes the file path to GemmaErrors that do not name it yet. */
async function namingPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof GemmaError && !e.message.startsWith(path)) throw new GemmaError(`${path}: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Tells GGUF, JSON and (by elimination) protobuf apart by their first bytes. */
async function sniff(path: string): Promise<'gguf' | 'json' | 'spm'> {
  const source = await openFileSource(path);
  try {
    const head = await source.read(0, Math.min(4, source.size));
    const text = new TextDecoder().decode(head);
    if (text === 'GGUF') return 'gguf';
    if (text.trimStart().startsWith('{')) return 'json';
    return 'spm';
  } finally {
    await source.close();
  }
}
