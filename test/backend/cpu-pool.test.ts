/**
 * The CPU backend's thread pool when a thread fails (src/backend/cpu/pool.ts): a kernel that
 * traps on one thread while the others wait at a barrier of the same op, and a worker that
 * dies in the middle of an op, give a GemmaError naming the thread and the cause, never a hang.
 *
 * A hang would block the thread that runs the test inside Atomics.wait, where no vitest
 * timeout can fire, so every scenario runs in a child process that is killed after
 * SCENARIO_MS: a regression fails as "hung" instead of hanging the suite.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildKernels } from './helpers.js';

const REPO = path.resolve(__dirname, '../..');
const SCENARIO_MS = 60_000;
/** A failure must be reported this fast (it takes milliseconds; generous for a loaded machine). */
const REPORT_MS = 5_000;

/** f16Max of the scenarios' data (below): the largest high byte is 60, then the largest low byte 250. */
const WANT = 60 * 256 + 250;

interface Attempt { ok: boolean; ms: number; name?: string; message?: string; value?: number }

/**
 * Runs `body` in a fresh process with `b`, a CPU backend of `threads` threads, and helpers in
 * scope; returns what it logged with `log`. The process reports a hang as a timeout.
 */
async function scenario(threads: number, body: string): Promise<Record<string, unknown>> {
  const src = `
import { createCpuBackend } from './src/backend/cpu/index.ts';
import { FAULT } from './src/backend/cpu/pool.ts';
const log = (k, v) => process.stdout.write(JSON.stringify({ [k]: v }) + '\\n');
const b = await createCpuBackend({ threads: ${threads}, minParallelWork: 0 });
// Internals (TypeScript-private fields): the pool and the first arena.
const pool = b.pool, a = b.arenas.main;
const attempt = (f) => {
  const t = performance.now();
  try {
    const value = f();
    return { ok: true, ms: performance.now() - t, value };
  } catch (e) {
    return { ok: false, ms: performance.now() - t, name: e.name, message: e.message };
  }
};
// f16Max (assembly/quantize.ts): chunks of 65536 values handed out dynamically, then a barrier;
// the result is left at byte 240 of the control area.
const N = 3 * 65536 + 5, data = a.alloc(2 * N);
for (let i = 0; i < N; i++) a.u8[data + 2 * i] = i % 251, a.u8[data + 2 * i + 1] = i % 61;
const f16Max = (ptr = data, count = N) => { a.args([ptr, count]); a.i32[60] = 0; pool.run(a, 'f16Max'); return a.i32[60]; };
// A public op: add over 3 × 5000.
const add = () => {
  const n = 15000, x = new Float32Array(n).map((_, i) => i), y = new Float32Array(n).fill(0.5);
  const tx = b.createTensor(3, 5000), ty = b.createTensor(3, 5000), to = b.createTensor(3, 5000);
  b.write(tx, x); b.write(ty, y);
  b.add(to, tx, ty, 3);
  const r = to.arena.f32.slice(to.ptr / 4, to.ptr / 4 + n);
  return r.every((v, i) => v === i + 0.5) ? 1 : 0;
};
{
${body}
}
const t0 = performance.now();
await b.dispose();
log('disposeMs', performance.now() - t0);
process.exit(0);
`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', src], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), SCENARIO_MS);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const logged = Object.assign({}, ...out.split('\n').filter(Boolean).map((l) => JSON.parse(l))) as Record<string, unknown>;
  if (code !== 0) throw new Error(`scenario ${code === null ? `hung (killed after ${SCENARIO_MS} ms)` : `exited with ${code}`}; logged ${JSON.stringify(logged)}\n${err}`);
  return logged;
}

const failed = (a: unknown, message: RegExp) => {
  const r = a as Attempt;
  expect(r.ok, JSON.stringify(r)).toBe(false);
  expect(r.name).toBe('GemmaError');
  expect(r.message).toMatch(message);
  expect(r.ms).toBeLessThan(REPORT_MS);
};
const worked = (a: unknown, value: number) => expect(a).toMatchObject({ ok: true, value });

describe('cpu backend thread pool: failures are errors, not hangs', { timeout: SCENARIO_MS + 30_000 }, () => {
  beforeAll(() => buildKernels());

  it('a trap on a worker while the calling thread waits at a barrier; the pool keeps working', async () => {
    const r = await scenario(2, `
      log('before', attempt(f16Max));
      pool.injectFault(1, FAULT.THROW);
      log('fault', attempt(f16Max));
      log('after', attempt(f16Max));
      log('add', attempt(add));
    `);
    worked(r.before, WANT);
    failed(r.fault, /^CPU backend kernel f16Max failed on worker 1: RuntimeError: injected fault$/);
    worked(r.after, WANT);
    worked(r.add, 1);
  });

  it('a trap on one of three threads releases both others from the barrier', async () => {
    const r = await scenario(3, `
      pool.injectFault(2, FAULT.THROW);
      log('fault', attempt(f16Max));
      log('after', attempt(f16Max));
    `);
    failed(r.fault, /^CPU backend kernel f16Max failed on worker 2: RuntimeError: injected fault$/);
    worked(r.after, WANT);
  });

  it('an out-of-bounds access in a kernel (a real WebAssembly trap), on whichever thread hits it', async () => {
    // One chunk, past the end of the memory: the thread that takes it traps, the other waits
    // at the barrier for it.
    const r = await scenario(2, `
      const where = {};
      for (let i = 0; i < 20; i++) {
        const x = attempt(() => f16Max(a.memory.buffer.byteLength - 64, 65536));
        if (x.ok || !/^CPU backend kernel f16Max failed on (the calling thread|worker 1): RuntimeError: memory access out of bounds$/.test(x.message)) {
          log('bad', x);
        }
        const w = x.message?.includes('worker') ? 'worker' : 'caller';
        where[w] = (where[w] ?? 0) + 1;
      }
      log('where', where);
      log('after', attempt(f16Max));
      log('add', attempt(add));
    `);
    expect(r.bad).toBeUndefined();
    // Both happen: which thread takes the chunk first varies (typically about half each).
    expect(Object.values(r.where as Record<string, number>).reduce((s, n) => s + n, 0)).toBe(20);
    worked(r.after, WANT);
    worked(r.add, 1);
  });

  it('one thread only: a trap is a GemmaError too', async () => {
    const r = await scenario(1, `
      log('fault', attempt(() => f16Max(a.memory.buffer.byteLength - 64, 65536)));
      log('after', attempt(f16Max));
    `);
    failed(r.fault, /^CPU backend kernel f16Max failed: RuntimeError: memory access out of bounds$/);
    worked(r.after, WANT);
  });

  it('a worker that exits in the middle of an op, while the others wait at a barrier', async () => {
    const r = await scenario(3, `
      pool.injectFault(1, FAULT.EXIT);
      log('fault', attempt(f16Max));
      log('later', attempt(f16Max));
      log('add', attempt(add));
    `);
    failed(r.fault, /^CPU backend worker 1 exited with code 70 during f16Max; the backend is broken/);
    failed(r.later, /^the CPU backend is broken \(worker 1 exited with code 70\): dispose of it/);
    failed(r.add, /^the CPU backend is broken/);
    expect(r.disposeMs).toBeLessThan(REPORT_MS);
  });

  it('a worker that exits while the calling thread waits for it outside any barrier (add)', async () => {
    const r = await scenario(2, `
      pool.injectFault(1, FAULT.EXIT);
      log('fault', attempt(add));
    `);
    failed(r.fault, /^CPU backend worker 1 exited with code 70 during add; the backend is broken/);
  });

  it('a worker terminated while ops run', async () => {
    // terminate() lands asynchronously on the worker thread: before, between or inside the
    // ops issued right after it.
    const r = await scenario(2, `
      log('before', attempt(f16Max));
      const done = pool.workers[0].terminate();
      let x, n = 0;
      const t = performance.now();
      do { x = attempt(f16Max); n++; } while (x.ok && performance.now() - t < ${REPORT_MS});
      x.ms = performance.now() - t;
      log('fault', x);
      log('later', attempt(add));
      await done;
    `);
    worked(r.before, WANT);
    failed(r.fault, /worker 1 was terminated/);
    failed(r.later, /^the CPU backend is broken \(worker 1 was terminated\)/);
    expect(r.disposeMs).toBeLessThan(REPORT_MS);
  });
});
