import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { GemmaError } from '../../errors.js';
import { loadTokenizer } from '../../tokenizer/load.js';
import type { Tokenizer } from '../../tokenizer/types.js';
import { processIo, type CliIo } from '../io.js';

interface TokenizeOptions {
  model?: string;
  bos: boolean;
  special: boolean;
  jsonl?: boolean;
  json?: boolean;
}

/** A piece with control characters escaped, so each fits on one line. */
function showPiece(piece: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(piece) ? JSON.stringify(piece).slice(1, -1) : piece;
}

async function write(io: CliIo, s: string): Promise<void> {
  if (!io.stdout.write(s)) await once(io.stdout, 'drain');
}

/** `{"text": …}` per stdin line → `{"ids": […]}` per stdout line; blank lines are skipped. */
async function runJsonl(tok: Tokenizer, io: CliIo, o: TokenizeOptions): Promise<void> {
  const lines = createInterface({ input: io.stdin, crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new GemmaError(`stdin line ${n}: not valid JSON: ${(e as Error).message}`);
    }
    const text = (record as { text?: unknown } | null)?.text;
    if (typeof text !== 'string') throw new GemmaError(`stdin line ${n}: expected an object with a string "text" field`);
    await write(io, JSON.stringify({ ids: tok.encode(text, { addBos: o.bos, parseSpecial: o.special }) }) + '\n');
  }
}

export function register(program: Command, io: CliIo = processIo): void {
  program
    .command('tokenize')
    .description('print the token ids and pieces of a text (Gemma 1 vocabulary unless --model)')
    .argument('[text]', 'the text to tokenize (omit with --jsonl)')
    .option('-m, --model <path>', 'tokenizer.json, tokenizer.model, .gguf file or Hugging Face folder (default: bundled Gemma 1)')
    .option('--no-bos', 'do not prepend <bos>')
    .option('--no-special', 'tokenize control-token text such as <start_of_turn> as plain text')
    .option('--jsonl', 'batch mode: read {"text": …} lines on stdin, write {"ids": […]} lines')
    .option('--json', 'print {"ids": […], "pieces": […]}')
    .action(async (text: string | undefined, o: TokenizeOptions) => {
      if (o.jsonl && text !== undefined) throw new GemmaError('tokenize: give either a text argument or --jsonl, not both');
      if (!o.jsonl && text === undefined) throw new GemmaError('tokenize: missing text (or use --jsonl to read stdin)');
      const tok = await loadTokenizer(o.model);
      if (o.jsonl) return runJsonl(tok, io, o);
      const ids = tok.encode(text!, { addBos: o.bos, parseSpecial: o.special });
      const pieces = ids.map((id) => tok.idToPiece(id));
      if (o.json) {
        io.stdout.write(JSON.stringify({ ids, pieces }) + '\n');
        return;
      }
      const width = Math.max(1, ...ids.map((id) => String(id).length));
      const rows = ids.map((id, i) => `${String(id).padStart(width)}  ${showPiece(pieces[i]!)}`);
      io.stdout.write([`${ids.length} tokens: [${ids.join(', ')}]`, ...rows].join('\n') + '\n');
    });
}
