/**
 * The OpenAI-compatible HTTP server (node:http): routing, API keys, the small endpoints, and
 * one Scheduler that batches every generation (see engine/scheduler.ts).
 *
 *   GET  /health                 no key needed
 *   GET  /v1/models, /v1/models/{id}
 *   POST /v1/chat/completions, /v1/completions   (also without the /v1 prefix, as llama-server)
 *   POST /tokenize, /detokenize  (llama-server's)
 *
 * Bad input gets a 4xx with OpenAI's error shape; a 500 means a bug or a failing backend.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { GemmaError } from '../errors.js';
import { Scheduler, SCHEDULER_DEFAULTS, type SchedulerHost } from '../engine/scheduler.js';
import type { Tokenizer } from '../tokenizer/types.js';
import { ApiError, fromZod, toApiError } from './errors.js';
import { checkContinue, readJson, sendError, sendJson } from './http.js';
import { planChat, planCompletion, respond, type CompletionContext } from './openai.js';
import { detokenizeRequest, tokenizeRequest } from './schemas.js';

/** What the server needs from a loaded model (a `Model` from loadModel). */
export interface ServedModel extends SchedulerHost {
  readonly tokenizer: Tokenizer;
  readonly info?: { readonly path: string };
}

export interface ServerOptions {
  /** Interface to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Port (default 8080; 0 picks a free one, see GemmaServer.port). */
  port?: number;
  /** When set, every endpoint but /health needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** Sequences generated together, each with its own KV cache (default 4). */
  parallel?: number;
  /** Tokens per sequence, prompt and answer (default: the model's context length as loaded). */
  contextLength?: number;
  /** Requests that may wait for a free sequence; more get 503 (default 64). */
  maxQueue?: number;
  /** Most prompt tokens evaluated per step beside the decoding sequences (default 64). */
  prefillChunk?: number;
  /** Largest request body in bytes (default 4 MiB); larger ones get 413. */
  maxBodyBytes?: number;
  /** The model's name in /v1/models and responses (default: the checkpoint's file or folder name). */
  modelId?: string;
  /** max_tokens when a request gives none (default −1: until a stop or the context is full, as llama-server). */
  defaultMaxTokens?: number;
  /** One line per request (method, path, status, time, tokens). */
  log?: (line: string) => void;
}

export interface GemmaServer {
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly modelId: string;
  readonly scheduler: Scheduler;
  readonly http: Server;
  /** Stops listening, ends running generations and closes connections. The model stays loaded. */
  close(): Promise<void>;
}

const DEFAULT_BODY_LIMIT = 4 * 2 ** 20;
const CREATED = Math.floor(Date.now() / 1000);

function defaultModelId(model: ServedModel): string {
  const p = model.info?.path;
  if (!p) return 'gemma';
  const base = path.basename(p.replace(/[\\/]+$/, ''));
  return base.replace(/\.(gguf|safetensors)$/i, '') || 'gemma';
}

function keyMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1].trim()), digest(key));
}

const notFound = (method: string, url: string) =>
  new ApiError(404, `Unknown request URL: ${method} ${url}`, 'invalid_request_error', 'unknown_url');

/** Starts serving `model` (not disposed by close()). */
export async function startServer(model: ServedModel, o: ServerOptions = {}): Promise<GemmaServer> {
  if (typeof o !== 'object' || o === null) throw new GemmaError('server options must be an object');
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new GemmaError(`port must be an integer in 0..65535, got ${String(o.port)}`);
  if (o.apiKey !== undefined && (typeof o.apiKey !== 'string' || o.apiKey.trim() === '')) throw new GemmaError('apiKey must be a non-empty string');
  const maxBody = o.maxBodyBytes ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(maxBody) || maxBody < 1) throw new GemmaError(`maxBodyBytes must be a positive integer, got ${String(o.maxBodyBytes)}`);
  const defaultMaxTokens = o.defaultMaxTokens ?? -1;
  if (!Number.isInteger(defaultMaxTokens) || defaultMaxTokens < -1) throw new GemmaError(`defaultMaxTokens must be an integer ≥ -1, got ${String(o.defaultMaxTokens)}`);
  const modelId = o.modelId ?? defaultModelId(model);
  if (typeof modelId !== 'string' || modelId === '') throw new GemmaError('modelId must be a non-empty string');

  const scheduler = new Scheduler(model, {
    parallel: o.parallel ?? SCHEDULER_DEFAULTS.parallel, contextLength: o.contextLength, maxQueue: o.maxQueue, prefillChunk: o.prefillChunk,
  });
  const tokenizer = model.tokenizer;
  const vocab = model.runtime.config.vocabSize;
  const ctx: CompletionContext = { scheduler, tokenizer, modelId, defaultMaxTokens };
  const modelObject = { id: modelId, object: 'model', created: CREATED, owned_by: 'gemma-ts', meta: { context_length: scheduler.contextLength, vocab_size: vocab } };
  const log = o.log;

  async function route(req: IncomingMessage, res: ServerResponse): Promise<{ tokens?: string }> {
    const method = req.method ?? 'GET';
    const url = (req.url ?? '/').split('?')[0];
    const p = url.replace(/\/+$/, '') || '/';
    const only = (allowed: string) => {
      if (method !== allowed) throw new ApiError(405, `${method} is not allowed on ${p}; use ${allowed}`, 'invalid_request_error', 'method_not_allowed', null, { Allow: allowed });
    };
    if (p === '/health' || p === '/v1/health') {
      only('GET');
      const s = scheduler.stats;
      sendJson(res, 200, { status: 'ok', slots_idle: s.slots - s.busy, slots_processing: s.busy, requests_queued: s.queued });
      return {};
    }
    if (o.apiKey !== undefined && !keyMatches(req.headers.authorization, o.apiKey)) {
      throw new ApiError(401, req.headers.authorization ? 'Incorrect API key provided' : 'Missing API key: send the header Authorization: Bearer <key>',
        'invalid_request_error', 'invalid_api_key', null, { 'WWW-Authenticate': 'Bearer' });
    }
    switch (p) {
      case '/v1/models': case '/models':
        only('GET');
        sendJson(res, 200, { object: 'list', data: [modelObject] });
        return {};
      case '/v1/chat/completions': case '/chat/completions':
      case '/v1/completions': case '/completions': {
        only('POST');
        const body = await readJson(req, maxBody);
        const plan = p.endsWith('chat/completions') ? planChat(ctx, body) : planCompletion(ctx, body);
        const { result } = await respond(ctx, plan, res, req);
        return { tokens: result ? `${result.usage.promptTokens}+${result.usage.completionTokens} tokens, ${result.finishReason}` : undefined };
      }
      case '/tokenize': {
        only('POST');
        const parsed = tokenizeRequest.safeParse(await readJson(req, maxBody));
        if (!parsed.success) throw fromZod(parsed.error);
        const r = parsed.data;
        const ids = tokenizer.encode(r.content, { addBos: r.add_special ?? false, parseSpecial: r.parse_special ?? true });
        sendJson(res, 200, { tokens: r.with_pieces ? ids.map((id) => ({ id, piece: tokenizer.decode([id]) })) : ids });
        return {};
      }
      case '/detokenize': {
        only('POST');
        const parsed = detokenizeRequest.safeParse(await readJson(req, maxBody));
        if (!parsed.success) throw fromZod(parsed.error);
        const bad = parsed.data.tokens.findIndex((id) => id < 0 || id >= vocab);
        if (bad >= 0) {
          throw new ApiError(400, `Invalid 'tokens[${bad}]': ${parsed.data.tokens[bad]} is outside the vocabulary (0..${vocab - 1})`,
            'invalid_request_error', 'invalid_value', `tokens[${bad}]`);
        }
        sendJson(res, 200, { content: tokenizer.decode(parsed.data.tokens) });
        return {};
      }
    }
    if (p.startsWith('/v1/models/')) {
      only('GET');
      const id = decodeURIComponent(p.slice('/v1/models/'.length));
      if (id !== modelId) throw new ApiError(404, `The model '${id}' does not exist`, 'invalid_request_error', 'model_not_found', 'model');
      sendJson(res, 200, modelObject);
      return {};
    }
    throw notFound(method, url);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    let status = 0, note: string | undefined;
    try {
      note = (await route(req, res)).tokens;
      status = res.statusCode;
    } catch (e) {
      const err = e instanceof ApiError ? e : toApiError(e, 'prompt');
      status = err.status;
      note = err.status >= 500 ? err.message : undefined;
      sendError(res, err);
    }
    if (log) log(`${req.method} ${req.url} ${res.destroyed && !res.writableFinished ? 'client gone' : status} ${(performance.now() - t0).toFixed(0)} ms${note ? ` | ${note}` : ''}`);
  }

  const server = createServer({ keepAlive: true }, (req, res) => void handle(req, res));
  server.on('checkContinue', (req, res) => { if (checkContinue(req, res, maxBody)) void handle(req, res); });
  server.on('clientError', (_e, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => { server.off('error', reject); resolve(); });
    });
  } catch (e) {
    await scheduler.close();
    const err = e as NodeJS.ErrnoException;
    throw new GemmaError(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`, { cause: e });
  }
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`, host: address.address, port: address.port, modelId, scheduler, http: server,
    close: () => (closing ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await scheduler.close(); // running requests end ('abort'): streams get an error event, others 503
      await new Promise((r) => setTimeout(r, 50)); // let those replies flush
      server.closeAllConnections();
      await closed;
    })()),
  };
}
