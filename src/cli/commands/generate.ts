import { Command, InvalidArgumentError, Option } from 'commander';
import type { GenerateOptions, GenerateResult, TokenLogprob } from '../../engine/types.js';
import { SAMPLING_DEFAULTS } from '../../sampling/sampler.js';
import { parseNumber, readAll, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';

/** Options shared by commands that load a model and sample from it. */
export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-m, --model <path>', 'Hugging Face folder, .safetensors file or .gguf file')
    .option('-t, --threads <n>', 'worker threads (default: available cores)', parseNumber('--threads', true))
    .option('-c, --ctx <n>', 'context length (default: the model\'s, 8192 for Gemma 1)', parseNumber('--ctx', true));
}

/** `TOKEN+BIAS`, `TOKEN-BIAS` (llama.cpp's form; BIAS may be `inf`) or `TOKEN=BIAS`. */
function parseLogitBias(v: string, previous: Record<number, number> = {}): Record<number, number> {
  const m = /^\s*(\d+)\s*(=\s*([+-]?)|([+-]))\s*(inf|\d+(?:\.\d*)?(?:e[+-]?\d+)?|\.\d+)\s*$/i.exec(v);
  if (!m) throw new InvalidArgumentError('--logit-bias expects TOKEN+BIAS, TOKEN-BIAS or TOKEN=BIAS (e.g. 15043+1.5, 1-inf).');
  const sign = (m[3] ?? m[4]) === '-' ? -1 : 1;
  const size = m[5].toLowerCase() === 'inf' ? Infinity : Number(m[5]);
  return { ...previous, [Number(m[1])]: sign * size };
}

/** Sampling and stopping options, with llama.cpp's CLI defaults. */
export function addSamplingOptions(cmd: Command, maxTokensHelp = 'most tokens to generate; -1: until the context is full (default: 256, fewer if the context is fuller)'): Command {
  const d = SAMPLING_DEFAULTS;
  return cmd
    .option('-n, --max-tokens <n>', maxTokensHelp, parseNumber('--max-tokens', true))
    .option('--temperature <t>', '0 = greedy', parseNumber('--temperature'), d.temperature)
    .option('--top-k <k>', 'keep the k most likely tokens; 0 = off', parseNumber('--top-k', true), d.topK)
    .option('--top-p <p>', 'nucleus: keep the most likely tokens up to probability p; 1 = off', parseNumber('--top-p'), d.topP)
    .option('--min-p <p>', 'drop tokens less likely than p × the most likely; 0 = off', parseNumber('--min-p'), d.minP)
    .option('--typical-p <p>', 'locally typical sampling; 1 = off', parseNumber('--typical-p'), d.typicalP)
    .option('--repeat-penalty <x>', 'penalise tokens among the last --repeat-last-n; 1 = off', parseNumber('--repeat-penalty'), d.repeatPenalty)
    .option('--repeat-last-n <n>', 'tokens the penalties look at (prompt included); 0 = off, -1 = all', parseNumber('--repeat-last-n', true), d.repeatLastN)
    .option('--presence-penalty <x>', 'subtracted once from tokens among the last --repeat-last-n', parseNumber('--presence-penalty'), d.presencePenalty)
    .option('--frequency-penalty <x>', 'subtracted per occurrence among the last --repeat-last-n', parseNumber('--frequency-penalty'), d.frequencyPenalty)
    .option('--logit-bias <bias>', 'add BIAS to a token\'s logit: TOKEN+BIAS, TOKEN-BIAS, TOKEN=BIAS, TOKEN-inf bans it (repeatable)', parseLogitBias)
    .option('--seed <n>', 'sampling seed, 0..4294967295 (default: random; generate prints the one used)', parseNumber('--seed', true))
    .addOption(new Option('--stop <text...>', 'stop strings (not included in the output)'))
    .option('--ignore-eos', 'never end at <eos> / <end_of_turn> (they are banned)');
}

export function samplingFrom(o: Record<string, unknown>): GenerateOptions {
  const num = (k: string) => o[k] as number | undefined;
  return {
    maxTokens: num('maxTokens'), temperature: num('temperature'), topK: num('topK'), topP: num('topP'), minP: num('minP'),
    typicalP: num('typicalP'), repeatPenalty: num('repeatPenalty'), repeatLastN: num('repeatLastN'),
    presencePenalty: num('presencePenalty'), frequencyPenalty: num('frequencyPenalty'),
    logitBias: o.logitBias as Record<number, number> | undefined, seed: num('seed'),
    stop: o.stop as string[] | undefined, ignoreEos: o.ignoreEos === true,
  };
}

/** `prompt: 6 tokens (2 reused), 410.2 tok/s | generation: 12 tokens, 30.1 tok/s`. */
export function formatSpeeds(r: GenerateResult): string {
  const { usage, timings } = r;
  return `prompt: ${usage.promptTokens} tokens${usage.cachedTokens > 0 ? ` (${usage.cachedTokens} reused)` : ''}, ` +
    `${timings.promptTokensPerSecond.toFixed(1)} tok/s | ` +
    `generation: ${usage.completionTokens} tokens, ${timings.decodeTokensPerSecond.toFixed(1)} tok/s`;
}

function formatLogprobs(lps: TokenLogprob[]): string {
  const show = (s: string) => JSON.stringify(s);
  return lps.map((t) => `${show(t.text).padEnd(16)} ${t.logprob.toFixed(4).padStart(9)}` +
    (t.topLogprobs.length > 0 ? `  | ${t.topLogprobs.map((a) => `${show(a.text)} ${a.logprob.toFixed(4)}`).join(', ')}` : '')).join('\n') + '\n';
}

export function register(program: Command, io: CliIo): void {
  const cmd = program.command('generate')
    .description('generate text from a prompt, streaming it to stdout (sampling defaults are llama.cpp\'s)')
    .argument('[prompt]', 'the prompt (read from stdin when omitted)')
    .option('--chat', 'wrap the prompt in the Gemma chat template as a user turn')
    .option('--logprobs <n>', 'also report each token\'s log-probability and the n most likely alternatives (0..20)', parseNumber('--logprobs', true))
    .option('--json', 'print the whole result (text, tokens, finish reason, usage, timings, logprobs) as JSON instead of streaming');
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.action(async (promptArg: string | undefined, o: Record<string, unknown>) => {
    const prompt = promptArg ?? (await readAll(io.stdin));
    const model = await loadWithProgress(o.model as string, io, { threads: o.threads as number | undefined, contextLength: o.ctx as number | undefined });
    try {
      const input = o.chat ? [{ role: 'user' as const, content: prompt }] : prompt;
      const options = { ...samplingFrom(o), logprobs: o.logprobs as number | undefined };
      if (o.json) {
        io.stdout.write(JSON.stringify(await model.generate(input, options)) + '\n');
        return;
      }
      const it = model.stream(input, options);
      let r = await it.next();
      while (!r.done) {
        io.stdout.write(r.value.text);
        r = await it.next();
      }
      io.stdout.write('\n');
      if (r.value.logprobs) io.stderr.write(formatLogprobs(r.value.logprobs));
      io.stderr.write(`${formatSpeeds(r.value)} | finish: ${r.value.finishReason} | seed: ${r.value.seed}\n`);
    } finally {
      await model.dispose();
    }
  });
}
