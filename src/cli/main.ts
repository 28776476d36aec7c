/**
 * The `gemma` command. Bad input ends in a one-line `error: …` and exit code 1; the stack
 * trace is printed only with --verbose.
 */
import { Command, CommanderError } from 'commander';
import { GemmaError } from '../errors.js';
import { processIo, type CliIo } from './io.js';
import * as bench from './commands/bench.js';
import * as convert from './commands/convert.js';
import * as chat from './commands/chat.js';
import * as demo from './commands/demo.js';
import * as generate from './commands/generate.js';
import * as info from './commands/info.js';
import * as mem from './commands/mem.js';
import * as perplexity from './commands/perplexity.js';
import * as serve from './commands/serve.js';
import * as tokenize from './commands/tokenize.js';

export function buildProgram(io: CliIo): Command {
  const program = new Command('gemma')
    .description('Gemma 1 inference in TypeScript: exact, no native binaries')
    .version('0.1.0')
    .option('--verbose', 'print stack traces on errors')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });
  generate.register(program, io);
  chat.register(program, io);
  perplexity.register(program, io);
  info.register(program, io);
  tokenize.register(program);
  demo.register(program, io);
  serve.register(program, io);
  convert.register(program, io);
  mem.register(program, io);
  bench.register(program, io);
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  const verbose = argv.includes('--verbose');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    const err = e as Error;
    if (verbose) io.stderr.write(`${err.stack ?? err}\n`);
    else io.stderr.write(`error: ${err instanceof GemmaError ? err.message : (err.message ?? String(err)).split('\n')[0]}\n`);
    return 1;
  }
}
