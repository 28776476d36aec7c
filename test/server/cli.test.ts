/** `gemma serve` in-process: starts, prints its URL, enforces --api-key, stops on SIGTERM with exit code 0. */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { createDemoModel } from '../../src/engine/demo.js';
import { tmpDir } from '../helpers/tiny-models.js';

describe('gemma serve', () => {
  let demo: string;
  beforeAll(async () => {
    demo = path.join(tmpDir(), 'demo');
    await createDemoModel(demo);
  });

  it('serves until SIGTERM; --api-key, --alias, --parallel, --ctx', async () => {
    const stdout = new PassThrough(), stderr = new PassThrough();
    let out = '', err = '';
    stdout.on('data', (d) => (out += d));
    stderr.on('data', (d) => (err += d));
    const signals = new EventEmitter();
    const done = main(['serve', '-m', demo, '--port', '0', '--api-key', 'k1', '--alias', 'tiny', '--parallel', '2', '--ctx', '512'],
      { stdin: new PassThrough(), stdout, stderr, signals } as never);
    const t0 = Date.now();
    while (!/listening on/.test(out)) {
      if (Date.now() - t0 > 30_000 || /error:/.test(err)) throw new Error(`did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(out).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+ \(model tiny, 2 parallel sequences, context 512, API key required\)\n$/);
    const url = /http:\/\/[\d.]+:\d+/.exec(out)![0];
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/v1/models`)).status).toBe(401);
    const models = (await (await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer k1' } })).json()) as { data: unknown[] };
    expect(models.data[0]).toMatchObject({ id: 'tiny', meta: { context_length: 512 } });
    const r = await fetch(`${url}/v1/completions`, {
      method: 'POST', headers: { authorization: 'Bearer k1' }, body: JSON.stringify({ prompt: 'Hi', max_tokens: 2, model: 'tiny' }),
    });
    expect(r.status).toBe(200);
    expect(err).toMatch(/POST \/v1\/completions 200 \d+ ms \| 2\+2 tokens, length/);
    signals.emit('SIGTERM');
    expect(await done).toBe(0);
    expect(err).toMatch(/shutting down/);
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('bad options fail with one line', async () => {
    const stderr = new PassThrough();
    let err = '';
    stderr.on('data', (d) => (err += d));
    const code = await main(['serve', '-m', demo, '--port', '70000'], { stdin: new PassThrough(), stdout: new PassThrough(), stderr, signals: new EventEmitter() } as never);
    expect(code).toBe(1);
    expect(err).toMatch(/^error: port must be an integer in 0\.\.65535/);
  });
});
