/**
 * An arena is one shared WebAssembly memory (wasm32: at most 4 GiB) with a first-fit
 * allocator, a kernel instance for the calling thread, and the control area the kernels read
 * their arguments from (layout in assembly/sync.ts).
 */
import { GemmaError } from '../../errors.js';
import { Wasm, type WasmMemory, type WasmModule } from './wasm-api.js';

export const PAGE = 65536;
export const MAX_BYTES = 2 ** 32;
const HEAP_START = 8192;
const ALIGN = 64;
/**
 * Bytes kept readable above the highest allocation: the matvec kernels load bytes up to
 * 4 KiB + 256 past the weights they stream (assembly/ahead.ts) without bounds checks of their own.
 */
export const READ_AHEAD_SLACK = 8192;

const IARGS = 256 / 4;
const FARGS = 384 / 8;
const THREAD_SCRATCH = 512 / 4;
const COUNTERS = 16;
export const MAX_THREADS = 64;

export type KernelExports = Record<string, (tid: number, nt: number) => void>;

interface Block { ptr: number; size: number }

export class Arena {
  readonly memory: WasmMemory;
  readonly kernels: KernelExports;
  u8!: Uint8Array;
  i32!: Int32Array;
  u32!: Uint32Array;
  f32!: Float32Array;
  f64!: Float64Array;
  /** Bytes allocatable: `limit`, less the read-ahead slack where the memory cannot grow past it. */
  private readonly usable: number;
  private top = HEAP_START;
  private readonly freeList: Block[] = [];
  private readonly sizes = new Map<number, number>();
  private readonly scratchBufs = new Map<string, Block>();

  /** `limit`: bytes this arena may use (4 GiB; smaller in tests of the multi-arena paths). */
  constructor(readonly id: number, module: WasmModule, readonly limit = MAX_BYTES) {
    this.usable = Math.min(limit, MAX_BYTES - READ_AHEAD_SLACK);
    this.memory = new Wasm.Memory({ initial: 1, maximum: Math.ceil(Math.min(limit + READ_AHEAD_SLACK, MAX_BYTES) / PAGE), shared: true });
    this.kernels = new Wasm.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.kernels.init(0, 1);
    this.refresh();
  }

  private refresh(): void {
    const b = this.memory.buffer;
    this.u8 = new Uint8Array(b);
    this.i32 = new Int32Array(b);
    this.u32 = new Uint32Array(b);
    this.f32 = new Float32Array(b);
    this.f64 = new Float64Array(b);
  }

  /** Bytes still allocatable (the free list plus the room above the top). */
  get available(): number {
    return this.usable - this.top + this.freeList.reduce((s, b) => s + b.size, 0);
  }

  /** Largest single allocation that would succeed now. */
  get largestFree(): number {
    return Math.max(this.usable - this.top, ...this.freeList.map((b) => b.size));
  }

  get used(): number {
    return this.top - this.freeList.reduce((s, b) => s + b.size, 0);
  }

  /** A 64-byte-aligned block of `bytes`, or -1 when the arena has no room for it. */
  tryAlloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.freeList.length; i++) {
      const b = this.freeList[i];
      if (b.size < size) continue;
      const ptr = b.ptr;
      if (b.size === size) this.freeList.splice(i, 1);
      else { b.ptr += size; b.size -= size; }
      this.sizes.set(ptr, size);
      return ptr;
    }
    if (this.top + size > this.usable) return -1;
    const ptr = this.top;
    this.top += size;
    const pages = Math.ceil((this.top + READ_AHEAD_SLACK) / PAGE) - this.memory.buffer.byteLength / PAGE;
    if (pages > 0) {
      this.memory.grow(pages);
      this.refresh();
    }
    this.sizes.set(ptr, size);
    return ptr;
  }

  alloc(bytes: number): number {
    const p = this.tryAlloc(bytes);
    if (p < 0) throw new GemmaError(`out of WebAssembly memory: cannot allocate ${bytes} bytes in an arena of ${this.limit} bytes`);
    return p;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new Error(`arena ${this.id}: free of unknown block ${ptr}`);
    this.sizes.delete(ptr);
    const list = this.freeList;
    let i = 0;
    while (i < list.length && list[i].ptr < ptr) i++;
    list.splice(i, 0, { ptr, size });
    if (i + 1 < list.length && ptr + size === list[i + 1].ptr) {
      list[i].size += list[i + 1].size;
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1].ptr + list[i - 1].size === ptr) {
      list[i - 1].size += list[i].size;
      list.splice(i, 1);
      i--;
    }
    const last = list[list.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      list.pop();
    }
  }

  /** A named buffer of at least `bytes` that lives until a larger one replaces it. */
  scratch(name: string, bytes: number): number {
    const b = this.scratchBufs.get(name);
    if (b && b.size >= bytes) return b.ptr;
    if (b) this.free(b.ptr);
    const size = Math.max(bytes, (b?.size ?? 0) * 2);
    const ptr = this.alloc(size);
    this.scratchBufs.set(name, { ptr, size });
    return ptr;
  }

  /** Points every thread's scratch pointer at its own `bytes`-sized region. */
  threadScratch(threads: number, bytes: number): void {
    const per = Math.ceil(bytes / ALIGN) * ALIGN;
    const base = this.scratch('threads', per * threads);
    for (let t = 0; t < threads; t++) this.u32[THREAD_SCRATCH + t] = base + t * per;
  }

  /** Writes an op's integer (pointers included) and float arguments, and zeroes the work counters. */
  args(ints: readonly number[], floats: readonly number[] = []): void {
    // The control area holds 32 i32 and 8 f64 arguments (assembly/sync.ts).
    if (ints.length > 32 || floats.length > 8) throw new Error(`kernel arguments: ${ints.length} ints, ${floats.length} floats (at most 32, 8)`);
    for (let i = 0; i < ints.length; i++) this.u32[IARGS + i] = ints[i] >>> 0;
    for (let i = 0; i < floats.length; i++) this.f64[FARGS + i] = floats[i];
    for (let i = 0; i < COUNTERS; i++) this.i32[i] = 0;
  }
}
