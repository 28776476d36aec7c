/**
 * Errors as OpenAI's API returns them: `{ "error": { message, type, param, code } }` with the
 * HTTP status that goes with them. Clients (the `openai` package among them) read this shape.
 */
import type { ZodError } from 'zod';
import { GemmaError } from '../errors.js';
import { ContextOverflowError, QueueFullError, SchedulerClosedError } from '../engine/scheduler.js';

export type ErrorType = 'invalid_request_error' | 'server_error';

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly type: ErrorType = 'invalid_request_error',
    readonly code: string | null = null, readonly param: string | null = null, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'ApiError';
  }

  get body(): { error: { message: string; type: ErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = 'invalid_value') =>
  new ApiError(400, message, 'invalid_request_error', code, param);

/** `messages[0].content` from zod's path. */
function paramOf(path: readonly (string | number)[]): string | null {
  if (path.length === 0) return null;
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** The first schema violation, named by its field. */
export function fromZod(e: ZodError): ApiError {
  const issue = e.issues[0]!;
  const param = paramOf(issue.path);
  const code = issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value';
  return badRequest(param ? `Invalid '${param}': ${issue.message}` : `Invalid request body: ${issue.message}`, param, code);
}

/** Maps what the engine throws to a status: bad input is 4xx, anything else 500. */
export function toApiError(e: unknown, promptParam: string): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof QueueFullError) return new ApiError(503, e.message, 'server_error', 'server_busy', null, { 'Retry-After': '1' });
  if (e instanceof SchedulerClosedError) return new ApiError(503, 'the server is shutting down', 'server_error', 'server_shutdown');
  if (e instanceof ContextOverflowError) return badRequest(e.message, promptParam, 'context_length_exceeded');
  if (e instanceof GemmaError) return badRequest(e.message);
  return new ApiError(500, `internal error: ${e instanceof Error ? e.message : String(e)}`, 'server_error', 'internal_error');
}
