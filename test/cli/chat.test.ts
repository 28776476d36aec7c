/**
 * `gemma chat` driven through stdin with its line protocol: turns, KV reuse, /reset, /system,
 * multi-line input, Ctrl-C stopping an answer and Ctrl-C at the prompt leaving. In-process with
 * an injected SIGINT source, and once as a child process receiving a real SIGINT.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createDemoModel } from '../../src/engine/demo.js';
import { loadTokenizer } from '../../src/tokenizer/load.js';
import type { Tokenizer } from '../../src/tokenizer/types.js';
import { tmpDir } from '../helpers/tiny-models.js';

const REPO = path.resolve(__dirname, '../..');

async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const STATS = /\[prompt: (\d+) tokens(?: \((\d+) reused\))?, [\d.]+ tok\/s \| generation: (\d+) tokens, [\d.]+ tok\/s\]\n/g;
const stats = (err: string) => [...err.matchAll(STATS)].map((m) => ({ prompt: +m[1], reused: +(m[2] ?? 0), generated: +m[3] }));

describe('gemma chat', () => {
  let demo: string;
  let tok: Tokenizer;
  beforeAll(async () => {
    demo = path.join(tmpDir(), 'demo');
    await createDemoModel(demo);
    tok = await loadTokenizer(); // the demo model uses the bundled vocabulary
  });

  it('two turns reuse the cache; /reset, /system, multi-line input; Ctrl-C stops an answer, then leaves', async () => {
    const stdin = new PassThrough(), stdout = new PassThrough(), stderr = new PassThrough();
    const signals = new EventEmitter();
    let out = '', err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    const done = main(['chat', '-m', demo, '--temperature', '0', '-n', '6'], { stdin, stdout, stderr, signals } as never);
    const say = async (text: string, turns: number) => {
      stdin.write(text);
      await until(() => stats(err).length >= turns || /error: /.test(err), `answer ${turns}`);
    };
    const user = (content: string) => ({ role: 'user' as const, content });

    await say('Hello there\n', 1);
    const first = out.trimEnd();
    expect(first.length).toBeGreaterThan(0);
    await say('How are you?\n', 2);
    let s = stats(err);
    expect(s[0]).toEqual({ prompt: tok.encodeChat([user('Hello there')], { addGenerationPrompt: true }).length, reused: 0, generated: 6 });
    // Turn 2 reuses turn 1's prompt and answer (all but its last token, which was never evaluated).
    expect(s[1].reused).toBeGreaterThanOrEqual(s[0].prompt);
    expect(s[1].prompt).toBe(tok.encodeChat([user('Hello there'), { role: 'assistant', content: first }, user('How are you?')], { addGenerationPrompt: true }).length);

    stdin.write('/reset\n');
    await until(() => err.includes('[conversation reset]'), 'reset');
    await say('"""\nline one\n\nline three\n"""\n', 3);
    s = stats(err);
    expect(s[2].prompt).toBe(tok.encodeChat([user('line one\n\nline three')], { addGenerationPrompt: true }).length);
    expect(s[2].reused).toBe(4); // <bos><start_of_turn>user\n, still in the cache

    stdin.write('/system Answer like a pirate.\n/system\n');
    await until(() => out.includes('system prompt: Answer like a pirate.\n'), '/system');
    await say('first half \\\nsecond half\n', 4);
    expect(stats(err)[3].prompt).toBe(tok.encodeChat([{ role: 'system', content: 'Answer like a pirate.' }, user('first half \nsecond half')],
      { addGenerationPrompt: true }).length);

    // Ctrl-C as soon as the answer starts: it stops early, and the chat goes on.
    const before = out.length;
    stdout.once('data', () => signals.emit('SIGINT'));
    await say('Tell me a story\n', 5);
    expect(err).toContain('[interrupted]\n');
    expect(stats(err)[4].generated).toBeLessThan(6);
    expect(out.length).toBeGreaterThan(before);
    await say('Go on\n', 6);
    expect(stats(err)[5].generated).toBe(6);
    expect(stats(err)[5].reused).toBeGreaterThan(stats(err)[4].prompt - 1);

    stdin.write('/nope\n/help\n');
    await until(() => out.includes('/reset'), '/help');
    expect(err).toContain('unknown command /nope');
    // Ctrl-C with no answer being written leaves.
    signals.emit('SIGINT');
    expect(await done).toBe(0);
    expect(err).not.toMatch(/error: /);
  });

  it('--help documents the line protocol and the sampling defaults', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (d) => (out += d));
    expect(await main(['chat', '--help'], { stdin: new PassThrough(), stdout, stderr: new PassThrough() })).toBe(0);
    expect(out).toMatch(/Usage: gemma chat/);
    expect(out).toContain('/reset');
    expect(out).toContain('"""');
    expect(out).toMatch(/--top-k <k>[^\n]*\n?[^\n]*\(default: 40\)/);
    expect(out).toMatch(/--repeat-last-n <n>[\s\S]*?\(default: 64\)/);
  });

  it('ends at end of input; bad options are one-line errors', async () => {
    const stdin = new PassThrough(), stdout = new PassThrough(), stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d) => (err += d));
    stdout.resume();
    stdin.end('Hi\n/exit\nnever read\n');
    expect(await main(['chat', '-m', demo, '--temperature', '0', '-n', '2'], { stdin, stdout, stderr, signals: new EventEmitter() } as never)).toBe(0);
    expect(stats(err)).toHaveLength(1);
    for (const argv of [['--top-p', '3'], ['--seed', '-4'], ['-n', '-3'], ['--logit-bias', 'x']]) {
      const e = new PassThrough();
      let text = '';
      e.on('data', (d) => (text += d));
      const code = await main(['chat', '-m', demo, ...argv], { stdin: new PassThrough(), stdout: new PassThrough(), stderr: e, signals: new EventEmitter() } as never);
      expect(code).toBe(1);
      expect(text).toMatch(/^error: [^\n]+\n$/);
    }
  });

  it('in a terminal: prompts, Ctrl-C keys stop an answer, clear a half-typed line, then leave', async () => {
    // Streams that say they are a terminal: readline reads keypresses, as from a real one.
    const stdin = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => stdin });
    const stdout = Object.assign(new PassThrough(), { isTTY: true, columns: 80 });
    const stderr = new PassThrough();
    let out = '', err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    const done = main(['chat', '-m', demo, '--temperature', '0', '-n', '400'], { stdin, stdout, stderr, signals: new EventEmitter() } as never);
    await until(() => out.includes('> '), 'the prompt');
    expect(out).toContain('/help for commands');
    const mark = out.length;
    stdin.write('Tell me a long story\r');
    await until(() => /Tell me a long story\r?\n/.test(out.slice(mark)), 'the echoed line');
    const echoed = out.length;
    await until(() => out.length > echoed, 'the first words of the answer');
    stdin.write('\x03'); // Ctrl-C
    await until(() => stats(err).length === 1, 'the interrupted answer');
    expect(err).toContain('[interrupted]\n');
    expect(stats(err)[0].generated).toBeGreaterThan(0);
    expect(stats(err)[0].generated).toBeLessThan(400);
    await until(() => out.split('> ').length >= 3, 'the next prompt');
    stdin.write('half a line');
    stdin.write('\x03'); // clears the line, stays
    await until(() => out.includes('^C\n'), 'the cleared line');
    stdin.write('\x03'); // at an empty prompt: leaves
    expect(await done).toBe(0);
    expect(stats(err)).toHaveLength(1);
  });

  it('the sampling options chat shares with generate: --logit-bias, --logprobs, --json, --seed', async () => {
    const a = tok.pieceToId('a')!;
    const run = async (argv: string[]) => {
      const stdout = new PassThrough(), stderr = new PassThrough();
      let out = '', err = '';
      stdout.on('data', (d) => (out += d));
      stderr.on('data', (d) => (err += d));
      const code = await main(argv, { stdin: new PassThrough(), stdout, stderr });
      return { code, out, err };
    };
    const j = await run(['generate', '-m', demo, '--temperature', '0', '-n', '3', '--json', '--logprobs', '2', '--logit-bias', `${a}+100`, 'Hi']);
    expect(j.code).toBe(0);
    const r = JSON.parse(j.out);
    expect(r.tokens).toEqual([a, a, a]);
    expect(r.text).toBe('aaa');
    expect(r.logprobs).toHaveLength(3);
    expect(r.logprobs[0].topLogprobs).toHaveLength(2);
    expect(r.usage).toMatchObject({ promptTokens: 2, completionTokens: 3 });
    // The same seed gives the same text; the seed is printed.
    const s1 = await run(['generate', '-m', demo, '-n', '4', '--temperature', '1.5', '--top-k', '0', '--min-p', '0', '--seed', '11', '--logit-bias', `${a}-inf`, 'Hi']);
    const s2 = await run(['generate', '-m', demo, '-n', '4', '--temperature', '1.5', '--top-k', '0', '--min-p', '0', '--seed', '11', '--logit-bias', `${a}=-inf`, 'Hi']);
    expect(s1.out).toBe(s2.out);
    expect(s1.err).toMatch(/finish: length \| seed: 11\n$/);
    const t = await run(['generate', '-m', demo, '--temperature', '0', '-n', '2', '--logprobs', '1', '--repeat-penalty', '1.3', '--typical-p', '0.9', 'Hi']);
    expect(t.code).toBe(0);
    expect(t.err.split('\n').filter((l) => / \| /.test(l) && /-\d+\.\d{4}/.test(l))).toHaveLength(2);
  });

  it('as a process: SIGINT stops the answer being written; a second SIGINT at the prompt exits', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      "import { main } from './src/cli/main.ts'; process.exitCode = await main(process.argv.slice(1));",
      'chat', '-m', demo, '--temperature', '0', '-n', '400'], { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stdin.write('Tell me a long story\n');
    await until(() => out.length > 0, 'the first words of the answer');
    child.kill('SIGINT');
    await until(() => stats(err).length === 1, 'the interrupted answer');
    expect(err).toContain('[interrupted]\n');
    expect(stats(err)[0].generated).toBeLessThan(400);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
