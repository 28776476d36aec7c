// Browser-safe file-format layer. Node file access lives in file-source.ts,
// safetensors-folder.ts, safetensors-writer.ts and gguf-writer.ts.
export * from './source.js';
export * from './dtype.js';
export * from './ggml-types.js';
export * from './gguf.js';
export * from './gguf-encode.js';
export * from './safetensors.js';
