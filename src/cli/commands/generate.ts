import { Command, Option } from 'commander';
import type { GenerateOptions } from '../../engine/types.js';
import { parseNumber, readAll, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';

/** Options shared by commands that load a model and sample from it. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-m, --model <path>', 'Hugging Face folder, .safetensors file or .gguf file')
    .option('-t, --threads <n>', 'worker threads (default: available cores)', parseNumber('--threads', true))
    .option('-c, --ctx <n>', 'context length (default: the model\'s, 8192 for Gemma 1)', parseNumber('--ctx', true));
}

export function addSamplingOptions(cmd: Command): Command {
  return cmd
    .option('-n, --max-tokens <n>', 'most tokens to generate', parseNumber('--max-tokens', true), 256)
    .option('--temperature <t>', '0 = greedy', parseNumber('--temperature'), 0.8)
    .option('--top-k <k>', '0 = off', parseNumber('--top-k', true), 40)
    .option('--top-p <p>', '1 = off', parseNumber('--top-p'), 0.95)
    .option('--min-p <p>', '0 = off', parseNumber('--min-p'), 0.05)
    .option('--seed <n>', 'sampling seed (default: random)', parseNumber('--seed', true))
    .addOption(new Option('--stop <text...>', 'stop strings (not included in the output)'))
    .option('--ignore-eos', 'keep generating past <eos> / <end_of_turn>');
}

export function samplingFrom(o: Record<string, unknown>): GenerateOptions {
  return {
    maxTokens: o.maxTokens as number, temperature: o.temperature as number, topK: o.topK as number,
    topP: o.topP as number, minP: o.minP as number, seed: o.seed as number | undefined,
    stop: o.stop as string[] | undefined, ignoreEos: o.ignoreEos === true,
  };
}

export function register(program: Command, io: CliIo): void {
  const cmd = program.command('generate')
    .description('generate text from a prompt, streaming it to stdout')
    .argument('[prompt]', 'the prompt (read from stdin when omitted)')
    .option('--chat', 'wrap the prompt in the Gemma chat template as a user turn');
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.action(async (promptArg: string | undefined, o: Record<string, unknown>) => {
    const prompt = promptArg ?? (await readAll(io.stdin));
    const model = await loadWithProgress(o.model as string, io, { threads: o.threads as number | undefined, contextLength: o.ctx as number | undefined });
    try {
      const input = o.chat ? [{ role: 'user' as const, content: prompt }] : prompt;
      const it = model.stream(input, samplingFrom(o));
      let r = await it.next();
      while (!r.done) {
        io.stdout.write(r.value.text);
        r = await it.next();
      }
      const { usage, timings, finishReason } = r.value;
      io.stdout.write('\n');
      io.stderr.write(
        `prompt: ${usage.promptTokens} tokens, ${timings.promptTokensPerSecond.toFixed(1)} tok/s | ` +
        `generation: ${usage.completionTokens} tokens, ${timings.decodeTokensPerSecond.toFixed(1)} tok/s | ` +
        `finish: ${finishReason}\n`,
      );
    } finally {
      await model.dispose();
    }
  });
}
