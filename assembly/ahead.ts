// Touch-ahead: a software prefetch for the weight stream of a matvec (WebAssembly has no
// prefetch instruction).
//
// Weights live in WebAssembly memory, which the OS backs with 4 KiB pages (V8 does not ask for
// transparent huge pages, and many systems grant them only on request). The hardware prefetcher
// does not cross a 4 KiB page boundary, so each page of the stream starts with demand misses,
// and with the dot product's instructions filling the out-of-order window, few misses are in
// flight at once: a matvec read DRAM at about half the rate of a bare streaming loop. Loading
// one byte of every 64-byte line AHEAD bytes further on starts those misses (and the page walk)
// early; the dot product then finds its lines on their way or in cache. Measured on the 2B
// shapes (bench/cpu.ts): +15–25% matvec bandwidth for Q8_0 and Q4_0 on 1 and 2 threads,
// about the same for any distance from 1 to 8 KiB. (The kernels now also read four streams at
// once, dotQuad4 in quad.ts; on top of that, touching still adds 5–20% for Q4_0 and about
// nothing for Q8_0.)
//
// The touched bytes feed a running sum that is written to a global, so the loads are not
// removed. A touch may land past the op's weights (on other data, which it only reads): the host
// keeps 8 KiB readable above every arena's highest allocation (READ_AHEAD_SLACK in
// src/backend/cpu/arena.ts), so no touch leaves the memory.

const AHEAD: usize = 4096;
let sink: i32 = 0;

/** Touches the byte AHEAD past p; one call per 64 bytes streamed (p + 256 at most). */
// @ts-ignore: decorator
@inline export function touch(p: usize): i32 {
  return load<u8>(p, AHEAD);
}

/** Keeps the touches alive (call once per row with their sum). */
// @ts-ignore: decorator
@inline export function keep(s: i32): void {
  sink += s;
}
