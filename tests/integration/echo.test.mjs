// The echo guard through the real server (issue 17): a client that cancels
// no echo, in a simulated room (tests/integration/room.mjs: the answer fed
// back into the microphone late, attenuated, band-limited, reverberant,
// over a noise floor), asks for long answers. With the guard (the default)
// they play to the end, and their echo never becomes a user turn; the same
// room without it (the client says it cancels echo) cuts the answer, so the
// room is a real test. A real interruption over the echo still stops the
// answer. The switches: --echo-guard, session.config echo_cancelled,
// status/session.configured echo_guard. Speech is flite's, made at run
// time through the server itself (the fake LLM answers "say: TEXT" with
// TEXT). Time bounds are generous (the bench, bench/echo.mjs, measures).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, waitReady, sleep, stopClean } from './harness.mjs';
import { trimQuiet } from './audio.mjs';
import { Room, RATE } from './room.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const LONG = [
  'The capital of France is Paris, a city on the river Seine.',
  'It has been a centre of art, science and trade for many centuries.',
  'Its museums hold some of the most famous paintings in the world.',
  'That is a short story of a long history, told in a few sentences.',
].join(' ');
let fake, srv;
let interruption;

before(async () => {
  fake = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : /paris/i.test(user) ? LONG : 'Okay.'),
  });
  srv = await startServer(['--llm-url', fake.url, '--stt-warm', '2', '--turns-per-minute', '200', '--echo-guard', 'auto']);
  await waitReady(srv.port);
  // the user's voice (rms, not the assistant's slt), at 16 kHz
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'rms', output_sample_rate: RATE });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: 'say: Wait, stop, I have a different question for you.' });
  await c.next('final_assistant_answer', 20000);
  const pcm = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  await c.close();
  const trimmed = trimQuiet(pcm, RATE);
  interruption = new Int16Array(trimmed.buffer.slice(trimmed.byteOffset, trimmed.byteOffset + trimmed.length));
});

after(async () => {
  if (srv) await stopClean(srv); // no sanitizer report, a clean exit
  await fake?.close();
});

/** A session in a room: 16 kHz both ways, binary audio, hold_final false
 *  (a turn would show at once). */
async function roomSession(port, roomOpts, config = {}) {
  const c = await connectReady(port);
  c.sendJson({ type: 'session.config', input_sample_rate: RATE, output_sample_rate: RATE,
               audio_out: 'binary', hold_final: false, ...config });
  const configured = await c.next('session.configured');
  const room = new Room(c, roomOpts);
  room.start();
  await sleep(600); // the noise floor first
  return { c, room, configured };
}

/** Asks for the long answer and waits until its audio played out (or it
 *  was stopped). Resolves the final answer. */
async function longAnswer(c, room) {
  room.newAnswer();
  c.sendJson({ type: 'text', content: 'Tell me about Paris.' });
  const fin = await c.next('final_assistant_answer', 30000);
  await sleep(500);
  await room.drained(40000);
  await sleep(1500); // the echo's tail, and any turn it would make
  return fin;
}

const ROOMS = [
  { delayMs: 40, gainDb: 0, seed: 1 },
  { delayMs: 150, gainDb: -6, seed: 2 },
  { delayMs: 300, gainDb: -20, seed: 3 },
];

test('long answers play to the end in a room with echo; the echo is never a turn', async () => {
  const asked = () => fake.chatRequests().filter((r) => /paris/i.test(JSON.stringify(r.body))).length;
  const before0 = asked();
  for (const r of ROOMS) {
    const { c, room, configured } = await roomSession(srv.port, r);
    assert.equal(configured.content.echo_guard, true, 'with --echo-guard auto the guard is on');
    const fin = await longAnswer(c, room);
    const why = `${room.describe()}: ${c.summary()}`;
    assert.equal(c.received('stop_tts').length, 0, `not cut by its own echo (${why})`);
    assert.notEqual(fin.interrupted, true, why);
    assert.equal(fin.content, LONG, why);
    assert.equal(c.received('final_user_request').length, 0, `no turn from the echo (${why})`);
    await room.stop();
    await c.close();
  }
  assert.equal(asked() - before0, ROOMS.length, 'no LLM request but the ones asked for');
});

test('the same room without the guard cuts the answer (the room is a real test)', async () => {
  const { c, room, configured } = await roomSession(srv.port, ROOMS[0], { echo_cancelled: true });
  assert.equal(configured.content.echo_guard, false, 'the client cancels echo: the guard is off');
  room.newAnswer();
  c.sendJson({ type: 'text', content: 'Tell me about Paris.' });
  await c.next('stop_tts', 20000);
  await room.stop();
  await c.close();
});

test('a real interruption over the echo stops the answer', async () => {
  const { c, room } = await roomSession(srv.port, { delayMs: 150, gainDb: 0, seed: 4 });
  // the first answer plays out: the guard learns the room
  const first = await longAnswer(c, room);
  assert.notEqual(first.interrupted, true, c.summary());
  const delays = [];
  for (let k = 0; k < 5; k++) {
    const before = c.received('stop_tts').length;
    room.newAnswer();
    c.sendJson({ type: 'text', content: 'Tell me about Paris.' });
    await c.next('final_assistant_answer', 30000);
    await sleep(2500 + 500 * k); // the echo well under way
    const stops = c.received('stop_tts').length;
    assert.equal(stops, before, `not cut by its echo before the user spoke: ${c.summary()}`);
    const stop = c.next('stop_tts', 5000).then(() => performance.now(), () => null);
    room.say(interruption);
    const at = await stop;
    delays.push(at && room.userSentAt ? at - (room.userSentAt - 20) : Infinity);
    await sleep(6000); // the user's turn is transcribed and answered
    await room.drained(40000);
    await sleep(1500);
    // (the user's words may stop the short answer to their first half too)
  }
  delays.sort((a, b) => a - b);
  const shown = delays.map((d) => d.toFixed(0)).join(', ');
  // Not every interruption passes yet (bench/echo.mjs: about two in three,
  // docs/performance.md): one of five must, promptly, in a debug build on
  // a loaded machine.
  assert.ok(delays[0] < 1500, `onset -> stop_tts ${shown} ms`);
  const heard = c.received('final_user_request').map((m) => m.content);
  const theirs = heard.filter((h) => /stop|question|different|wait/.test(h));
  assert.ok(theirs.length >= 1 && theirs.length * 2 >= heard.length,
    `the user's words were heard (${shown} ms), little else: ${JSON.stringify(heard)}`);
  await room.stop();
  await c.close();
});

test('switches: --echo-guard off and on, echo_cancelled, and a bad value', async () => {
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.echo_guard, true, 'status shows the guard');
  c.sendJson({ type: 'session.config', echo_cancelled: 'yes' });
  const err = await c.next('error');
  assert.equal(err.content.code, 'invalid_field');
  assert.match(err.content.message, /echo_cancelled/);
  c.sendJson({ type: 'session.config', echo_cancelled: true });
  assert.equal((await c.next('session.configured')).content.echo_guard, false);
  c.sendJson({ type: 'session.config', echo_cancelled: false });
  assert.equal((await c.next('session.configured')).content.echo_guard, true);
  await c.close();
  for (const [mode, cancelled, want] of [[null, false, false], ['off', false, false], ['on', true, true]]) {
    const s = await startServer(['--llm-url', fake.url, ...(mode ? ['--echo-guard', mode] : [])]);
    const d = await connectReady(s.port);
    d.sendJson({ type: 'session.config', echo_cancelled: cancelled });
    assert.equal((await d.next('session.configured')).content.echo_guard, want, `--echo-guard ${mode ?? '(default: off)'}`);
    await d.close();
    await stopClean(s);
  }
});
