/**
 * The memory model (src/engine/memory.ts) and `gemma mem`: weights equal to what `gemma convert`
 * writes, the KV cache formula and its growth, the warning, the table and --json.
 * (Peak RSS against these numbers at 2B shape: bench/mem.ts, reported in bench/README.md.)
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { convertModel } from '../../src/convert/convert.js';
import { estimateMemory, GEMMA_SHAPES, kvCacheBytes, kvCapacities, memoryWarning, weightsForType, weightsOfTensors } from '../../src/engine/memory.js';
import { loadModel } from '../../src/engine/model.js';
import { openCheckpoint } from '../../src/model/checkpoint.js';
import { randomWeights, tinyConfig, tmpDir } from '../helpers/tiny-models.js';
import { writeHfModel } from '../convert/helpers.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

const MiB = 2 ** 20, GiB = 2 ** 30;

describe('memory model', () => {
  it('weights per type are the tensor bytes gemma convert writes', async () => {
    const config = tinyConfig({ vocabSize: 256, hiddenSize: 256, intermediateSize: 256, numHeads: 2, headDim: 128 });
    const dir = tmpDir('gemma-mem-');
    const hf = await writeHfModel(path.join(dir, 'hf'), config, randomWeights(config, { seed: 1 }));
    for (const type of ['f32', 'bf16', 'q8_0', 'q4_0', 'q6_k', 'q4_k_m']) {
      const file = path.join(dir, `${type}.gguf`);
      await convertModel(hf, file, { type });
      const ckpt = await openCheckpoint(file);
      const actual = weightsOfTensors(ckpt.tensors.values());
      await ckpt.close();
      expect(weightsForType(config, type), type).toEqual(actual);
    }
  });

  it('Gemma 2B and 7B: weights, KV cache and its doublings', () => {
    const b2 = GEMMA_SHAPES['2b'], b7 = GEMMA_SHAPES['7b'];
    // 2B has 2.51 B parameters, 7B 8.54 B (the embedding counted once).
    expect(weightsForType(b2, 'f32').bytes).toBe(2_506_172_416 * 4);
    expect(weightsForType(b7, 'bf16').bytes / 2).toBeGreaterThan(8.5e9);
    expect(weightsForType(b2, 'q4_0').bytes / GiB).toBeCloseTo(1.313, 2);
    expect(weightsForType(b2, 'q4_k_m').types).toEqual({ Q6_K: 19, F32: 37, Q4_K: 108 });
    expect(kvCacheBytes(b2, 8192)).toBe(288 * MiB); // 2 × 18 × 8192 × 256 × 4
    expect(kvCacheBytes(b7, 8192)).toBe(7 * GiB); // 2 × 28 × 8192 × 16 × 256 × 4
    expect(kvCapacities(100)).toEqual([100]);
    expect(kvCapacities(1000)).toEqual([256, 512, 1000]);
    expect(kvCapacities(8192)).toEqual([256, 512, 1024, 2048, 4096, 8192]);
  });

  it('the estimate is the sum of its terms', () => {
    const c = GEMMA_SHAPES['2b'];
    const w = weightsForType(c, 'q8_0');
    const ref = estimateMemory(c, w, { contextLength: 8192 });
    expect(ref.total).toBe(ref.terms.reduce((s, t) => s + t.bytes, 0));
    expect(ref.total).toBe(ref.weights + ref.kvCache + ref.activations + ref.overhead);
    expect(ref.kvCache).toBe(288 * MiB);
    const cpu = estimateMemory(c, w, { contextLength: 8192, backend: 'cpu', threads: 2 });
    expect(cpu.kvCache).toBe(288 * MiB);
    expect(cpu.total).toBe(cpu.terms.reduce((s, t) => s + t.bytes, 0));
    // ffn matrices, 16384 × 2048 in Q8_0, are the largest after the embedding.
    expect(cpu.terms.find((t) => t.name === 'loading')!.bytes).toBe(1.5 * 16384 * 2048 * 34 / 32);
    // A short context needs less.
    expect(estimateMemory(c, w, { contextLength: 1024 }).total).toBeLessThan(ref.total - 250 * MiB);
    for (const t of ref.terms) expect(t.explain).not.toContain('\n');
  });

  it('warns in one line when the machine lacks the memory', () => {
    const est = estimateMemory(GEMMA_SHAPES['7b'], weightsForType(GEMMA_SHAPES['7b'], 'f32'), { contextLength: 8192 });
    expect(memoryWarning(est, 'gemma-7b', { total: 64 * GiB, available: 60 * GiB })).toBeUndefined();
    const low = memoryWarning(est, 'gemma-7b', { total: 64 * GiB, available: 20 * GiB })!;
    expect(low).toMatch(/^gemma-7b needs about 39\.\d\d GiB at a 8192-token context \(weights 31\.\d\d GiB, KV cache 7\.00 GiB, .*\) but only 20\.00 GiB is available \(64\.00 GiB total\)/);
    expect(low).not.toContain('\n');
    expect(memoryWarning(est, 'gemma-7b', { total: 16 * GiB, available: 12 * GiB })).toMatch(/but this machine has 16\.00 GiB in total/);
  });

  it('loadModel stays quiet when the model fits', async () => {
    const config = tinyConfig();
    const dir = tmpDir('gemma-mem-load-');
    const hf = await writeHfModel(path.join(dir, 'hf'), config, randomWeights(config));
    const warnings: string[] = [];
    const m = await loadModel(hf, { onWarning: (w) => warnings.push(w) });
    await m.dispose();
    expect(warnings).toEqual([]);
  });
});

describe('gemma mem', () => {
  it('prints the table for the 2B shape by default', async () => {
    const r = await run(['mem', '--threads', '2']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^Gemma 2B shape: 18 layers, hidden 2048, 8 heads × 256, 1 KV head, vocab 256000; CPU backend/);
    expect(r.out).toMatch(/type\s+weights\s+ctx 1024\s+ctx 2048\s+ctx 4096\s+ctx 8192/);
    // Measured peak RSS (bench/mem.ts): 1.67, 1.79 and 1.93 GiB at 1024, 4096 and 8192 tokens.
    expect(r.out).toMatch(/\nq4_0\s+1\.31 GiB\s+1\.65 GiB\s+1\.6\d GiB\s+1\.76 GiB\s+1\.90 GiB\n/);
    const ref = await run(['mem', '--backend', 'ref']);
    expect(ref.out).toMatch(/reference backend/);
    expect(ref.out).toMatch(/\nq4_0\s+1\.31 GiB\s+1\.55 GiB\s+1\.5\d GiB\s+1\.66 GiB\s+1\.80 GiB\n/);
    expect(r.out).toMatch(/KV cache\s+36 MiB\s+72 MiB\s+144 MiB\s+288 MiB/);
    expect(r.out).toMatch(/kvCache\s+288 MiB\s+2 × 18 layers × 8192 positions × 1 KV head × 256 × 4 B/);
  });

  it('--json, 7B, chosen types and contexts', async () => {
    const r = await run(['mem', '--model', '7b', '--ctx', '2048,8192', '--type', 'q4_k_m,f16', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.config.numKvHeads).toBe(16);
    expect(j.rows.map((x: { type: string }) => x.type)).toEqual(['q4_k_m', 'f16']);
    const c = j.rows[1].contexts[1];
    expect(c.contextLength).toBe(8192);
    expect(c.kvCache).toBe(7 * GiB);
    expect(c.total).toBe(c.weights + c.kvCache + c.activations + c.overhead);
    expect(j.system.total).toBeGreaterThan(0);
  });

  it('a file: its own weights, and what converting it would need', async () => {
    const config = tinyConfig();
    const dir = tmpDir('gemma-mem-file-');
    const hf = await writeHfModel(path.join(dir, 'hf'), config, randomWeights(config));
    const r = await run(['mem', '-m', hf, '--type', 'q8_0', '--ctx', '512']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\nfile \(F32\)\s+\d+ MiB\s+\d+ MiB\n/);
    expect(r.out).toMatch(/\nq8_0\s+\d+ MiB\s+\d+ MiB\n/);
  });

  it('one-line errors', async () => {
    for (const [argv, pattern] of [
      [['mem', '--ctx', 'lots'], /^error: --ctx: "lots" is not a positive integer/],
      [['mem', '--ctx', '16384'], /^error: --ctx 16384 exceeds the model's context length of 8192/],
      [['mem', '--type', 'q2'], /^error: unknown type "q2"/],
      [['mem', '-m', '/no/such/model'], /^error: no such file or directory/],
      [['mem', '--backend', 'gpu'], /error: option '--backend <name>' argument 'gpu' is invalid/],
    ] as const) {
      const r = await run([...argv]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
  });
});
