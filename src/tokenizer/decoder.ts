/**
 * Decoding with the semantics of Gemma's HF decoder chain `Replace('▁', ' ') → ByteFallback →
 * Fuse`, preceded by HF's removal of special tokens when `skip_special_tokens`:
 *
 * - a non-byte piece contributes its text with '▁' turned into ' ' (no leading-space strip:
 *   Gemma has no dummy prefix);
 * - a maximal run of consecutive `<0xHH>` pieces is decoded as UTF-8 if the whole run is valid,
 *   otherwise it becomes one U+FFFD per byte (HF `ByteFallback::decode_chain`). Skipped special
 *   tokens are removed before this step, so they do not break a run.
 *
 * The stream decoder emits text as soon as it is final: a pending byte run is held back while it
 * is a valid-so-far UTF-8 prefix (a later byte could still make the whole run invalid) and
 * released as U+FFFDs as soon as it is definitely invalid, so the concatenation of its output
 * always equals `decode(ids)`.
 */
import { GemmaError } from '../errors.js';
import { bytePieceValue } from './spec.js';

const REPLACEMENT = '\ufffd';
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });

export class PieceDecoder {
  /** Byte value per id, -1 for non-byte pieces. */
  readonly byteValue: Int16Array;
  private readonly texts: (string | undefined)[];

  constructor(
    private readonly pieces: readonly string[],
    readonly special: Uint8Array,
  ) {
    this.byteValue = new Int16Array(pieces.length);
    for (let i = 0; i < pieces.length; i++) this.byteValue[i] = bytePieceValue(pieces[i]!);
    this.texts = new Array<string | undefined>(pieces.length);
  }

  checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) {
      throw new GemmaError(`token id ${String(id)} is outside the vocabulary (0..${this.pieces.length - 1})`);
    }
  }

  text(id: number): string {
    let t = this.texts[id];
    if (t === undefined) t = this.texts[id] = this.pieces[id]!.replaceAll('▁', ' ');
    return t;
  }

  decode(ids: readonly number[], skipSpecial: boolean): string {
    for (const id of ids) this.checkId(id);
    let out = '';
    let run: number[] = [];
    for (const id of ids) {
      if (skipSpecial && this.special[id] === 1) continue;
      const b = this.byteValue[id]!;
      if (b >= 0) {
        run.push(b);
        continue;
      }
      if (run.length > 0) {
        out += decodeByteRun(run);
        run = [];
      }
      out += this.text(id);
    }
    if (run.length > 0) out += decodeByteRun(run);
    return out;
  }
}

function decodeByteRun(bytes: readonly number[]): string {
  return utf8Scan(bytes, 0) === bytes.length ? utf8.decode(Uint8Array.from(bytes)) : REPLACEMENT.repeat(bytes.length);
}

/**
 * Scans `bytes[from…]` by the well-formedness rules of the Unicode Standard, table 3-7 (what
 * Rust's `String::from_utf8` enforces). Returns -1 if the bytes are ill-formed, else the offset
 * where an unfinished last character starts (`bytes.length` when the bytes are complete).
 */
function utf8Scan(bytes: readonly number[], from: number): number {
  let i = from;
  const n = bytes.length;
  while (i < n) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return -1;
    for (let k = 1; k <= need; k++) {
      if (i + k >= n) return i;
      const c = bytes[i + k]!;
      if (k === 1 ? c < lo || c > hi : c < 0x80 || c > 0xbf) return -1;
    }
    i += need + 1;
  }
  return n;
}

export interface StreamDecoder {
  /** Text that became final with this token (possibly empty). */
  push(id: number): string;
  /** Text still held back (an unfinished byte run); resets the decoder. */
  flush(): string;
}

export function createStreamDecoder(dec: PieceDecoder, skipSpecial: boolean): StreamDecoder {
  let run: number[] = [];
  /** Once the run is known to be invalid, its bytes have already been emitted as U+FFFD. */
  let invalid = false;
  /** Offset of the run's unfinished last character; everything before it is well-formed. */
  let checked = 0;
  const endRun = (): string => {
    const text = invalid || run.length === 0 ? '' : decodeByteRun(run);
    run = [];
    invalid = false;
    checked = 0;
    return text;
  };
  return {
    push(id: number): string {
      dec.checkId(id);
      if (skipSpecial && dec.special[id] === 1) return '';
      const b = dec.byteValue[id]!;
      if (b < 0) return endRun() + dec.text(id);
      if (invalid) return REPLACEMENT;
      run.push(b);
      const at = utf8Scan(run, checked);
      if (at >= 0) {
        checked = at;
        return '';
      }
      invalid = true;
      return REPLACEMENT.repeat(run.length);
    },
    flush(): string {
      return endRun();
    },
  };
}
