import { describe, it, expect } from 'vitest';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { f32ArrayToBf16, f32ArrayToF16 } from '../../src/formats/dtype.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { readSafetensors, type SafetensorsTensor } from '../../src/formats/safetensors.js';
import { openSafetensorsCheckpoint } from '../../src/formats/safetensors-folder.js';
import {
  writeSafetensors,
  writeShardedSafetensors,
  type SafetensorsTensorData,
} from '../../src/formats/safetensors-writer.js';
import { bufferSource, type ByteSource } from '../../src/formats/source.js';
import { bytesOf, makeTempDir } from './helpers.js';

const dir = await makeTempDir();
const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/hf-tiny-mqa/', import.meta.url));

const f16 = new Uint16Array(6);
f32ArrayToF16(new Float32Array([1, 2, 3, 4, 5, 6]), f16);
const bf16 = new Uint16Array(4);
f32ArrayToBf16(new Float32Array([-1, 0.5, 1e20, 7]), bf16);
const sample: SafetensorsTensorData[] = [
  { name: 'a.f32', dtype: 'F32', shape: [2, 3], data: bytesOf(new Float32Array([1, 2, 3, 4, 5, 6])) },
  { name: 'b.f16', dtype: 'F16', shape: [3, 2], data: bytesOf(f16) },
  { name: 'c.bf16', dtype: 'BF16', shape: [4], data: bytesOf(bf16) },
  { name: 'd.i64', dtype: 'I64', shape: [], data: bytesOf(new BigInt64Array([-5n])) },
  { name: 'e.empty', dtype: 'F32', shape: [0, 3], data: new Uint8Array(0) },
  { name: 'f.u8', dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
];

async function bytesOfTensor(t: SafetensorsTensor): Promise<number[]> {
  return [...(await t.source.read(t.offset, t.byteLength))];
}

describe('safetensors fixture', () => {
  it('reads the tiny Gemma checkpoint', async () => {
    const src = await openFileSource(join(FIXTURE_DIR, 'model.safetensors'));
    const { tensors, metadata } = await readSafetensors(src);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors.length).toBe(20);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    expect(byName.get('model.embed_tokens.weight')!.shape).toEqual([2048, 64]);
    expect(byName.get('model.embed_tokens.weight')!.offset).toBe(8 + 2064);
    expect(byName.get('model.layers.0.self_attn.q_proj.weight')!.shape).toEqual([64, 64]);
    expect(byName.get('model.layers.1.self_attn.k_proj.weight')!.shape).toEqual([16, 64]);
    expect(byName.get('model.layers.1.self_attn.v_proj.weight')!.shape).toEqual([16, 64]);
    expect(byName.get('model.layers.0.mlp.gate_proj.weight')!.shape).toEqual([128, 64]);
    expect(byName.get('model.layers.0.mlp.down_proj.weight')!.shape).toEqual([64, 128]);
    expect(byName.get('model.norm.weight')!.shape).toEqual([64]);
    expect(tensors.every((t) => t.dtype === 'F32')).toBe(true);
    const norm = byName.get('model.norm.weight')!;
    const values = new Float32Array((await norm.source.read(norm.offset, norm.byteLength)).slice().buffer);
    expect(values.every(Number.isFinite)).toBe(true);
    await src.close();
  });

  it('opens the fixture folder and the file through the checkpoint opener', async () => {
    for (const p of [FIXTURE_DIR, join(FIXTURE_DIR, 'model.safetensors')]) {
      const ckpt = await openSafetensorsCheckpoint(p);
      expect(ckpt.files.map((f) => f.name)).toEqual(['model.safetensors']);
      expect(ckpt.tensors.size).toBe(20);
      expect(ckpt.tensors.get('model.layers.0.input_layernorm.weight')!.shape).toEqual([64]);
      await ckpt.close();
    }
  });
});

describe('safetensors round trip', () => {
  it('writes and reads a single file with HF-style header padding', async () => {
    const path = join(dir, 'single.safetensors');
    await writeSafetensors(path, sample, { format: 'pt', note: 'héllo' });
    const raw = await readFile(path);
    const headerLen = Number(raw.readBigUInt64LE(0));
    expect(headerLen % 8).toBe(0);
    expect(raw.subarray(8, 8 + headerLen).toString('utf8')).toMatch(/^\{.*\} *$/);
    const src = await openFileSource(path);
    const { tensors, metadata } = await readSafetensors(src);
    expect(metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect(tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(sample.map((t) => [t.name, t.dtype, t.shape]));
    for (const [i, t] of tensors.entries()) expect(await bytesOfTensor(t)).toEqual([...sample[i]!.data]);
    await src.close();
  });

  it('writes a sharded checkpoint with an index and opens it', async () => {
    const shardDir = join(dir, 'sharded');
    // Shards of at most 30 data bytes: a (24) | b, c, d, e (12 + 8 + 8 + 0) | f (3).
    const names = await writeShardedSafetensors(shardDir, sample, 30);
    expect(names).toEqual([
      'model-00001-of-00003.safetensors',
      'model-00002-of-00003.safetensors',
      'model-00003-of-00003.safetensors',
    ]);
    const index = JSON.parse(await readFile(join(shardDir, 'model.safetensors.index.json'), 'utf8'));
    expect(index.metadata.total_size).toBe(24 + 12 + 8 + 8 + 0 + 3);
    expect(index.weight_map['c.bf16']).toBe('model-00002-of-00003.safetensors');
    const ckpt = await openSafetensorsCheckpoint(shardDir);
    expect(ckpt.files.map((f) => f.name)).toEqual(names);
    expect([...ckpt.tensors.keys()].sort()).toEqual(sample.map((t) => t.name).sort());
    for (const t of sample) {
      const got = ckpt.tensors.get(t.name)!;
      expect(got.source.name).toBe(index.weight_map[t.name]);
      expect(await bytesOfTensor(got)).toEqual([...t.data]);
    }
    await ckpt.close();
  });

  it('falls back to every *.safetensors file when there is no index', async () => {
    const d = join(dir, 'loose');
    await mkdir(d);
    await writeSafetensors(join(d, 'part-a.safetensors'), sample.slice(0, 2));
    await writeSafetensors(join(d, 'part-b.safetensors'), sample.slice(2));
    const ckpt = await openSafetensorsCheckpoint(d);
    expect(ckpt.files.map((f) => f.name)).toEqual(['part-a.safetensors', 'part-b.safetensors']);
    expect(ckpt.tensors.size).toBe(sample.length);
    await ckpt.close();
  });
});

describe('safetensors checkpoint errors', () => {
  async function shardedCopy(name: string): Promise<string> {
    const d = join(dir, name);
    await writeShardedSafetensors(d, sample, 30);
    return d;
  }

  it('reports a missing shard', async () => {
    const d = await shardedCopy('missing-shard');
    await rm(join(d, 'model-00002-of-00003.safetensors'));
    await expect(openSafetensorsCheckpoint(d)).rejects.toThrow(
      'missing shard model-00002-of-00003.safetensors listed in model.safetensors.index.json',
    );
  });

  it('reports a tensor listed in the index but absent from its shard', async () => {
    const d = await shardedCopy('ghost');
    const indexPath = join(d, 'model.safetensors.index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8'));
    index.weight_map['ghost.weight'] = 'model-00001-of-00003.safetensors';
    await writeFile(indexPath, JSON.stringify(index));
    await expect(openSafetensorsCheckpoint(d)).rejects.toThrow(
      'tensor ghost.weight listed in model.safetensors.index.json is missing from shard model-00001-of-00003.safetensors',
    );
  });

  it('rejects shard names that leave the folder', async () => {
    const d = await shardedCopy('escape');
    const indexPath = join(d, 'model.safetensors.index.json');
    await writeFile(indexPath, JSON.stringify({ weight_map: { x: '../model.safetensors' } }));
    await expect(openSafetensorsCheckpoint(d)).rejects.toThrow('weight_map entry for x is not a file name');
  });

  it('rejects duplicate tensor names across files', async () => {
    const d = join(dir, 'dupes');
    await mkdir(d);
    await writeSafetensors(join(d, 'a.safetensors'), sample.slice(0, 1));
    await copyFile(join(d, 'a.safetensors'), join(d, 'b.safetensors'));
    await expect(openSafetensorsCheckpoint(d)).rejects.toThrow('tensor a.f32 appears in both a.safetensors and b.safetensors');
  });

  it('reports missing paths and empty folders', async () => {
    const missing = join(dir, 'does-not-exist');
    await expect(openSafetensorsCheckpoint(missing)).rejects.toThrow(`no such file: ${missing}`);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await expect(openSafetensorsCheckpoint(empty)).rejects.toThrow('no .safetensors files in this folder');
  });

  it('validates data lengths when writing and leaves no output', async () => {
    const bad = [{ name: 'w', dtype: 'F32', shape: [2], data: new Uint8Array(7) }];
    await expect(writeSafetensors(join(dir, 'bad.safetensors'), bad)).rejects.toThrow(
      'bad.safetensors: tensor w: data has 7 bytes, F32 [2] needs 8',
    );
    expect((await readdir(dir)).filter((f) => f.startsWith('bad'))).toEqual([]);
  });
});

/** A safetensors file from a header object and `dataLen` zero bytes. */
function make(header: unknown, dataLen: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataLen);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}
const read = (b: Uint8Array) => readSafetensors(bufferSource(b, 'model.safetensors'));
const entry = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

describe('safetensors bad input', () => {
  it('rejects truncated files and oversized header lengths', async () => {
    await expect(read(new Uint8Array(5))).rejects.toThrow('model.safetensors: truncated: need 8 bytes for the header length');
    const b = make({ w: entry('F32', [2], 0, 8) }, 8);
    new DataView(b.buffer).setBigUint64(0, 1000n, true);
    await expect(read(b)).rejects.toThrow('model.safetensors: header length 1000 is larger than the file allows');
    const huge: ByteSource = {
      name: 'model.safetensors',
      size: 300_000_000,
      read: async () => {
        const lb = new Uint8Array(8);
        new DataView(lb.buffer).setBigUint64(0, 200_000_000n, true);
        return lb;
      },
      close: async () => undefined,
    };
    await expect(readSafetensors(huge)).rejects.toThrow('header length 200000000 exceeds the limit of 100000000 bytes');
    const data = make({ w: entry('F32', [4], 0, 16) }, 16);
    await expect(read(data.subarray(0, data.length - 4))).rejects.toThrow(
      `model.safetensors: tensor w: data range ${data.length - 16}..${data.length} is outside the file (size ${data.length - 4})`,
    );
  });

  it('rejects malformed headers and entries', async () => {
    const notJson = make({}, 0);
    notJson.set(new TextEncoder().encode('{x'), 8);
    await expect(read(notJson)).rejects.toThrow('model.safetensors: header is not valid JSON');
    await expect(read(make([], 0))).rejects.toThrow('header is not a JSON object');
    await expect(read(make({ w: entry('F32', [2, 2], 0, 10) }, 16))).rejects.toThrow(
      'model.safetensors: tensor w: data_offsets [0, 10] hold 10 bytes, but F32 [2, 2] needs 16',
    );
    await expect(read(make({ w: entry('Q9', [2], 0, 2) }, 2))).rejects.toThrow('model.safetensors: tensor w: unknown dtype Q9');
    await expect(read(make({ w: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4))).rejects.toThrow(
      'tensor w: data_offsets must be [begin, end]',
    );
    await expect(read(make({ w: entry('F32', [-1], 0, 0) }, 0))).rejects.toThrow('tensor w: invalid dimension -1');
    await expect(read(make({ __metadata__: { a: 1 } }, 0))).rejects.toThrow('__metadata__ value for a is not a string');
    await expect(read(make({ a: entry('F32', [2], 0, 8), b: entry('F32', [2], 4, 12) }, 12))).rejects.toThrow(
      'model.safetensors: tensors a and b overlap',
    );
  });

  it('recognises every dtype name the format defines', async () => {
    const dtypes = ['F64', 'I64', 'U64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL', 'F8_E4M3', 'F8_E5M2'];
    const header: Record<string, unknown> = {};
    let pos = 0;
    const sizes: Record<string, number> = { F64: 8, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2 };
    for (const d of dtypes) {
      const size = 2 * (sizes[d] ?? 1);
      header[`t.${d}`] = entry(d, [2], pos, pos + size);
      pos += size;
    }
    const { tensors } = await read(make(header, pos));
    expect(tensors.map((t) => t.dtype)).toEqual(dtypes);
  });
});
