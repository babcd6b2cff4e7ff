#!/usr/bin/env node
// End-of-turn benchmark: how soon parley ends a finished turn, and how often
// it cuts a speaker off at a natural pause inside an unfinished sentence.
//
//   node bench/turn-end.mjs [--bin build/parley[,OTHER/parley]] [--n 20]
//                           [--speed 50] [--lanes 2] [--barge N] [--json FILE]
//
// Recordings are made at run time with flite, through parley's own speech
// output (a fake LLM answers "say: TEXT" with TEXT; voices slt, rms, awb,
// kal16), trimmed of flite's padding, and put together as
//   (a) finished sentences followed by silence, and
//   (b) "an unfinished phrase" + a pause of 300, 400 or 500 ms + "the rest"
//       ("I would like to order a pizza with" ... "mushrooms and olives.").
// Every recording is streamed at real-time pace (20 ms frames, each sent when
// its last sample would have been captured, over a quiet noise floor of about
// -64 dBFS) to every binary at the same moment, so the binaries are compared
// side by side under the same load. Each binary runs as its own server with
// the fake LLM (tests/fakes/fake-llm.mjs); sessions declare 48 kHz input and
// set_speed --speed.
//
// Reported per binary:
//   finished sentences: end of speech -> final_user_request (p50, p95, max),
//     measured at the client from the capture time of the last speech sample;
//   paused utterances, per pause length: premature turn ends, i.e. a
//     final_user_request before the end of the whole utterance (the first
//     part was taken as a turn of its own).
//   with --barge N: barge-in, N times: while the session plays a long answer
//     (the client's frames carry flag bit 0, "playing"), a finished sentence
//     is spoken; speech onset (capture time of its first sample) -> stop_tts
//     at the client (p50, p95, max), and how many did not interrupt.
// --n is the number of recordings per cell (finished; each pause length),
// cycling through voices x sentences (--n 0 skips the end-of-turn part).
// --json writes every figure and every item.
//
// Needs the test tooling (make test installs it: tests/node_modules).
// Traffic stays on 127.0.0.1.
import fs from 'node:fs';
import path from 'node:path';
import { startServer, connectReady, getJson, sleep, REPO_ROOT } from '../tests/integration/harness.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { options, helpFromHeader } from './lib/args.mjs';
import { trimQuiet } from '../tests/integration/audio.mjs';

const argv = process.argv.slice(2);
const { opt } = options(argv);
helpFromHeader(import.meta.url, argv);
const BINS = opt('bin', process.env.PARLEY_BIN || 'build/parley').split(',').map((b) => path.resolve(REPO_ROOT, b));
const N = Number(opt('n', '20'));
const SPEED = Number(opt('speed', '50'));
const LANES = Number(opt('lanes', '2'));
const JSON_OUT = opt('json', null);
const BARGE = Number(opt('barge', '0'));
const LONG_ANSWER = Array.from({ length: 12 }, () => 'This sentence is part of a long answer.').join(' ');
const PAUSES = [300, 400, 500];
const VOICES = ['slt', 'rms', 'awb', 'kal16'];
const RATE = 48000;
const FRAME = 960; // 20 ms

const FINISHED = [
  'What is the weather like in Paris today?',
  'Please book a table for two people at seven.',
  'Can you recommend a good book about history?',
  'I need to buy some milk and bread.',
  'Tell me a joke about cats.',
  'How far is the moon from the earth?',
];
const PAUSED = [
  ['I would like to order a pizza with', 'mushrooms and olives.'],
  ['Can you tell me the', 'opening hours of the museum?'],
  ['I am looking for a hotel near the station and', 'it should have a swimming pool.'],
  ['My favourite colour is', 'dark green.'],
  ['Could you remind me to', 'call my mother tomorrow?'],
  ['We want to fly to London because', 'our friends live there.'],
];

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const log = (...a) => console.error('#', ...a);

// ---- servers
const fake = await startFakeOpenAI({
  tokenDelayMs: 5,
  answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : /talk/.test(user) ? LONG_ANSWER : 'Okay.'),
});
const common = ['--llm-url', fake.url, '--stt-warm', String(LANES + 1), '--turns-per-minute', '1000'];
const servers = [];
for (const bin of BINS) {
  process.env.PARLEY_BIN = bin;
  const srv = await startServer(common);
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
async function rec(voice, text) {
  const k = `${voice}|${text}`;
  if (!cache.has(k)) cache.set(k, await synth(voice, text));
  return cache.get(k);
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

const LEAD_MS = 400;
const TAIL_MS = 2200;
const items = [];
log(`making recordings with flite (${VOICES.join(', ')})`);
for (let i = 0; i < N; i++) {
  const voice = VOICES[i % VOICES.length];
  const text = FINISHED[Math.floor(i / VOICES.length) % FINISHED.length];
  const speech = await rec(voice, text);
  items.push({ kind: 'finished', voice, text, speech: [speech], pause: 0 });
}
for (const pause of PAUSES) {
  for (let i = 0; i < N; i++) {
    const voice = VOICES[i % VOICES.length];
    const [first, rest] = PAUSED[Math.floor(i / VOICES.length) % PAUSED.length];
    items.push({ kind: 'paused', voice, text: `${first} … ${rest}`, speech: [await rec(voice, first), await rec(voice, rest)], pause });
  }
}
const barges = [];
for (let i = 0; i < BARGE; i++) {
  const voice = VOICES[i % VOICES.length];
  const text = FINISHED[Math.floor(i / VOICES.length) % FINISHED.length];
  barges.push({ voice, text, speech: await rec(voice, text) });
}
log(`${cache.size} recordings; ${items.length} items x ${BINS.length} binaries, ${LANES} at a time`);

/** The item's audio and the sample index where its speech ends. */
function assemble(item) {
  const parts = [noise((RATE * LEAD_MS) / 1000)];
  let at = parts[0].length / 2;
  item.speech.forEach((s, i) => {
    if (i) { parts.push(noise((RATE * item.pause) / 1000)); at += (RATE * item.pause) / 1000; }
    parts.push(withFloor(s));
    at += s.length / 2;
  });
  const speechEnd = at;
  parts.push(noise((RATE * TAIL_MS) / 1000));
  return { pcm: Buffer.concat(parts), speechEnd };
}

/** A session per binary, declaring 48 kHz input, recording the arrival of
 *  final transcripts and stop_tts. */
function sessions() {
  return Promise.all(servers.map(async (srv) => {
    const c = await connectReady(srv.port);
    c.sendJson({ type: 'session.config', input_sample_rate: RATE });
    await c.next('session.configured', 5000);
    c.sendJson({ type: 'set_speed', speed: SPEED });
    c.finals = [];
    c.stops = [];
    c.ws.on('message', (data, binary) => {
      if (binary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'final_user_request') c.finals.push({ at: performance.now(), text: m.content });
      if (m.type === 'stop_tts') c.stops.push(performance.now());
    });
    return c;
  }));
}

/** The audio goes to every session at once, frame by frame, each frame when
 *  its last sample is captured. Resolves the capture start. */
async function stream(clients, pcm, flags = 0) {
  const t0 = performance.now() + 20;
  const frames = Math.floor(pcm.length / 2 / FRAME);
  for (let k = 0; k < frames; k++) {
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
  const { pcm, speechEnd } = assemble(item);
  const t0 = await stream(clients, pcm);
  // the tail is long enough for any pause at speed <= 100; allow a late final
  for (let w = 0; w < 20 && clients.some((c) => !c.finals.length); w++) await sleep(100);
  const endAt = t0 + (speechEnd * 1000) / RATE;
  const out = clients.map((c) => {
    const first = c.finals[0];
    return {
      finals: c.finals.length,
      final_ms: first ? first.at - endAt : null,
      premature: item.kind === 'paused' && (c.finals.length > 1 || (first && first.at < endAt)),
      texts: c.finals.map((f) => f.text),
    };
  });
  await Promise.all(clients.map((c) => c.close()));
  return out;
}

const rows = [];
let next = 0;
let done = 0;
await Promise.all(Array.from({ length: LANES }, async (_, lane) => {
  await sleep(lane * 700); // lanes out of step
  while (next < items.length) {
    const item = items[next++];
    const res = await runItem(item);
    rows.push({ kind: item.kind, voice: item.voice, text: item.text, pause: item.pause, per_bin: res });
    if (++done % 10 === 0) log(`${done}/${items.length}`);
  }
}));

// ---- barge-in: one at a time, every binary at once
const bargeRows = [];
for (const b of barges) {
  const clients = await sessions();
  for (const c of clients) c.sendJson({ type: 'text', content: 'talk for a while' });
  await Promise.all(clients.map((c) => c.next('tts_chunk', 15000)));
  await sleep(1000); // the user listens for a while
  const lead = noise((RATE * LEAD_MS) / 1000);
  const pcm = Buffer.concat([lead, withFloor(b.speech), noise(RATE)]);
  const t0 = await stream(clients, pcm, 1);
  await sleep(300);
  const onset = t0 + (lead.length / 2 / RATE) * 1000;
  bargeRows.push({ voice: b.voice, text: b.text, per_bin: clients.map((c) => (c.stops.length ? c.stops[0] - onset : null)) });
  await Promise.all(clients.map((c) => c.close()));
}

for (const srv of servers) await srv.stop();
await fake.close();

// ---- report
const results = {
  date: new Date().toISOString(), speed: SPEED, n: N, lanes: LANES, voices: VOICES,
  binaries: BINS.map((bin, b) => {
    const fin = rows.filter((r) => r.kind === 'finished').map((r) => r.per_bin[b]);
    const lat = fin.map((r) => r.final_ms).filter((x) => x != null);
    const paused = {};
    for (const p of PAUSES) {
      const ps = rows.filter((r) => r.kind === 'paused' && r.pause === p).map((r) => r.per_bin[b]);
      const pre = ps.filter((r) => r.premature).length;
      paused[p] = { n: ps.length, premature: pre, rate: ps.length ? pre / ps.length : null,
                    no_turn: ps.filter((r) => !r.finals).length };
    }
    return {
      bin, finished: { n: fin.length, answered: lat.length, p50_ms: pct(lat, 50), p95_ms: pct(lat, 95),
                       max_ms: lat.length ? Math.max(...lat) : null },
      paused,
      barge_in: (() => {
        const lat = bargeRows.map((r) => r.per_bin[b]).filter((x) => x != null);
        return { n: bargeRows.length, stopped: lat.length, p50_ms: pct(lat, 50), p95_ms: pct(lat, 95),
                 max_ms: lat.length ? Math.max(...lat) : null };
      })(),
    };
  }),
  items: rows,
  barge_in: bargeRows,
};

const f = (x) => (x == null ? '-' : `${Math.round(x)}`);
const lines = [];
lines.push(`parley end-of-turn benchmark, ${results.date}, set_speed ${SPEED}, ${N} recordings per cell, voices ${VOICES.join('/')}, ${LANES} at a time`);
lines.push('');
lines.push(`| binary | finished: end of speech -> final p50 / p95 / max (ms) | ${PAUSES.map((p) => `premature, ${p} ms pause`).join(' | ')} |`);
lines.push(`|---|---|${PAUSES.map(() => '---').join('|')}|`);
for (const r of results.binaries) {
  const cells = PAUSES.map((p) => (r.paused[p].n ? `${r.paused[p].premature}/${r.paused[p].n} (${(100 * r.paused[p].rate).toFixed(0)}%)` : "-"));
  lines.push(`| ${path.relative(REPO_ROOT, r.bin) || r.bin} | ${f(r.finished.p50_ms)} / ${f(r.finished.p95_ms)} / ${f(r.finished.max_ms)} (${r.finished.answered}/${r.finished.n}) | ${cells.join(' | ')} |`);
}
if (BARGE) {
  lines.push('');
  lines.push('| binary | barge-in: speech onset -> stop_tts p50 / p95 / max (ms) |');
  lines.push('|---|---|');
  for (const r of results.binaries) {
    const x = r.barge_in;
    lines.push(`| ${path.relative(REPO_ROOT, r.bin) || r.bin} | ${f(x.p50_ms)} / ${f(x.p95_ms)} / ${f(x.max_ms)} (${x.stopped}/${x.n} interrupted) |`);
  }
}
console.log(lines.join('\n'));
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 2));
