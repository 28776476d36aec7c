/**
 * `gemma perplexity -m PATH FILE`: perplexity over a text file as llama.cpp's perplexity tool
 * computes it: the text is tokenized with <bos> (control-token text read as plain text), cut
 * into windows of --ctx tokens (default 512), each evaluated from an empty cache with <bos>
 * first, scoring only the second half of each window. The output has llama.cpp's form:
 * `[1]12.3456,[2]…` then `Final estimate: PPL = 12.3456 +/- 0.12345`.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { DEFAULT_PERPLEXITY_CONTEXT } from '../../engine/perplexity.js';
import { GemmaError } from '../../errors.js';
import { parseNumber, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';

export function register(program: Command, io: CliIo): void {
  program.command('perplexity')
    .description('perplexity of a model over a text file, as llama.cpp\'s perplexity tool computes it (windows of --ctx tokens, second half of each scored)')
    .argument('<file>', 'a UTF-8 text file')
    .requiredOption('-m, --model <path>', 'Hugging Face folder, .safetensors file or .gguf file')
    .option('-c, --ctx <n>', 'window size in tokens; the file needs at least twice as many', parseNumber('--ctx', true), DEFAULT_PERPLEXITY_CONTEXT)
    .option('--chunks <n>', 'score at most n windows (default: all)', parseNumber('--chunks', true))
    .option('-t, --threads <n>', 'worker threads (default: available cores)', parseNumber('--threads', true))
    .action(async (file: string, o: { model: string; ctx: number; chunks?: number; threads?: number }) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        throw new GemmaError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      }
      const model = await loadWithProgress(o.model, io, { threads: o.threads });
      try {
        const ids = model.tokenizer.encode(text, { parseSpecial: false });
        const n = o.ctx;
        const chunks = Number.isInteger(n) && n > 0 ? Math.min(Math.floor(ids.length / n), o.chunks ?? Infinity) : 0;
        if (ids.length >= 2 * n) io.stderr.write(`perplexity: ${ids.length} tokens, ${chunks} windows of ${n} (scoring the last ${n - Math.floor(n / 2) - 1} tokens of each)\n`);
        const r = await model.perplexity(ids, {
          contextSize: n, maxChunks: o.chunks,
          onChunk: ({ chunk, ppl }) => { io.stdout.write(`[${chunk}]${ppl.toFixed(4)},`); },
        });
        io.stdout.write(`\nFinal estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.uncertainty.toFixed(5)}\n`);
        io.stderr.write(`${r.scored} tokens scored, ${r.tokensPerSecond.toFixed(1)} tok/s, ${(r.ms / 1000).toFixed(2)} s\n`);
      } finally {
        await model.dispose();
      }
    });
}
