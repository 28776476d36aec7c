/**
 * A multi-turn chat that keeps its KV cache between turns.
 *
 * Each turn renders the whole conversation with the chat template, compares the resulting ids
 * with the tokens already in the cache and evaluates only what differs: a new turn costs only its
 * own tokens, and a conversation edited in the middle (or a different one sharing a beginning)
 * costs only the tokens from the first difference on.
 *
 * The assistant turns this session generated keep the exact tokens that were sampled. Sampling
 * may split a text into tokens differently from the tokenizer (" the" as " t" + "he"); rendering
 * the template afresh would then disagree with the cache inside every earlier answer. So when an
 * assistant message still has the text this session generated for it, and the tokens decode to
 * exactly the text the template puts there (trimmed), those tokens stand in for the template's
 * own tokenization of it. Otherwise (the message was edited, generation stopped at a stop string
 * mid-token, …) the template's tokens are used and the cache is reused up to the difference.
 */
import { GemmaError } from '../errors.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/types.js';
import { generateTokens } from './generate.js';
import type { Session } from './session.js';
import type { GenerateOptions, GenerateResult, StreamChunk } from './types.js';

/** What a chat needs from a model. */
export interface ChatHost {
  readonly tokenizer: Tokenizer;
  createSession(): Session;
}

export interface ChatSessionOptions {
  /** A system prompt (merged into the first user turn, as Gemma has no system role). */
  system?: string;
}

interface AssistantRecord {
  /** Position of the assistant message in the conversation. */
  index: number;
  /** The messages before it when it was generated. */
  prefix: readonly ChatMessage[];
  content: string;
  tokens: readonly number[];
}

export interface PrefillResult {
  /** Logits after the last prompt token. */
  logits: Float32Array;
  /** Prompt tokens in all. */
  promptTokens: number;
  /** Prompt tokens reused from the cache. */
  cachedTokens: number;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

function sameMessages(a: readonly ChatMessage[], b: readonly ChatMessage[], n: number): boolean {
  if (a.length < n || b.length < n) return false;
  for (let i = 0; i < n; i++) if (a[i].role !== b[i].role || a[i].content !== b[i].content) return false;
  return true;
}

function copyMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  if (!Array.isArray(messages)) throw new GemmaError('chat messages must be a string or an array of messages');
  return messages.map((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.content !== 'string') throw new GemmaError(`chat message ${i} has no string content`);
    return { role: m.role, content: m.content };
  });
}

export class ChatSession {
  private readonly session: Session;
  private conversation: ChatMessage[] = [];
  private records: AssistantRecord[] = [];
  private busy = false;

  constructor(private readonly host: ChatHost, o: ChatSessionOptions = {}) {
    if (o.system !== undefined && typeof o.system !== 'string') throw new GemmaError('system must be a string');
    this.session = host.createSession();
    if (o.system) this.conversation = [{ role: 'system', content: o.system }];
  }

  /** The conversation so far (system messages included). */
  get messages(): readonly ChatMessage[] {
    return this.conversation;
  }

  /** The system prompt (the leading system message), if any. */
  get system(): string | undefined {
    return this.conversation[0]?.role === 'system' ? this.conversation[0].content : undefined;
  }

  /** Tokens in the KV cache. */
  get tokens(): readonly number[] {
    return this.session.tokens;
  }

  get contextLength(): number {
    return this.session.contextLength;
  }

  /** Forgets the turns, keeping the system prompt. The cache is kept, so a shared beginning is reused. */
  reset(): void {
    this.assertIdle();
    const system = this.system;
    this.conversation = system !== undefined ? [{ role: 'system', content: system }] : [];
    this.records = [];
  }

  /** Sets (or, with undefined or '', removes) the system prompt and starts a new conversation. */
  setSystem(text: string | undefined): void {
    this.assertIdle();
    if (text !== undefined && typeof text !== 'string') throw new GemmaError('system must be a string');
    this.conversation = text ? [{ role: 'system', content: text }] : [];
    this.records = [];
  }

  /**
   * Prompt ids for `messages` (the template, with this session's generated answers kept as
   * sampled where they still apply; see the module comment).
   */
  encode(messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
    const tok = this.host.tokenizer;
    const canon = tok.encodeChat(messages, { addGenerationPrompt });
    const out: number[] = [];
    let cursor = 0;
    for (const r of this.records) {
      const m = messages[r.index];
      if (!m || m.role !== 'assistant' || m.content !== r.content || !sameMessages(messages, r.prefix, r.index)) continue;
      const before = tok.encodeChat(messages.slice(0, r.index), { addGenerationPrompt: true });
      if (before.length < cursor || commonPrefix(before, canon) !== before.length) continue;
      let end = before.length;
      while (end < canon.length && !tok.stopIds.includes(canon[end])) end++;
      if (end >= canon.length) continue;
      const kept = this.sampledTokens(r.tokens, tok.decode(canon.slice(before.length, end)));
      if (!kept) continue;
      for (let i = cursor; i < before.length; i++) out.push(canon[i]);
      out.push(...kept);
      cursor = end;
    }
    for (let i = cursor; i < canon.length; i++) out.push(canon[i]);
    return out;
  }

  /** The sampled tokens (or a part of them) that decode to exactly `text`, if any. */
  private sampledTokens(tokens: readonly number[], text: string): readonly number[] | undefined {
    const tok = this.host.tokenizer;
    if (tok.decode(tokens) === text) return tokens;
    // The template trims the content: drop whitespace-only tokens at both ends.
    let a = 0, b = tokens.length;
    while (a < b && tok.decode([tokens[a]]).trim() === '') a++;
    while (b > a && tok.decode([tokens[b - 1]]).trim() === '') b--;
    const core = tokens.slice(a, b);
    const full = tok.decode(core);
    if (full === text) return core;
    // Generation stopped inside the tokens (a stop string): the longest prefix that decodes to the text.
    if (!full.startsWith(text)) return undefined;
    for (let m = core.length - 1; m > 0; m--) {
      const s = tok.decode(core.slice(0, m));
      if (s === text) return core.slice(0, m);
      if (s.length < text.length) break;
    }
    return undefined;
  }

  private resolve(input: string | readonly ChatMessage[]): ChatMessage[] {
    if (typeof input === 'string') return [...this.conversation, { role: 'user', content: input }];
    return copyMessages(input);
  }

  private assertIdle(): void {
    if (this.busy) throw new GemmaError('this chat session is already generating; wait for it (or abort it) first');
  }

  /** Puts the prompt for `messages` in the cache, reusing what it shares with the cache. */
  private prepare(messages: readonly ChatMessage[]): { ids: number[]; keep: number } {
    const ids = this.encode(messages, true);
    // Always evaluate at least the last prompt token: its logits start generation.
    const keep = Math.min(commonPrefix(ids, this.session.tokens), ids.length - 1);
    this.session.truncate(keep);
    return { ids, keep };
  }

  /**
   * Evaluates the prompt of a conversation (a user message appended to this one, or a whole new
   * conversation) without generating, and returns the logits after it. The conversation itself
   * is not changed.
   */
  async prefill(input: string | readonly ChatMessage[]): Promise<PrefillResult> {
    this.assertIdle();
    this.busy = true;
    try {
      const { ids, keep } = this.prepare(this.resolve(input));
      const logits = await this.session.eval(ids.slice(keep));
      return { logits, promptTokens: ids.length, cachedTokens: keep };
    } finally {
      this.busy = false;
    }
  }

  /**
   * Streams the answer to `input`: a string is a new user message after the conversation so far;
   * an array of messages replaces the conversation (only what differs from the cache is
   * evaluated). The answer (however generation ended) is appended as an assistant message.
   * One generation at a time: iterate to the end (or call return()) before the next.
   */
  async *stream(input: string | readonly ChatMessage[], o: GenerateOptions = {}): AsyncGenerator<StreamChunk, GenerateResult> {
    this.assertIdle();
    this.busy = true;
    try {
      const messages = this.resolve(input);
      const { ids, keep } = this.prepare(messages);
      const result = yield* generateTokens(this.session, this.host.tokenizer, ids.slice(keep), o, { cachedTokens: keep });
      const index = messages.length;
      this.records = this.records.filter((r) => r.index < index && sameMessages(messages, r.prefix, r.index) &&
        messages[r.index].content === r.content);
      this.records.push({ index, prefix: messages, content: result.text, tokens: result.tokens });
      this.conversation = [...messages, { role: 'assistant', content: result.text }];
      return result;
    } finally {
      this.busy = false;
    }
  }

  async generate(input: string | readonly ChatMessage[], o: GenerateOptions = {}): Promise<GenerateResult> {
    const it = this.stream(input, o);
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
    }
  }

  dispose(): void {
    this.session.dispose();
  }
}
