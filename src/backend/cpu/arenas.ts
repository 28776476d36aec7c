/**
 * Placement of tensors and weights across arenas (shared wasm32 memories of up to 4 GiB each).
 * Activations, the KV cache and scratch live in arena 0 while it has room. Weights fill arena 0
 * up to WEIGHT_BUDGET (leaving room for the KV cache and activations), then further arenas; a
 * weight that does not fit whole is split into row shards, each in one arena, invisibly to
 * the model. An op runs in the arena of its largest operand; operands elsewhere are staged
 * (copied in, and results copied back) by the backend.
 */
import { GemmaError } from '../../errors.js';
import { Arena, MAX_BYTES } from './arena.js';
import type { WasmModule } from './wasm-api.js';

/** Share of arena 0 that weights may take (3 GiB of 4). */
const WEIGHT_SHARE = 0.75;

/** Rows [row0, row0 + rows) of a weight, stored at `ptr` of `arena`. */
export interface Shard {
  readonly arena: Arena;
  readonly ptr: number;
  readonly row0: number;
  readonly rows: number;
}

export class Arenas {
  readonly list: Arena[] = [];

  /** `arenaBytes` below 4 GiB lets tests exercise sharding and staging with small models. */
  constructor(private readonly module: WasmModule, private readonly arenaBytes = MAX_BYTES) {
    this.add();
  }

  /**
   * Bytes of every arena that tensors and weights leave free for scratch: staged operands,
   * quantized activations, the repacking stage buffer (64 MiB: a 256-token batch of 16384
   * floats is 16 MiB).
   */
  get reserve(): number {
    return Math.min(64 << 20, this.arenaBytes / 16);
  }

  private closed = false;

  clear(): void {
    this.list.length = 0;
    this.closed = true;
  }

  get main(): Arena {
    return this.list[0];
  }

  private add(): Arena {
    if (this.closed) throw new GemmaError('the CPU backend was disposed');
    const a = new Arena(this.list.length, this.module, this.arenaBytes);
    this.list.push(a);
    return a;
  }

  /** Memory for a tensor: arena 0 if it has room, else the first arena that does. */
  place(bytes: number): { arena: Arena; ptr: number } {
    if (this.closed) throw new GemmaError('the CPU backend was disposed');
    if (bytes > this.arenaBytes - 8192) throw new GemmaError(`a tensor of ${bytes} bytes exceeds the ${this.arenaBytes} bytes of one WebAssembly memory`);
    for (const arena of this.list) {
      if (arena.largestFree - bytes < this.reserve) continue;
      const ptr = arena.tryAlloc(bytes);
      if (ptr >= 0) return { arena, ptr };
    }
    const arena = this.add();
    return { arena, ptr: arena.alloc(bytes) };
  }

  /**
   * Memory for `units` weight units (a row, or a row quad for interleaved layouts) of
   * `unitBytes` each; split into shards on unit boundaries that are multiples of `granule`.
   */
  placeRows(unitBytes: number, units: number, granule: number): { arena: Arena; ptr: number; unit0: number; units: number }[] {
    const out: { arena: Arena; ptr: number; unit0: number; units: number }[] = [];
    let done = 0;
    for (let i = 0; done < units; i++) {
      const arena = i < this.list.length ? this.list[i] : this.add();
      let room = arena.largestFree - this.reserve;
      if (i === 0) room = Math.min(room, this.arenaBytes * WEIGHT_SHARE - arena.used);
      let n = Math.min(units - done, Math.floor(Math.max(0, room) / unitBytes));
      if (n < units - done) n -= n % granule;
      if (n <= 0) continue;
      out.push({ arena, ptr: arena.alloc(n * unitBytes), unit0: done, units: n });
      done += n;
    }
    return out;
  }
}
