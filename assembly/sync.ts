// The control area at the bottom of every memory. The host writes an op's arguments here
// before it starts the threads; kernels read them, share work through atomic counters and
// meet at spin barriers (a barrier costs ~0.4 µs spinning against ~31 µs for a futex wait,
// and a decode step has hundreds of them).

const COUNTERS: usize = 0; // 16 × i32, zeroed by the host before every op
// Barrier state (the host mirrors these offsets in src/backend/cpu/pool.ts).
const BAR_COUNT: usize = 64;
const BAR_GEN: usize = 68;
const BAR_SLEEPERS: usize = 72;
/** Nonzero: the op is abandoned (a thread trapped or died). Set from JavaScript (pool.ts: by the
 *  thread that failed, or by the pool's watcher thread), which also advances BAR_GEN and wakes
 *  the sleepers; cleared by the calling thread once every thread has left the op. */
const BAR_ABORT: usize = 76;
// 240: one i32 kernel result (quantize.ts f16MaxBits).
/** Spins (~20–40 µs) before a waiting thread sleeps: enough for the phases of one op; past it
 *  the awaited thread is probably descheduled (more runnable threads than cores) and spinning
 *  would take the core it needs. */
const SPINS = 20000;
/** Vector constants (written by init()): loaded once per kernel call, V8 keeps them in registers
 *  instead of rebuilding a v128.const at every use inside a loop. 16 × v128. */
export const CONSTS: usize = 5120;
const IARGS: usize = 256; // 32 × i32
const FARGS: usize = 384; // 8 × f64
const THREAD_SCRATCH: usize = 512; // per-thread scratch pointers, 64 × u32
const SINK: usize = 1024; // one 64-byte line per thread, 64 threads (to 5120)

export function iarg(i: i32): i32 {
  return load<i32>(IARGS + (<usize>i << 2));
}

export function parg(i: i32): usize {
  return <usize>load<u32>(IARGS + (<usize>i << 2));
}

export function farg(i: i32): f64 {
  return load<f64>(FARGS + (<usize>i << 3));
}

/** This thread's scratch region (sized by the host for the op at hand). */
export function scratch(tid: i32): usize {
  return <usize>load<u32>(THREAD_SCRATCH + (<usize>tid << 2));
}

/** A per-thread line that kernels store partial sums into (see sink()). */
export function sinkLine(tid: i32): usize {
  return SINK + (<usize>tid << 6);
}

/** Next chunk index from counter `c` (work is handed out dynamically: a slow core takes fewer). */
// @ts-ignore: decorator
@inline export function grab(c: i32): i32 {
  return atomic.add<i32>(COUNTERS + (<usize>c << 2), 1);
}

/**
 * All `nt` threads wait here until every one has arrived. If the op is abandoned meanwhile
 * (BAR_ABORT), the threads waiting here and every thread arriving later trap instead of
 * waiting for a thread that will never come; the host turns the first failure into the error.
 */
export function barrier(nt: i32): void {
  if (nt <= 1) return;
  const gen = atomic.load<i32>(BAR_GEN);
  // Read after `gen`: an abort after this check advances BAR_GEN past `gen`, ending the wait.
  if (atomic.load<i32>(BAR_ABORT) != 0) unreachable();
  if (atomic.add<i32>(BAR_COUNT, 1) == nt - 1) {
    atomic.store<i32>(BAR_COUNT, 0);
    atomic.add<i32>(BAR_GEN, 1);
    if (atomic.load<i32>(BAR_SLEEPERS) > 0) atomic.notify(BAR_GEN, nt);
    return;
  }
  for (let spins = 0; atomic.load<i32>(BAR_GEN) == gen; spins++) {
    if (spins < SPINS) continue;
    // Registered before the value check inside wait: a release after the check is seen by the
    // wait (it compares BAR_GEN atomically), a release before it sees the sleeper and notifies.
    atomic.add<i32>(BAR_SLEEPERS, 1);
    atomic.wait<i32>(BAR_GEN, gen, -1);
    atomic.sub<i32>(BAR_SLEEPERS, 1);
  }
  if (atomic.load<i32>(BAR_ABORT) != 0) unreachable();
}
