/**
 * Opens a checkpoint — a Hugging Face folder (config.json + one or more *.safetensors), one
 * .safetensors file inside such a folder, or a GGUF file — and presents its tensors under the
 * canonical names of tensor-names.ts, still on disk: tensors are read by offset when loaded,
 * never the whole file into one buffer (a 7B BF16 checkpoint is 17 GB).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GemmaError } from '../errors.js';
import { openFileSource } from '../formats/file-source.js';
import { readGguf, type GgufFile } from '../formats/gguf.js';
import { GgmlType } from '../formats/ggml-types.js';
import { openSafetensorsCheckpoint } from '../formats/safetensors-folder.js';
import type { ByteSource } from '../formats/source.js';
import { configFromGguf, configFromHf, type GemmaConfig } from './config.js';
import { hfToCanonical } from './tensor-names.js';

export interface CheckpointTensor {
  /** The name in the file (HF or GGUF). */
  fileName: string;
  shape: number[];
  type: GgmlType;
  byteLength: number;
  read(): Promise<Uint8Array>;
}

export interface Checkpoint {
  format: 'safetensors' | 'gguf';
  /** What the user gave: a folder or a file. */
  path: string;
  config: GemmaConfig;
  /** Keyed by canonical (GGUF) name. */
  tensors: Map<string, CheckpointTensor>;
  /** GGUF norms hold 1 + w (llama.cpp's converter adds it); HF norms hold w. */
  normsIncludeOne: boolean;
  /** Where the tokenizer lives: the HF folder, the GGUF file, or undefined when neither has one. */
  tokenizerSource: string | undefined;
  gguf?: GgufFile;
  totalBytes: number;
  close(): Promise<void>;
}

const SAFETENSORS_DTYPES: Record<string, GgmlType> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };

export async function statOrThrow(p: string) {
  try {
    return await fs.stat(p);
  } catch {
    throw new GemmaError(`no such file or directory: ${p}`);
  }
}

export async function exists(p: string): Promise<boolean> {
  return fs.stat(p).then(() => true, () => false);
}

/** True when the file starts with the GGUF magic. */
export async function isGgufFile(p: string): Promise<boolean> {
  const fh = await fs.open(p, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return bytesRead === 4 && b.toString('latin1') === 'GGUF';
  } finally {
    await fh.close();
  }
}

/** What a user's model path points at, before anything is parsed. */
export type CheckpointPath = { kind: 'hf'; dir: string; weightsPath: string } | { kind: 'gguf'; file: string };

/**
 * Resolves a model path: an HF folder (config.json), a folder holding one .gguf, a .gguf file (by
 * name or magic), or a .safetensors file with config.json beside it.
 */
export async function resolveCheckpointPath(source: string): Promise<CheckpointPath> {
  const st = await statOrThrow(source);
  if (st.isDirectory()) {
    if (await exists(path.join(source, 'config.json'))) return { kind: 'hf', dir: source, weightsPath: source };
    const ggufs = (await fs.readdir(source)).filter((f) => f.endsWith('.gguf'));
    if (ggufs.length === 1) return { kind: 'gguf', file: path.join(source, ggufs[0]) };
    throw new GemmaError(`${source}: directory has no config.json (expected a Hugging Face model folder, or pass a .gguf file)`);
  }
  if (source.endsWith('.gguf') || (await isGgufFile(source))) return { kind: 'gguf', file: source };
  if (source.endsWith('.safetensors')) {
    const dir = path.dirname(source);
    if (!(await exists(path.join(dir, 'config.json')))) {
      throw new GemmaError(`${source}: no config.json next to this .safetensors file (needed for the model's hyper-parameters)`);
    }
    return { kind: 'hf', dir, weightsPath: source };
  }
  throw new GemmaError(`${source}: not a model (expected a Hugging Face folder, a .safetensors file or a .gguf file)`);
}

export async function openCheckpoint(source: string): Promise<Checkpoint> {
  const p = await resolveCheckpointPath(source);
  return p.kind === 'gguf' ? openGguf(p.file) : openHf(p.dir, p.weightsPath);
}

/** A Hugging Face folder's config.json, parsed (not yet checked as a Gemma config). */
export async function readHfConfigJson(dir: string): Promise<{ configPath: string; json: unknown }> {
  const configPath = path.join(dir, 'config.json');
  try {
    return { configPath, json: JSON.parse(await fs.readFile(configPath, 'utf8')) };
  } catch (e) {
    throw new GemmaError(`${configPath}: not valid JSON (${(e as Error).message})`);
  }
}

async function openHf(dir: string, weightsPath: string): Promise<Checkpoint> {
  const { configPath, json } = await readHfConfigJson(dir);
  const config = configFromHf(json, configPath);
  const st = await openSafetensorsCheckpoint(weightsPath === dir ? dir : weightsPath);
  const tensors = new Map<string, CheckpointTensor>();
  let totalBytes = 0;
  try {
    for (const t of st.tensors.values()) {
      const canonical = hfToCanonical(t.name);
      if (!canonical) continue;
      const type = SAFETENSORS_DTYPES[t.dtype];
      if (type === undefined) {
        throw new GemmaError(`tensor ${t.name} in ${t.source.name}: unsupported dtype ${t.dtype} (supported: F32, F16, BF16)`);
      }
      totalBytes += t.byteLength;
      tensors.set(canonical, {
        fileName: t.name, shape: t.shape, type, byteLength: t.byteLength,
        read: () => t.source.read(t.offset, t.byteLength),
      });
    }
  } catch (e) {
    await st.close();
    throw e;
  }
  const hasTokenizer = (await exists(path.join(dir, 'tokenizer.json'))) || (await exists(path.join(dir, 'tokenizer.model')));
  return {
    format: 'safetensors', path: weightsPath, config, tensors, normsIncludeOne: false,
    tokenizerSource: hasTokenizer ? dir : undefined, totalBytes, close: st.close,
  };
}

async function openGguf(file: string): Promise<Checkpoint> {
  const src: ByteSource = await openFileSource(file);
  try {
    const gguf = await readGguf(src);
    const where = path.basename(file);
    const tensors = new Map<string, CheckpointTensor>();
    let totalBytes = 0;
    for (const t of gguf.tensors) {
      totalBytes += t.byteLength;
      tensors.set(t.name, {
        fileName: t.name, shape: t.shape, type: t.type, byteLength: t.byteLength,
        read: () => src.read(t.offset, t.byteLength),
      });
    }
    const embd = tensors.get('token_embd.weight');
    if (gguf.metadata.get('general.architecture') === 'gemma' && !embd) {
      throw new GemmaError(`${where}: missing tensor token_embd.weight`);
    }
    const config = configFromGguf(gguf.metadata, embd?.shape[0] ?? 0, where);
    const hasTokenizer = gguf.metadata.has('tokenizer.ggml.tokens');
    return {
      format: 'gguf', path: file, config, tensors, normsIncludeOne: true,
      tokenizerSource: hasTokenizer ? file : undefined, gguf, totalBytes, close: () => src.close(),
    };
  } catch (e) {
    await src.close();
    throw e;
  }
}
