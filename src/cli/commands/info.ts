import type { Command } from 'commander';
import { inspectModel } from '../../engine/model.js';
import { formatBytes, type CliIo } from '../io.js';

function formatCount(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(2)} B` : n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : `${n}`;
}

export function register(program: Command, io: CliIo): void {
  program.command('info')
    .description('print a model\'s configuration, tensors and tokenizer without loading its weights')
    .requiredOption('-m, --model <path>', 'Hugging Face folder, .safetensors file or .gguf file')
    .option('--json', 'machine-readable output')
    .action(async (o: { model: string; json?: boolean }) => {
      const info = await inspectModel(o.model);
      if (o.json) {
        io.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      const c = info.config;
      const lines = [
        `path:        ${info.path}`,
        `format:      ${info.format === 'gguf' ? 'GGUF' : 'Hugging Face safetensors'}`,
        `layers:      ${c.numLayers}`,
        `hidden:      ${c.hiddenSize}`,
        `ffn:         ${c.intermediateSize}`,
        `heads:       ${c.numHeads} query × ${c.headDim}, ${c.numKvHeads} KV` +
          (c.numKvHeads === 1 ? ' (multi-query)' : c.numKvHeads === c.numHeads ? ' (multi-head)' : ' (grouped)'),
        `vocab:       ${c.vocabSize}`,
        `context:     ${c.contextLength}`,
        `rms eps:     ${c.rmsNormEps}`,
        `rope theta:  ${c.ropeTheta}`,
        `tensors:     ${info.tensorCount} (${Object.entries(info.types).map(([t, n]) => `${n} ${t}`).join(', ')})`,
        `parameters:  ${formatCount(info.parameters)}`,
        `size:        ${formatBytes(info.bytes)}`,
        `tokenizer:   ${info.tokenizer}`,
      ];
      io.stdout.write(lines.join('\n') + '\n');
    });
}
