/**
 * `gemma chat`: an interactive chat in the terminal, streaming each answer, with the KV cache
 * kept between turns (each turn evaluates only its new tokens).
 *
 * Input, from a terminal or a pipe (the same line protocol):
 *   - one line is one message; a line ending in `\` continues on the next line;
 *   - a line `"""` starts a block of several lines, ended by another `"""` line;
 *   - /reset forgets the conversation (keeps the system prompt); /system TEXT sets the system
 *     prompt and starts over; /system shows it; /help; /exit (or end of input) leaves.
 * Ctrl-C (SIGINT) stops the answer being written, which stays in the conversation; Ctrl-C
 * while no answer is being written (or a second one before the first took effect) ends the chat.
 * After each answer, token counts and speeds go to stderr.
 */
import { EventEmitter } from 'node:events';
import { createInterface, type Interface } from 'node:readline';
import type { Command } from 'commander';
import type { ChatSession } from '../../engine/chat-session.js';
import { checkGenerateOptions } from '../../engine/generate.js';
import type { GenerateOptions } from '../../engine/types.js';
import { GemmaError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';
import { addModelOptions, addSamplingOptions, formatSpeeds, samplingFrom } from './generate.js';

/** A CliIo that may bring its own source of SIGINT (tests); otherwise the process's. */
export interface ChatIo extends CliIo {
  signals?: EventEmitter;
}

const HELP = `commands:
  /reset          forget the conversation (the system prompt stays)
  /system TEXT    set the system prompt and start over (/system alone shows it)
  /exit           leave (so does end of input, or Ctrl-C while no answer is being written)
  /help           this text
input: one line is one message; end a line with \\ to continue it, or put several lines between two """ lines.
Ctrl-C stops the answer being written.
`;

/** Lines from a stream, one at a time; null at the end. */
class LineQueue {
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | undefined;
  private closed = false;

  constructor(rl: Interface) {
    rl.on('line', (line) => {
      if (this.waiting) { const w = this.waiting; this.waiting = undefined; w(line); } else this.lines.push(line);
    });
    rl.on('close', () => {
      this.closed = true;
      if (this.waiting) { const w = this.waiting; this.waiting = undefined; w(null); }
    });
  }

  next(): Promise<string | null> {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift()!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Makes a pending next() resolve with null (the chat is ending). */
  end(): void {
    this.closed = true;
    if (this.waiting) { const w = this.waiting; this.waiting = undefined; w(null); }
  }
}

export class ChatRepl {
  private abort: AbortController | undefined;
  private ended = false;
  private readonly rl: Interface;
  private readonly lines: LineQueue;
  private readonly tty: boolean;

  constructor(private readonly chat: ChatSession, private readonly io: CliIo, private readonly options: GenerateOptions) {
    this.tty = io.stdin.isTTY === true && io.stdout.isTTY === true;
    this.rl = createInterface({ input: io.stdin, output: this.tty ? io.stdout : undefined, terminal: this.tty, crlfDelay: Infinity });
    this.lines = new LineQueue(this.rl);
    // In a terminal readline catches Ctrl-C itself.
    this.rl.on('SIGINT', () => {
      if (!this.abort && this.rl.line.length > 0) {
        // Ctrl-C with a half-typed line clears it, as shells do.
        this.rl.write(null, { ctrl: true, name: 'e' });
        this.rl.write(null, { ctrl: true, name: 'u' });
        this.io.stdout.write('^C\n');
        this.rl.prompt();
        return;
      }
      this.interrupt();
    });
  }

  /** Ctrl-C: stops the answer being written; otherwise (or pressed again meanwhile) ends the chat. */
  interrupt(): void {
    if (this.abort && !this.abort.signal.aborted) {
      this.abort.abort();
      return;
    }
    this.ended = true;
    this.abort?.abort();
    this.lines.end();
  }

  private prompt(continuation = false): void {
    if (!this.tty) return;
    this.rl.setPrompt(continuation ? '… ' : '> ');
    this.rl.prompt();
  }

  /** The next message (a line, continued lines, or a """ block); null at the end. */
  private async readMessage(): Promise<string | null> {
    this.prompt();
    const first = await this.lines.next();
    if (first === null) return null;
    if (first.trim() === '"""') {
      const body: string[] = [];
      for (;;) {
        this.prompt(true);
        const line = await this.lines.next();
        if (line === null || line.trim() === '"""') break;
        body.push(line);
      }
      return body.join('\n');
    }
    let text = first;
    while (text.endsWith('\\')) {
      this.prompt(true);
      const line = await this.lines.next();
      text = text.slice(0, -1) + '\n';
      if (line === null) break;
      text += line;
    }
    return text;
  }

  private async answer(message: string): Promise<void> {
    this.abort = new AbortController();
    try {
      const it = this.chat.stream(message, { ...this.options, signal: this.abort.signal });
      let r = await it.next();
      while (!r.done) {
        this.io.stdout.write(r.value.text);
        r = await it.next();
      }
      this.io.stdout.write('\n');
      const res = r.value;
      if (res.finishReason === 'abort') this.io.stderr.write('[interrupted]\n');
      else if (res.finishReason === 'length' && this.chat.tokens.length + 1 >= this.chat.contextLength) {
        this.io.stderr.write('[the context is full: /reset to start over]\n');
      }
      this.io.stderr.write(`[${formatSpeeds(res)}]\n`);
    } catch (e) {
      if (!(e instanceof GemmaError)) throw e;
      this.io.stderr.write(`error: ${e.message}\n`);
    } finally {
      this.abort = undefined;
    }
  }

  /** Reads messages until the end of input, /exit or Ctrl-C. */
  async run(): Promise<void> {
    if (this.tty) this.io.stdout.write('gemma chat: /help for commands, Ctrl-C stops an answer, Ctrl-D leaves\n');
    try {
      while (!this.ended) {
        const message = await this.readMessage();
        if (message === null || this.ended) break;
        const trimmed = message.trim();
        if (trimmed === '') continue;
        if (trimmed === '/exit' || trimmed === '/quit') break;
        if (trimmed === '/help') { this.io.stdout.write(HELP); continue; }
        if (trimmed === '/reset') {
          this.chat.reset();
          this.io.stderr.write('[conversation reset]\n');
          continue;
        }
        if (trimmed === '/system' || trimmed.startsWith('/system ')) {
          const text = trimmed.slice('/system'.length).trim();
          if (text === '') this.io.stdout.write(`system prompt: ${this.chat.system ?? '(none)'}\n`);
          else {
            this.chat.setSystem(text);
            this.io.stderr.write('[system prompt set; conversation reset]\n');
          }
          continue;
        }
        if (/^\/\w+$/.test(trimmed)) {
          this.io.stderr.write(`unknown command ${trimmed}; /help lists them\n`);
          continue;
        }
        await this.answer(message);
      }
    } finally {
      this.rl.close();
    }
  }
}

export function register(program: Command, io: ChatIo): void {
  const cmd = program.command('chat')
    .description('chat with a model in the terminal (streams answers, keeps the KV cache between turns; /help inside)')
    .option('--system <text>', 'system prompt (merged into the first user turn: Gemma has no system role)')
    .addHelpText('after', `\n${HELP}`);
  addModelOptions(cmd);
  addSamplingOptions(cmd, 'most tokens per answer (default: -1, until <end_of_turn> or the context is full)');
  cmd.action(async (o: Record<string, unknown>) => {
    const options: GenerateOptions = { ...samplingFrom(o), maxTokens: (o.maxTokens as number | undefined) ?? -1 };
    checkGenerateOptions(options);
    const model = await loadWithProgress(o.model as string, io, { threads: o.threads as number | undefined, contextLength: o.ctx as number | undefined });
    const chat = model.createChat({ system: o.system as string | undefined });
    const repl = new ChatRepl(chat, io, options);
    const signals = io.signals ?? process;
    const onSigint = () => repl.interrupt();
    signals.on('SIGINT', onSigint);
    try {
      await repl.run();
    } finally {
      signals.off('SIGINT', onSigint);
      chat.dispose();
      await model.dispose();
    }
  });
}
