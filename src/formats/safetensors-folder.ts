import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../errors.js';
import { fileError, openFileSource } from './file-source.js';
import { readSafetensors, type SafetensorsTensor } from './safetensors.js';
import type { ByteSource } from './source.js';

export const SAFETENSORS_INDEX = 'model.safetensors.index.json';
export const SAFETENSORS_SINGLE = 'model.safetensors';

export interface SafetensorsCheckpoint {
  files: ByteSource[];
  /** Every tensor of every file, by name. */
  tensors: Map<string, SafetensorsTensor>;
  /** The __metadata__ of each file, in the order of `files`. */
  metadata: Record<string, string>[];
  close(): Promise<void>;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Opens the weights of a Hugging Face checkpoint without reading tensor data.
 * A folder is resolved as transformers does: the shards named by the
 * "weight_map" of model.safetensors.index.json, else model.safetensors, else
 * every *.safetensors file in it. A .safetensors file path opens just that file.
 */
export async function openSafetensorsCheckpoint(pathOrDir: string): Promise<SafetensorsCheckpoint> {
  let isDir: boolean;
  try {
    isDir = (await stat(pathOrDir)).isDirectory();
  } catch (err) {
    throw fileError(pathOrDir, err);
  }
  if (!isDir) return openFiles([pathOrDir]);

  const indexPath = join(pathOrDir, SAFETENSORS_INDEX);
  if (await exists(indexPath)) {
    const weightMap = await readWeightMap(indexPath);
    const shards = [...new Set(weightMap.values())].sort();
    for (const shard of shards) {
      if (!(await exists(join(pathOrDir, shard)))) {
        throw new GemmaError(`missing shard ${shard} listed in ${SAFETENSORS_INDEX}`);
      }
    }
    return openFiles(shards.map((s) => join(pathOrDir, s)), weightMap);
  }
  if (await exists(join(pathOrDir, SAFETENSORS_SINGLE))) return openFiles([join(pathOrDir, SAFETENSORS_SINGLE)]);
  const all = (await readdir(pathOrDir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (all.length === 0) throw new GemmaError(`${pathOrDir}: no .safetensors files in this folder`);
  return openFiles(all.map((f) => join(pathOrDir, f)));
}

/** tensor name → shard file name, from the index's "weight_map". */
async function readWeightMap(indexPath: string): Promise<Map<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(indexPath, 'utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw new GemmaError(`${SAFETENSORS_INDEX}: not valid JSON (${err.message})`);
    throw fileError(indexPath, err);
  }
  const wm = (json as { weight_map?: unknown } | null)?.weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new GemmaError(`${SAFETENSORS_INDEX}: missing "weight_map" object`);
  }
  const map = new Map<string, string>();
  for (const [tensor, shard] of Object.entries(wm as Record<string, unknown>)) {
    // Shards must be plain file names in the same folder.
    if (typeof shard !== 'string' || shard === '' || /[/\\]/.test(shard) || shard === '.' || shard === '..') {
      throw new GemmaError(`${SAFETENSORS_INDEX}: weight_map entry for ${tensor} is not a file name: ${JSON.stringify(shard)}`);
    }
    map.set(tensor, shard);
  }
  return map;
}

async function openFiles(paths: string[], weightMap?: Map<string, string>): Promise<SafetensorsCheckpoint> {
  const files: ByteSource[] = [];
  const close = async () => {
    await Promise.all(files.map((f) => f.close()));
  };
  try {
    const tensors = new Map<string, SafetensorsTensor>();
    const metadata: Record<string, string>[] = [];
    for (const path of paths) {
      const source = await openFileSource(path);
      files.push(source);
      const parsed = await readSafetensors(source);
      metadata.push(parsed.metadata);
      for (const t of parsed.tensors) {
        const prev = tensors.get(t.name);
        if (prev) throw new GemmaError(`tensor ${t.name} appears in both ${prev.source.name} and ${source.name}`);
        tensors.set(t.name, t);
      }
    }
    for (const [name, shard] of weightMap ?? []) {
      if (tensors.get(name)?.source.name !== shard) {
        throw new GemmaError(`tensor ${name} listed in ${SAFETENSORS_INDEX} is missing from shard ${shard}`);
      }
    }
    return { files, tensors, metadata, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
