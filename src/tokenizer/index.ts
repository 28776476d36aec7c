/**
 * Gemma 1 tokenizer: Hugging Face-identical encoding and decoding from tokenizer.json,
 * tokenizer.model, GGUF metadata or the bundled default vocabulary.
 *
 * This entry adds the Node file loaders to the browser-safe API of browser.ts.
 */
export * from './browser.js';
export { loadTokenizer, loadBundledTokenizer } from './load.js';
