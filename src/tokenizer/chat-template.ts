/**
 * Chat prompts. The vocabulary's own Jinja template (`tokenizer_config.json` `chat_template`
 * or GGUF `tokenizer.chat_template`) is rendered with @huggingface/jinja; without one, the
 * built-in template below (HF's Gemma 1 template) is used.
 *
 * Gemma has no system role (HF's template raises on it). Like llama.cpp, system messages are
 * merged into the next user turn instead: the trimmed system texts (joined by a blank line),
 * a blank line, then the trimmed user text. A system message with no user turn after it
 * becomes a user turn of its own.
 *
 * To keep message content from injecting control tokens, the template is rendered a second
 * time with placeholders instead of content; aligning the two renderings yields the character
 * ranges that came from content, and the encoder does not recognise special tokens there.
 */
import { Template } from '@huggingface/jinja';
import { GemmaError } from '../errors.js';
import type { ChatMessage } from './types.js';

/** HF's chat template for Gemma 1 (google/gemma-*-it tokenizer_config.json). */
export const GEMMA_CHAT_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
  "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}";

export interface ChatRenderContext {
  template: string | null;
  bosToken: string;
  eosToken: string;
  addGenerationPrompt: boolean;
}

export interface RenderedChat {
  text: string;
  /** Sorted, disjoint `[start, end)` ranges of `text` that hold message content. */
  contentRanges: [number, number][];
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** Validates messages and folds system messages into user turns (see the module comment). */
export function mergeSystemMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  if (!Array.isArray(messages)) throw new GemmaError('chat messages must be an array');
  const out: ChatMessage[] = [];
  let system: string[] = [];
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null) throw new GemmaError(`chat message ${i} is not an object`);
    if (!ROLES.has(m.role)) throw new GemmaError(`chat message ${i} has role ${JSON.stringify(m.role)}; expected system, user or assistant`);
    if (typeof m.content !== 'string') throw new GemmaError(`chat message ${i} (${m.role}) has no string content`);
    if (m.role === 'system') system.push(m.content.trim());
    else if (m.role === 'user' && system.length > 0) {
      out.push({ role: 'user', content: `${system.join('\n\n')}\n\n${m.content.trim()}` });
      system = [];
    } else out.push({ role: m.role, content: m.content });
  });
  if (system.length > 0) out.push({ role: 'user', content: system.join('\n\n') });
  return out;
}

const compiled = new Map<string, Template>();

function compile(source: string): Template {
  let t = compiled.get(source);
  if (!t) {
    try {
      t = new Template(source);
    } catch (e) {
      throw new GemmaError(`chat template does not parse: ${(e as Error).message}`, { cause: e });
    }
    compiled.set(source, t);
  }
  return t;
}

function render(t: Template, messages: readonly ChatMessage[], ctx: ChatRenderContext): string {
  try {
    return t.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      bos_token: ctx.bosToken,
      eos_token: ctx.eosToken,
      add_generation_prompt: ctx.addGenerationPrompt,
    });
  } catch (e) {
    throw new GemmaError(`chat template failed: ${(e as Error).message}`, { cause: e });
  }
}

const PLACEHOLDER = /\ufdd0(\d+)\ufdd1/g;

export function renderChat(messages: readonly ChatMessage[], ctx: ChatRenderContext): RenderedChat {
  const merged = mergeSystemMessages(messages);
  const t = compile(ctx.template ?? GEMMA_CHAT_TEMPLATE);
  const text = render(t, merged, ctx);
  const marked = render(t, merged.map((m, i) => ({ role: m.role, content: `\ufdd0${i}\ufdd1` })), ctx);

  const literals: string[] = [];
  const order: number[] = [];
  let last = 0;
  for (const m of marked.matchAll(PLACEHOLDER)) {
    literals.push(marked.slice(last, m.index));
    order.push(Number(m[1]));
    last = m.index + m[0].length;
  }
  literals.push(marked.slice(last));

  const unalignable = (): GemmaError =>
    new GemmaError('chat template output depends on message content in a way that cannot be aligned; cannot protect content from control-token injection');
  if (!text.startsWith(literals[0]!)) throw unalignable();
  const ranges: [number, number][] = [];
  let pos = literals[0]!.length;
  for (let j = 0; j < order.length; j++) {
    const content = merged[order[j]!]!.content;
    const next = literals[j + 1]!;
    const isLast = j === order.length - 1;
    const candidates = [...new Set([content, content.trim(), content.trimStart(), content.trimEnd()])];
    const found = candidates.find(
      (c) => text.startsWith(c, pos) && text.startsWith(next, pos + c.length) && (!isLast || pos + c.length + next.length === text.length),
    );
    if (found === undefined) throw unalignable();
    if (found.length > 0) ranges.push([pos, pos + found.length]);
    pos += found.length + next.length;
  }
  if (pos !== text.length) throw unalignable();
  return { text, contentRanges: ranges };
}
