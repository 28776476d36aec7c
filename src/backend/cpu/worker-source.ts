/**
 * The worker thread's program, as source text so that it runs unchanged from TypeScript
 * sources (tests) and from the compiled package: instantiate the kernels on every arena's
 * memory, then execute the ops the calling thread announces (protocol in pool.ts).
 */
export const WORKER_SOURCE = `
'use strict';
const { workerData, parentPort, receiveMessageOnPort } = require('node:worker_threads');
const { module, port, tid, threads, ops, memories } = workerData;
const ctrl = new Int32Array(workerData.ctrl);
const SEQ = 0, DONE = 1, SLEEPERS = 2, OP = 3, ARENA = 4, ERROR = 5, MAIN_SLEEPING = 6, OP_EXIT = -1, OP_SYNC = -2;
// ~50 µs of spinning covers the calling thread's work between the ops of a decode step.
const SPINS = 50000;
const arenas = [];
const instantiate = (memory) => arenas.push(new WebAssembly.Instance(module, { env: { memory } }).exports);
for (const m of memories) instantiate(m);
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
  try {
    if (op === OP_SYNC) {
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) instantiate(m.message);
    } else {
      arenas[ctrl[ARENA]][ops[op]](tid, threads);
    }
  } catch (e) {
    port.postMessage(String((e && e.stack) || e));
    ctrl[ERROR] = tid;
  }
  Atomics.add(ctrl, DONE, 1);
  if (Atomics.load(ctrl, MAIN_SLEEPING)) Atomics.notify(ctrl, DONE);
}
port.close();
`;
