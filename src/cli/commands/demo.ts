import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { createDemoModel, DEMO_CONFIG } from '../../engine/demo.js';
import { parseNumber, type CliIo } from '../io.js';
import { loadWithProgress } from '../load.js';

export function register(program: Command, io: CliIo): void {
  program.command('demo')
    .description('write a tiny RANDOM-weight Gemma (real Gemma vocabulary) and generate with it; its text is gibberish by design')
    .option('--dir <path>', 'where to write the demo model', path.join('models', 'demo'))
    .option('--prompt <text>', 'the prompt', 'The capital of France is')
    .option('-n, --max-tokens <n>', 'tokens to generate', parseNumber('--max-tokens', true), 24)
    .action(async (o: { dir: string; prompt: string; maxTokens: number }) => {
      if (!existsSync(path.join(o.dir, 'config.json'))) {
        io.stderr.write(`writing a tiny random Gemma (${DEMO_CONFIG.numLayers} layers, hidden ${DEMO_CONFIG.hiddenSize}, vocab ${DEMO_CONFIG.vocabSize}) to ${o.dir} …\n`);
        await createDemoModel(o.dir);
      }
      io.stderr.write(`NOTE: ${o.dir} holds random weights, not a trained model: expect gibberish.\n` +
        'Real checkpoints: gemma generate -m <Hugging Face folder or .gguf file> "your prompt"\n\n');
      const model = await loadWithProgress(o.dir, io);
      try {
        io.stdout.write(o.prompt);
        const it = model.stream(o.prompt, { maxTokens: o.maxTokens, temperature: 0, ignoreEos: true });
        let r = await it.next();
        while (!r.done) { io.stdout.write(r.value.text); r = await it.next(); }
        io.stdout.write('\n');
        const { usage, timings } = r.value;
        io.stderr.write(`prompt: ${usage.promptTokens} tokens, ${timings.promptTokensPerSecond.toFixed(1)} tok/s | ` +
          `generation: ${usage.completionTokens} tokens, ${timings.decodeTokensPerSecond.toFixed(1)} tok/s\n`);
      } finally {
        await model.dispose();
      }
    });
}
