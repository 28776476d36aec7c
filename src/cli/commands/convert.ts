import { unlink } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { convertModel, type ConvertProgress } from '../../convert/convert.js';
import { CONVERT_TARGETS } from '../../convert/targets.js';
import { formatBytes, parseNumber, type CliIo } from '../io.js';

interface ConvertCliOptions { output: string; type: string; name?: string; threads?: number }

export function register(program: Command, io: CliIo): void {
  program.command('convert')
    .description('convert a Hugging Face folder or a GGUF file to a (quantized) Gemma GGUF that llama.cpp and gemma-ts load')
    .argument('<source>', 'Hugging Face folder (config.json + safetensors, tokenizer.json / tokenizer.model), .safetensors file or .gguf file')
    .requiredOption('-o, --output <file>', 'the GGUF file to write')
    .requiredOption('--type <type>', `storage type: ${CONVERT_TARGETS.map((t) => t.name).join(', ')} ` +
      '(plain types quantize every matrix alike, as llama-quantize --pure; q4_k_m, q4_k_s, q5_k_m, q5_k_s are llama.cpp\'s mixes)')
    .option('--name <name>', 'general.name in the file (default: the source folder name)')
    .option('-t, --threads <n>', 'worker threads for quantizing (default: all cores when the work is large)', parseNumber('--threads', true))
    .addHelpText('after', '\nExamples:\n  gemma convert gemma-2b-it -o gemma-2b-it-q4_k_m.gguf --type q4_k_m\n  gemma convert gemma-2b-it-f16.gguf -o gemma-2b-it-q8_0.gguf --type q8_0\n')
    .action(async (source: string, o: ConvertCliOptions) => {
      const bar = io.stderr.isTTY
        ? new cliProgress.SingleBar({
          stream: io.stderr as NodeJS.WriteStream, clearOnComplete: true, hideCursor: true,
          format: 'converting {bar} {percentage}% | {value}/{total} MiB | ETA {eta_formatted} | {tensor}',
        }, cliProgress.Presets.shades_classic)
        : undefined;
      let started = false;
      const mib = (n: number) => Math.round(n / 2 ** 20);
      const onProgress = (p: ConvertProgress) => {
        if (!bar) return;
        if (!started) { bar.start(mib(p.totalBytes), 0, { tensor: p.tensor }); started = true; }
        bar.update(mib(p.bytes), { tensor: p.tensor });
      };
      // Ctrl-C: remove the partial output (the finished file only appears on success).
      const onSignal = () => {
        bar?.stop();
        void unlink(`${o.output}.tmp`).catch(() => undefined).finally(() => process.exit(130));
      };
      process.once('SIGINT', onSignal);
      try {
        const r = await convertModel(source, o.output, {
          type: o.type, name: o.name, threads: o.threads, onProgress,
          onWarning: (m) => io.stderr.write(`warning: ${m}\n`),
        });
        if (started) { bar!.stop(); started = false; }
        const types = Object.entries(r.types).map(([t, n]) => `${n} ${t}`).join(', ');
        io.stderr.write(`wrote ${r.output}: ${formatBytes(r.bytes)}, ${r.tensors} tensors (${types}), ` +
          `tokenizer ${r.tokenizer}, in ${r.seconds.toFixed(1)} s on ${r.threads} thread${r.threads === 1 ? '' : 's'}\n`);
      } finally {
        if (started) bar!.stop();
        process.removeListener('SIGINT', onSignal);
      }
    });
}
