/** Small HTTP helpers on node:http: bounded JSON bodies, JSON replies, server-sent events. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './errors.js';

/** Bytes of an oversized body read and discarded before the connection is closed instead. */
const DRAIN_LIMIT = 64 * 2 ** 20;

/**
 * Reads the request body as JSON. More than `limit` bytes is refused with 413, after reading
 * and discarding the rest of the body (up to 64 MiB) so that the client, still sending, gets to
 * read the reply; beyond that the connection is closed. The content type is not checked:
 * `curl -d` sends JSON as application/x-www-form-urlencoded.
 */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const tooLarge = (close: boolean) => new ApiError(413, `the request body exceeds the limit of ${limit} bytes`, 'invalid_request_error',
    'request_too_large', null, close ? { Connection: 'close' } : {});
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit + DRAIN_LIMIT) return Promise.reject(tooLarge(true));
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else {
        chunks = [];
        if (size > limit + DRAIN_LIMIT) {
          req.pause();
          reject(tooLarge(true));
        }
      }
    });
    req.on('error', reject);
    req.on('close', () => { if (!req.complete) reject(new ApiError(400, 'the request body was cut off', 'invalid_request_error', 'incomplete_body')); });
    req.on('end', () => {
      if (size > limit) return reject(tooLarge(false));
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return reject(new ApiError(400, 'the request body is empty; send a JSON object', 'invalid_request_error', 'invalid_json'));
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new ApiError(400, `the request body is not valid JSON: ${(e as Error).message}`, 'invalid_request_error', 'invalid_json'));
      }
    });
  });
}

/** Refuses an oversized body before the client sends it (`Expect: 100-continue`, as curl sends for large bodies). */
export function checkContinue(req: IncomingMessage, res: ServerResponse, limit: number): boolean {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    sendJson(res, 413, new ApiError(413, `the request body exceeds the limit of ${limit} bytes`, 'invalid_request_error', 'request_too_large').body,
      { Connection: 'close' });
    return false;
  }
  res.writeContinue();
  return true;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(data), ...headers });
  res.end(data);
}

export function sendError(res: ServerResponse, e: ApiError): void {
  sendJson(res, e.status, e.body, e.headers);
}

/** A server-sent event stream (`data: JSON\n\n` … `data: [DONE]\n\n`) that respects backpressure. */
export class EventStream {
  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
  }

  /** False once the client is gone. */
  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  async send(data: unknown): Promise<void> {
    await this.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
  }

  private async write(s: string): Promise<void> {
    if (!this.open) return;
    if (this.res.write(s)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  end(): void {
    if (this.open) this.res.end();
  }
}
