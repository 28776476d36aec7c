/**
 * The one error type the library throws for bad input (files, options, ids).
 * Its message is a complete, one-line explanation that names the problem
 * (file, tensor, field, limit); the CLI prints only the message unless --verbose.
 */
export class GemmaError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GemmaError';
  }
}
