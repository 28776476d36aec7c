/** `gemma tokenize`, run in-process with captured streams. */
import { PassThrough } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { register } from '../../src/cli/commands/tokenize.js';
import { GemmaError } from '../../src/errors.js';

async function run(args: string[], stdin = ''): Promise<string> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const input = new PassThrough();
  input.end(stdin);
  const program = new Command('gemma').exitOverride();
  register(program, { stdout: out, stderr: new PassThrough(), stdin: input });
  await program.parseAsync(['tokenize', ...args], { from: 'user' });
  return Buffer.concat(chunks).toString('utf8');
}

describe('gemma tokenize', () => {
  it('prints ids and pieces', async () => {
    const text = await run(['Hello world']);
    expect(text).toBe('3 tokens: [2, 4521, 2134]\n   2  <bos>\n4521  Hello\n2134  ▁world\n');
  });

  it('honours --no-bos, --no-special and --json', async () => {
    const parsed = JSON.parse(await run(['--json', '--no-bos', '--no-special', '<eos>\n']));
    expect(parsed.ids[0]).not.toBe(2);
    expect(parsed.ids).not.toContain(1);
    expect(parsed.ids.at(-1)).toBe(108);
    expect(parsed.pieces.at(-1)).toBe('\n');
    expect(JSON.parse(await run(['--json', '<eos>'])).ids).toEqual([2, 1]);
  });

  it('tokenizes {"text"} lines in --jsonl mode', async () => {
    const out = await run(['--jsonl'], '{"text": "a b"}\n\n{"text": "<eos>"}\r\n{"text": ""}\n');
    expect(out).toBe('{"ids":[2,235250,518]}\n{"ids":[2,1]}\n{"ids":[2]}\n');
  });

  it('reports bad lines and missing text', async () => {
    await expect(run(['--jsonl'], '{"text": "ok"}\nnot json\n')).rejects.toThrow(/stdin line 2: not valid JSON/);
    await expect(run([])).rejects.toThrow(GemmaError);
    await expect(run(['x', '--jsonl'])).rejects.toThrow(/not both/);
  });
});
