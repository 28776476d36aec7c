/**
 * The few WebAssembly JS API types the backend uses. The project compiles against ES2023 +
 * Node types, which do not declare the WebAssembly global; this module types it locally
 * instead of augmenting the global scope.
 */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
  grow(pages: number): number;
}

/** A compiled module (opaque; can be posted to worker threads). */
export interface WasmModule { readonly __wasmModule?: never }

interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}

export const Wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
