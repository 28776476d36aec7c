#!/usr/bin/env node
// Compiles the AssemblyScript kernels (assembly/) into two WebAssembly modules: one with
// relaxed SIMD and a baseline-SIMD fallback for runtimes without it. They are written next to
// the CPU backend's sources (src/backend/cpu/wasm/, for tests that run the TypeScript) and
// into dist/backend/cpu/wasm/ (for the compiled package); both load them relative to the
// module that reads them. Skips the work when the outputs are newer than every source.
import { mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sources = path.join(root, 'assembly');
const outDirs = [path.join(root, 'src/backend/cpu/wasm'), path.join(root, 'dist/backend/cpu/wasm')];
const variants = [
  { file: 'kernels-relaxed.wasm', features: 'simd,threads,relaxed-simd' },
  { file: 'kernels-simd.wasm', features: 'simd,threads' },
];

const newest = Math.max(statSync(import.meta.filename ?? fileURLToPath(import.meta.url)).mtimeMs,
  ...readdirSync(sources).map((f) => statSync(path.join(sources, f)).mtimeMs));
const fresh = (f) => { try { return statSync(f).mtimeMs >= newest; } catch { return false; } };
const force = process.argv.includes('--force');

for (const v of variants) {
  const targets = outDirs.map((d) => path.join(d, v.file));
  if (!force && targets.every(fresh)) continue;
  const out = {};
  const { error, stderr } = await asc.main([
    path.join(sources, 'index.ts'), '--outFile', 'kernels.wasm',
    '-O3', '--noAssert', '--runtime', 'stub', '--use', 'abort=',
    // Memory is imported, shared and may grow to the whole 4 GiB of wasm32 (the host decides
    // how much to commit); no data segments, so instantiating on every thread writes nothing.
    '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536', '--noExportMemory',
    '--enable', v.features,
  ], { writeFile: (name, contents) => { out[name] = contents; } });
  if (error) {
    process.stderr.write(stderr.toString());
    throw error;
  }
  for (const t of targets) {
    mkdirSync(path.dirname(t), { recursive: true });
    // Written aside and renamed: a test process loading the kernels never sees half a file.
    writeFileSync(`${t}.${process.pid}.tmp`, out['kernels.wasm']);
    renameSync(`${t}.${process.pid}.tmp`, t);
  }
  console.log(`build-wasm: ${v.file} (${out['kernels.wasm'].length} bytes)`);
}
