// The end-of-turn evaluation set (issue 17, part 2) for bench/turn-end.mjs:
// what is said, in which voice, with which pause, and whether an item is
// for tuning or only for measuring. Pure data and pure functions: the audio
// is made by turn-end.mjs (flite through parley) and by sox (librivox).
//
// - PHRASES: unfinished phrases, each "first part" + pause + "the rest",
//   labelled with the kind of word the pause follows or sits inside:
//   function (after "the", "with", "to", ...), content (after a noun, verb
//   or adjective), number, list, name, question. `ends` marks phrases
//   whose first part could itself end a sentence ("the best way to learn").
//   Each phrase is also spoken straight through as a finished sentence.
// - Pauses of 300, 400, 500 and 700 ms; each phrase is heard at every pause
//   length, in a different flite voice for each (slt, rms, awb, kal16).
// - librivoxPlan(): Debian's recorded clips (pocketsphinx-testdata), alone
//   and, where two consecutive clips are one sentence of the book, joined
//   as recorded; each as recorded and denoised. Pauses inside are found by
//   energy (findPauses).
// - splitOf(): a stable hash of the text puts every text in `tune` or
//   `measure`, about half each; a text keeps its part when others are
//   added.
import { createHash } from 'node:crypto';

export const PAUSES = [300, 400, 500, 700];
export const VOICES = ['slt', 'rms', 'awb', 'kal16'];
export const TYPES = ['function', 'content', 'number', 'list', 'name', 'question'];
export const SPLITS = ['measure', 'tune'];

const P = (type, first, rest, ends = false) => ({ type, first, rest, ends });

/** Unfinished phrases: [first part, the rest after the pause]. */
export const PHRASES = [
  // after a function word
  P('function', 'I would like to order a pizza with', 'mushrooms and olives.'),
  P('function', 'Can you tell me the', 'opening hours of the museum?'),
  P('function', 'I am looking for a hotel near the station and', 'it should have a swimming pool.'),
  P('function', 'My favourite colour is', 'dark green.'),
  P('function', 'Could you remind me to', 'call my mother tomorrow?'),
  P('function', 'We want to fly to London because', 'our friends live there.'),
  P('function', 'Put the keys on the table next to the', 'front door.'),
  P('function', 'I think that we should', 'leave a little earlier.'),
  P('function', 'The meeting was moved from Monday to', 'Thursday afternoon.'),
  P('function', 'Turn the music down a bit so', 'the baby can sleep.'),
  // after a content word
  P('content', 'The best way to learn', 'a language is to speak it every day.', true),
  P('content', 'I want to know', 'how long the film lasts.', true),
  P('content', 'I would like to order a large pizza', 'with mushrooms and olives.', true),
  P('content', 'We should go to the beach', 'if the weather is nice tomorrow.', true),
  P('content', 'Please turn off the lights', 'in the living room upstairs.', true),
  P('content', 'She bought a new car', 'that runs on electricity.', true),
  P('content', 'I need a new', 'pair of running shoes.'),
  P('content', 'Send a message to my older', 'sister about dinner tonight.'),
  P('content', 'Remind me to water the plants', 'before I go to bed.', true),
  P('content', 'The children were playing happily', 'in the garden behind the house.', true),
  // inside a number
  P('number', 'My number is five five five', 'two one two four.'),
  P('number', 'The code is four seven', 'nine one.'),
  P('number', 'Set a timer for twenty', 'five minutes.', true),
  P('number', 'The flight leaves at ten', 'forty five in the morning.', true),
  P('number', 'I was born in nineteen', 'eighty seven.'),
  P('number', 'It costs three hundred', 'and fifty dollars.', true),
  P('number', 'Add two thousand', 'four hundred to the total.'),
  P('number', 'My room number is three', 'one eight.', true),
  P('number', 'The score was two', 'to one for the home team.', true),
  P('number', 'Call me back at six', 'thirty this evening.', true),
  // inside a list
  P('list', 'I need eggs, milk', 'and bread.', true),
  P('list', 'We visited Paris, Rome', 'and Madrid last summer.', true),
  P('list', 'Buy apples, oranges, bananas', 'and some grapes.', true),
  P('list', 'The colours are red, blue', 'and yellow.', true),
  P('list', 'Pack a towel, sunscreen', 'and a hat for the beach.'),
  P('list', 'Invite Anna, Peter', 'and the neighbours.'),
  P('list', 'I play tennis, football', 'and chess at the weekend.', true),
  P('list', 'The recipe needs flour, sugar', 'butter and two eggs.', true),
  P('list', 'On Monday I have maths, physics', 'and a long history lesson.', true),
  P('list', 'Bring plates, cups', 'and napkins for the party.', true),
  // inside a name
  P('name', 'Call John', 'Smith on his mobile.', true),
  P('name', 'Send an email to Maria', 'Gonzalez about the contract.', true),
  P('name', 'The book was written by George', 'Orwell in nineteen forty nine.', true),
  P('name', 'Book a meeting with doctor', 'Patel for next week.'),
  P('name', 'Play something by Ella', 'Fitzgerald please.', true),
  P('name', 'I had lunch with Sarah', 'Johnson yesterday.', true),
  P('name', 'Give me directions to Saint', 'Pancras station.'),
  P('name', 'Is Michael', 'Jordan still playing basketball?'),
  P('name', 'My manager is called Peter', 'van der Berg.', true),
  P('name', 'Text Lucy', 'Williams that I am running late.', true),
  // inside a question
  P('question', 'Why is the sky', 'blue?'),
  P('question', 'How long does it take to', 'boil an egg?'),
  P('question', 'What is the capital of', 'Australia?'),
  P('question', 'Do you know why', 'the sky turns red at sunset?', true),
  P('question', 'Can you tell me', 'what time the shop closes?', true),
  P('question', 'Where can I find', 'a good coffee near here?'),
  P('question', 'Who won the world cup', 'in two thousand and ten?', true),
  P('question', 'Is it going to rain', 'this weekend in Berlin?', true),
  P('question', 'What do you think about', 'the new library in town?'),
  P('question', 'How many people live', 'in New York City?', true),
];

/** The whole sentence of a phrase, as its text everywhere (and its key for the split). */
export const whole = (p) => `${p.first} ${p.rest}`;

/** What flite is asked to say for a text: without its commas, at which
 *  flite makes a silence of 300-350 ms of its own (every voice), a second
 *  pause that no item is about. */
export const spoken = (text) => text.replace(/,/g, '');

/**
 * 'tune' or 'measure' for a text: the first byte of the SHA-256 of SALT and
 * the text (lower-cased, punctuation dropped), below 128 tunes. Stable:
 * adding a text never moves another. SALT was picked once, before anything
 * was measured, as the first that gives every word type 4 to 6 phrases in
 * each part (30 and 30); checkSet() checks the balance.
 */
const SALT = 'eot33:';
export function splitOf(text) {
  const key = text.toLowerCase().replace(/[^a-z0-9 ]+/g, '').replace(/\s+/g, ' ').trim();
  return createHash('sha256').update(SALT + key).digest()[0] < 128 ? 'tune' : 'measure';
}

/**
 * The flite items, in a deterministic order.
 *   pauses: the pause lengths (ms); n: at most n items per cell (finished,
 *   and each pause length), null for all; split: 'tune', 'measure' or
 *   'both'.
 * The phrases of the part are taken interleaved over the word types (one
 * of each type, then the next of each), the list for pause number j turned
 * by j places, so that n >= 6 covers every type at every pause and n < 6
 * different types at each pause.
 * Phrase i at pause number j is spoken by VOICES[(i + j) % 4] (every phrase
 * in every voice once across the four pauses); its finished sentence by
 * VOICES[i % 4].
 * Returns [{kind: 'finished'|'paused', type, ends, split, voice, text,
 * parts: [what flite says, ...] (spoken()), pause}].
 */
export function flitePlan({ pauses = PAUSES, n = null, split = 'both', voices = VOICES } = {}) {
  const inPart = (p) => split === 'both' || splitOf(whole(p)) === split;
  const perType = TYPES.map((t) => PHRASES.map((p, i) => ({ p, i })).filter((x) => x.p.type === t && inPart(x.p)));
  const interleaved = () => {
    const out = [];
    const rows = Math.max(...perType.map((l) => l.length));
    for (let r = 0; r < rows; r++) {
      for (const l of perType) if (l[r]) out.push(l[r]);
    }
    return out;
  };
  const take = (list, j) => {
    const turned = [...list.slice(j % Math.max(1, list.length)), ...list.slice(0, j % Math.max(1, list.length))];
    return n == null ? turned : turned.slice(0, n);
  };
  const base = (p) => ({ type: p.type, ends: p.ends, split: splitOf(whole(p)), text: whole(p) });
  const items = [];
  for (const { p, i } of take(interleaved(), 0)) {
    items.push({ kind: 'finished', ...base(p), voice: voices[i % voices.length], parts: [spoken(whole(p))], pause: 0 });
  }
  pauses.forEach((pause, j) => {
    for (const { p, i } of take(interleaved(), j)) {
      items.push({ kind: 'paused', ...base(p), voice: voices[(i + j) % voices.length], parts: [spoken(p.first), spoken(p.rest)], pause });
    }
  });
  return items;
}

/**
 * Debian's librivox clips (Sense and Sensibility, chapter 1): the
 * consecutive clips that are one sentence in the book joined as recorded
 * (the first one's trailing room tone, then the second's leading one):
 * 0880 + 0890 ("He was not an ill-disposed young man, unless to be rather
 * cold-hearted ... is to be ill-disposed") and 0920 + 0930 ("Had he married
 * a more amiable woman, he might have been made still more respectable than
 * he was: he might even have been made amiable himself"); then each clip
 * alone. Each is played as recorded and denoised (the clips' room tone,
 * -40 to -55 dBFS, hides their pauses from parley's VAD; a noise
 * suppressor, as in the browser, removes it).
 * clips: [{id, file, text}] (tests/integration/audio.mjs librivoxClips()).
 * Returns [{kind: 'librivox', id, files, text, render: 'recorded'|'denoised', split}].
 */
export const LIBRIVOX_JOINS = [['0880', '0890'], ['0920', '0930']];
export const RENDERS = ['recorded', 'denoised'];
export function librivoxPlan(clips) {
  const byTail = new Map(clips.map((c) => [c.id.slice(-4), c]));
  const items = [];
  for (const [a, b] of LIBRIVOX_JOINS) {
    if (byTail.has(a) && byTail.has(b)) {
      const [x, y] = [byTail.get(a), byTail.get(b)];
      items.push({ id: `${a}+${b}`, files: [x.file, y.file], text: `${x.text} ${y.text}` });
    }
  }
  for (const c of clips) items.push({ id: c.id.slice(-4), files: [c.file], text: c.text });
  return items.flatMap((x) => RENDERS.map((render) => ({ kind: 'librivox', ...x, render, split: splitOf(x.text) })));
}

/**
 * Where speech is in int16 LE mono PCM at `rate`, and the pauses inside it,
 * by energy in 10 ms windows: the noise floor is the 10th percentile of the
 * windows' level (dBFS); a window is quiet when it is less than `overDb`
 * over the floor (12 dB, the margin of parley's VAD) or more than 45 dB
 * under the loudest window. A pause is a run of quiet windows of at least
 * minMs between the first and the last loud window. A pause's quietMs is
 * its longest run of windows under -50 dBFS: parley's VAD counts louder
 * frames as speech, so room tone can hide a pause from it.
 * Returns {startMs, endMs, floorDb, pauses: [{atMs, ms, quietMs}]}.
 */
export function findPauses(pcm, rate, { minMs = 250, overDb = 12 } = {}) {
  const win = Math.round(rate / 100);
  const n = Math.floor(pcm.length / 2 / win);
  const db = new Float64Array(n);
  for (let w = 0; w < n; w++) {
    let e = 0;
    for (let i = 0; i < win; i++) {
      const v = pcm.readInt16LE((w * win + i) * 2);
      e += v * v;
    }
    db[w] = 10 * Math.log10(e / win / (32768 * 32768) + 1e-12);
  }
  if (!n) return { startMs: 0, endMs: 0, floorDb: null, pauses: [] };
  const sorted = Array.from(db).sort((a, b) => a - b);
  const floorDb = sorted[Math.floor(n * 0.1)];
  const thr = Math.max(floorDb + overDb, sorted[n - 1] - 45);
  let first = 0;
  while (first < n && db[first] < thr) first++;
  let last = n - 1;
  while (last > first && db[last] < thr) last--;
  const pauses = [];
  let run = 0;
  for (let w = first; w <= last; w++) {
    if (db[w] < thr) { run++; continue; }
    if (run * 10 >= minMs) pauses.push({ atMs: (w - run) * 10, ms: run * 10, quietMs: longestUnder(db, w - run, w, -50) * 10 });
    run = 0;
  }
  return { startMs: first * 10, endMs: (last + 1) * 10, floorDb: Math.round(floorDb * 10) / 10, pauses };
}

/** The longest run of db[from, to) under `limit`. */
function longestUnder(db, from, to, limit) {
  let best = 0;
  let run = 0;
  for (let w = from; w < to; w++) {
    run = db[w] < limit ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

/** Problems with the set (empty when it is sound): enough phrases, every
 *  type in both parts, at least `minPerSplit` phrase texts in each part. */
export function checkSet({ minPerSplit = 20 } = {}) {
  const problems = [];
  const texts = PHRASES.map(whole);
  if (new Set(texts).size !== texts.length) problems.push('a phrase appears twice');
  for (const p of PHRASES) {
    if (!TYPES.includes(p.type)) problems.push(`unknown word type ${p.type} ("${whole(p)}")`);
  }
  for (const s of SPLITS) {
    const inPart = PHRASES.filter((p) => splitOf(whole(p)) === s);
    if (inPart.length < minPerSplit) problems.push(`${s}: ${inPart.length} phrases, fewer than ${minPerSplit}`);
    for (const t of TYPES) {
      if (!inPart.some((p) => p.type === t)) problems.push(`${s}: no ${t} phrase`);
    }
  }
  return problems;
}

/** {tune: {phrases, by_type: {type: n}}, measure: ...} */
export function setCounts() {
  const out = {};
  for (const s of SPLITS) {
    const inPart = PHRASES.filter((p) => splitOf(whole(p)) === s);
    out[s] = { phrases: inPart.length, could_end: inPart.filter((p) => p.ends).length,
               by_type: Object.fromEntries(TYPES.map((t) => [t, inPart.filter((p) => p.type === t).length])) };
  }
  return out;
}
