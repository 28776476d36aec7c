/**
 * `gemma bench <model>`: prompt-processing and token-generation speed, as llama.cpp's
 * llama-bench measures them.
 *
 *   pp<N>  one evaluation of an N-token prompt in an empty KV cache; N / time.
 *   tg<N>  N decode steps of one token each after <bos> (evaluated untimed); N / time.
 *
 * The prompts are deterministic pseudo-random token ids of the model's vocabulary, starting
 * with <bos>, so no tokenizer text is involved. Each test runs once untimed (warm-up, unless
 * --no-warmup), then -r times; each run starts from an emptied cache (the session's storage is
 * kept, as llama-bench clears its cache). Only the evaluations are timed (performance.now());
 * loading is reported separately, with the process's peak RSS at the end. The table (a
 * Markdown table like llama-bench's) or, with --json, one JSON object goes to stdout; a line
 * per test goes to stderr.
 */
import path from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { GemmaError } from '../../errors.js';
import { ggmlTypeName } from '../../formats/ggml-types.js';
import { openCheckpoint } from '../../model/checkpoint.js';
import type { Model } from '../../engine/model.js';
import type { Session } from '../../engine/session.js';
import { formatBytes, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';

const DEFAULT_PROMPTS = [128, 512];
const DEFAULT_GEN = [128];
const DEFAULT_REPETITIONS = 3;

interface BenchOptions {
  model?: string;
  nPrompt: number[];
  nGen: number[];
  repetitions: number;
  threads?: number;
  backend: 'cpu' | 'ref';
  warmup: boolean;
  json?: boolean;
}

const INTEGER = /^\s*\d+\s*$/;

function parsePositive(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!INTEGER.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`${name} expects a positive integer.`);
    return n;
  };
}

/** Comma-separated token counts; 0 skips that kind of test (as in llama-bench). */
function parseCounts(name: string) {
  return (v: string): number[] => {
    const items = v.split(',').map((s) => s.trim());
    if (items.some((s) => !INTEGER.test(s) || !Number.isSafeInteger(Number(s)))) {
      throw new InvalidArgumentError(`${name} expects token counts: positive integers separated by commas (0 skips these tests).`);
    }
    return [...new Set(items.map(Number))].filter((n) => n > 0);
  };
}

interface Test { kind: 'pp' | 'tg'; tokens: number; name: string }

export interface BenchResult {
  test: string;
  kind: 'pp' | 'tg';
  tokens: number;
  meanTokensPerSecond: number;
  stddevTokensPerSecond: number;
  /** One value per repetition. */
  tokensPerSecond: number[];
  ms: number[];
}

/** Deterministic token ids in 0..vocab-1 (a 32-bit LCG), <bos> first. */
export function benchTokens(count: number, vocabSize: number, bosId: number): number[] {
  const ids = new Array<number>(count);
  let x = 0x2545f491;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    ids[i] = i === 0 ? bosId : x % vocabSize;
  }
  return ids;
}

function meanStd(xs: number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  if (xs.length < 2) return { mean, std: 0 };
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) };
}

function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(2)} K` : `${n}`;
}

/** Storage types of the matrices (norms aside), by bytes: `Q4_0`, or `Q4_K+Q6_K` for a mix. */
function matrixTypes(tensors: Iterable<{ shape: number[]; type: number; byteLength: number }>): { label: string; bytes: Record<string, number> } {
  const bytes: Record<string, number> = {};
  for (const t of tensors) {
    if (t.shape.length < 2) continue;
    const name = ggmlTypeName(t.type);
    bytes[name] = (bytes[name] ?? 0) + t.byteLength;
  }
  const label = Object.entries(bytes).sort((a, b) => b[1] - a[1]).map(([k]) => k).join('+');
  return { label: label || 'none', bytes };
}

async function measure(session: Session, test: Test, ids: number[]): Promise<number> {
  session.reset();
  if (test.kind === 'pp') {
    const prompt = ids.slice(0, test.tokens);
    const t0 = performance.now();
    await session.eval(prompt);
    return performance.now() - t0;
  }
  await session.eval([ids[0]!]);
  const t0 = performance.now();
  for (let i = 1; i <= test.tokens; i++) await session.eval([ids[i]!]);
  return performance.now() - t0;
}

async function runTest(model: Model, test: Test, ids: number[], o: BenchOptions): Promise<BenchResult> {
  const session = model.createSession();
  try {
    if (o.warmup) await measure(session, test, ids);
    const ms: number[] = [];
    for (let r = 0; r < o.repetitions; r++) ms.push(await measure(session, test, ids));
    const tps = ms.map((t) => test.tokens / (t / 1000));
    const { mean, std } = meanStd(tps);
    return { test: test.name, kind: test.kind, tokens: test.tokens, meanTokensPerSecond: mean, stddevTokensPerSecond: std, tokensPerSecond: tps, ms };
  } finally {
    session.dispose();
  }
}

function tableRow(cells: string[], widths: number[], right: boolean[]): string {
  return `| ${cells.map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
}

export function register(program: Command, io: CliIo): void {
  program.command('bench')
    .description('prompt-processing (pp) and token-generation (tg) speed in tokens/s, as llama.cpp\'s llama-bench measures them')
    .argument('[model]', 'Hugging Face folder, .safetensors file or .gguf file (or -m)')
    .option('-m, --model <path>', 'the model, as an option (as llama-bench takes it)')
    .addOption(new Option('-p, --n-prompt <list>', 'prompt lengths, comma-separated: one pp test each (0: none)')
      .argParser(parseCounts('--n-prompt')).default(DEFAULT_PROMPTS, DEFAULT_PROMPTS.join(',')))
    .addOption(new Option('-n, --n-gen <list>', 'tokens to generate, comma-separated: one tg test each (0: none)')
      .argParser(parseCounts('--n-gen')).default(DEFAULT_GEN, DEFAULT_GEN.join(',')))
    .option('-r, --repetitions <n>', 'timed runs of each test', parsePositive('--repetitions'), DEFAULT_REPETITIONS)
    .option('-t, --threads <n>', 'CPU-backend worker threads (default: available cores)', parsePositive('--threads'))
    .addOption(new Option('--backend <name>', 'compute backend, as loadModel\'s option').choices(['cpu', 'ref']).default('cpu'))
    .option('--no-warmup', 'skip the untimed run before each test')
    .option('--json', 'print one JSON object (every repetition, model and backend) instead of the table')
    .action(async (positional: string | undefined, o: BenchOptions) => {
      if (positional !== undefined && o.model !== undefined && positional !== o.model) {
        throw new GemmaError(`two models given (${positional} and -m ${o.model}); bench takes one`);
      }
      const source = positional ?? o.model;
      if (source === undefined) throw new GemmaError('bench needs a model: gemma bench <model> (or -m <model>)');
      const tests: Test[] = [
        ...o.nPrompt.map((n) => ({ kind: 'pp' as const, tokens: n, name: `pp${n}` })),
        ...o.nGen.map((n) => ({ kind: 'tg' as const, tokens: n, name: `tg${n}` })),
      ];
      if (tests.length === 0) throw new GemmaError('nothing to measure: -p and -n are both 0');

      // Check the tests against the model's context before loading any weights.
      const ckpt = await openCheckpoint(source);
      const limit = ckpt.config.contextLength;
      const types = matrixTypes(ckpt.tensors.values());
      await ckpt.close();
      for (const t of tests) {
        if (t.kind === 'pp' && t.tokens > limit) {
          throw new GemmaError(`-p ${t.tokens} exceeds the model's context length of ${limit} tokens`);
        }
        if (t.kind === 'tg' && t.tokens + 1 > limit) {
          throw new GemmaError(`-n ${t.tokens} needs ${t.tokens + 1} tokens (<bos> + ${t.tokens}), more than the model's context length of ${limit}`);
        }
      }
      const needed = Math.max(...tests.map((t) => (t.kind === 'pp' ? t.tokens : t.tokens + 1)));
      if (o.backend === 'ref' && o.threads !== undefined) io.stderr.write('bench: --threads is ignored by the ref backend (single-threaded)\n');

      const t0 = performance.now();
      const model = await loadWithProgress(source, io, { threads: o.threads, backend: o.backend, contextLength: needed });
      const loadMs = performance.now() - t0;
      try {
        const info = model.info;
        const backend = model.backend.name;
        const threads = model.backend.threads;
        const name = path.basename(path.resolve(source));
        const bosId = model.tokenizer.bosId >= 0 && model.tokenizer.bosId < model.config.vocabSize ? model.tokenizer.bosId : 0;
        const ids = benchTokens(needed, model.config.vocabSize, bosId);
        io.stderr.write(`bench: ${name} loaded in ${(loadMs / 1000).toFixed(2)} s; ${backend} backend, ${threads} thread${threads === 1 ? '' : 's'}; ` +
          `${o.warmup ? 'warm-up + ' : ''}${o.repetitions} run${o.repetitions === 1 ? '' : 's'} per test\n`);

        const head = ['model', 'size', 'params', 'type', 'backend', 'threads', 'test', 't/s'];
        const right = [false, true, true, false, false, true, true, true];
        const fixed = [name, formatBytes(info.bytes), formatCount(info.parameters), types.label, backend, String(threads)];
        const widths = head.map((h, i) => Math.max(h.length, i < fixed.length ? fixed[i]!.length : 0));
        widths[6] = Math.max(widths[6]!, ...tests.map((t) => t.name.length), 8);
        widths[7] = 20;
        if (!o.json) {
          io.stdout.write(tableRow(head, widths, right) + '\n');
          io.stdout.write(`|${widths.map((w, i) => ` ${'-'.repeat(right[i] ? w - 1 : w)}${right[i] ? ':' : ''} `).join('|')}|\n`);
        }
        const results: BenchResult[] = [];
        for (const t of tests) {
          io.stderr.write(`bench: running ${t.name} …\n`);
          const r = await runTest(model, t, ids, o);
          results.push(r);
          const tps = `${r.meanTokensPerSecond.toFixed(2)} ± ${r.stddevTokensPerSecond.toFixed(2)}`;
          io.stderr.write(`bench: ${t.name}: ${tps} t/s (${r.tokensPerSecond.map((x) => x.toFixed(2)).join(', ')})\n`);
          if (!o.json) io.stdout.write(tableRow([...fixed, t.name, tps], widths, right) + '\n');
        }
        const peakRss = process.resourceUsage().maxRSS * 1024;
        if (o.json) {
          io.stdout.write(JSON.stringify({
            model: {
              name, path: source, format: info.format, bytes: info.bytes, parameters: info.parameters, type: types.label,
              matrixBytesByType: types.bytes, contextLength: limit, vocabSize: model.config.vocabSize,
            },
            backend, threads, repetitions: o.repetitions, warmup: o.warmup,
            loadSeconds: loadMs / 1000, peakRssBytes: peakRss, results,
          }, null, 2) + '\n');
        } else {
          io.stdout.write(`\nload: ${(loadMs / 1000).toFixed(2)} s, peak RSS: ${formatBytes(peakRss)}\n`);
        }
      } finally {
        await model.dispose();
      }
    });
}
