/** Loads a model for a command, with a progress bar on a terminal. */
import cliProgress from 'cli-progress';
import { loadModel, type LoadOptions, type Model } from '../engine/model.js';
import type { CliIo } from './io.js';

export async function loadWithProgress(path: string, io: CliIo, o: Omit<LoadOptions, 'onProgress'> = {}): Promise<Model> {
  if (!io.stderr.isTTY) return loadModel(path, o);
  const bar = new cliProgress.SingleBar({
    stream: io.stderr as NodeJS.WriteStream, clearOnComplete: true, hideCursor: true,
    format: 'loading {bar} {percentage}% | {value}/{total} MiB',
  }, cliProgress.Presets.shades_classic);
  let started = false;
  try {
    return await loadModel(path, {
      ...o,
      onProgress: ({ loaded, total }) => {
        const mib = (n: number) => Math.round(n / 2 ** 20);
        if (!started) { bar.start(mib(total), 0); started = true; }
        bar.update(mib(loaded));
      },
    });
  } finally {
    if (started) bar.stop();
  }
}
