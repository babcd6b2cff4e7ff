#!/usr/bin/env node
// End-of-turn benchmark: how soon parley ends a finished turn, and how often
// it cuts a speaker off at a pause inside an unfinished sentence.
//
//   node bench/turn-end.mjs [--bin 'build/parley[ ARGS][,OTHER/parley[ ARGS]]'] [--n N]
//                           [--split both|measure|tune] [--pauses 300,400,500,700]
//                           [--librivox all|N] [--speed 50] [--lanes 3]
//                           [--barge N] [--ttft MS] [--json FILE] [--server-log FILE] [--finished-only]
//
// The set (bench/lib/eotset.mjs, issue 17 part 2): 60 unfinished phrases,
// each "first part" + a pause + "the rest", labelled by where the pause
// falls: after a function word ("I would like to order a pizza with" ...
// "mushrooms and olives."), after a content word ("the best way to learn"
// ... "a language is to speak it every day.", a first part that could end a
// sentence by itself), inside a number ("my number is five five five" ...
// "two one two four."), a list ("I need eggs, milk" ... "and bread."), a
// name ("call John" ... "Smith on his mobile."), or a question ("why is the
// sky" ... "blue?"). Every phrase is heard at pauses of 300, 400, 500 and
// 700 ms, in a different flite voice at each (slt, rms, awb, kal16), and
// once straight through as a finished sentence. Then Debian's librivox
// clips (real read speech), alone and joined where two clips are one
// sentence of the book; their pauses (>= 250 ms) are found by energy.
// A hash of each text puts it in the TUNE or the MEASURE part (30 phrases
// each; librivox 4 and 3 texts, as recorded and denoised); both are
// reported, MEASURE first.
//
// Recordings are made at run time with flite, through parley's own speech
// output (a fake LLM answers "say: TEXT" with TEXT), trimmed of flite's
// padding; the two parts of a paused item are synthesised apart, so the
// first part ends with a sentence's falling prosody. flite is not given the
// commas (it would pause 300-350 ms at each: a second, uncontrolled pause
// in every list). Every item is streamed at real-time pace (20 ms frames,
// each sent when its last sample would have been captured, over a quiet
// noise floor of about -64 dBFS) to every binary at the same moment, so
// binaries are compared side by side under the same load, in a fixed
// shuffled order; audio goes on after the speech until every binary has
// given its final transcript (at most 2.2 s). Each binary runs as its own
// server with the fake LLM (tests/fakes/fake-llm.mjs); sessions declare
// 48 kHz input and set_speed --speed.
//
// Reported per binary and part:
//   finished sentences: end of speech -> final_user_request (p50, p95, max),
//     measured at the client from the capture time of the last speech
//     sample, over those heard as one turn (split in two, no turn: counted);
//   unfinished phrases: premature turn ends, i.e. a final_user_request
//     before the end of the whole utterance, per pause length, per word
//     type (and per type and pause), and for first parts that could or
//     could not end a sentence; how many of those premature ends were
//     merged (turn merging answered both parts as one turn: a final marked
//     merged; it depends on the LLM's speed, --ttft);
//   librivox: pauses found inside the clips, and premature turn ends (a
//     final before the clip's speech ends; "at a pause" when a pause found
//     began before it).
//   with --barge N: barge-in, N times: while the session plays a long answer
//     (the client's frames carry flag bit 0, "playing"), a finished sentence
//     is spoken; speech onset (capture time of its first sample) -> stop_tts
//     at the client (p50, p95, max), and how many did not interrupt.
// --bin: the binaries, each with server arguments of its own after a space
// ('build/parley --end-of-turn rules,build/parley' runs one binary both
// ways side by side); reported by the whole entry.
// --ttft MS: the fake LLM's time to first token (default 0: the answer's
// audio follows the final at once, so few premature ends can be merged).
// --n N: at most N items per cell (finished; each pause length), taken
// across the word types (--n 0 skips the end-of-turn part; default: all).
// --server-log FILE: every server's stderr at the end, one after the other
// (with '--log-level debug' in a --bin entry: the end-of-turn model's
// decisions). --finished-only: the finished sentences alone (no paused
// items), e.g. with --lanes 1 to time them on a quieter machine.
// --split: the part to run (default both). --librivox: how many librivox
// items (default all; 0 none). The default run takes about 7.5 minutes on 2
// cores; `--n 1 --split measure --librivox 1` (make test's bench smoke)
// about 20-30 s. --json writes every figure and every item.
//
// Needs the test tooling (make test installs it: tests/node_modules, sox,
// pocketsphinx-testdata). Traffic stays on 127.0.0.1.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, connectReady, getJson, sleep, REPO_ROOT } from '../tests/integration/harness.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { options, helpFromHeader } from './lib/args.mjs';
import { trimQuiet, librivoxClips, soxRaw } from '../tests/integration/audio.mjs';
import { PAUSES, VOICES, SPLITS, PHRASES, whole, flitePlan, librivoxPlan, findPauses, checkSet, setCounts } from './lib/eotset.mjs';
import { summarise, partTables, librivoxTable, pct } from './lib/eotreport.mjs';

const argv = process.argv.slice(2);
const { opt } = options(argv);
helpFromHeader(import.meta.url, argv);
const die = (m) => { console.error(`turn-end: ${m} (--help for usage)`); process.exit(2); };
const BINS = opt('bin', process.env.PARLEY_BIN || 'build/parley').split(',').map((entry) => {
  const [bin, ...args] = entry.trim().split(/\s+/);
  return { bin: path.resolve(REPO_ROOT, bin), args, name: [path.relative(REPO_ROOT, path.resolve(REPO_ROOT, bin)) || bin, ...args].join(' ') };
});
const N = opt('n', null) == null ? null : Number(opt('n'));
const SPLIT = opt('split', 'both');
const PAUSE_LIST = opt('pauses', PAUSES.join(',')).split(',').map(Number);
const LIBRIVOX = opt('librivox', 'all');
const SPEED = Number(opt('speed', '50'));
const LANES = Number(opt('lanes', '3'));
const JSON_OUT = opt('json', null);
const SERVER_LOG = opt('server-log', null);
const BARGE = Number(opt('barge', '0'));
const TTFT = Number(opt('ttft', '0')); // the fake LLM's time to first token
const FINISHED_ONLY = argv.includes('--finished-only');
if (!(TTFT >= 0 && TTFT <= 10000)) die(`--ttft wants ms in 0..10000, got ${opt('ttft')}`);
if (N != null && !(Number.isInteger(N) && N >= 0)) die(`--n wants a whole number, got ${opt('n')}`);
if (!['both', ...SPLITS].includes(SPLIT)) die(`--split wants both, measure or tune, got ${SPLIT}`);
if (!PAUSE_LIST.every((p) => Number.isInteger(p) && p > 0 && p <= 2000)) die(`--pauses wants ms in 1..2000, got ${opt('pauses')}`);
if (LIBRIVOX !== 'all' && !(Number(LIBRIVOX) >= 0)) die(`--librivox wants all or a number, got ${LIBRIVOX}`);
if (!(LANES >= 1) || !(SPEED >= 0 && SPEED <= 100)) die('--lanes wants 1 or more, --speed 0..100');
{
  const problems = checkSet();
  if (problems.length) throw new Error(`the end-of-turn set is unsound: ${problems.join('; ')}`);
}
const LONG_ANSWER = Array.from({ length: 12 }, () => 'This sentence is part of a long answer.').join(' ');
const RATE = 48000;
const FRAME = 960; // 20 ms
const LEAD_MS = 400;
const TAIL_MS = 2200;
const T_START = performance.now();
const LOAD_BEFORE = os.loadavg().map((x) => Math.round(x * 100) / 100);
const log = (...a) => console.error(`# [${((performance.now() - T_START) / 1000).toFixed(0)}s]`, ...a);

// ---- servers
const fake = await startFakeOpenAI({
  tokenDelayMs: 5, firstTokenDelayMs: TTFT,
  answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : /talk/.test(user) ? LONG_ANSWER : 'Okay.'),
});
const common = ['--llm-url', fake.url, '--stt-warm', String(LANES + 1), '--turns-per-minute', '1000'];
const servers = [];
for (const { bin, args } of BINS) {
  process.env.PARLEY_BIN = bin;
  const srv = await startServer([...common, ...args]);
  for (let i = 0; i < 400 && (await getJson(srv.port, '/readyz')).status !== 200; i++) await sleep(50);
  servers.push(srv);
}

// ---- recordings (flite through the first server)
/** Trims leading and trailing quiet (flite pads ~0.2 s each side). */
async function synth(voice, text) {
  const c = await connectReady(servers[0].port);
  try {
    c.sendJson({ type: 'session.config', voice, output_sample_rate: RATE });
    await c.next('session.configured', 5000);
    c.sendJson({ type: 'text', content: `say: ${text}` });
    await c.next('final_assistant_answer', 30000); // after the answer's last audio
    const pcm = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
    if (!pcm.length) throw new Error(`no audio for "${text}" (${voice})`);
    return trimQuiet(pcm, RATE);
  } finally {
    await c.close();
  }
}

const cache = new Map();
const rec = (voice, text) => cache.get(`${voice}|${text}`);
/** Makes every recording of `wanted` ([voice, text]), four at a time. */
async function record(wanted) {
  const todo = [...new Map(wanted.map(([v, t]) => [`${v}|${t}`, [v, t]])).values()].filter(([v, t]) => !rec(v, t));
  let k = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (k < todo.length) {
      const [v, t] = todo[k++];
      cache.set(`${v}|${t}`, await synth(v, t));
    }
  }));
}

let seed = 7;
function noise(samples, amplitude = 20) {
  const b = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    b.writeInt16LE(Math.round(((seed / 0x7fffffff) * 2 - 1) * amplitude), i * 2);
  }
  return b;
}
/** Adds the noise floor to speech (in place on a copy). */
function withFloor(pcm) {
  const out = Buffer.from(pcm);
  const nz = noise(pcm.length / 2);
  for (let i = 0; i < out.length; i += 2) {
    out.writeInt16LE(Math.max(-32768, Math.min(32767, out.readInt16LE(i) + nz.readInt16LE(i))), i);
  }
  return out;
}
const ms2s = (ms) => Math.round((RATE * ms) / 1000);

/** A flite item's audio: {pcm, speechEnd (sample), pauseAt (sample where
 *  the pause begins, or null), inner (pauses >= 250 ms inside each part's
 *  recording, ms)}. */
function assembleFlite(item) {
  const speech = item.parts.map((t) => rec(item.voice, t));
  const parts = [noise(ms2s(LEAD_MS))];
  let at = ms2s(LEAD_MS);
  let pauseAt = null;
  speech.forEach((s, i) => {
    if (i) { pauseAt = at; parts.push(noise(ms2s(item.pause))); at += ms2s(item.pause); }
    parts.push(withFloor(s));
    at += s.length / 2;
  });
  parts.push(noise(ms2s(TAIL_MS)));
  return { pcm: Buffer.concat(parts), speechEnd: at, pauseAt, inner: speech.map((s) => findPauses(s, RATE).pauses) };
}

/** A librivox file at RATE, as recorded or denoised with sox's noisered
 *  (noise profile: the file's first 200 ms, before the speech; amount 0.3). */
function librivoxPcm(file, render) {
  if (render === 'recorded') return soxRaw(file, RATE);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-eot-'));
  try {
    const prof = path.join(dir, 'noise.prof');
    const out = path.join(dir, 'denoised.wav');
    const run = (args) => {
      const r = spawnSync('sox', args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`sox ${args.join(' ')}: ${r.stderr}`);
    };
    run([file, '-n', 'trim', '0', '0.2', 'noiseprof', prof]);
    run([file, out, 'noisered', prof, '0.3']);
    return withFloor(soxRaw(out, RATE));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A librivox item's audio: its clips one after the other as recorded (or
 *  denoised), their own room tone included, between LEAD_MS and TAIL_MS of
 *  the noise floor (as the speech tests pad them). Speech end and the
 *  pauses inside come from findPauses on the clips. */
function assembleLibrivox(item) {
  const clips = Buffer.concat(item.files.map((file) => librivoxPcm(file, item.render)));
  const b = findPauses(clips, RATE);
  const off = ms2s(LEAD_MS);
  return {
    pcm: Buffer.concat([noise(off), clips, noise(ms2s(TAIL_MS))]), speechEnd: off + ms2s(b.endMs),
    pauses: b.pauses.map((p) => ({ ...p, atMs: p.atMs + LEAD_MS })),
  };
}

// ---- the plan
const items = N === 0 ? [] : flitePlan({ pauses: PAUSE_LIST, n: N, split: SPLIT }).filter((it) => !FINISHED_ONLY || it.kind === 'finished');
let lvItems = N === 0 ? [] : librivoxPlan(librivoxClips()).filter((x) => SPLIT === 'both' || x.split === SPLIT);
if (LIBRIVOX !== 'all') lvItems = lvItems.slice(0, Number(LIBRIVOX));
const bargeTexts = PHRASES.slice(0, 6).map(whole);
const barges = Array.from({ length: BARGE }, (_, i) => ({ voice: VOICES[i % VOICES.length], text: bargeTexts[Math.floor(i / VOICES.length) % bargeTexts.length] }));
log(`making recordings with flite (${VOICES.join(', ')})`);
await record([...items.flatMap((it) => it.parts.map((t) => [it.voice, t])), ...barges.map((b) => [b.voice, b.text])]);
// run in a fixed shuffled order, so that every cell of the report meets
// the same conditions (load from elsewhere comes and goes)
const runKey = (it) => createHash('sha256').update([it.kind, it.pause, it.render, it.voice, it.text].join('|')).digest('hex');
const work = [...items.map((it) => ({ ...it, audio: assembleFlite(it) })),
              ...lvItems.map((it) => ({ ...it, audio: assembleLibrivox(it) }))]
  .map((it) => ({ it, k: runKey(it) })).sort((a, b) => (a.k < b.k ? -1 : 1)).map((x) => x.it);
// a silence inside a recording would be a second pause in its items
const innerFlite = [...cache.entries()].filter(([, pcm]) => findPauses(pcm, RATE).pauses.some((p) => p.quietMs >= 250)).map(([k]) => k);
log(`${cache.size} recordings (${innerFlite.length} with a silence >= 250 ms inside); ${work.length} items x ${BINS.length} binaries, ${LANES} at a time`);

/** A session per binary, declaring 48 kHz input, recording the arrival of
 *  final transcripts and stop_tts. */
function sessions() {
  return Promise.all(servers.map(async (srv) => {
    const c = await connectReady(srv.port);
    // finals at once where the server holds them until the answer is heard
    const hold = 'hold_final' in c.status.content ? { hold_final: false } : {};
    c.sendJson({ type: 'session.config', input_sample_rate: RATE, ...hold });
    await c.next('session.configured', 5000);
    c.sendJson({ type: 'set_speed', speed: SPEED });
    c.finals = [];
    c.stops = [];
    c.ws.on('message', (data, binary) => {
      if (binary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'final_user_request') c.finals.push({ at: performance.now(), text: m.content, merged: Boolean(m.merged) });
      if (m.type === 'stop_tts') c.stops.push(performance.now());
    });
    return c;
  }));
}

/** The audio goes to every session at once, frame by frame, each frame when
 *  its last sample is captured; after sample `after`, it stops early once
 *  done() is true. Resolves the capture start. */
async function stream(clients, pcm, { flags = 0, after = Infinity, done = () => false } = {}) {
  const t0 = performance.now() + 20;
  const frames = Math.floor(pcm.length / 2 / FRAME);
  for (let k = 0; k < frames; k++) {
    if (k * FRAME > after && done(t0)) break;
    const due = t0 + ((k + 1) * FRAME * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const buf = Buffer.alloc(8 + FRAME * 2);
    buf.writeUInt32BE(Date.now() % 0x100000000, 0);
    buf.writeUInt32BE(flags, 4);
    pcm.copy(buf, 8, k * FRAME * 2, (k + 1) * FRAME * 2);
    for (const c of clients) if (c.isOpen) c.sendBinary(buf);
  }
  return t0;
}

async function runItem(item) {
  const clients = await sessions();
  const { pcm, speechEnd, pauseAt } = item.audio;
  const endOffset = (speechEnd * 1000) / RATE;
  // every binary has given a final after the end of the speech
  const answered = (t0) => clients.every((c) => c.finals.some((x) => x.at >= t0 + endOffset));
  const t0 = await stream(clients, pcm, { after: speechEnd, done: answered });
  for (let w = 0; w < 20 && clients.some((c) => !c.finals.length); w++) await sleep(100); // a late final
  const endAt = t0 + endOffset;
  const out = clients.map((c) => {
    const first = c.finals[0];
    const premature = c.finals.length > 1 || Boolean(first && first.at < endAt);
    // merged: the premature end's parts were answered as one turn (turn
    // merging: a final marked merged, hold_final false); still premature.
    const r = { finals: c.finals.length, final_ms: first ? Math.round(first.at - endAt) : null, premature,
                merged: c.finals.some((x) => x.merged), texts: c.finals.map((x) => x.text) };
    if (first) r.first_final_audio_ms = Math.round(first.at - t0); // where in the item's audio
    if (premature && pauseAt != null) r.after_pause_start_ms = Math.round(first.at - t0 - (pauseAt * 1000) / RATE);
    if (item.kind === 'librivox' && premature && first) {
      const before = item.audio.pauses.filter((p) => p.atMs < first.at - t0);
      r.at_pause = before.length ? item.audio.pauses.indexOf(before.at(-1)) : null;
    }
    return r;
  });
  await Promise.all(clients.map((c) => c.close()));
  return out;
}

const rows = [];
let next = 0;
let done = 0;
await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
  await sleep(lane * 700); // lanes out of step
  while (next < work.length) {
    const item = work[next++];
    const res = await runItem(item);
    const row = { kind: item.kind, split: item.split, text: item.text, per_bin: res };
    if (item.kind === 'librivox') Object.assign(row, { id: item.id, render: item.render, pauses: item.audio.pauses, speech_end_ms: Math.round((item.audio.speechEnd * 1000) / RATE) });
    else Object.assign(row, { type: item.type, ends: item.ends, voice: item.voice, pause: item.pause, parts: item.parts, inner_pauses: item.audio.inner });
    rows.push(row);
    if (++done % 20 === 0) log(`${done}/${work.length}`);
  }
}));

// ---- barge-in: one at a time, every binary at once
const bargeRows = [];
for (const b of barges) {
  const clients = await sessions();
  for (const c of clients) c.sendJson({ type: 'text', content: 'talk for a while' });
  await Promise.all(clients.map((c) => c.next('tts_chunk', 15000)));
  await sleep(1000); // the user listens for a while
  const lead = noise(ms2s(LEAD_MS));
  const pcm = Buffer.concat([lead, withFloor(rec(b.voice, b.text)), noise(RATE)]);
  const t0 = await stream(clients, pcm, { flags: 1 });
  await sleep(300);
  const onset = t0 + (lead.length / 2 / RATE) * 1000;
  bargeRows.push({ voice: b.voice, text: b.text, per_bin: clients.map((c) => (c.stops.length ? c.stops[0] - onset : null)) });
  await Promise.all(clients.map((c) => c.close()));
}

if (SERVER_LOG) fs.writeFileSync(SERVER_LOG, servers.map((srv, b) => `==== ${BINS[b].name}\n${srv.stderr()}`).join('\n'));
for (const srv of servers) await srv.stop();
await fake.close();

// ---- report
const order = (r) => [r.kind, r.split, r.type, r.pause, r.render, r.text].join('|');
rows.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
const parts = SPLIT === 'both' ? SPLITS : [SPLIT];
const results = {
  date: new Date().toISOString(), load_before: LOAD_BEFORE, load_after: os.loadavg().map((x) => Math.round(x * 100) / 100), speed: SPEED, n: N, split: SPLIT, pauses: PAUSE_LIST, lanes: LANES, voices: VOICES,
  duration_s: Math.round((performance.now() - T_START) / 1000),
  set: { ...setCounts(), librivox: lvItems.map((x) => ({ id: x.id, render: x.render, split: x.split })) },
  flite_recordings_with_inner_pause: innerFlite,
  binaries: BINS.map(({ bin, args, name }, b) => {
    const all = summarise(rows, b, PAUSE_LIST);
    const lat = bargeRows.map((r) => r.per_bin[b]).filter((x) => x != null);
    return {
      bin, args, name,
      finished: all.finished, paused: all.paused, // every item run, both parts
      splits: Object.fromEntries(parts.map((s) => [s, summarise(rows.filter((r) => r.split === s), b, PAUSE_LIST)])),
      all,
      barge_in: { n: bargeRows.length, stopped: lat.length, p50_ms: pct(lat, 50), p95_ms: pct(lat, 95),
                  max_ms: lat.length ? Math.max(...lat) : null },
    };
  }),
  items: rows,
  barge_in: bargeRows,
};

const f = (x) => (x == null ? '-' : `${Math.round(x)}`);
const nameOf = (r) => r.name;
const lines = [];
lines.push(`parley end-of-turn benchmark, ${results.date}, set_speed ${SPEED}, voices ${VOICES.join('/')}, ${LANES} at a time, ${results.duration_s} s, load average ${LOAD_BEFORE[0]} before, ${results.load_after[0]} after (${os.cpus().length} CPUs)`);
lines.push(`set: ${PHRASES.length} unfinished phrases (measure ${results.set.measure.phrases}, tune ${results.set.tune.phrases}), pauses ${PAUSE_LIST.join('/')} ms, ${N == null ? 'every phrase' : `at most ${N} per cell`}; ${rows.filter((r) => r.kind === 'finished').length} finished, ${rows.filter((r) => r.kind === 'paused').length} paused, ${rows.filter((r) => r.kind === 'librivox').length} librivox items run`);
lines.push(`flite recordings with a silence of their own (>= 250 ms under -50 dBFS): ${innerFlite.length ? innerFlite.join('; ') : 'none'}`);
for (const s of parts) {
  const c = results.set[s];
  lines.push('');
  lines.push(`### ${s.toUpperCase()} part: ${c.phrases} phrases (${Object.entries(c.by_type).map(([t, k]) => `${t} ${k}`).join(', ')}; ${c.could_end} whose first part could end a sentence)`);
  if (s === 'measure') lines.push('targets (issue 17): premature <= 5% at 400 ms and <= 15% at 700 ms; finished p50 <= 350 ms');
  lines.push('');
  lines.push(partTables(results.binaries.map((r) => ({ name: nameOf(r), s: r.splits[s] })), PAUSE_LIST));
}
if (rows.some((r) => r.kind === 'librivox')) {
  lines.push('');
  lines.push('### librivox (real read speech; a premature end is a final before the clip\'s speech ends)');
  lines.push('');
  lines.push(librivoxTable(results.binaries.flatMap((r) => parts.map((s) => ({ name: nameOf(r), split: s, s: r.splits[s] })))));
}
if (BARGE) {
  lines.push('');
  lines.push('| binary | barge-in: speech onset -> stop_tts p50 / p95 / max (ms) |');
  lines.push('|---|---|');
  for (const r of results.binaries) {
    const x = r.barge_in;
    lines.push(`| ${nameOf(r)} | ${f(x.p50_ms)} / ${f(x.p95_ms)} / ${f(x.max_ms)} (${x.stopped}/${x.n} interrupted) |`);
  }
}
console.log(lines.join('\n'));
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 2));
