import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GemmaError } from '../errors.js';
import { writeFileAtomically } from './node-io.js';
import { encodeSafetensorsHeader, safetensorsByteSize, type SafetensorsDtype } from './safetensors.js';

export interface SafetensorsTensorData {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Exactly shape × dtype-size bytes, little-endian. */
  data: Uint8Array;
}

export const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Writes one .safetensors file (tensors back to back, in the given order). */
export async function writeSafetensors(
  path: string,
  tensors: readonly SafetensorsTensorData[],
  metadata?: Record<string, string>,
): Promise<void> {
  const file = basename(path);
  const { header, byteLengths } = encodeSafetensorsHeader(tensors, metadata, file);
  tensors.forEach((t, i) => {
    if (t.data.length !== byteLengths[i]) {
      throw new GemmaError(
        `${file}: tensor ${t.name}: data has ${t.data.length} bytes, ${t.dtype} [${t.shape.join(', ')}] needs ${byteLengths[i]}`,
      );
    }
  });
  await writeFileAtomically(path, async (sink) => {
    await sink.write(header);
    for (const t of tensors) await sink.write(t.data);
  });
}

/**
 * Writes a Hugging Face style sharded checkpoint into `dir`:
 * model-0000i-of-0000n.safetensors files of at most `maxShardBytes` of tensor
 * data each (a larger tensor gets a shard of its own) and
 * model.safetensors.index.json, whose "weight_map" maps each tensor to its shard.
 * Returns the shard file names.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: readonly SafetensorsTensorData[],
  maxShardBytes: number,
  metadata?: Record<string, string>,
): Promise<string[]> {
  if (!(maxShardBytes > 0)) throw new GemmaError(`maxShardBytes must be positive, got ${maxShardBytes}`);
  const groups: SafetensorsTensorData[][] = [];
  let current: SafetensorsTensorData[] = [];
  let currentBytes = 0;
  let total = 0;
  for (const t of tensors) {
    const size = safetensorsByteSize(t.dtype, t.shape, `tensor ${t.name}`);
    if (current.length > 0 && currentBytes + size > maxShardBytes) {
      groups.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(t);
    currentBytes += size;
    total += size;
  }
  if (current.length > 0 || groups.length === 0) groups.push(current);

  await mkdir(dir, { recursive: true });
  const pad = (i: number) => String(i).padStart(5, '0');
  const names = groups.map((_, i) => `model-${pad(i + 1)}-of-${pad(groups.length)}.safetensors`);
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < groups.length; i++) {
    await writeSafetensors(join(dir, names[i]!), groups[i]!, metadata ?? { format: 'pt' });
    for (const t of groups[i]!) weightMap[t.name] = names[i]!;
  }
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  await writeFile(join(dir, SAFETENSORS_INDEX_FILE), JSON.stringify(index, null, 2) + '\n');
  return names;
}
