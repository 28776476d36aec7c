import { existsSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { CONVERT_TARGETS, convertTarget } from '../../convert/targets.js';
import {
  estimateMemory, formatGiB, GEMMA_SHAPES, systemMemory, weightsForType, weightsOfTensors,
  type MemoryBackend, type MemoryEstimate, type WeightFootprint,
} from '../../engine/memory.js';
import { GemmaError } from '../../errors.js';
import type { GemmaConfig } from '../../model/config.js';
import { openCheckpoint } from '../../model/checkpoint.js';
import { parseNumber, type CliIo } from '../io.js';

const DEFAULT_TYPES = ['f32', 'bf16', 'f16', 'q8_0', 'q6_k', 'q5_k_m', 'q5_0', 'q4_k_m', 'q4_0'];
const DEFAULT_CTX = [1024, 2048, 4096, 8192];

interface MemOptions { model?: string; ctx?: string; type?: string; backend: MemoryBackend; threads?: number; json?: boolean }

function parseList(name: string, v: string | undefined): string[] | undefined {
  if (v === undefined) return undefined;
  const items = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new GemmaError(`${name} needs at least one value`);
  return items;
}

interface Row { label: string; weights: WeightFootprint }

async function modelRows(o: MemOptions): Promise<{ config: GemmaConfig; source: string; rows: Row[] }> {
  const model = o.model ?? '2b';
  const types = parseList('--type', o.type);
  types?.forEach((t) => convertTarget(t));
  const shape = model.toLowerCase() as '2b' | '7b';
  if (!existsSync(model) && (shape === '2b' || shape === '7b')) {
    const config = GEMMA_SHAPES[shape];
    return { config, source: `Gemma ${shape.toUpperCase()} shape`, rows: (types ?? DEFAULT_TYPES).map((t) => ({ label: t, weights: weightsForType(config, t) })) };
  }
  const ckpt = await openCheckpoint(model);
  try {
    const own = weightsOfTensors(ckpt.tensors.values());
    const label = Object.entries(own.types).sort((a, b) => b[1] - a[1]).map(([t]) => t).join('+');
    const rows: Row[] = [{ label: `file (${label})`, weights: own }];
    for (const t of types ?? []) rows.push({ label: t, weights: weightsForType(ckpt.config, t) });
    return { config: ckpt.config, source: model, rows };
  } finally {
    await ckpt.close();
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

export function register(program: Command, io: CliIo): void {
  program.command('mem')
    .description('memory needed to run a model (weights + KV cache + activations + runtime) by storage type and context length')
    .option('-m, --model <path|2b|7b>', 'a model file or folder, or the Gemma 2B / 7B shape (default: 2b)')
    .option('--ctx <list>', `context lengths, comma-separated (default: ${DEFAULT_CTX.join(',')})`)
    .option('--type <list>', `storage types, comma-separated (shapes default to ${DEFAULT_TYPES.join(',')}; with a file: what converting it would need)`)
    .addOption(new Option('--backend <name>', 'compute backend, as loadModel\'s option').choices(['cpu', 'ref']).default('cpu'))
    .option('-t, --threads <n>', 'CPU-backend threads (default: available cores)', parseNumber('--threads', true))
    .option('--json', 'machine-readable output (bytes)')
    .action(async (o: MemOptions) => {
      const ctxs = (parseList('--ctx', o.ctx) ?? DEFAULT_CTX.map(String)).map((v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 1) throw new GemmaError(`--ctx: ${JSON.stringify(v)} is not a positive integer`);
        return n;
      });
      const { config, source, rows } = await modelRows(o);
      for (const n of ctxs) {
        if (n > config.contextLength) throw new GemmaError(`--ctx ${n} exceeds the model's context length of ${config.contextLength}`);
      }
      const estimates: MemoryEstimate[][] = rows.map((r) => ctxs.map((ctx) => estimateMemory(config, r.weights, { contextLength: ctx, backend: o.backend, threads: o.threads })));
      const sys = systemMemory();
      if (o.json) {
        io.stdout.write(JSON.stringify({
          model: source, config, backend: o.backend, system: sys,
          rows: rows.map((r, i) => ({
            type: r.label, weights: r.weights.bytes, tensorTypes: r.weights.types,
            contexts: estimates[i]!.map((e) => ({
              contextLength: e.contextLength, total: e.total, weights: e.weights, kvCache: e.kvCache,
              activations: e.activations, overhead: e.overhead, terms: e.terms,
            })),
          })),
        }, null, 2) + '\n');
        return;
      }
      const c = config;
      const lines: string[] = [
        `${source}: ${c.numLayers} layers, hidden ${c.hiddenSize}, ${c.numHeads} heads × ${c.headDim}, ${c.numKvHeads} KV head${c.numKvHeads > 1 ? 's' : ''}, vocab ${c.vocabSize}; ` +
          `${o.backend === 'ref' ? 'reference' : 'CPU'} backend`,
        '',
        'memory needed, by storage type and context length:',
        '',
      ];
      const w0 = Math.max(6, ...rows.map((r) => r.label.length)) + 2;
      const col = 12;
      lines.push(pad('type', w0) + pad('weights', col, true) + ctxs.map((n) => pad(`ctx ${n}`, col, true)).join(''));
      rows.forEach((r, i) => {
        lines.push(pad(r.label, w0) + pad(formatGiB(r.weights.bytes), col, true) + estimates[i]!.map((e) => pad(formatGiB(e.total), col, true)).join(''));
      });
      lines.push(pad('KV cache', w0) + pad('', col, true) + ctxs.map((n) => pad(formatGiB(estimates[0]![ctxs.indexOf(n)]!.kvCache), col, true)).join(''));
      const last = estimates[0]![ctxs.length - 1]!;
      lines.push('', `what it is made of (${rows[0]!.label}, ${last.contextLength} tokens):`);
      for (const t of last.terms) {
        if (t.bytes === 0 && t.name !== 'kvGrowth') continue;
        lines.push(`  ${pad(t.name, 12)}${pad(formatGiB(t.bytes), 11, true)}   ${t.explain}`);
      }
      lines.push('', `this machine: ${formatGiB(sys.available)} available of ${formatGiB(sys.total)}` +
        '; the KV cache grows with the tokens in use, so short chats need less');
      const known = new Set(CONVERT_TARGETS.map((t) => t.name));
      if (rows.some((r) => known.has(r.label))) lines.push('make a file of one of these types with: gemma convert SOURCE -o OUT.gguf --type TYPE');
      io.stdout.write(lines.join('\n') + '\n');
    });
}
