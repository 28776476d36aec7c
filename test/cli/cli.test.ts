import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDemoModel } from '../../src/engine/demo.js';
import { TINY_MQA } from '../helpers/goldens.js';
import { tmpDir } from '../helpers/tiny-models.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

describe('gemma CLI', () => {
  let demo: string;
  beforeAll(async () => {
    demo = path.join(tmpDir(), 'demo');
    await createDemoModel(demo);
  });

  it('info prints the config, tensors, size and tokenizer', async () => {
    const r = await run(['info', '-m', TINY_MQA]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/layers:\s+2/);
    expect(r.out).toMatch(/heads:\s+4 query × 16, 1 KV \(multi-query\)/);
    expect(r.out).toMatch(/tensors:\s+20 \(20 F32\)/);
    expect(r.out).toMatch(/parameters:\s+201024\n/);
    expect(r.out).toMatch(/size:\s+785\.25 KiB/);
    expect(r.out).toMatch(/tokenizer:\s+bundled Gemma 1 vocabulary/);
    const j = await run(['info', '-m', TINY_MQA, '--json']);
    expect(JSON.parse(j.out).config.headDim).toBe(16);
  });

  it('generate streams text and prints speeds', async () => {
    const r = await run(['generate', '-m', demo, '--temperature', '0', '-n', '5', '--ignore-eos', 'Hello there']);
    expect(r.code).toBe(0);
    expect(r.out.length).toBeGreaterThan(1);
    expect(r.err).toMatch(/prompt: 3 tokens, [\d.]+ tok\/s \| generation: 5 tokens, [\d.]+ tok\/s/);
    const piped = await run(['generate', '-m', demo, '--temperature', '0', '-n', '5', '--ignore-eos'], 'Hello there');
    expect(piped.out).toBe(r.out);
  });

  it('bad input: one line, exit code 1, no stack unless --verbose', async () => {
    for (const argv of [
      ['generate', '-m', '/no/such/model', 'hi'],
      ['info', '-m', path.dirname(demo)],
      ['generate', '-m', demo, '--temperature', 'hot', 'hi'],
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(1);
      expect(r.err.trim().split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/^error: /);
      expect(r.err).not.toMatch(/\s+at /);
    }
    const v = await run(['--verbose', 'info', '-m', '/no/such/model']);
    expect(v.code).toBe(1);
    expect(v.err).toMatch(/no such file or directory/);
    expect(v.err).toMatch(/\n\s+at /);
  });

  it('--help works on every command', async () => {
    for (const argv of [['--help'], ['generate', '--help'], ['info', '--help'], ['tokenize', '--help'], ['demo', '--help']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/Usage: gemma/);
    }
  });

  it.runIf(existsSync(path.resolve(__dirname, '../../dist/cli/main.js')))('the built bin exits non-zero with a one-line error', async () => {
    const bin = path.resolve(__dirname, '../../bin/gemma.js');
    const err = await promisify(execFile)(process.execPath, [bin, 'info', '-m', '/no/such/model']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toBe('error: no such file or directory: /no/such/model\n');
  });
});
