/**
 * The worker threads' programs, as source text so that they run unchanged from TypeScript
 * sources (tests) and from the compiled package (protocol and failure handling in pool.ts).
 */

/**
 * A kernel worker: instantiate the kernels on every arena's memory, then execute the ops the
 * calling thread announces.
 */
export const WORKER_SOURCE = `
'use strict';
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads');
const { module, port, life, tid, threads, ops, memories, layout } = workerData;
const { SEQ, DONE, SLEEPERS, OP, ARENA, FAILED, MAIN_SLEEPING, FAULT, FIN, CODE } = layout.CTRL;
const { GEN, ABORT } = layout.BARRIER;
const ctrl = new Int32Array(workerData.ctrl);
const OP_EXIT = -1, OP_SYNC = -2;
// ~50 µs of spinning covers the calling thread's work between the ops of a decode step.
const SPINS = 50000;
const arenas = [], views = [];
const instantiate = (memory) => {
  arenas.push(new WebAssembly.Instance(module, { env: { memory } }).exports);
  views.push(new Int32Array(memory.buffer, 0, 32));
};
for (const m of memories) instantiate(m);
// Runs on process.exit() and after an uncaught error (not on terminate()): tells the pool why.
process.on('exit', (code) => Atomics.store(ctrl, CODE + tid, code + 1));
// The first thread to fail reports; the op is abandoned so that no thread waits for this one
// at a barrier (pool.ts).
function fail(e, arena) {
  if (Atomics.compareExchange(ctrl, FAILED, 0, tid + 1) === 0) port.postMessage(String((e && e.stack) || e));
  if (arena >= 0) {
    const v = views[arena];
    Atomics.store(v, ABORT, 1);
    Atomics.add(v, GEN, 1);
    Atomics.notify(v, GEN);
  }
}
// Test hook (Pool.injectFault).
function fault() {
  const f = Atomics.load(ctrl, FAULT);
  if (f === 0 || f >> 4 !== tid || Atomics.compareExchange(ctrl, FAULT, f, 0) !== f) return;
  if ((f & 15) === layout.FAULT.EXIT) process.exit(70);
  throw new WebAssembly.RuntimeError('injected fault');
}
// Read before announcing readiness: the first op may be dispatched as soon as 'ready' arrives.
let seq = Atomics.load(ctrl, SEQ);
parentPort.postMessage('ready');
for (;;) {
  let s, spins = 0;
  while ((s = Atomics.load(ctrl, SEQ)) === seq) {
    if (++spins > SPINS) {
      Atomics.add(ctrl, SLEEPERS, 1);
      Atomics.wait(ctrl, SEQ, seq);
      Atomics.sub(ctrl, SLEEPERS, 1);
      spins = 0;
    }
  }
  seq = s;
  const op = ctrl[OP];
  if (op === OP_EXIT) break;
  const arena = op === OP_SYNC ? -1 : ctrl[ARENA];
  try {
    if (ctrl[FAULT] !== 0) fault();
    if (op === OP_SYNC) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) instantiate(m.message);
    } else {
      arenas[arena][ops[op]](tid, threads);
    }
  } catch (e) {
    fail(e, arena);
  }
  Atomics.store(ctrl, FIN + tid, seq);
  Atomics.add(ctrl, DONE, 1);
  if (Atomics.load(ctrl, MAIN_SLEEPING)) Atomics.notify(ctrl, DONE);
}
port.close();
life.close();
`;

/**
 * The watcher: idle on its event loop while the calling thread may be blocked on its own. When
 * a worker's lifeline port closes (its thread ended: process.exit, an uncaught error,
 * terminate()), it marks the worker dead, abandons the ops of every memory and pushes DONE
 * past what the calling thread waits for (pool.ts). Disposal terminates the watcher first.
 */
export const WATCHER_SOURCE = `
'use strict';
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads');
const { lifelines, port, memories, layout } = workerData;
const { DONE, DEATHS, DEAD } = layout.CTRL;
const { GEN, ABORT } = layout.BARRIER;
const ctrl = new Int32Array(workerData.ctrl);
const views = memories.map((m) => new Int32Array(m.buffer, 0, 32));
port.on('message', (m) => views.push(new Int32Array(m.buffer, 0, 32)));
lifelines.forEach((life, i) => {
  // A listener starts the port; 'close' alone would not be delivered.
  life.on('message', () => {});
  life.on('close', () => {
    // Memories the pool announced that this loop has not handled yet.
    for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) views.push(new Int32Array(m.message.buffer, 0, 32));
    Atomics.store(ctrl, DEAD + i + 1, 1);
    Atomics.add(ctrl, DEATHS, 1);
    for (const v of views) {
      Atomics.store(v, ABORT, 1);
      Atomics.add(v, GEN, 1);
      Atomics.notify(v, GEN);
    }
    Atomics.add(ctrl, DONE, layout.DONE_DEAD);
    Atomics.notify(ctrl, DONE);
  });
});
parentPort.postMessage('ready');
`;
