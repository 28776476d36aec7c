/**
 * The checkpoint a conversion reads: a Hugging Face folder (config.json + one or more
 * safetensors shards, as published: bf16), one .safetensors file inside such a folder, or a
 * GGUF file. Everything is validated before the output file is created — config, shards,
 * dtypes, names and shapes — and tensors are then read by row ranges, so no tensor (the 7B
 * embedding is 1.5 GB in bf16, 3 GB as float32) ever has to sit in memory whole.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { GemmaError } from '../errors.js';
import { openFileSource } from '../formats/file-source.js';
import { GgmlType, ggmlTypeName, tensorByteSize } from '../formats/ggml-types.js';
import { readGguf, type GgufFile } from '../formats/gguf.js';
import { openSafetensorsCheckpoint, SAFETENSORS_INDEX } from '../formats/safetensors-folder.js';
import type { SafetensorsTensor } from '../formats/safetensors.js';
import type { ByteSource } from '../formats/source.js';
import { exists, readHfConfigJson, resolveCheckpointPath } from '../model/checkpoint.js';
import { configFromGguf, configFromHf, type GemmaConfig } from '../model/config.js';
import { canonicalToHf, gemmaTensorSpecs, hfToCanonical, type TensorSpec } from '../model/tensor-names.js';
import { QUANT_FORMATS } from '../quant/index.js';

export interface SourceTensor {
  spec: TensorSpec;
  /** The name in the source file (HF or GGUF). */
  fileName: string;
  type: GgmlType;
  source: ByteSource;
  /** Absolute offset of row 0. */
  offset: number;
  rowBytes: number;
}

export interface ConvertSource {
  format: 'safetensors' | 'gguf';
  path: string;
  config: GemmaConfig;
  /** Canonical order (gemmaTensorSpecs). */
  tensors: SourceTensor[];
  /** Norms hold 1 + w (GGUF) rather than w (HF). */
  normsIncludeOne: boolean;
  /** Folder with tokenizer files (HF), when there is one. */
  tokenizerDir?: string;
  gguf?: GgufFile;
  /** A default for general.name. */
  name: string;
  /** Tensors the source has that a Gemma 1 model does not use. */
  ignored: string[];
  /** The files tensors are read from. */
  files: string[];
  close(): Promise<void>;
}

const HF_DTYPES: Record<string, GgmlType> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };

/** Types a conversion can decode to float32. */
export function isDecodable(type: GgmlType): boolean {
  return type === GgmlType.F32 || type === GgmlType.F16 || type === GgmlType.BF16 || QUANT_FORMATS.has(type);
}

export async function openConvertSource(source: string): Promise<ConvertSource> {
  const p = await resolveCheckpointPath(source);
  return p.kind === 'gguf' ? openGgufSource(p.file) : openHf(p.dir, p.weightsPath);
}

/** `model-00002-of-00003.safetensors` style names must form a complete set. */
async function checkShardSet(dir: string): Promise<void> {
  const names = (await fs.readdir(dir)).filter((f) => f.endsWith('.safetensors'));
  const re = /^(.*)-(\d+)-of-(\d+)\.safetensors$/;
  const groups = new Map<string, { total: number; width: number; have: Set<number> }>();
  for (const n of names) {
    const m = re.exec(n);
    if (!m) continue;
    const key = `${m[1]}|${m[3]}`;
    const g = groups.get(key) ?? { total: Number(m[3]), width: m[2]!.length, have: new Set<number>() };
    g.have.add(Number(m[2]));
    groups.set(key, g);
  }
  for (const [key, g] of groups) {
    for (let i = 1; i <= g.total; i++) {
      if (!g.have.has(i)) {
        const prefix = key.split('|')[0];
        const total = key.split('|')[1];
        throw new GemmaError(`${dir}: missing shard ${prefix}-${String(i).padStart(g.width, '0')}-of-${total}.safetensors`);
      }
    }
  }
}

async function openHf(dir: string, weightsPath: string): Promise<ConvertSource> {
  const { configPath, json } = await readHfConfigJson(dir);
  const arch = (json as { architectures?: unknown } | null)?.architectures;
  if (Array.isArray(arch) && arch.length > 0 && !arch.includes('GemmaForCausalLM')) {
    throw new GemmaError(`${configPath}: architectures is ${JSON.stringify(arch)}, expected GemmaForCausalLM (Gemma 1)`);
  }
  const config = configFromHf(json, configPath);
  if (weightsPath === dir && !(await exists(path.join(dir, SAFETENSORS_INDEX)))) await checkShardSet(dir);
  const st = await openSafetensorsCheckpoint(weightsPath);
  try {
    const byName = new Map<string, SafetensorsTensor>();
    const ignored: string[] = [];
    for (const t of st.tensors.values()) {
      const canonical = hfToCanonical(t.name);
      if (canonical) byName.set(canonical, t);
      else ignored.push(t.name);
    }
    const tensors: SourceTensor[] = [];
    for (const spec of gemmaTensorSpecs(config)) {
      const hf = canonicalToHf(spec.name);
      const t = byName.get(spec.name);
      if (!t) {
        const hint = st.files.length > 1 || weightsPath !== dir ? ' (is a shard missing?)' : '';
        throw new GemmaError(`${weightsPath}: missing tensor ${hf}${hint}`);
      }
      const type = HF_DTYPES[t.dtype];
      if (type === undefined) {
        throw new GemmaError(`tensor ${hf} in ${t.source.name}: dtype ${t.dtype} is not supported (expected BF16, F16 or F32)`);
      }
      checkShape(hf, spec, t.shape);
      tensors.push({ spec, fileName: hf, type, source: t.source, offset: t.offset, rowBytes: rowBytesOf(type, spec, hf) });
    }
    const tokenizerDir = (await exists(path.join(dir, 'tokenizer.json'))) || (await exists(path.join(dir, 'tokenizer.model'))) ? dir : undefined;
    return {
      format: 'safetensors', path: weightsPath, config, tensors, normsIncludeOne: false, tokenizerDir,
      name: path.basename(path.resolve(dir)), ignored, close: st.close,
      files: [...new Set(tensors.map((t) => path.join(dir, t.source.name)))],
    };
  } catch (e) {
    await st.close();
    throw e;
  }
}

function checkShape(name: string, spec: TensorSpec, shape: readonly number[]): void {
  const same = shape.length === spec.shape.length && shape.every((d, i) => d === spec.shape[i]);
  if (!same) throw new GemmaError(`tensor ${name}: expected shape [${spec.shape.join(', ')}], file has [${shape.join(', ')}]`);
}

function rowBytesOf(type: GgmlType, spec: TensorSpec, name: string): number {
  return tensorByteSize(type, [spec.shape[spec.shape.length - 1]!], name);
}

async function openGgufSource(file: string): Promise<ConvertSource> {
  const src = await openFileSource(file);
  try {
    const gguf = await readGguf(src);
    const where = path.basename(file);
    const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
    const embd = byName.get('token_embd.weight');
    const config = configFromGguf(gguf.metadata, embd?.shape[0] ?? 0, where);
    const tensors: SourceTensor[] = [];
    const used = new Set<string>();
    for (const spec of gemmaTensorSpecs(config)) {
      const t = byName.get(spec.name);
      if (!t) throw new GemmaError(`${where}: missing tensor ${spec.name}`);
      if (!isDecodable(t.type)) throw new GemmaError(`tensor ${spec.name} in ${where}: type ${ggmlTypeName(t.type)} cannot be converted`);
      checkShape(spec.name, spec, t.shape);
      used.add(spec.name);
      tensors.push({ spec, fileName: spec.name, type: t.type, source: src, offset: t.offset, rowBytes: rowBytesOf(t.type, spec, spec.name) });
    }
    const name = gguf.metadata.get('general.name');
    return {
      format: 'gguf', path: file, config, tensors, normsIncludeOne: true, gguf,
      name: typeof name === 'string' && name ? name : path.basename(file, '.gguf'),
      ignored: gguf.tensors.filter((t) => !used.has(t.name)).map((t) => t.name),
      files: [file],
      close: () => src.close(),
    };
  } catch (e) {
    await src.close();
    throw e;
  }
}
