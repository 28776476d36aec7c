/**
 * How much memory running a model takes, per term, before anything is loaded: `gemma mem`
 * prints it and `loadModel` warns when the machine does not have it.
 *
 * Peak resident memory = weights + KV cache + activations + runtime overhead, where
 *
 * - weights: every tensor as the backend keeps it. Both backends keep the file's bytes (F32,
 *   F16, BF16 or quantized blocks; the CPU backend copies them into WebAssembly memory, Q8_0 and
 *   Q4_0 repacked at the same size); norms become small float32 tensors.
 * - KV cache: per layer a K and a V float32 tensor [capacity, kvHeads · headDim]. It grows on
 *   demand by doubling from 256 rows up to the context length, and only rows that have been
 *   written are resident (fresh arrays and fresh WebAssembly pages are untouched zero pages).
 *   The copy before a doubling does not add up: the reference backend's old arrays are
 *   collected as the new ones fill, and in the CPU backend's first-fit arena the freed K and V
 *   blocks of one layer make room for the next layer's doubled tensor. So a full context costs
 *   the final cache (bench/mem.ts: peak RSS grows by the cache size from 1024 to 8192 tokens).
 * - activations: the forward pass's float32 buffers for a prefill chunk of up to 256 tokens
 *   (x, h, o: hidden; q, attention: heads · headDim; k, v: kvHeads · headDim; gate, up: FFN),
 *   and the vocabulary-sized logits of the last token (the tensor, its copy, the result).
 *   Session.eval with allLogits needs chunk × vocab floats more (1 GB for 256 tokens of Gemma).
 *   The CPU backend adds quantized copies of the activations (8-bit; 16-bit too for Q8_0
 *   weights, an interleaved 8-bit one for Q4_0, Q4_K and Q5_K) and per-thread scratch.
 * - overhead: Node.js with gemma-ts loaded (and the garbage the forward pass leaves) and the
 *   tokenizer (its pieces as strings, maps and tables, plus what parsing them leaves). The CPU
 *   backend adds its WebAssembly instances, one V8 isolate per worker thread, and the file
 *   bytes of the last tensors loaded, copied into WebAssembly memory but not yet collected
 *   (about 1.5 × the largest tensor after the embedding, which loads first).
 *
 * The constants were measured on Linux x64, Node 20 with bench/mem.ts; bench/README.md has
 * predicted against measured peak RSS per type and context length on both backends.
 */
import os from 'node:os';
import { GgmlType, ggmlTypeName, tensorByteSize } from '../formats/ggml-types.js';
import type { GemmaConfig } from '../model/config.js';
import { gemmaTensorSpecs } from '../model/tensor-names.js';
import { convertTarget, tensorType } from '../convert/targets.js';

export type MemoryBackend = 'ref' | 'cpu';

/** The 2B and 7B shapes (Gemma 1, as published). */
export const GEMMA_SHAPES: Readonly<Record<'2b' | '7b', GemmaConfig>> = Object.freeze({
  '2b': { vocabSize: 256000, hiddenSize: 2048, intermediateSize: 16384, numLayers: 18, numHeads: 8, numKvHeads: 1, headDim: 256, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000 },
  '7b': { vocabSize: 256000, hiddenSize: 3072, intermediateSize: 24576, numLayers: 28, numHeads: 16, numKvHeads: 16, headDim: 256, contextLength: 8192, rmsNormEps: 1e-6, ropeTheta: 10000 },
});

/** The weights a model brings: total bytes as stored, and the largest tensors. */
export interface WeightFootprint {
  bytes: number;
  largestTensor: number;
  /** The largest tensor other than the embedding. */
  largestLayerTensor: number;
  /** Tensor count per storage type. */
  types: Record<string, number>;
}

export interface MemoryTerm {
  name: 'weights' | 'kvCache' | 'kvGrowth' | 'activations' | 'logits' | 'runtime' | 'tokenizer' | 'threads' | 'loading';
  bytes: number;
  /** One line: what the term is and how it is computed. */
  explain: string;
}

export interface MemoryEstimate {
  backend: MemoryBackend;
  contextLength: number;
  weights: number;
  /** The KV cache at the full context. */
  kvCache: number;
  activations: number;
  overhead: number;
  total: number;
  terms: MemoryTerm[];
}

export interface MemoryOptions {
  contextLength: number;
  backend?: MemoryBackend;
  /** Threads of the CPU backend, the calling thread included (default: available cores). */
  threads?: number;
  /** Largest number of tokens evaluated at once (default 256, the prefill chunk). */
  batch?: number;
}

const MiB = 2 ** 20;
/** Node.js with gemma-ts loaded, and V8 heap and code growth while evaluating. */
export const RUNTIME_BYTES = 64 * MiB;
/** The loaded tokenizer, per vocabulary entry, including parsing garbage (≈ 98 MiB for Gemma's 256000). */
export const TOKENIZER_BYTES_PER_TOKEN = 400;
/** CPU backend: WebAssembly modules and instances, control blocks. */
export const CPU_BACKEND_BYTES = 32 * MiB;
/** CPU backend: one V8 isolate per worker thread. */
export const WORKER_BYTES = 24 * MiB;
/** CPU backend with workers: the idle thread that watches them (src/backend/cpu/pool.ts), measured 8–10 MiB. */
export const WATCHER_BYTES = 10 * MiB;
/** CPU backend: file bytes of recently loaded tensors awaiting collection, per byte of the largest layer tensor. */
export const LOADING_FACTOR = 1.5;
/** Rows the KV cache starts with, and the prefill chunk (GemmaModel.MAX_BATCH). */
const KV_MIN_ROWS = 256;
const MAX_BATCH = 256;

interface SizedTensor { name: string; type: GgmlType; bytes: number }

const EMBEDDING_NAMES = new Set(['token_embd.weight', 'model.embed_tokens.weight']);

/** What the weights take when a model of shape `config` is stored as a `gemma convert --type`. */
export function weightsForType(config: GemmaConfig, type: string): WeightFootprint {
  const target = convertTarget(type);
  return footprint(gemmaTensorSpecs(config).map((spec) => {
    const t = tensorType(target, spec, config);
    return { name: spec.name, type: t, bytes: tensorByteSize(t, spec.shape, spec.name) };
  }));
}

/**
 * What the weights of a checkpoint take: its tensors as stored (norms become float32). Tensors
 * are named by `name` or, as Checkpoint tensors, `fileName`.
 */
export function weightsOfTensors(tensors: Iterable<{ name?: string; fileName?: string; type: GgmlType; byteLength: number; shape: readonly number[] }>): WeightFootprint {
  const sizes: SizedTensor[] = [];
  for (const x of tensors) {
    sizes.push({ name: x.name ?? x.fileName ?? '', type: x.type, bytes: x.shape.length === 1 ? x.shape[0]! * 4 : x.byteLength });
  }
  return footprint(sizes);
}

function footprint(sizes: SizedTensor[]): WeightFootprint {
  const types: Record<string, number> = {};
  let bytes = 0, largestTensor = 0, largestLayerTensor = 0;
  for (const { name, type, bytes: b } of sizes) {
    bytes += b;
    largestTensor = Math.max(largestTensor, b);
    if (!EMBEDDING_NAMES.has(name)) largestLayerTensor = Math.max(largestLayerTensor, b);
    types[ggmlTypeName(type)] = (types[ggmlTypeName(type)] ?? 0) + 1;
  }
  return { bytes, largestTensor, largestLayerTensor, types };
}

/** KV cache capacities a session passes through to hold `tokens` (kv-cache.ts: doubling from 256). */
export function kvCapacities(tokens: number, contextLength = tokens): number[] {
  const caps: number[] = [];
  let cap = 0;
  while (cap < tokens) {
    cap = Math.min(contextLength, Math.max(Math.min(tokens, KV_MIN_ROWS), cap * 2));
    caps.push(cap);
  }
  return caps;
}

export function kvCacheBytes(c: GemmaConfig, rows: number): number {
  return 2 * c.numLayers * rows * c.numKvHeads * c.headDim * 4;
}

export function estimateMemory(config: GemmaConfig, weights: WeightFootprint, o: MemoryOptions): MemoryEstimate {
  const backend = o.backend ?? 'ref';
  const cpu = backend === 'cpu';
  const c = config, ctx = o.contextLength;
  const rows = Math.max(1, Math.min(o.batch ?? MAX_BATCH, MAX_BATCH, ctx));
  const q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const scratch = rows * (3 * c.hiddenSize + 2 * q + 2 * kv + 2 * c.intermediateSize) * 4;
  const threads = cpu ? Math.max(1, o.threads ?? os.availableParallelism()) : 1;
  // CPU backend: activations quantized to 8 bits (+ block scales; Q8_0 weights read a 16-bit
  // copy, Q4_0 / Q4_K / Q5_K weights an interleaved 8-bit one), per-thread weight panels and
  // attention scores.
  const widest = Math.max(c.hiddenSize, q, c.intermediateSize);
  const copies = (weights.types.Q8_0 ? 2 : 0) + (weights.types.Q4_0 || weights.types.Q4_K || weights.types.Q5_K ? 1 : 0);
  const cpuScratch = cpu ? rows * widest * (1 + 8 / 32 + copies) + threads * 4 * (widest + ctx) * 4 : 0;
  const mib = (n: number) => `${(n / MiB).toFixed(0)} MiB`;
  const terms: MemoryTerm[] = [
    { name: 'weights', bytes: weights.bytes, explain: 'every tensor as stored in the file (norms as float32)' },
    { name: 'kvCache', bytes: kvCacheBytes(c, ctx), explain: `2 × ${c.numLayers} layers × ${ctx} positions × ${c.numKvHeads} KV head${c.numKvHeads > 1 ? 's' : ''} × ${c.headDim} × 4 B (float32 K and V)` },
    { name: 'kvGrowth', bytes: 0, explain: cpu ? 'none: each doubling reuses the blocks it frees' : 'none: the previous copy is collected while the new cache fills' },
    { name: 'activations', bytes: scratch + cpuScratch, explain: `float32 buffers for a ${rows}-token chunk` + (cpu ? ` (${mib(scratch)}) and CPU-backend scratch (${mib(cpuScratch)})` : '') },
    { name: 'logits', bytes: 3 * c.vocabSize * 4, explain: `${c.vocabSize} float32 logits of the last token, 3 copies` },
    { name: 'runtime', bytes: RUNTIME_BYTES, explain: 'Node.js with gemma-ts loaded' },
    { name: 'tokenizer', bytes: c.vocabSize * TOKENIZER_BYTES_PER_TOKEN, explain: `${c.vocabSize} pieces with their lookup tables` },
  ];
  if (cpu) {
    terms.push(
      { name: 'threads', bytes: CPU_BACKEND_BYTES + (threads - 1) * WORKER_BYTES + (threads > 1 ? WATCHER_BYTES : 0),
        explain: `WebAssembly instances and ${threads - 1} worker thread${threads === 2 ? '' : 's'}${threads > 1 ? ' (and their watcher)' : ''}` },
      { name: 'loading', bytes: Math.round(LOADING_FACTOR * weights.largestLayerTensor), explain: 'file bytes of the last tensors loaded, not yet collected (1.5 × the largest layer tensor)' },
    );
  }
  const sum = (names: MemoryTerm['name'][]) => terms.filter((t) => names.includes(t.name)).reduce((s, t) => s + t.bytes, 0);
  const kvCache = sum(['kvCache', 'kvGrowth']);
  const activations = sum(['activations', 'logits']);
  const overhead = sum(['runtime', 'tokenizer', 'threads', 'loading']);
  return { backend, contextLength: ctx, weights: weights.bytes, kvCache, activations, overhead, total: weights.bytes + kvCache + activations + overhead, terms };
}

/** Memory the process can still take: available RAM, within a cgroup limit if one is set. */
export function systemMemory(): { total: number; available: number } {
  let total = os.totalmem();
  let available = os.freemem();
  const limit = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  if (limit && limit > 0 && limit < total) {
    total = limit;
    available = Math.min(available, Math.max(0, limit - process.memoryUsage().rss));
  }
  return { total, available };
}

export function formatGiB(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${Math.round(n / MiB)} MiB`;
}

/**
 * A one-line warning when the estimate exceeds the memory available (undefined when it fits).
 * `what` names the model in the message.
 */
export function memoryWarning(est: MemoryEstimate, what: string, sys = systemMemory()): string | undefined {
  if (est.total <= sys.available) return undefined;
  const parts = `weights ${formatGiB(est.weights)}, KV cache ${formatGiB(est.kvCache)}, activations ${formatGiB(est.activations)}, overhead ${formatGiB(est.overhead)}`;
  const where = est.total > sys.total ? `this machine has ${formatGiB(sys.total)} in total` : `only ${formatGiB(sys.available)} is available (${formatGiB(sys.total)} total)`;
  return `${what} needs about ${formatGiB(est.total)} at a ${est.contextLength}-token context (${parts}) but ${where}; ` +
    'expect swapping or an out-of-memory crash. Use a smaller context or a quantized file (gemma mem, gemma convert --type q4_k_m).';
}

/** The load-time check: warns through `onWarning` (default: stderr) when the model will not fit. */
export function checkMemory(config: GemmaConfig, tensors: Iterable<{ name?: string; fileName?: string; type: GgmlType; byteLength: number; shape: readonly number[] }>,
  o: { backend: string; contextLength: number; threads?: number; what: string; onWarning?: (message: string) => void }): MemoryEstimate {
  const est = estimateMemory(config, weightsOfTensors(tensors), {
    contextLength: o.contextLength, backend: o.backend === 'cpu' ? 'cpu' : 'ref', threads: o.threads,
  });
  const msg = memoryWarning(est, o.what);
  if (msg) (o.onWarning ?? ((m: string) => process.stderr.write(`warning: ${m}\n`)))(msg);
  return est;
}
