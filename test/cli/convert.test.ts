/** `gemma convert`: usage, the summary line, the bundled-vocabulary warning, one-line errors. */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDemoModel } from '../../src/engine/demo.js';
import { tmpDir } from '../helpers/tiny-models.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

describe('gemma convert', () => {
  const dir = tmpDir('gemma-cli-convert-');
  const demo = path.join(dir, 'demo');
  beforeAll(async () => {
    await createDemoModel(demo);
  });

  it('converts the demo folder (no tokenizer: the bundled Gemma vocabulary, with a warning)', async () => {
    const out = path.join(dir, 'demo-q8_0.gguf');
    const r = await run(['convert', demo, '-o', out, '--type', 'q8_0', '--name', 'demo']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: .*demo has no tokenizer; embedding the bundled Gemma 1 vocabulary \(same size: 256000\)\n/);
    expect(r.err).toMatch(/wrote .*demo-q8_0\.gguf: [\d.]+ MiB, 20 tensors \(15 Q8_0, 5 F32\), tokenizer bundled Gemma 1 vocabulary .* in [\d.]+ s on 1 thread\n$/);
    const info = await run(['info', '-m', out]);
    expect(info.out).toMatch(/tensors:\s+20 \(15 Q8_0, 5 F32\)/);
    expect(info.out).toMatch(/tokenizer:\s+GGUF metadata/);
  });

  it('one-line errors, nothing written', async () => {
    for (const [argv, pattern] of [
      [['convert', demo, '-o', path.join(dir, 'x.gguf'), '--type', 'q9_9'], /^error: unknown type "q9_9"; expected one of f32, /],
      [['convert', path.join(dir, 'nope'), '-o', path.join(dir, 'x.gguf'), '--type', 'f16'], /^error: no such file or directory: /],
      [['convert', demo, '--type', 'f16'], /error: required option '-o, --output <file>' not specified/],
    ] as const) {
      const r = await run([...argv]);
      expect(r.code).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('x.gguf'))).toEqual([]);
    expect(existsSync(path.join(dir, 'x.gguf.tmp'))).toBe(false);
  });

  it('--help lists the types and an example', async () => {
    const r = await run(['convert', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Usage: gemma convert \[options\] <source>/);
    expect(r.out).toMatch(/q4_k_m/);
    expect(r.out).toMatch(/gemma convert gemma-2b-it -o gemma-2b-it-q4_k_m\.gguf --type q4_k_m/);
  });
});
