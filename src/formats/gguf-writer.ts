import { basename } from 'node:path';
import { GemmaError } from '../errors.js';
import { ggmlTypeName } from './ggml-types.js';
import { encodeGgufHeader, type GgufMetadataEntry, type GgufTensorHeader, type GgufTensorLayout } from './gguf-encode.js';
import { GGUF_DEFAULT_ALIGNMENT } from './gguf-types.js';
import { writeFileAtomically } from './node-io.js';

export { gguf, type GgufMetadataEntry } from './gguf-encode.js';

export interface GgufTensorSpec extends GgufTensorHeader {
  /** Exactly tensorByteSize(type, shape) bytes, or a function producing them when the tensor is written. */
  data: Uint8Array | (() => Promise<Uint8Array> | Uint8Array);
}

export interface WriteGgufOptions {
  /** Power of two; defaults to general.alignment from the metadata, else 32. */
  alignment?: number;
  /** Called with bytes written so far and the final file size. */
  onProgress?: (done: number, total: number) => void;
}

function checkData(file: string, data: Uint8Array, t: GgufTensorLayout): void {
  if (!(data instanceof Uint8Array) || data.length !== t.byteLength) {
    const got = data instanceof Uint8Array ? `${data.length} bytes` : 'not a Uint8Array';
    throw new GemmaError(
      `${file}: tensor ${t.name}: data is ${got}, ${ggmlTypeName(t.type)} [${t.shape.join(', ')}] needs ${t.byteLength} bytes`,
    );
  }
}

/**
 * Writes a GGUF v3 file. Tensor data is requested one tensor at a time, so
 * multi-GB files never sit in memory; output goes to `path + ".tmp"` and is
 * renamed into place only when complete.
 */
export async function writeGguf(
  path: string,
  metadata: readonly GgufMetadataEntry[],
  tensors: readonly GgufTensorSpec[],
  opts: WriteGgufOptions = {},
): Promise<void> {
  const file = basename(path);
  const fromMetadata = metadata.find((e) => e.key === 'general.alignment')?.value;
  const alignment = opts.alignment ?? (typeof fromMetadata === 'number' ? fromMetadata : GGUF_DEFAULT_ALIGNMENT);
  const { header, tensors: layout, dataSize } = encodeGgufHeader(metadata, tensors, alignment);
  layout.forEach((t, i) => {
    const data = tensors[i]!.data;
    if (typeof data !== 'function') checkData(file, data, t);
  });

  const total = header.length + dataSize;
  const zeros = new Uint8Array(alignment);
  await writeFileAtomically(path, async (sink) => {
    await sink.write(header);
    opts.onProgress?.(sink.position, total);
    for (let i = 0; i < layout.length; i++) {
      const t = layout[i]!;
      const spec = tensors[i]!.data;
      const data = typeof spec === 'function' ? await spec() : spec;
      checkData(file, data, t);
      await sink.write(data);
      // GGUF pads every tensor's data to the alignment with zero bytes.
      const pad = (alignment - (t.byteLength % alignment)) % alignment;
      if (pad > 0) await sink.write(zeros.subarray(0, pad));
      opts.onProgress?.(sink.position, total);
    }
    if (sink.position !== total) throw new GemmaError(`${file}: wrote ${sink.position} bytes, expected ${total}`);
  });
}
