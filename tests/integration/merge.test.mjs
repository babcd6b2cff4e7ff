// Turn merging (issue 17, docs/architecture.md#turn-merging) through the
// real server: the user pauses long enough for the turn to end, then goes
// on speaking before hearing any of the answer. The two parts are one
// turn: the first answer is withdrawn unheard, the LLM is asked once more
// with the whole utterance as one user message, the history holds one user
// message, and /ws shows one final_user_request (held until the answer is
// heard) or, with session.config hold_final false, each part at once and
// then the whole with "merged": true.
//
// Deterministic transcripts come from the fake transcription service
// (--stt openai): the first utterance it is sent says FIRST, the second
// SECOND; the audio is librivox speech with silence around it.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connect, connectReady, sleep, waitReady, stopClean } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';
import { startFakeSTT } from '../fakes/fake-stt.mjs';

const RATE = 48000;
const FIRST = 'what is the best way to learn';
const SECOND = 'a new language quickly';
const WHOLE = `${FIRST} ${SECOND}`;
const bytesAt = (seconds) => Math.round(seconds * RATE) * 2;
const clip = librivoxClips()[0];
const speech = (from, to) => soxRaw(clip.file, RATE).subarray(bytesAt(from), bytesAt(to));

// Part one, a pause that ends the turn (the rules wait at most 1 s), part
// two, then silence.
const audio = (gapS) => Buffer.concat([silence(RATE, 0.3), speech(0.5, 2.3), silence(RATE, gapS),
  speech(2.5, 3.7), silence(RATE, 1.6)]);

const servers = [];
const closers = [];
after(async () => {
  for (const s of servers) await s.stop();
  for (const c of closers) await c();
});

/** A transcriber that says FIRST to the first utterance, then `second`
 *  (the warm-up's one-second clip excluded). */
async function transcriber(second = SECOND) {
  let n = 0;
  const stt = await startFakeSTT({
    transcript: ({ seconds }) => (seconds <= 1.2 ? 'okay' : (n++ === 0 ? FIRST : second)),
  });
  closers.push(() => stt.close());
  return stt;
}

async function setup({ firstTokenDelayMs, second, args = [] }) {
  const llm = await startFakeOpenAI({ tokenDelayMs: 5, firstTokenDelayMs,
    answer: (body, user) => `You asked: ${user}.` });
  closers.push(() => llm.close());
  const stt = await transcriber(second);
  const srv = await startServer(['--llm-url', llm.url, '--stt', 'openai', '--stt-url', stt.url,
    '--speculate', 'off', ...args]);
  servers.push(srv);
  await waitReady(srv.port, 20000);
  return { llm, stt, srv, since: llm.chatRequests().length };
}

const users = (rec) => rec.body.messages.filter((m) => m.role === 'user').map((m) => m.content);

test('merged: the user goes on before hearing the answer: one turn, one final_user_request, one answer to the whole', async () => {
  // The first answer's first token comes late: nothing of it is heard
  // before the user goes on.
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 2500 });
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.turn_merging, true);
  await streamPcm(c, audio(1.3), RATE, { pace: 1 });
  const ans = await c.next('final_assistant_answer', 20000);
  assert.equal(ans.content, `You asked: ${WHOLE}.`);
  await sleep(500);
  const finals = c.received('final_user_request').map((m) => m.content);
  assert.deepEqual(finals, [WHOLE], 'one user turn, the whole of it');
  const partials = c.received('partial_user_request').map((m) => m.content);
  void partials;
  // The client saw the final before the answer, and no answer to FIRST.
  const order = c.history.map((m) => m.type);
  assert.ok(order.indexOf('final_user_request') < order.indexOf('final_assistant_answer'));
  assert.equal(c.received('final_assistant_answer').length, 1);

  const reqs = llm.chatRequests().slice(since);
  assert.equal(reqs.length, 2, 'the withdrawn request and the merged one');
  assert.deepEqual(users(reqs[0]), [FIRST]);
  assert.equal(reqs[0].aborted, true, 'the first answer was cancelled unheard');
  assert.deepEqual(users(reqs[1]), [WHOLE], 'the LLM is asked once, with one user message');

  // The history holds one user message: the next turn's request shows it.
  c.sendJson({ type: 'text', content: 'thanks' });
  await c.next('final_assistant_answer', 10000);
  const next = llm.chatRequests().slice(since).at(-1).body.messages.slice(-3).map((m) => [m.role, m.content]);
  assert.deepEqual(next, [['user', WHOLE], ['assistant', `You asked: ${WHOLE}.`], ['user', 'thanks']]);
  await c.close();
  await stopClean(srv, servers);
});

test('merged, hold_final false: each part at once, then the whole marked merged', async () => {
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 2500 });
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', hold_final: false });
  const conf = await c.next('session.configured', 5000);
  assert.equal(conf.content.hold_final, false);
  await streamPcm(c, audio(1.3), RATE, { pace: 1 });
  await c.next('final_assistant_answer', 20000);
  const finals = c.received('final_user_request');
  assert.deepEqual(finals.map((m) => [m.content, m.merged ?? false]),
    [[FIRST, false], [SECOND, false], [WHOLE, true]]);
  assert.deepEqual(users(llm.chatRequests().slice(since).at(-1)), [WHOLE]);
  await c.close();
  await stopClean(srv, servers);
});

test('not merged: the answer was heard before the user went on: two turns, two answers', async () => {
  // A quick answer: its audio reaches the client in the pause.
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 0 });
  const c = await connectReady(srv.port);
  await streamPcm(c, audio(3.0), RATE, { pace: 1 });
  await c.next('final_assistant_answer', 20000);
  await c.next('final_assistant_answer', 20000);
  assert.deepEqual(c.received('final_user_request').map((m) => m.content), [FIRST, SECOND]);
  const reqs = llm.chatRequests().slice(since);
  assert.equal(reqs.length, 2);
  assert.deepEqual(users(reqs[1]), [FIRST, SECOND]);
  await c.close();
  await stopClean(srv, servers);
});

test('--turn-merging off: the same speech makes two user turns, the second superseding the first, as before merging', async () => {
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 2500, args: ['--turn-merging', 'off'] });
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.turn_merging, false);
  await streamPcm(c, audio(1.3), RATE, { pace: 1 });
  await c.next('final_assistant_answer', 20000);
  await sleep(500);
  assert.deepEqual(c.received('final_user_request').map((m) => m.content), [FIRST, SECOND], 'two user turns');
  assert.equal(c.received('final_user_request').filter((m) => m.merged).length, 0);
  const reqs = llm.chatRequests().slice(since);
  assert.equal(reqs.length, 2);
  assert.deepEqual(users(reqs[0]), [FIRST]);
  assert.equal(reqs[0].aborted, true, 'the second turn superseded the first answer');
  assert.deepEqual(users(reqs[1]), [FIRST, SECOND], 'two user messages in the history');
  await c.close();
  await stopClean(srv, servers);
});

test('the continuation is nothing (no words): the first part is answered as it was', async () => {
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 2500, second: '' });
  const c = await connectReady(srv.port);
  await streamPcm(c, audio(1.3), RATE, { pace: 1 });
  const ans = await c.next('final_assistant_answer', 20000);
  assert.equal(ans.content, `You asked: ${FIRST}.`);
  await sleep(500);
  assert.deepEqual(c.received('final_user_request').map((m) => m.content), [FIRST]);
  assert.equal(c.received('final_assistant_answer').length, 1);
  const reqs = llm.chatRequests().slice(since);
  assert.equal(reqs.length, 2, 'the withdrawn request and the same turn asked again');
  assert.equal(reqs[0].aborted, true);
  assert.deepEqual(users(reqs[1]), [FIRST], 'one user message, the first part');
  await c.close();
  await stopClean(srv, servers);
});

test('/v1/realtime: two user items, the first response cancelled (turn_detected), one response to the whole', async () => {
  const { llm, srv, since } = await setup({ firstTokenDelayMs: 2500 });
  const c = await connect(srv.port, { path: '/v1/realtime' });
  await c.next('session.created', 5000);
  // pcm16 at 24 kHz, appended at real-time pace in 100 ms pieces
  const pcm = audio(1.3); // 48 kHz: every other pair of samples averaged to 24 kHz
  const bytes = Buffer.alloc(Math.floor(pcm.length / 4) * 2);
  for (let i = 0; i < bytes.length / 2; i++)
    bytes.writeInt16LE((pcm.readInt16LE(4 * i) + pcm.readInt16LE(4 * i + 2)) >> 1, 2 * i);
  const chunk = 4800; // 100 ms at 24 kHz, 16-bit
  const t0 = Date.now();
  for (let i = 0, k = 0; i < bytes.length; i += chunk, k++) {
    const wait = t0 + k * 100 - Date.now();
    if (wait > 0) await sleep(wait);
    c.sendJson({ type: 'input_audio_buffer.append', audio: bytes.subarray(i, i + chunk).toString('base64') });
  }
  const deadline = Date.now() + 20000;
  while (c.received('response.done').filter((e) => e.response.status === 'completed').length < 1 && Date.now() < deadline)
    await sleep(100);
  const done = c.received('response.done').map((e) => [e.response.status, e.response.status_details?.reason ?? null]);
  assert.deepEqual(done, [['cancelled', 'turn_detected'], ['completed', null]]);
  assert.equal(c.received('input_audio_buffer.committed').length, 2, 'two user items');
  const reqs = llm.chatRequests().slice(since);
  assert.equal(reqs.length, 2);
  assert.equal(reqs[0].aborted, true);
  assert.deepEqual(users(reqs[1]), [WHOLE], 'the LLM sees one user message');
  await c.close();
  await stopClean(srv, servers);
});
