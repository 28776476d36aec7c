/**
 * `gemma serve`: the OpenAI-compatible HTTP server (src/server) with continuous batching.
 * Prints `listening on http://HOST:PORT …` to stdout once it accepts requests, one line per
 * request to stderr (unless --quiet), and shuts down cleanly on SIGINT or SIGTERM.
 */
import type { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import { SCHEDULER_DEFAULTS } from '../../engine/scheduler.js';
import { GemmaError } from '../../errors.js';
import { startServer } from '../../server/server.js';
import { parseNumber, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';
import { addModelOptions } from './generate.js';

/** A CliIo that may bring its own source of SIGINT/SIGTERM (tests); otherwise the process's. */
export interface ServeIo extends CliIo {
  signals?: EventEmitter;
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export function register(program: Command, io: ServeIo): void {
  const cmd = program.command('serve')
    .description('serve a model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, streaming, continuous batching)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .option('--port <n>', 'port (0: any free one)', parseNumber('--port', true), 8080)
    .option('--api-key <key>', 'require "Authorization: Bearer KEY" on every endpoint but /health (default: $GEMMA_API_KEY)')
    .option('--parallel <n>', 'sequences generated together, each with its own KV cache', parseNumber('--parallel', true), SCHEDULER_DEFAULTS.parallel)
    .option('--prefill-chunk <n>', 'most prompt tokens evaluated per step beside the decoding sequences', parseNumber('--prefill-chunk', true), SCHEDULER_DEFAULTS.prefillChunk)
    .option('--max-queue <n>', 'requests that may wait for a free sequence; more get 503', parseNumber('--max-queue', true), SCHEDULER_DEFAULTS.maxQueue)
    .option('-n, --max-tokens <n>', 'max_tokens for requests that give none; -1: until a stop or the context is full', parseNumber('--max-tokens', true), -1)
    .option('--alias <name>', 'model name in /v1/models and responses (default: the file or folder name)')
    .option('--max-body <bytes>', 'largest request body', parseNumber('--max-body', true), 4 * 2 ** 20)
    .option('--quiet', 'no per-request log lines');
  addModelOptions(cmd);
  cmd.addHelpText('after', '\n-c/--ctx is the context of each sequence (prompt and answer); KV caches grow on demand up to it.');
  cmd.action(async (o: Record<string, unknown>) => {
    const apiKey = (o.apiKey as string | undefined) ?? (process.env.GEMMA_API_KEY || undefined);
    const host = o.host as string;
    // Checked before the model loads (startServer checks them all again).
    const port = o.port as number, parallel = o.parallel as number;
    if (port < 0 || port > 65535) throw new GemmaError(`port must be an integer in 0..65535, got ${port}`);
    if (parallel < 1 || parallel > 64) throw new GemmaError(`parallel must be an integer in 1..64, got ${parallel}`);
    const model = await loadWithProgress(o.model as string, io, { threads: o.threads as number | undefined, contextLength: o.ctx as number | undefined });
    let server;
    try {
      server = await startServer(model, {
        host, port, apiKey, parallel, maxQueue: o.maxQueue as number, prefillChunk: o.prefillChunk as number,
        defaultMaxTokens: o.maxTokens as number, modelId: o.alias as string | undefined, maxBodyBytes: o.maxBody as number,
        log: o.quiet ? undefined : (line) => io.stderr.write(`${new Date().toISOString()} ${line}\n`),
      });
    } catch (e) {
      await model.dispose();
      throw e;
    }
    if (!isLoopback(host) && apiKey === undefined) {
      io.stderr.write(`warning: listening on ${host} without --api-key: anyone who can reach this port can use the model\n`);
    }
    const s = server.scheduler;
    io.stdout.write(`listening on ${server.url} (model ${server.modelId}, ${s.parallel} parallel sequences, context ${s.contextLength}` +
      `${apiKey !== undefined ? ', API key required' : ''})\n`);
    const signals = io.signals ?? process;
    await new Promise<void>((resolve) => {
      const stop = () => {
        signals.off('SIGINT', stop);
        signals.off('SIGTERM', stop);
        resolve();
      };
      signals.on('SIGINT', stop);
      signals.on('SIGTERM', stop);
    });
    io.stderr.write('shutting down\n');
    await server.close();
    await model.dispose();
  });
}
