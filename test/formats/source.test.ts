import { describe, it, expect } from 'vitest';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GemmaError } from '../../src/errors.js';
import { openFileSource } from '../../src/formats/file-source.js';
import { bufferSource, findOverlap } from '../../src/formats/source.js';
import { makeTempDir } from './helpers.js';

const dir = await makeTempDir();

describe('bufferSource', () => {
  it('reads ranges and names the file when reading past the end', async () => {
    const src = bufferSource(new Uint8Array(150).map((_, i) => i), 'model.safetensors');
    expect(src.size).toBe(150);
    expect([...(await src.read(10, 3))]).toEqual([10, 11, 12]);
    expect((await src.read(150, 0)).length).toBe(0);
    await expect(src.read(100, 100)).rejects.toThrow('model.safetensors: truncated: need bytes 100..200, file has 150');
    await expect(src.read(-1, 2)).rejects.toThrow(GemmaError);
    await src.close();
    await expect(src.read(0, 1)).rejects.toThrow('read after close');
  });
});

describe('openFileSource', () => {
  it('reads at offsets and reports truncation', async () => {
    const path = join(dir, 'data.bin');
    await writeFile(path, new Uint8Array(1000).map((_, i) => i & 0xff));
    const src = await openFileSource(path);
    expect(src.name).toBe('data.bin');
    expect(src.size).toBe(1000);
    expect([...(await src.read(998, 2))]).toEqual([998 & 0xff, 999 & 0xff]);
    expect((await src.read(0, 1000)).length).toBe(1000);
    await expect(src.read(900, 200)).rejects.toThrow('data.bin: truncated: need bytes 900..1100, file has 1000');
    await src.close();
    await expect(src.read(0, 1)).rejects.toThrow('read after close');
  });

  it('names a missing file', async () => {
    const path = join(dir, 'nope.gguf');
    await expect(openFileSource(path)).rejects.toThrow(`no such file: ${path}`);
    await expect(openFileSource(path)).rejects.toBeInstanceOf(GemmaError);
  });

  it('reads beyond 2 GiB in a sparse file', async () => {
    const path = join(dir, 'big.bin');
    const fh = await open(path, 'w');
    const at = 2 ** 32 + 12345;
    await fh.truncate(at + 100);
    await fh.write(new Uint8Array([7, 8, 9]), 0, 3, at);
    await fh.close();
    const src = await openFileSource(path);
    expect(src.size).toBe(at + 100);
    expect([...(await src.read(at - 1, 5))]).toEqual([0, 7, 8, 9, 0]);
    await src.close();
  });
});

describe('findOverlap', () => {
  it('finds ranges that overlap any earlier range, ignoring empty ones', () => {
    const r = (name: string, offset: number, byteLength: number) => ({ name, offset, byteLength });
    expect(findOverlap([r('a', 0, 10), r('b', 10, 5), r('c', 15, 0), r('d', 15, 1)])).toBeUndefined();
    expect(findOverlap([r('c', 30, 10), r('a', 0, 100), r('b', 10, 0)])).toEqual(['a', 'c']);
    expect(findOverlap([r('a', 0, 8), r('b', 4, 8)])).toEqual(['a', 'b']);
  });
});
