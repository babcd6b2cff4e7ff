// Speech-to-text over HTTP (--stt openai) through the real server against
// the fake transcription service (tests/fakes/fake-stt.mjs): recorded speech
// streamed as a client does, the service's transcript reaching the user and
// the LLM, whisper.cpp's /inference, partials, a stuck one-at-a-time
// service, a service down at startup, failures mid-request, a wrong key.
// Every server must exit cleanly with no sanitizer report (ASan build).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, sleep, waitReady, sanitizerReports, fetchMetrics, runBin, stopClean } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';
import { startFakeSTT } from '../fakes/fake-stt.mjs';

const RATE = 48000;
const clip = librivoxClips()[0];
// Two seconds of the recording (the fake decides what was said): short
// turns, so several fit in a session within the audio pace allowance.
const CLIP_SECONDS = 2;
const bytesAt = (seconds) => Math.round(seconds * RATE) * 2;
const SPEECH = Buffer.concat([silence(RATE, 0.3),
  soxRaw(clip.file, RATE).subarray(bytesAt(0.5), bytesAt(0.5 + CLIP_SECONDS)), silence(RATE, 1.2)]);
const HEARD = 'What is the capital of France?';
const KEY = 'sk-stt-test-0123456789abcdefABCDEF';

let llm;
const servers = [];

before(async () => {
  llm = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (user === HEARD ? 'Paris.' : `You said: ${user}`),
  });
});

after(async () => {
  for (const s of servers) await s.stop();
  await llm?.close();
});

/** A server with --stt openai against stt (more args appended); registered for the leak check. */
async function sttServer(stt, args = [], env = {}) {
  const srv = await startServer(['--llm-url', llm.url, '--stt', 'openai', '--stt-url', stt.url, ...args], env);
  servers.push(srv);
  return srv;
}

/** Speaks the clip into a session at `pace` times real time. */
const speak = (c, pace = 1.5) => streamPcm(c, SPEECH, RATE, { pace });

/** The next `error` or `final_user_request`, whichever comes first. */
async function outcome(c, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const i = c.queue.findIndex((m) => m.type === 'error' || m.type === 'final_user_request');
    if (i >= 0) return c.queue.splice(i, 1)[0];
    if (Date.now() > deadline) throw new Error(`no transcript or error within ${timeoutMs} ms; received: ${c.summary()}`);
    await sleep(20);
  }
}

test('a spoken turn end to end: the utterance is posted as 16 kHz WAV, the transcript reaches the user and the LLM', async () => {
  const stt = await startFakeSTT({ transcript: HEARD, key: KEY });
  const srv = await sttServer(stt, [], { PARLEY_STT_API_KEY: KEY });
  await waitReady(srv.port, 20000);
  const c = await connectReady(srv.port);
  await speak(c);
  const heard = await c.next('final_user_request', 20000);
  assert.equal(heard.content, HEARD);
  const ans = await c.next('final_assistant_answer', 20000);
  assert.equal(ans.content, 'Paris.');
  const chat = llm.chatRequests().at(-1);
  assert.equal(chat.body.messages.at(-1).content, HEARD, 'the transcript went to the LLM');

  const posts = stt.transcriptions();
  const warm = posts[0];
  assert.ok(warm.wav.seconds > 0.9 && warm.wav.seconds < 1.1, `warm-up posts a second of audio (${warm.wav.seconds} s)`);
  const turn = posts.at(-1);
  assert.equal(turn.path, '/v1/audio/transcriptions');
  assert.equal(turn.auth, `Bearer ${KEY}`);
  assert.deepEqual({ ...turn.fields }, { model: 'whisper-1', language: 'en', response_format: 'json' });
  assert.equal(turn.file.filename, 'audio.wav');
  assert.equal(turn.file.contentType, 'audio/wav');
  assert.equal(turn.wav.rate, 16000);
  assert.equal(turn.wav.channels, 1);
  assert.ok(Math.abs(turn.wav.seconds - CLIP_SECONDS) < 1.5,
    `the utterance (${turn.wav.seconds.toFixed(2)} s) is about the clip (${CLIP_SECONDS.toFixed(2)} s)`);
  assert.ok(!srv.stderr().includes(KEY), 'the key never reaches the log');
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('--stt-path /inference: whisper.cpp\'s server, its segment lines trimmed into one transcript', async () => {
  const stt = await startFakeSTT({ transcript: 'Hello there. How are you today?', flavor: 'whispercpp' });
  const srv = await sttServer(stt, ['--stt-path', '/inference', '--stt-url', `${stt.url}/v1`]);
  await waitReady(srv.port, 20000);
  const c = await connectReady(srv.port);
  await speak(c);
  const heard = await c.next('final_user_request', 20000);
  assert.equal(heard.content, 'Hello there. How are you today?');
  const turn = stt.transcriptions().at(-1);
  assert.equal(turn.path, '/inference');
  assert.equal(turn.status, 200);
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('partials: the growing utterance is re-posted, partial transcripts arrive before the final, none after', async () => {
  const stt = await startFakeSTT({ transcript: ({ seconds }) => `heard ${seconds.toFixed(1)} seconds` });
  const srv = await sttServer(stt, ['--stt-partial-ms', '700']);
  await waitReady(srv.port, 20000);
  const c = await connectReady(srv.port);
  await speak(c, 1.5);
  const final = await c.next('final_user_request', 20000);
  await sleep(500);
  const types = c.history.map((m) => m.type);
  const partials = c.received('partial_user_request');
  assert.ok(partials.length >= 1, `partials arrived: ${c.summary()}`);
  assert.ok(partials.every((p) => /^heard \d+\.\d seconds$/.test(p.content)), JSON.stringify(partials));
  assert.ok(types.lastIndexOf('partial_user_request') < types.indexOf('final_user_request'), 'no partial after the final');
  const posts = stt.transcriptions().slice(1); // after the warm-up
  assert.ok(posts.length >= 3, `partials and the final were posted (${posts.length})`);
  const last = posts.at(-1);
  assert.equal(final.content, `heard ${last.wav.seconds.toFixed(1)} seconds`, 'the final is the whole utterance');
  for (let i = 1; i < posts.length - 1; i++) {
    assert.ok(posts[i].wav.seconds >= posts[i - 1].wav.seconds, 'each partial re-posts the growing utterance');
  }
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('a stuck service that works one request at a time: other speakers get stt_busy / stt_timeout in time, then it works again', async () => {
  const stt = await startFakeSTT({ transcript: HEARD });
  // One slot, no queue: the second speaker is refused at once (stt_busy).
  // The timeout leaves b's turn (about 3 s after a's on a busy machine) well
  // inside a's stuck request.
  const srv = await sttServer(stt, ['--stt-timeout', '8000', '--stt-max-inflight', '1', '--stt-max-queue', '0']);
  await waitReady(srv.port, 20000);
  stt.set({ stall: true });
  const a = await connectReady(srv.port);
  const b = await connectReady(srv.port);
  await speak(a);
  const t0 = Date.now();
  await speak(b);
  const eb = await outcome(b, 10000);
  assert.equal(eb.type, 'error', `b: ${b.summary()}`);
  assert.equal(eb.content.code, 'stt_busy');
  assert.match(eb.content.message, /saturated/);
  const ea = await outcome(a, 20000);
  assert.equal(ea.type, 'error', `a: ${a.summary()}`);
  assert.equal(ea.content.code, 'stt_timeout');
  assert.ok(Date.now() - t0 < 15000, 'the stuck request ended within its timeout');
  await sleep(300);
  assert.ok(stt.transcriptions().at(-1).aborted, 'the service saw the stuck request\'s connection close');

  stt.set({ stall: false });
  stt.unstall();
  await speak(b);
  const ok = await outcome(b);
  assert.equal(ok.type, 'final_user_request', b.summary());
  assert.equal(ok.content, HEARD);
  await a.close();
  await b.close();
  await stopClean(srv, servers);

  // Slots free but the service itself queues behind its stuck request:
  // the waiting speaker gets stt_timeout, not a wait for ever.
  const srv2 = await sttServer(stt, ['--stt-timeout', '3000']);
  await waitReady(srv2.port, 20000);
  stt.set({ stall: true });
  const c = await connectReady(srv2.port);
  const d = await connectReady(srv2.port);
  await speak(c);
  await sleep(200);
  await speak(d);
  const ed = await outcome(d, 15000);
  assert.equal(ed.type, 'error', d.summary());
  assert.equal(ed.content.code, 'stt_timeout');
  assert.match(ed.content.message, /did not answer in time/);
  stt.set({ stall: false });
  stt.unstall();
  await outcome(c, 15000);
  await speak(d);
  assert.equal((await outcome(d)).type, 'final_user_request', d.summary());
  await c.close();
  await d.close();
  await stopClean(srv2, servers);
  await stt.close();
});

test('service down at startup: /readyz names stt and why, then ready once the service starts', async () => {
  const stt = await startFakeSTT({ down: true, transcript: HEARD });
  const srv = await sttServer(stt);
  let r;
  for (let i = 0; i < 100; i++) {
    r = await getJson(srv.port, '/readyz');
    if (/cannot connect/.test(r.json?.reason || '')) break;
    await sleep(100);
  }
  assert.equal(r.status, 503);
  assert.match(r.json.reason, /stt/);
  assert.match(r.json.reason, new RegExp(`cannot connect to the transcription service at 127\\.0\\.0\\.1:${stt.port}`));
  await stt.start();
  await waitReady(srv.port, 30000); // the warm-up is retried with backoff
  const c = await connectReady(srv.port);
  await speak(c);
  const heard = await outcome(c);
  assert.equal(heard.type, 'final_user_request', c.summary());
  assert.equal(heard.content, HEARD);
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('failing mid-request (500, connection cut): that speaker gets stt_error, the next turn works', async () => {
  const stt = await startFakeSTT({ transcript: HEARD });
  const srv = await sttServer(stt);
  await waitReady(srv.port, 20000);
  const c = await connectReady(srv.port);

  stt.set({ fail: true });
  await speak(c);
  const e1 = await outcome(c);
  assert.equal(e1.type, 'error', c.summary());
  assert.equal(e1.content.code, 'stt_error');
  assert.match(e1.content.message, /HTTP 500/);
  assert.ok(e1.content.message.length <= 120);

  stt.set({ fail: false, closeMidResponse: true });
  await speak(c);
  const e2 = await outcome(c);
  assert.equal(e2.type, 'error', c.summary());
  assert.equal(e2.content.code, 'stt_error');
  assert.match(e2.content.message, /cut off or garbled/);

  stt.reset();
  await speak(c);
  const ok = await outcome(c);
  assert.equal(ok.type, 'final_user_request', c.summary());
  assert.equal(ok.content, HEARD);
  await c.close();
  const m = await fetchMetrics(srv.port);
  assert.ok((m.values['parley_http_errors_total{cause="http_status",lane="stt"}'] ?? 0) >= 1, 'the 500 is counted');
  await stopClean(srv, servers);
  await stt.close();
});

test('a wrong key: /readyz and the speaker are told clearly, the key is never shown', async () => {
  const stt = await startFakeSTT({ transcript: HEARD, key: KEY });
  const wrong = 'sk-wrong-key-ZYXWVUT9876543210zyxwvut';
  const srv = await sttServer(stt, [], { PARLEY_STT_API_KEY: wrong });
  let r;
  for (let i = 0; i < 100; i++) {
    r = await getJson(srv.port, '/readyz');
    if (/401/.test(r.json?.reason || '')) break;
    await sleep(100);
  }
  assert.equal(r.status, 503);
  assert.match(r.json.reason, /stt: openai: the transcription service at 127\.0\.0\.1:\d+ refused the API key \(HTTP 401/);
  assert.match(r.json.reason, /PARLEY_STT_API_KEY/);
  assert.ok(!r.text.includes('ZYXWVUT'), 'the key is masked');
  const c = await connectReady(srv.port);
  await speak(c);
  const e = await outcome(c);
  assert.equal(e.type, 'error', c.summary());
  assert.match(e.content.code, /^stt_/);
  assert.match(e.content.message, /key|401/);
  assert.ok(!JSON.stringify(c.history).includes('ZYXWVUT'), 'the key never reaches the client');
  assert.ok(!srv.stderr().includes('ZYXWVUT9876543210'), 'nor the log');
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('--stt openai without --stt-url stops at once (exit 2) and says what to set', async () => {
  const r = await runBin(['--stt', 'openai', '--port', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--stt openai needs --stt-url/);
  assert.match(r.stderr, /--stt-path \/inference/);
});

test('SIGTERM while the warm-up waits on a stuck service: parley exits at once, cleanly', async () => {
  const stt = await startFakeSTT({ stall: true });
  const srv = await sttServer(stt);
  for (let i = 0; i < 100 && stt.transcriptions().length === 0; i++) await sleep(50);
  assert.equal(stt.transcriptions().length, 1, 'the warm-up request is in flight');
  const r = await srv.stop('SIGTERM', { killAfterMs: 20000 });
  servers.splice(servers.indexOf(srv), 1);
  assert.equal(r.code, 0);
  assert.ok(r.ms < 5000, `exited ${r.ms} ms after SIGTERM (the warm-up's timeout is 15 s)`);
  assert.deepEqual(sanitizerReports(srv.stderr()), []);
  await sleep(100);
  assert.ok(stt.transcriptions()[0].aborted, 'the service saw the warm-up request go');
  await stt.close();
});
