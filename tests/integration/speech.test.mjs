// The per-connection speech pipeline through the real server: recorded
// speech in, transcripts out, answers spoken back, barge-in, isolation,
// and audio that must not become a turn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { startServer, connectReady, getJson, fetchMetrics, sleep, waitReady } from './harness.mjs';
import {
  librivoxClips, soxRaw, silence, whiteNoise, clickTrain, streamPcm, collectedAudio, wer, writeWav,
} from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const clips = librivoxClips();
const clip = (suffix) => clips.find((c) => c.id.endsWith(suffix));
const LONG_ANSWER = Array.from({ length: 14 }, (_, i) =>
  `This is sentence number ${['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve', 'thirteen', 'fourteen'][i]} of a long answer.`).join(' ');
const KNOWN = "I would like to book a table for two people at seven o'clock tonight.";

let fake, srv;

before(async () => {
  fake = await startFakeOpenAI({
    tokenDelayMs: 15,
    answer: (body, user) => (/table/.test(user) ? KNOWN : /long/.test(user) ? LONG_ANSWER : 'Okay.'),
  });
  srv = await startServer(['--llm-url', fake.url, '--stt-warm', '2']);
  await waitReady(srv.port);
});

after(async () => {
  await srv?.stop();
  await fake?.close();
});

test('speak-then-transcribe: the spoken answer (flite rms) is transcribed back to the same sentence', async () => {
  const a = await connectReady(srv.port);
  a.sendJson({ type: 'session.config', voice: 'rms' });
  await a.next('session.configured');
  a.sendJson({ type: 'text', content: 'say the table sentence' });
  const ans = await a.next('final_assistant_answer', 10000);
  assert.equal(ans.content, KNOWN);
  await a.waitQuiet('tts_chunk');
  const audio = collectedAudio(a);
  const seconds = audio.length / 2 / 48000;
  assert.ok(seconds > 2 && seconds < 10, `plausible speech length: ${seconds.toFixed(2)} s`);
  for (const m of a.received('tts_chunk')) {
    assert.ok(Buffer.from(m.content, 'base64').length <= 9600, 'chunks of at most 100 ms at 48 kHz');
  }
  await a.close();

  const b = await connectReady(srv.port);
  await streamPcm(b, Buffer.concat([silence(48000, 0.5), audio, silence(48000, 1.5)]), 48000, { pace: 3 });
  const heard = await b.next('final_user_request', 8000);
  const e = wer(KNOWN, heard.content);
  assert.ok(e <= 0.1, `transcript "${heard.content}" WER ${(e * 100).toFixed(0)}%`);
  await sleep(300);
  assert.equal(b.received('final_user_request').length, 1);
  await b.close();
});

test('barge-in: speech over playing audio stops it within 500 ms and cuts the history to what was heard', async () => {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'tell me something long' });
  await c.next('tts_chunk', 10000);
  await sleep(1500); // the user listens for a while
  const chunksBefore = c.received('tts_chunk').length;
  const requestsBefore = fake.chatRequests().length;

  const speech = soxRaw(clip('0880').file, 48000, { padAfter: 1.5 });
  // Speech onset inside the clip: the first 20 ms with real energy.
  let onsetS = 0;
  for (let i = 0; i + 960 * 2 <= speech.length; i += 960 * 2) {
    let sum = 0;
    for (let k = 0; k < 960; k++) { const v = speech.readInt16LE(i + k * 2); sum += v * v; }
    if (Math.sqrt(sum / 960) > 300) { onsetS = i / 2 / 48000; break; }
  }
  const t0 = Date.now();
  const stopP = c.next('stop_tts', 5000).then((m) => ({ m, at: Date.now() }));
  const streaming = streamPcm(c, speech, 48000, { frameSamples: 960, flags: 1 });
  const { at } = await stopP;
  const latency = at - t0 - onsetS * 1000;
  assert.ok(latency <= 500, `stop_tts ${latency.toFixed(0)} ms after speech onset`);
  await c.next('tts_interruption', 2000);
  // The cut comes when the speech is known to be a turn (false
  // interruptions resume: docs/protocol.md), at a partial transcript of
  // four words or the final one, so it may wait for the end of the clip.
  let cut = await c.next('final_assistant_answer', 8000);
  while (!cut.interrupted) cut = await c.next('final_assistant_answer', 8000); // skip the text's own final
  assert.equal(cut.interrupted, true);
  assert.ok(cut.content.length < LONG_ANSWER.length, 'the answer is cut');
  await streaming;

  // Nothing of the interrupted answer after stop_tts (audio after the next
  // final transcript belongs to the new answer).
  const order = c.history.map((m) => m.type);
  const stopAt = order.indexOf('stop_tts');
  const nextTurn = order.indexOf('final_user_request', stopAt);
  const between = order.slice(stopAt, nextTurn < 0 ? undefined : nextTurn);
  assert.equal(between.filter((t) => t === 'tts_chunk').length, 0, 'no audio after stop_tts');
  assert.ok(chunksBefore > 0);

  // The interrupting speech becomes the next turn; its request carries the truncated answer.
  const final = await c.next('final_user_request', 8000);
  assert.ok(final.content.length > 0);
  for (let i = 0; i < 100 && fake.chatRequests().length === requestsBefore; i++) await sleep(50);
  const msgs = fake.chatRequests().at(-1).body.messages;
  const assistant = msgs.at(-2);
  assert.equal(assistant.role, 'assistant');
  assert.ok(assistant.content.endsWith('...'), `marked as cut: ${assistant.content}`);
  assert.ok(assistant.content.length < LONG_ANSWER.length * 0.8, `truncated: "${assistant.content}"`);
  assert.ok(LONG_ANSWER.startsWith(assistant.content.slice(0, -3).trim()), 'a prefix of what was said');
  const m = (await fetchMetrics(srv.port)).values;
  assert.ok(m.parley_stage_barge_in_seconds_count >= 1);
  await c.close();
});

test('two sessions speaking at once each get only their own transcript', async () => {
  const [a, b] = await Promise.all([connectReady(srv.port), connectReady(srv.port)]);
  const ca = clip('0870');
  const cb = clip('0890');
  await Promise.all([
    streamPcm(a, soxRaw(ca.file, 48000, { padBefore: 0.5, padAfter: 1.5 }), 48000),
    streamPcm(b, soxRaw(cb.file, 48000, { padBefore: 0.5, padAfter: 1.5 }), 48000),
  ]);
  const fa = await a.next('final_user_request', 5000);
  const fb = await b.next('final_user_request', 5000);
  assert.ok(wer(ca.text, fa.content) < wer(cb.text, fa.content), `A heard A: "${fa.content}"`);
  assert.ok(wer(cb.text, fb.content) < wer(ca.text, fb.content), `B heard B: "${fb.content}"`);
  assert.ok(wer(ca.text, fa.content) <= 0.5 && wer(cb.text, fb.content) <= 0.5);
  await sleep(500);
  assert.equal(a.received('final_user_request').length, 1);
  assert.equal(b.received('final_user_request').length, 1);
  await Promise.all([a.close(), b.close()]);
});

for (const [name, make] of [
  ['silence only', () => silence(48000, 4)],
  ['white noise', () => whiteNoise(48000, 4, 3000)],
  ['quiet white noise', () => whiteNoise(48000, 4, 200)],
  ['a click train', () => clickTrain(48000, 4, 250)],
]) {
  test(`${name} produces no turn`, async () => {
    const c = await connectReady(srv.port);
    await streamPcm(c, make(), 48000, { pace: 4 });
    await sleep(1500);
    assert.equal(c.received('final_user_request').length, 0, c.summary());
    assert.equal(c.received('partial_user_request').length, 0, c.summary());
    assert.equal(c.received('error').length, 0, c.summary());
    await c.close();
  });
}

test('16 kHz input and 24 kHz binary output work', async () => {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', input_sample_rate: 16000, output_sample_rate: 24000, audio_out: 'binary' });
  const conf = await c.next('session.configured');
  assert.equal(conf.content.input_sample_rate, 16000);
  const cl = clip('0930');
  await streamPcm(c, soxRaw(cl.file, 16000, { padBefore: 0.3, padAfter: 1.5 }), 16000, { frameSamples: 640, pace: 2 });
  const final = await c.next('final_user_request', 8000);
  assert.ok(wer(cl.text, final.content) <= 0.4, `"${final.content}"`);
  await c.next('final_assistant_answer', 8000); // "Okay."
  for (let i = 0; i < 50 && c.binaries.length === 0; i++) await sleep(100);
  assert.ok(c.binaries.length > 0, 'binary audio frames');
  assert.equal(c.received('tts_chunk').length, 0, 'no base64 chunks in binary mode');
  assert.equal(c.binaries[0].length, 2400 * 2, 'first chunk is 100 ms at 24 kHz');
  await c.close();
});

test('an unknown voice is refused and the default stays', async () => {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'nosuchvoice' });
  const e = await c.next('error');
  assert.equal(e.content.code, 'invalid_field');
  assert.match(e.content.message, /unknown voice 'nosuchvoice'.*slt/);
  c.sendJson({ type: 'session.config', voice: 'en-gb' });
  assert.equal((await c.next('session.configured')).content.voice, 'en-gb');
  c.sendJson({ type: 'text', content: 'long please' }); // espeak speaks it
  await c.next('tts_chunk', 10000);
  await c.close();
});

test('stage timings are logged per turn and exported as histograms', async () => {
  const m = (await fetchMetrics(srv.port)).values;
  for (const stage of ['transcript', 'first_token', 'first_audio', 'total']) {
    assert.ok(m[`parley_stage_${stage}_seconds_count`] >= 1, stage);
  }
  assert.match(srv.stderr(), /turn: speech end -> transcript \d+ ms, transcript -> first token -?\d+ ms, first token -> first audio \d+ ms, total \d+ ms/);
});

test('a client that stops sending mid-utterance still gets its turn, and the decoder goes back', async () => {
  const c = await connectReady(srv.port);
  const speech = soxRaw(clip('0870').file, 48000);
  await streamPcm(c, Buffer.concat([silence(48000, 0.3), speech.subarray(0, 48000 * 2 * 3)]), 48000); // 3 s, cut mid-sentence
  const t0 = Date.now();
  const final = await c.next('final_user_request', 4000); // no more audio comes at all
  assert.ok(final.content.length > 0);
  assert.ok(Date.now() - t0 < 2500, `turn ended ${Date.now() - t0} ms after the audio stopped`);
  let m;
  for (let i = 0; i < 20; i++) {
    m = (await fetchMetrics(srv.port)).values;
    if (m.parley_stt_decoders_leased === 0) break;
    await sleep(100);
  }
  assert.equal(m.parley_stt_decoders_leased, 0, 'no decoder held by a quiet client');
  await c.close();
});

test('the answer text follows the speech: each partial after its audio, the final after the last audio', async () => {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'a long one please' });
  const final = await c.next('final_assistant_answer', 20000);
  assert.equal(final.content, LONG_ANSWER);
  const order = c.history.map((m) => m.type).filter((t) => ['tts_chunk', 'partial_assistant_answer', 'final_assistant_answer'].includes(t));
  const partials = c.received('partial_assistant_answer');
  assert.ok(partials.length >= 10, `one partial per spoken piece: ${partials.length}`);
  for (let i = 1; i < partials.length; i++) {
    assert.ok(partials[i].content.startsWith(partials[i - 1].content), 'partials grow');
  }
  assert.equal(partials.at(-1).content, LONG_ANSWER);
  let audioSince = false;
  for (const t of order) {
    if (t === 'tts_chunk') audioSince = true;
    else if (t === 'partial_assistant_answer') {
      assert.ok(audioSince, 'a partial comes with the audio of its piece');
      audioSince = false;
    }
  }
  assert.equal(order.at(-1), 'final_assistant_answer', 'nothing of the answer after its final');
  await c.close();
});
