// The adaptive end of turn through the real server: a finished phrase ends
// sooner than the same words trailing off ("... a pizza." against "... a
// pizza with"), an unfinished phrase followed by a natural 400 ms pause and
// the rest is one turn, and set_speed (patience) still scales the pause.
// The speech is flite's (rms), made at run time through the server itself (a
// fake LLM answers "say: TEXT" with TEXT), trimmed of flite's padding and
// streamed at real-time pace over a quiet noise floor. Timing assertions
// compare two runs of the same server and keep wide margins.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, sleep, waitReady } from './harness.mjs';
import { whiteNoise, wer } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const RATE = 48000;
const FRAME = 960; // 20 ms
let fake, srv;
const audio = {};

/** Drops leading and trailing quiet (flite pads ~0.2 s each side). */
function trim(pcm) {
  const win = RATE / 100;
  const wins = Math.floor(pcm.length / 2 / win);
  const loud = (w) => {
    let sum = 0;
    for (let k = w * win; k < (w + 1) * win; k++) { const v = pcm.readInt16LE(k * 2); sum += v * v; }
    return Math.sqrt(sum / win) > 150;
  };
  let a = 0;
  while (a < wins && !loud(a)) a++;
  let b = wins - 1;
  while (b > a && !loud(b)) b--;
  return pcm.subarray(a * win * 2, (b + 1) * win * 2);
}

async function say(text) {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'rms' });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: `say: ${text}` });
  await c.next('final_assistant_answer', 20000); // after the answer's last audio
  const pcm = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  await c.close();
  assert.ok(pcm.length > RATE, `flite spoke "${text}"`);
  return trim(pcm);
}

before(async () => {
  fake = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : 'Okay.'),
  });
  srv = await startServer(['--llm-url', fake.url, '--stt-warm', '2', '--turns-per-minute', '200']);
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
  c.sendJson({ type: 'session.config', input_sample_rate: RATE });
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
