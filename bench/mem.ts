/**
 * Memory benchmark (not a test): peak RSS of a Gemma-2B-shaped model, per storage type and
 * context length, against what `gemma mem` predicts (src/engine/memory.ts).
 *
 *   npx tsx bench/mem.ts [--types q4_0,q8_0,f16,hf-bf16] [--ctx 1024,4096,8192] [--size 2b] [--backend cpu]
 *
 * Models: random weights, written once into bench/.models/ (gitignored): the sharded BF16
 * Hugging Face folder (as published; shared with load-full-size.ts; type `hf-bf16` loads it as
 * is), converted with `convertModel` to one GGUF per type (conversion times are printed).
 * `--backend ref|cpu` picks a backend (default: loadModel's default); `cpu` is loaded by hand the
 * way loadModel does, for versions whose loadModel does not offer it.
 *
 * Each measurement runs in a fresh process and reports its peak RSS (VmHWM): `loadModel` with
 * its default backend and `contextLength` N, then the state of a session at the end of an
 * N-token context — the KV cache grown through the same doublings a session makes, the
 * activation buffers of a 256-token prefill chunk — and one real decode step at position N−1
 * (attention over all N positions, logits). Filling N positions by computing them is skipped
 * (the reference backend needs seconds per token at this size); every buffer a real run holds
 * is allocated the same way. Reaching into the model's internals is the benchmark's business
 * only.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertModel } from '../src/convert/convert.js';
import { loadModel, type LoadOptions } from '../src/engine/model.js';
import { estimateMemory, formatGiB, GEMMA_SHAPES, kvCapacities, weightsOfTensors } from '../src/engine/memory.js';
import { GgmlType } from '../src/formats/ggml-types.js';
import { openCheckpoint } from '../src/model/checkpoint.js';
import { GemmaModel } from '../src/model/gemma.js';
import { loadWeights } from '../src/model/weights.js';
import { loadTokenizer } from '../src/tokenizer/load.js';
import { createCpuBackend } from '../src/backend/cpu/index.js';
import { writeGemmaHf } from '../src/model/export.js';
import { KvCache } from '../src/model/kv-cache.js';
import { randomTensor } from '../src/model/random.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};

function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
}

/** Loads as loadModel does, on the CPU backend (which loadModel does not offer yet). */
async function loadCpu(file: string): Promise<{ gemma: GemmaModel; dispose(): Promise<void> }> {
  const ckpt = await openCheckpoint(file);
  const backend = await createCpuBackend();
  try {
    await loadTokenizer(ckpt.tokenizerSource);
    const gemma = new GemmaModel(backend, ckpt.config, await loadWeights(ckpt, backend));
    return { gemma, dispose: () => backend.dispose() };
  } finally {
    await ckpt.close();
  }
}

/** The child: load, grow a session's state to `ctx` positions, one decode step; print peak RSS. */
async function child(file: string, ctx: number, backend: string): Promise<void> {
  const model = backend === 'cpu' ? await loadCpu(file)
    : await loadModel(file, { contextLength: ctx, ...(backend === 'ref' ? { backend: 'ref' } : {}) } as LoadOptions);
  const afterLoad = peakRss();
  const gemma = (model as unknown as { gemma: GemmaModel }).gemma;
  const b = gemma.backend, c = gemma.config;
  // The KV cache a session fills up to ctx positions: grown by the same doublings, every row written.
  const cache = new KvCache(b, c, ctx);
  const cols = c.numKvHeads * c.headDim;
  const block = new Float32Array(256 * cols).fill(0.5);
  let filled = 0;
  for (const cap of kvCapacities(ctx)) {
    cache.reserve(cap, filled);
    for (; filled < cap; filled += 256) {
      const n = Math.min(256, cap - filled);
      for (const t of [...cache.k, ...cache.v]) b.write(t, n === 256 ? block : block.subarray(0, n * cols), filled);
    }
  }
  // The activation buffers of a 256-token prefill chunk, written as a prefill writes them.
  (gemma as unknown as { getScratch(n: number): unknown }).getScratch(256);
  const scratch = (gemma as unknown as { scratch: Record<string, { rows: number; cols: number }> }).scratch;
  for (const t of Object.values(scratch)) {
    if (t && typeof t === 'object' && 'rows' in t && 'cols' in t) b.write(t, new Float32Array(t.rows * t.cols).fill(0.25));
  }
  const t0 = performance.now();
  await gemma.forward(cache, new Int32Array([235265]), ctx - 1, false);
  const decodeS = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ peak: peakRss(), afterLoad, backend: b.name, decodeS }) + '\n');
  cache.dispose();
  await model.dispose();
}

async function prepare(size: '2b' | '7b', types: string[]): Promise<Map<string, string>> {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = path.join(here, '.models', `gemma-${size}-random-bf16`);
  const config = GEMMA_SHAPES[size];
  if (!existsSync(path.join(dir, 'config.json'))) {
    console.log(`writing ${dir} (random weights) …`);
    await writeGemmaHf(dir, config, (spec) => randomTensor(spec, { seed: 1, matrixStd: 0.02, embedStd: 0.01 }),
      { type: GgmlType.BF16, shardBytes: 2e9 });
  }
  const files = new Map<string, string>();
  for (const type of types) {
    if (type === 'hf-bf16') { files.set(type, dir); continue; }
    const file = path.join(here, '.models', `gemma-${size}-random-${type}.gguf`);
    if (!existsSync(file)) {
      const r = await convertModel(dir, file, { type, onWarning: () => undefined });
      console.log(`converted ${path.basename(dir)} → ${path.basename(file)}: ${formatGiB(r.bytes)} in ${r.seconds.toFixed(1)} s on ${r.threads} threads`);
    }
    files.set(type, file);
  }
  return files;
}

async function main(): Promise<void> {
  const size = arg('size', '2b') as '2b' | '7b';
  if (!GEMMA_SHAPES[size]) throw new Error('--size must be 2b or 7b');
  const types = arg('types', 'q4_0,q8_0,f16').split(',');
  const ctxs = arg('ctx', '1024,4096,8192').split(',').map(Number);
  const backend = arg('backend', 'default');
  const files = await prepare(size, types);
  const rows: string[] = ['| type | context | predicted | measured peak RSS | error | decode step | RSS after load |', '|---|---|---|---|---|---|---|'];
  for (const type of types) {
    const file = files.get(type)!;
    const ckpt = await openCheckpoint(file);
    const config = ckpt.config;
    const weights = weightsOfTensors(ckpt.tensors.values());
    await ckpt.close();
    for (const ctx of ctxs) {
      const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', file, String(ctx), backend],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
      const m = JSON.parse(out.trim().split('\n').pop()!) as { peak: number; afterLoad: number; backend: 'ref' | 'cpu'; decodeS: number };
      const est = estimateMemory(config, weights, { contextLength: ctx, backend: m.backend });
      const err = (100 * (est.total - m.peak)) / m.peak;
      const row = `| ${type} (${m.backend}) | ${ctx} | ${formatGiB(est.total)} | ${formatGiB(m.peak)} | ${err >= 0 ? '+' : ''}${err.toFixed(1)}% | ${m.decodeS.toFixed(1)} s | ${formatGiB(m.afterLoad)} |`;
      rows.push(row);
      console.log(row);
    }
  }
  console.log(`\n${rows.join('\n')}`);
}

if (process.argv[2] === '--child') await child(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
else await main();
