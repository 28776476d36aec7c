/** `gemma perplexity` on the demo model (real tokenizer): llama.cpp's output format and figures. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createDemoModel } from '../../src/engine/demo.js';
import { loadModel } from '../../src/engine/model.js';
import { tmpDir } from '../helpers/tiny-models.js';
import { runCli } from '../helpers/cli.js';

const run = runCli;

describe('gemma perplexity', () => {
  let demo: string, text: string;
  const dir = tmpDir();
  beforeAll(async () => {
    demo = path.join(dir, 'demo');
    await createDemoModel(demo);
    text = 'The quick brown fox jumps over the lazy dog. '.repeat(12);
    writeFileSync(path.join(dir, 'text.txt'), text);
    writeFileSync(path.join(dir, 'short.txt'), 'Too short.');
  });

  it('prints running values and the final estimate as llama.cpp does, equal to Model.perplexity', async () => {
    const r = await run(['perplexity', '-m', demo, path.join(dir, 'text.txt'), '-c', '32', '--chunks', '3']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\[1\]\d+\.\d{4},\[2\]\d+\.\d{4},\[3\]\d+\.\d{4},\nFinal estimate: PPL = \d+\.\d{4} \+\/- \d+\.\d{5}\n$/);
    expect(r.err).toMatch(/perplexity: \d+ tokens, 3 windows of 32 \(scoring the last 15 tokens of each\)/);
    expect(r.err).toMatch(/45 tokens scored, [\d.]+ tok\/s/);
    const model = await loadModel(demo);
    const res = await model.perplexity(text, { contextSize: 32, maxChunks: 3 });
    await model.dispose();
    expect(r.out).toContain(`Final estimate: PPL = ${res.ppl.toFixed(4)} +/- ${res.uncertainty.toFixed(5)}`);
    expect(r.out.startsWith(`[1]${res.runningPpl[0].toFixed(4)},`)).toBe(true);
  });

  it('bad input: one-line errors', async () => {
    for (const [argv, re] of [
      [['perplexity', '-m', demo, path.join(dir, 'nope.txt')], /^error: cannot read .*nope\.txt: no such file\n$/],
      [['perplexity', '-m', demo, path.join(dir, 'short.txt')], /^error: perplexity with a context of 512 tokens needs at least 1024 tokens; the input has \d+\n$/],
      [['perplexity', '-m', demo, path.join(dir, 'text.txt'), '-c', 'x'], /^error: .*--ctx expects an integer/],
    ] as [string[], RegExp][]) {
      const r = await run(argv);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(re);
    }
    const h = await run(['perplexity', '--help']);
    expect(h.out).toMatch(/Usage: gemma perplexity/);
  });
});
