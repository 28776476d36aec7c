/**
 * Full-model benchmark (not a test): a Gemma-2B-shaped GGUF with random weights (written once
 * into bench/.models/) is run by our engine (GemmaModel + Session on the CPU backend) and by
 * llama.cpp (node-llama-cpp, CPU, same thread count). Each run evaluates a prompt of every
 * `--prompt` length (default 128 and 512 tokens) as one evaluation in an empty context, and
 * continues the first of them with `--decode` greedy steps of one token each. Each run is a
 * fresh child process (so peak RSS is that engine's alone and no idle threads of the other
 * engine compete); engines alternate, the first round is a warm-up, medians are reported.
 *
 *   npx tsx bench/model.ts [--types Q4_0,Q8_0] [--threads 2] [--rounds 4] [--prompt 128,512] [--decode 128]
 *   npx tsx bench/model.ts --files a.gguf,b.gguf …   (existing GGUFs of any type mix, e.g. Q4_K_M)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgmlType } from '../src/formats/ggml-types.js';
import type { GemmaConfig } from '../src/model/config.js';
import { writeGemmaGguf } from '../src/model/export.js';
import { randomTensor } from '../src/model/random.js';
import { syntheticVocab } from '../test/helpers/synthetic-vocab.js';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threads = Number(arg('threads', '2'));
const promptLens = arg('prompt', '128,512').split(',').map(Number);
const decodeLen = Number(arg('decode', '128'));
if (!promptLens.every((n) => Number.isInteger(n) && n >= 2) || !(Number.isInteger(decodeLen) && decodeLen >= 1)) {
  throw new Error('--prompt takes comma-separated lengths of at least 2 tokens, --decode a positive count');
}
const maxPrompt = Math.max(...promptLens);
/** Context for every run: room for the longest prompt followed by the decode steps. */
const contextLen = maxPrompt + decodeLen + 1;

const GEMMA_2B: GemmaConfig = {
  vocabSize: 256000, hiddenSize: 2048, intermediateSize: 16384, numLayers: 18, numHeads: 8, numKvHeads: 1,
  headDim: 256, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000,
};
/** Prompt of the longest length; shorter prompts are its prefixes. */
const prompt = Array.from({ length: maxPrompt }, (_, i) => (i === 0 ? 2 : 1000 + ((i * 7919) % 200000)));

/** `promptTps[i]`: tokens per second of a `promptLens[i]`-token prompt. */
interface Result { engine: string; loadS: number; promptTps: number[]; decodeTps: number; rssGiB: number }

async function runOurs(file: string): Promise<Omit<Result, 'engine'>> {
  const { createCpuBackend } = await import('../src/backend/cpu/index.js');
  const { openCheckpoint } = await import('../src/model/checkpoint.js');
  const { loadWeights } = await import('../src/model/weights.js');
  const { GemmaModel } = await import('../src/model/gemma.js');
  const { Session } = await import('../src/engine/session.js');
  const t0 = performance.now();
  const backend = await createCpuBackend({ threads });
  const ckpt = await openCheckpoint(file);
  const model = new GemmaModel(backend, ckpt.config, await loadWeights(ckpt, backend));
  await ckpt.close();
  const loadS = (performance.now() - t0) / 1000;
  const argmax = (x: Float32Array) => x.reduce((b, v, i) => (v > x[b] ? i : b), 0);
  const warm = new Session(model, 512);
  await warm.eval(prompt.slice(0, 16));
  for (let i = 0; i < 4; i++) await warm.eval([3 + i]);
  warm.dispose();
  const promptTps: number[] = [];
  let decodeTps = 0;
  for (const [k, len] of promptLens.entries()) {
    const s = new Session(model, contextLen);
    let t = performance.now();
    let logits = await s.eval(prompt.slice(0, len));
    promptTps.push(len / ((performance.now() - t) / 1000));
    if (k === 0) {
      t = performance.now();
      for (let i = 0; i < decodeLen; i++) logits = await s.eval([argmax(logits)]);
      decodeTps = decodeLen / ((performance.now() - t) / 1000);
    }
    s.dispose();
  }
  await backend.dispose();
  return { loadS, promptTps, decodeTps, rssGiB: process.resourceUsage().maxRSS / 2 ** 20 };
}

async function runLlama(file: string): Promise<Omit<Result, 'engine'>> {
  const { getLlama } = await import('node-llama-cpp');
  const t0 = performance.now();
  const llama = await getLlama({ gpu: false, build: 'never', skipDownload: true, maxThreads: threads, logLevel: 'error' as never });
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  // One context for every prompt (cleared in between), a batch as large as the longest prompt
  // (at least llama.cpp's default 512) so that each prompt is one evaluation.
  const contextSize = Math.ceil(contextLen / 256) * 256;
  const batchSize = Math.max(512, maxPrompt);
  const context = await model.createContext({ contextSize, batchSize, sequences: 1, threads, flashAttention: false });
  const loadS = (performance.now() - t0) / 1000;
  const seq = context.getSequence();
  type Token = Parameters<typeof seq.evaluate>[0][number];
  const toks = prompt as Token[];
  await seq.evaluateWithoutGeneratingNewTokens(toks.slice(0, 16));
  const promptTps: number[] = [];
  let decodeTps = 0;
  for (const [k, len] of promptLens.entries()) {
    await seq.clearHistory();
    let t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(toks.slice(0, len - 1));
    const gen = seq.evaluate([toks[len - 1]], { temperature: 0 });
    await gen.next();
    promptTps.push(len / ((performance.now() - t) / 1000));
    if (k === 0) {
      t = performance.now();
      for (let i = 0; i < decodeLen; i++) await gen.next();
      decodeTps = decodeLen / ((performance.now() - t) / 1000);
    }
    await gen.return();
  }
  await context.dispose();
  await model.dispose();
  return { loadS, promptTps, decodeTps, rssGiB: process.resourceUsage().maxRSS / 2 ** 20 };
}

async function child(): Promise<void> {
  const [engine, file] = [arg('child', ''), arg('file', '')];
  const r = engine === 'ours' ? await runOurs(file) : await runLlama(file);
  process.stdout.write(`RESULT ${JSON.stringify({ engine, ...r })}\n`);
  process.exit(0);
}

async function modelFile(type: GgmlType): Promise<string> {
  const file = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '.models', `gemma-2b-random-${GgmlType[type].toLowerCase()}.gguf`);
  if (existsSync(file)) return file;
  console.log(`writing ${file} (random weights, once) …`);
  const t = performance.now();
  await writeGemmaGguf(`${file}.partial`, GEMMA_2B, (spec) => randomTensor(spec, { seed: 1, matrixStd: 0.02, embedStd: 0.01 }),
    { type, tokenizer: syntheticVocab(GEMMA_2B.vocabSize), name: 'gemma-2b-shaped random' });
  renameSync(`${file}.partial`, file);
  console.log(`written in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return file;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

async function main(): Promise<void> {
  // Generated files per type, or (--files) GGUF files of any mix of types, labelled by file name.
  const files = arg('files', '');
  const models = files
    ? files.split(',').map((f) => ({ label: path.basename(f, '.gguf'), file: async () => path.resolve(f) }))
    : arg('types', 'Q4_0,Q8_0').split(',').map((n) => {
      const type = GgmlType[n as keyof typeof GgmlType];
      if (type === undefined) throw new Error(`--types: unknown type ${n}`);
      return { label: GgmlType[type], file: () => modelFile(type) };
    });
  const rounds = Number(arg('rounds', '4'));
  const self = fileURLToPath(import.meta.url);
  console.log(`${files ? 'given files' : 'Gemma-2B shape, random weights'}; ${threads} threads; prompts ${promptLens.join(', ')}, decode ${decodeLen} `
    + `after the ${promptLens[0]}-token prompt; ${rounds} rounds after a warm-up, medians`);
  const promptCols = promptLens.map((n) => `prompt ${n} tok/s`);
  console.log(['type'.padEnd(Math.max(5, ...models.map((m) => m.label.length))), 'engine    ', 'load s', ...promptCols, 'decode tok/s', 'peak RSS GiB'].join('  '));
  const w = Math.max(5, ...models.map((m) => m.label.length));
  for (const model of models) {
    const file = await model.file();
    if (!existsSync(file)) throw new Error(`--files: ${file} does not exist`);
    const results: Result[] = [];
    for (let r = 0; r <= rounds; r++) {
      for (const engine of ['ours', 'llama.cpp']) {
        const p = spawnSync(process.execPath, [...process.execArgv, self, '--child', engine, '--file', file,
          '--threads', String(threads), '--prompt', promptLens.join(','), '--decode', String(decodeLen)],
        { encoding: 'utf8', env: { ...process.env, NODE_LLAMA_CPP_SKIP_DOWNLOAD: 'true' }, maxBuffer: 1 << 24 });
        const line = p.stdout.split('\n').find((l) => l.startsWith('RESULT '));
        if (!line) throw new Error(`${engine} run failed:\n${p.stdout}\n${p.stderr}`);
        if (r > 0) results.push(JSON.parse(line.slice(7)));
      }
    }
    const rows = ['ours', 'llama.cpp'].map((engine) => {
      const rs = results.filter((x) => x.engine === engine);
      return { engine, loadS: median(rs.map((x) => x.loadS)), promptTps: promptLens.map((_, k) => median(rs.map((x) => x.promptTps[k]))),
        decodeTps: median(rs.map((x) => x.decodeTps)), rssGiB: Math.max(...rs.map((x) => x.rssGiB)) };
    });
    for (const x of rows) {
      console.log([model.label.padEnd(w), x.engine.padEnd(10), x.loadS.toFixed(1).padStart(6),
        ...x.promptTps.map((v, k) => v.toFixed(1).padStart(promptCols[k].length)), x.decodeTps.toFixed(1).padStart(12),
        x.rssGiB.toFixed(2).padStart(12)].join('  '));
    }
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    console.log(`${model.label.padEnd(w)}  ours/llama.cpp: ${promptLens.map((n, k) => `prompt ${n} ${ratio(rows[0].promptTps[k], rows[1].promptTps[k])}`).join(', ')}, `
      + `decode ${ratio(rows[0].decodeTps, rows[1].decodeTps)}`);
  }
}

if (process.argv.includes('--child')) await child();
else await main();
