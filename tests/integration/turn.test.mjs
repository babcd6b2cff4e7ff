// The adaptive end of turn through the real server: a finished phrase ends
// sooner than the same words trailing off ("... a pizza." against "... a
// pizza with"), an unfinished phrase followed by a natural 400 ms pause and
// the rest is one turn, and set_speed (patience) still scales the pause.
// The speech is flite's (rms), made at run time through the server itself (a
// fake LLM answers "say: TEXT" with TEXT), trimmed of flite's padding and
// streamed at real-time pace over a quiet noise floor. Timing assertions
// compare two runs of the same server and keep wide margins. Barge-in:
// noise and the answer's residual echo over a playing answer do not
// interrupt it; the user's speech does, promptly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, sleep, waitReady } from './harness.mjs';
import { whiteNoise, clickTrain, streamPcm, wer, trimQuiet } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const RATE = 48000;
const FRAME = 960; // 20 ms
const LONG = Array.from({ length: 12 }, () => 'This sentence is part of a long answer.').join(' ');
let fake, srv;
const audio = {};

async function say(text) {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'rms' });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: `say: ${text}` });
  await c.next('final_assistant_answer', 20000); // after the answer's last audio
  const pcm = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  await c.close();
  assert.ok(pcm.length > RATE, `flite spoke "${text}"`);
  return trimQuiet(pcm, RATE);
}

before(async () => {
  fake = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : /talk/.test(user) ? LONG : 'Okay.'),
  });
  // the rules' waits (300 / 550 / 1000 ms) are what these tests time; the
  // model's are tested in end-of-turn.test.mjs
  srv = await startServer(['--llm-url', fake.url, '--stt-warm', '2', '--turns-per-minute', '200',
    '--end-of-turn', 'rules']);
  await waitReady(srv.port);
  audio.finished = await say('I would like to order a pizza.');
  audio.unfinished = await say('I would like to order a pizza with');
  audio.rest = await say('mushrooms and olives.');
});

after(async () => {
  await srv?.stop();
  await fake?.close();
});

/**
 * Streams the parts with `pauseMs` of quiet between them, then 2.5 s of
 * quiet, at real-time pace in 20 ms frames (each sent when its last sample
 * would be captured), at patience `speed`. Resolves the final transcripts
 * with their arrival relative to the end of the speech (ms).
 */
async function speak(parts, { pauseMs = 0, speed = 50 } = {}) {
  const c = await connectReady(srv.port);
  // the final transcript as soon as it is known: this times the turn's end
  c.sendJson({ type: 'session.config', input_sample_rate: RATE, hold_final: false });
  await c.next('session.configured');
  c.sendJson({ type: 'set_speed', speed });
  const finals = [];
  c.ws.on('message', (data, binary) => {
    if (binary) return;
    const m = JSON.parse(data.toString());
    if (m.type === 'final_user_request') finals.push({ at: performance.now(), text: m.content });
  });
  const quiet = (ms) => whiteNoise(RATE, ms / 1000, 20);
  const chunks = [quiet(400)];
  parts.forEach((p, i) => {
    if (i) chunks.push(quiet(pauseMs));
    chunks.push(p);
  });
  const speechEnd = chunks.reduce((n, b) => n + b.length / 2, 0);
  chunks.push(quiet(2500));
  const pcm = Buffer.concat(chunks);
  const t0 = performance.now() + 20;
  for (let k = 0; (k + 1) * FRAME * 2 <= pcm.length; k++) {
    const wait = t0 + ((k + 1) * FRAME * 1000) / RATE - performance.now();
    if (wait > 1) await sleep(wait);
    const buf = Buffer.alloc(8 + FRAME * 2);
    buf.writeUInt32BE(Date.now() % 0x100000000, 0);
    pcm.copy(buf, 8, k * FRAME * 2, (k + 1) * FRAME * 2);
    c.sendBinary(buf);
  }
  for (let w = 0; w < 30 && !finals.length; w++) await sleep(100);
  await sleep(300);
  await c.close();
  const endAt = t0 + (speechEnd * 1000) / RATE;
  return finals.map((f) => ({ ms: f.at - endAt, text: f.text }));
}

test('a finished phrase ends the turn sooner than the same words trailing off', async () => {
  const [fin] = await speak([audio.finished]);
  const [unf] = await speak([audio.unfinished]);
  assert.ok(fin && unf, 'both were turns');
  assert.ok(wer('i would like to order a pizza', fin.text) <= 0.35, `heard "${fin.text}"`);
  assert.match(unf.text, /with$/, `the trailing word was heard: "${unf.text}"`);
  // The rule: 300 ms against 1000 ms of silence at the default patience.
  assert.ok(unf.ms - fin.ms >= 300,
    `finished ${fin.ms.toFixed(0)} ms, trailing off ${unf.ms.toFixed(0)} ms after the speech`);
  assert.ok(fin.ms < 600, `a finished phrase ends well before the old 600 ms pause: ${fin.ms.toFixed(0)} ms`);
});

test('an unfinished phrase, a 400 ms pause and the rest are one turn', async () => {
  const finals = await speak([audio.unfinished, audio.rest], { pauseMs: 400 });
  assert.equal(finals.length, 1, `one turn, not cut at the pause: ${JSON.stringify(finals)}`);
  const [f] = finals;
  assert.ok(f.ms > 0, 'the turn ended after the whole utterance');
  assert.ok(wer('i would like to order a pizza with mushrooms and olives', f.text) <= 0.35,
    `both parts in the transcript: "${f.text}"`);
});

test('patience still matters: set_speed 100 waits longer than set_speed 0', async () => {
  const [quick] = await speak([audio.unfinished], { speed: 0 });
  const [patient] = await speak([audio.unfinished], { speed: 100 });
  assert.ok(quick && patient, 'both were turns');
  // 500 ms against 1500 ms of silence after a trailing word
  assert.ok(patient.ms - quick.ms >= 400,
    `speed 0: ${quick.ms.toFixed(0)} ms, speed 100: ${patient.ms.toFixed(0)} ms after the speech`);
  const [quickFin] = await speak([audio.finished], { speed: 0 });
  const [patientFin] = await speak([audio.finished], { speed: 100 });
  assert.ok(quickFin && patientFin, 'both were turns');
  assert.ok(patientFin.ms > quickFin.ms,
    `finished phrase: speed 0 ${quickFin.ms.toFixed(0)} ms, speed 100 ${patientFin.ms.toFixed(0)} ms`);
});

/** Adds b (scaled by gainDb) into a from sample `at`; returns a. */
function mix(a, b, gainDb, at = 0) {
  const g = 10 ** (gainDb / 20);
  for (let i = 0; i < b.length / 2 && at + i < a.length / 2; i++) {
    const v = a.readInt16LE((at + i) * 2) + Math.round(g * b.readInt16LE(i * 2));
    a.writeInt16LE(Math.max(-32768, Math.min(32767, v)), (at + i) * 2);
  }
  return a;
}

test('barge-in: noise and residual echo over a playing answer do not interrupt it; speech does, at its onset', async () => {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', input_sample_rate: RATE });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: 'talk for a while' });
  await c.next('tts_chunk', 10000);
  await sleep(1000);
  const answer = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  assert.ok(answer.length / 2 / RATE > 5, 'the answer is long');
  // Loud hiss, clicks, and the answer's own audio 44 dB down (what a
  // browser's echo canceller leaves), 60 ms late, all flagged "playing".
  const noise = Buffer.concat([whiteNoise(RATE, 1.5, 3000), clickTrain(RATE, 1.5, 250)]);
  const echo = mix(whiteNoise(RATE, 4, 20), answer.subarray(RATE * 2 * 2), -44, RATE * 0.06);
  await streamPcm(c, Buffer.concat([noise, echo]), RATE, { frameSamples: FRAME, flags: 1 });
  await sleep(800);
  assert.equal(c.received('stop_tts').length, 0, `not interrupted: ${c.summary()}`);
  assert.equal(c.received('final_user_request').length, 0, c.summary());

  // The user speaks over the echo: stopped at the onset.
  const lead = RATE * 0.3;
  const speech = mix(mix(whiteNoise(RATE, 3, 20), answer.subarray(RATE * 12 * 2), -44), audio.finished, 0, lead);
  const t0 = performance.now();
  const stop = c.next('stop_tts', 5000).then(() => performance.now());
  await streamPcm(c, speech, RATE, { frameSamples: FRAME, flags: 1 });
  const ms = (await stop) - t0 - 300;
  assert.ok(ms < 600, `stop_tts ${ms.toFixed(0)} ms after the speech onset`);
  await c.close();
});
