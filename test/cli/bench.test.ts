/**
 * `gemma bench` on tiny random GGUF models: the llama-bench-style table, --json with every
 * repetition, the context limit and option errors. It measures speed, so no figure is asserted
 * beyond being a positive finite number.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { benchTokens } from '../../src/cli/commands/bench.js';
import { GgmlType } from '../../src/formats/ggml-types.js';
import { randomWeights, tinyConfig, tmpDir, writeTinyGguf } from '../helpers/tiny-models.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

/** The t/s cell of a table row: `mean ± std`. */
function speeds(out: string): Map<string, { mean: number; std: number }> {
  const rows = new Map<string, { mean: number; std: number }>();
  for (const line of out.split('\n')) {
    const m = /\|\s*((?:pp|tg)\d+)\s*\|\s*([\d.]+) ± ([\d.]+)\s*\|$/.exec(line);
    if (m) rows.set(m[1]!, { mean: Number(m[2]), std: Number(m[3]) });
  }
  return rows;
}

describe('gemma bench', () => {
  let f32: string, q40: string;
  beforeAll(async () => {
    const dir = tmpDir('gemma-bench-');
    const c = tinyConfig({ contextLength: 64 });
    f32 = await writeTinyGguf(path.join(dir, 'tiny-f32.gguf'), c, randomWeights(c, { seed: 3 }));
    q40 = await writeTinyGguf(path.join(dir, 'tiny-q4_0.gguf'), c, randomWeights(c, { seed: 3 }), GgmlType.Q4_0);
  });

  it('prints a llama-bench table with pp and tg rows on both backends', async () => {
    for (const [model, backend, type] of [[q40, 'cpu', 'Q4_0'], [f32, 'ref', 'F32']] as const) {
      const threads = backend === 'cpu' ? ['-t', '1'] : []; // the ref backend is single-threaded
      const r = await run(['bench', model, '-p', '8,16', '-n', '4', '-r', '2', ...threads, '--backend', backend]);
      expect(r.code, r.err).toBe(0);
      const lines = r.out.split('\n');
      expect(lines[0]).toMatch(/^\| model\s+\|\s+size \|\s+params \| type\s+\| backend \| threads \|\s+test \|\s+t\/s \|$/);
      expect(lines[1]).toMatch(/^\| -+ \| -+: \| -+: \| -+ \| -+ \| -+: \| -+: \| -+: \|$/);
      for (const line of lines.slice(2, 5)) {
        expect(line).toMatch(new RegExp(`^\\| ${path.basename(model).replace(/\./g, '\\.')}\\s+\\|\\s+[\\d.]+ KiB \\|\\s+[\\d.]+ K \\| ${type}\\s+\\| ${backend}\\s+\\|\\s+1 \\|`));
      }
      const s = speeds(r.out);
      expect([...s.keys()]).toEqual(['pp8', 'pp16', 'tg4']);
      for (const { mean, std } of s.values()) {
        expect(Number.isFinite(mean) && mean > 0).toBe(true);
        expect(Number.isFinite(std) && std >= 0).toBe(true);
      }
      expect(r.out).toMatch(/\nload: [\d.]+ s, peak RSS: [\d.]+ MiB\n$/);
      // Progress goes to stderr, a line per test.
      expect(r.err).toMatch(/^bench: tiny-.*\.gguf loaded in [\d.]+ s; \w+ backend, 1 thread; warm-up \+ 2 runs per test\n/);
      for (const t of ['pp8', 'pp16', 'tg4']) expect(r.err).toContain(`bench: running ${t} …\n`);
    }
  });

  it('--json: one object with every repetition, model, backend and threads', async () => {
    const r = await run(['bench', '-m', f32, '-p', '12', '-n', '3,5', '-r', '3', '-t', '2', '--json', '--no-warmup']);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.model).toMatchObject({ name: 'tiny-f32.gguf', format: 'gguf', type: 'F32', contextLength: 64, vocabSize: 512 });
    expect(j.model.bytes).toBeGreaterThan(0);
    expect(j).toMatchObject({ backend: 'cpu', threads: 2, repetitions: 3, warmup: false });
    expect(j.loadSeconds).toBeGreaterThan(0);
    expect(j.peakRssBytes).toBeGreaterThan(2 ** 20);
    expect(j.results.map((x: { test: string }) => x.test)).toEqual(['pp12', 'tg3', 'tg5']);
    for (const x of j.results) {
      expect(x.tokensPerSecond).toHaveLength(3);
      expect(x.ms).toHaveLength(3);
      for (const v of [...x.tokensPerSecond, ...x.ms, x.meanTokensPerSecond]) expect(Number.isFinite(v) && v > 0).toBe(true);
      expect(x.stddevTokensPerSecond).toBeGreaterThanOrEqual(0);
    }
  });

  it('token ids: deterministic, <bos> first, inside the vocabulary', () => {
    const ids = benchTokens(1000, 512, 2);
    expect(ids[0]).toBe(2);
    expect(ids.every((i) => Number.isInteger(i) && i >= 0 && i < 512)).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(300);
    expect(benchTokens(1000, 512, 2)).toEqual(ids);
  });

  it('one-line errors: the context limit and bad option values', async () => {
    for (const [argv, re] of [
      [['-p', '65'], /^error: -p 65 exceeds the model's context length of 64 tokens$/],
      [['-p', '8,100'], /^error: -p 100 exceeds the model's context length of 64 tokens$/],
      [['-p', '8', '-n', '64'], /^error: -n 64 needs 65 tokens \(<bos> \+ 64\), more than the model's context length of 64$/],
      [['-p', 'x'], /^error: option '-p, --n-prompt <list>' argument 'x' is invalid\. --n-prompt expects token counts: positive integers/],
      [['-p', '8,,16'], /--n-prompt expects token counts/],
      [['-n', '-3'], /--n-gen expects token counts/],
      [['-n', '2.5'], /--n-gen expects token counts/],
      [['-r', '0'], /^error: option '-r, --repetitions <n>' argument '0' is invalid\. --repetitions expects a positive integer\.$/],
      [['-r', 'three'], /--repetitions expects a positive integer/],
      [['-t', '0'], /--threads expects a positive integer/],
      [['-t', '1.5'], /--threads expects a positive integer/],
      [['--backend', 'gpu'], /^error: option '--backend <name>' argument 'gpu' is invalid/],
      [['-p', '0', '-n', '0'], /^error: nothing to measure: -p and -n are both 0$/],
    ] as [string[], RegExp][]) {
      const r = await run(['bench', f32, ...argv]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.out).toBe('');
      expect(r.err.trim().split('\n'), argv.join(' ')).toHaveLength(1);
      expect(r.err.trim(), argv.join(' ')).toMatch(re);
    }
    for (const [argv, re] of [
      [['bench'], /^error: bench needs a model: gemma bench <model> \(or -m <model>\)$/],
      [['bench', path.join(path.dirname(f32), 'nope.gguf')], /^error: no such file or directory: .*nope\.gguf$/],
      [['bench', f32, '-m', q40], /^error: two models given/],
    ] as [string[], RegExp][]) {
      const r = await run(argv);
      expect(r.code).toBe(1);
      expect(r.err.trim()).toMatch(re);
    }
    const h = await run(['bench', '--help']);
    expect(h.out).toMatch(/Usage: gemma bench \[options\] \[model\]/);
    expect(h.out).toMatch(/-p, --n-prompt <list>/);
  });
});
