/**
 * `convertModel`: a Hugging Face folder or a GGUF file → a Gemma GGUF of any storage type,
 * without Python. What it writes is what llama.cpp's convert_hf_to_gguf.py (+ llama-quantize)
 * writes for Gemma: architecture `gemma`, canonical tensor names, norms as 1 + w (added in
 * float32), no output.weight (tied head), the tokenizer and chat template, general.file_type.
 *
 * Streaming: tensors go through in chunks of whole rows (about 1M elements): read → decode to
 * float32 → encode → write, in order, with a few chunks in flight on worker threads. Memory
 * stays at a few tens of MB whatever the model size. The output is written to `OUT.tmp` and
 * renamed when complete; on any error the temporary file is deleted, and every check on the
 * source (config, shards, dtypes, shapes, tokenizer) runs before it is created.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GemmaError } from '../errors.js';
import { GgmlType, ggmlTypeName, tensorByteSize } from '../formats/ggml-types.js';
import { encodeGgufHeader } from '../formats/gguf-encode.js';
import { writeFileAtomically } from '../formats/node-io.js';
import { gemmaGgufMetadata } from '../model/export.js';
import { QUANT_FORMATS } from '../quant/index.js';
import { inProcessEncoder, workerEncoder, type ChunkEncoder } from './pool.js';
import { openConvertSource, type SourceTensor } from './source.js';
import { convertTarget, tensorType, typeCounts } from './targets.js';
import { chooseTokenizer } from './tokenizer.js';

export interface ConvertProgress {
  /** Bytes of the output written so far, and its final size. */
  bytes: number;
  totalBytes: number;
  /** The tensor being written. */
  tensor: string;
}

export interface ConvertOptions {
  /** A --type name: f32, f16, bf16, q8_0, …, q4_k_m (see CONVERT_TARGETS). */
  type: string;
  /** general.name (default: the source folder or file name, or the GGUF's own). */
  name?: string;
  /** Worker threads for encoding; 1 encodes on the calling thread. Default: all cores when the work is large. */
  threads?: number;
  /** Elements per chunk (default 2^20); tests make it small to cover chunk boundaries. */
  chunkElements?: number;
  onProgress?: (p: ConvertProgress) => void;
  onWarning?: (message: string) => void;
}

export interface ConvertResult {
  output: string;
  type: string;
  tensors: number;
  /** Tensor count per storage type. */
  types: Record<string, number>;
  bytes: number;
  seconds: number;
  threads: number;
  tokenizer: string;
}

/** Rough single-thread cost per element (ns) on a 2020s x86 core, for choosing threads. */
function costPerElement(type: GgmlType): number {
  if (type === GgmlType.Q4_K || type === GgmlType.Q5_K || type === GgmlType.Q6_K || type === GgmlType.Q3_K || type === GgmlType.Q2_K) return 400;
  return QUANT_FORMATS.has(type) ? 20 : 5;
}

interface PlannedTensor { src: SourceTensor; type: GgmlType; rows: number; cols: number; byteLength: number }

async function checkOutput(output: string, sources: string[]): Promise<void> {
  if (typeof output !== 'string' || output === '') throw new GemmaError('convert needs an output path (-o OUT.gguf)');
  const st = await fs.stat(output).catch(() => undefined);
  if (st?.isDirectory()) throw new GemmaError(`${output}: is a directory; give the output file name`);
  const dir = path.dirname(path.resolve(output));
  const dst = await fs.stat(dir).catch(() => undefined);
  if (!dst?.isDirectory()) throw new GemmaError(`${output}: folder ${dir} does not exist`);
  const out = path.resolve(output);
  for (const s of sources) {
    if (path.resolve(s) === out) throw new GemmaError(`${output}: the output would overwrite its own source`);
  }
}

export async function convertModel(source: string, output: string, o: ConvertOptions): Promise<ConvertResult> {
  const t0 = performance.now();
  const target = convertTarget(o.type);
  const chunkElements = o.chunkElements ?? 1 << 20;
  if (!(Number.isInteger(chunkElements) && chunkElements >= 1)) throw new GemmaError(`chunkElements must be a positive integer, got ${chunkElements}`);
  if (o.threads !== undefined && !(Number.isInteger(o.threads) && o.threads >= 1 && o.threads <= 64)) {
    throw new GemmaError(`threads must be an integer from 1 to 64, got ${o.threads}`);
  }
  const warn = o.onWarning ?? (() => undefined);
  const src = await openConvertSource(source);
  let encoder: ChunkEncoder | undefined;
  try {
    await checkOutput(output, [src.path, ...src.files]);
    const ignored = src.ignored.filter((n) => n !== 'lm_head.weight');
    if (ignored.length > 0) warn(`ignoring ${ignored.length} tensor(s) Gemma 1 does not use: ${ignored.slice(0, 3).join(', ')}${ignored.length > 3 ? ', …' : ''}`);
    const tok = await chooseTokenizer(src);
    if (tok.warning) warn(tok.warning);

    const plan: PlannedTensor[] = src.tensors.map((t) => {
      const type = tensorType(target, t.spec, src.config);
      const cols = t.spec.shape[t.spec.shape.length - 1]!;
      const rows = t.spec.shape.length > 1 ? t.spec.shape[0]! : 1;
      return { src: t, type, rows, cols, byteLength: tensorByteSize(type, t.spec.shape, t.spec.name) };
    });
    const requantized = plan.filter((p) => QUANT_FORMATS.has(p.src.type) && p.type !== p.src.type && p.type !== GgmlType.F32);
    if (requantized.length > 0) {
      warn(`re-encoding ${requantized.length} quantized tensor(s) (e.g. ${ggmlTypeName(requantized[0]!.src.type)} → ${ggmlTypeName(requantized[0]!.type)}) adds a second rounding; convert from the original weights when you can`);
    }

    const metadata = [
      ...gemmaGgufMetadata(src.config, target.base, o.name ?? src.name, target.fileType),
      ...tok.entries,
    ];
    const { header, tensors: layout, dataSize, alignment } = encodeGgufHeader(
      metadata, plan.map((p) => ({ name: p.src.spec.name, shape: p.src.spec.shape, type: p.type })));

    const work = plan.reduce((s, p) => s + (needsEncoding(p, src.normsIncludeOne) ? p.rows * p.cols * costPerElement(p.type) : 0), 0) / 1e9;
    const threads = o.threads ?? (work > 2 ? os.availableParallelism() : 1);
    encoder = threads > 1 ? await workerEncoder(threads) : inProcessEncoder();
    const enc = encoder;

    const total = header.length + dataSize;
    await writeFileAtomically(output, async (sink) => {
      await sink.write(header);
      const queue: { bytes: Promise<Uint8Array>; tensor: string }[] = [];
      const limit = Math.max(2, enc.threads * 2);
      const drain = async (keep: number) => {
        while (queue.length > keep) {
          const head = queue.shift()!;
          await sink.write(await head.bytes);
          o.onProgress?.({ bytes: sink.position, totalBytes: total, tensor: head.tensor });
        }
      };
      const push = async (bytes: Promise<Uint8Array>, tensor: string) => {
        bytes.catch(() => undefined); // awaited in order by drain; do not report it unhandled meanwhile
        queue.push({ bytes, tensor });
        await drain(limit);
      };
      o.onProgress?.({ bytes: sink.position, totalBytes: total, tensor: plan[0]?.src.spec.name ?? '' });
      for (let i = 0; i < plan.length; i++) {
        const p = plan[i]!, t = p.src, name = t.spec.name;
        const encode = needsEncoding(p, src.normsIncludeOne);
        const dstRowBytes = p.byteLength / p.rows;
        const step = Math.max(1, Math.floor(chunkElements / p.cols));
        let written = 0;
        for (let r = 0; r < p.rows; r += step) {
          const n = Math.min(step, p.rows - r);
          const bytes = await t.source.read(t.offset + r * t.rowBytes, n * t.rowBytes);
          const out = encode
            ? enc.encode({ name, srcType: t.type, dstType: p.type, count: n * p.cols, addOne: t.spec.isNorm && !src.normsIncludeOne, bytes })
            : Promise.resolve(bytes);
          await push(out.then((b) => {
            if (b.byteLength !== n * dstRowBytes) throw new GemmaError(`tensor ${name}: encoded ${b.byteLength} bytes for ${n} rows, expected ${n * dstRowBytes}`);
            return b;
          }), name);
          written += n * dstRowBytes;
        }
        if (written !== layout[i]!.byteLength) throw new GemmaError(`tensor ${name}: wrote ${written} bytes, expected ${layout[i]!.byteLength}`);
        const pad = (alignment - (written % alignment)) % alignment;
        if (pad > 0) await push(Promise.resolve(new Uint8Array(pad)), name);
      }
      await drain(0);
      if (sink.position !== total) throw new GemmaError(`${output}: wrote ${sink.position} bytes, expected ${total}`);
    });
    return {
      output, type: target.name, tensors: plan.length, types: typeCounts(plan.map((p) => p.type)), bytes: total,
      seconds: (performance.now() - t0) / 1000, threads: enc.threads, tokenizer: tok.description,
    };
  } finally {
    await encoder?.close();
    await src.close();
  }
}

/** False when the source bytes can be copied as they are. */
function needsEncoding(p: PlannedTensor, normsIncludeOne: boolean): boolean {
  return p.type !== p.src.type || (p.src.spec.isNorm && !normsIncludeOne);
}
