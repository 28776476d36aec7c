#!/usr/bin/env node
// The `gemma` command; the TypeScript sources are compiled to dist/ by `npm run build`
// (which `npm ci` runs through the `prepare` script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: gemma-ts is not built yet; run `npm run build` (npm ci does it too)\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
