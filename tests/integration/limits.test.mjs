// Fair limits through the real server: audio faster than real time is
// dropped (audio_too_fast) and a persisting flood is closed while another
// session is still transcribed on time; network jitter is not punished;
// typed turns beyond --turns-per-minute get rate_limited; a server-wide
// budget of queued bytes closes clients that never read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, connectReady, getJson, fetchMetrics, waitForMetrics, sleep, sanitizerReports, waitReady } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, wer } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const clips = librivoxClips();
const clip = (suffix) => clips.find((c) => c.id.endsWith(suffix));
const servers = [];
const fakes = [];

after(async () => {
  for (const s of servers) {
    await s.stop().catch(() => {});
    assert.deepEqual(sanitizerReports(s.stderr()), [], 'no sanitizer report');
  }
  for (const f of fakes) await f.close().catch(() => {});
});

async function server(args, env = {}) {
  const s = await startServer(args, env);
  servers.push(s);
  await waitReady(s.port);
  return s;
}

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/** Streams an utterance at real time; resolves {ms: start -> final_user_request, text}. */
async function timedUtterance(port, c) {
  const client = await connectReady(port);
  const pcm = soxRaw(c.file, 48000, { padBefore: 0.5, padAfter: 1.5 });
  const t0 = Date.now();
  const final = client.next('final_user_request', 30000).then((m) => ({ m, at: Date.now() }));
  await streamPcm(client, pcm, 48000);
  const { m: f, at } = await final;
  const ms = at - t0;
  await sleep(200);
  const errors = client.received('error');
  await client.close();
  return { ms, text: f.content, errors };
}

test('a 20x flood gets one audio_too_fast and is closed; another session is still transcribed on time', async () => {
  // One worker thread: the flood and the speaker share it, so only slicing
  // and pacing keep the speaker's transcript on time.
  const srv = await server(['--llm-backend', 'echo', '--workers', '1', '--stt-warm', '2']);
  const speech = clip('0930');
  const alone = await timedUtterance(srv.port, speech);
  assert.deepEqual(alone.errors, []);
  assert.ok(wer(speech.text, alone.text) <= 0.4, `alone: "${alone.text}"`);

  // 100 s of real speech (decoding it is the expensive part), sent 20x faster than real time.
  const one = soxRaw(clip('0870').file, 48000);
  const flood = Buffer.concat(Array.from({ length: 15 }, () => one)).subarray(0, 48000 * 2 * 100);
  const f = await connectReady(srv.port);
  const t0 = Date.now();
  const flooding = streamPcm(f, flood, 48000, { pace: 20 }).then(() => 'sent all', (e) => e.message);
  const victim = timedUtterance(srv.port, speech);
  const closed = await f.waitClose(15000);
  const closedAfter = Date.now() - t0;
  const withFlood = await victim;
  assert.match(await flooding, /closed/, 'the flood did not get to send its 5 s');

  const tooFast = f.received('error').filter((e) => e.content.code === 'audio_too_fast');
  assert.equal(tooFast.length, 1, `exactly one audio_too_fast: ${f.summary()}`);
  assert.match(tooFast[0].content.message, /faster than real time/);
  assert.equal(f.received('error').length, 1, f.summary());
  assert.equal(closed.code, 1008, 'policy violation');
  assert.equal(closed.reason, 'audio faster than real time');
  assert.ok(closedAfter < 5000, `closed while it persisted, after ${closedAfter} ms`);

  assert.deepEqual(withFlood.errors, [], 'the speaker got no error');
  assert.ok(wer(speech.text, withFlood.text) <= 0.4, `with the flood: "${withFlood.text}"`);
  console.log(`# final transcript ${alone.ms} ms alone, ${withFlood.ms} ms beside the flood; flood closed after ${closedAfter} ms`);
  assert.ok(withFlood.ms <= alone.ms * 1.5 + 1500, `${withFlood.ms} ms beside the flood vs ${alone.ms} ms alone`);

  const m = (await fetchMetrics(srv.port)).values;
  assert.ok(m['parley_protocol_errors_total{code="audio_too_fast"}'] >= 1);
  assert.equal((await getJson(srv.port, '/healthz')).status, 200);
});

test('network jitter is not punished: a 3 s stall then the 3 s at once', async () => {
  const srv = await server(['--llm-backend', 'echo', '--stt-warm', '1']);
  const c = await connectReady(srv.port);
  const speech = clip('0870'); // 7.1 s
  const pcm = soxRaw(speech.file, 48000, { padBefore: 2, padAfter: 1.5 });
  const at = (s) => Math.round(s * 48000) * 2;
  await streamPcm(c, pcm.subarray(0, at(2)), 48000); // real time
  await sleep(3000); // the network stalls (before the user speaks) ...
  await streamPcm(c, pcm.subarray(at(2), at(5)), 48000, { pace: 0 }); // ... and catches up at once
  await streamPcm(c, pcm.subarray(at(5)), 48000); // real time again
  const final = await c.next('final_user_request', 10000);
  assert.deepEqual(c.received('error'), [], c.summary());
  assert.ok(wer(speech.text, final.content) <= 0.5, `the burst was heard: "${final.content}"`);
  assert.equal(c.received('final_user_request').length, 1, c.summary());
  assert.ok(c.isOpen);
  await c.close();
});

test('typed turns beyond the burst get rate_limited and never reach the LLM', async () => {
  const fake = await startFakeOpenAI({ tokenDelayMs: 5, answer: (b, user) => `Answer to ${user}.` });
  fakes.push(fake);
  const srv = await server(['--llm-url', fake.url, '--turns-per-minute', '20']); // burst 5, then 1 every 3 s
  const warm = fake.chatRequests().length;
  const c = await connectReady(srv.port);
  for (let i = 1; i <= 8; i++) c.sendJson({ type: 'text', content: `t${i}` });
  const last = await c.next('final_assistant_answer', 10000);
  await sleep(500);
  const limited = c.received('error').filter((e) => e.content.code === 'rate_limited');
  assert.equal(limited.length, 3, c.summary());
  assert.match(limited[0].content.message, /too many turns: at most 20 a minute \(5 at once\)/);
  assert.equal(c.received('error').length, 3, c.summary());
  const finals = c.received('final_assistant_answer');
  assert.equal(finals.at(-1).content, 'Answer to t5.', 'the last admitted turn is answered');
  assert.equal(last.content, 'Answer to t5.');
  assert.equal(last.interrupted, false);
  const asked = fake.chatRequests().slice(warm).map((r) => r.body.messages.at(-1).content);
  for (const t of ['t6', 't7', 't8']) assert.ok(!asked.includes(t), `${t} never reached the LLM: ${asked}`);
  // The refused turns are not in the history either.
  assert.deepEqual(fake.chatRequests().at(-1).body.messages.filter((m) => m.role === 'user').map((m) => m.content).slice(-1), ['t5']);

  await sleep(3100); // one token back
  c.sendJson({ type: 'text', content: 'again' });
  assert.equal((await c.next('final_assistant_answer', 5000)).content, 'Answer to again.');
  assert.equal(c.received('error').length, 3);
  const m = (await fetchMetrics(srv.port)).values;
  assert.equal(m['parley_protocol_errors_total{code="rate_limited"}'], 3);
  await c.close();
});

test('a spoken turn beyond the limit is still shown (final_user_request), then rate_limited, and not answered', async () => {
  const fake = await startFakeOpenAI({ tokenDelayMs: 5, answer: (b, user) => `Answer to ${user}.` });
  fakes.push(fake);
  const srv = await server(['--llm-url', fake.url, '--turns-per-minute', '1', '--stt-warm', '1']); // burst 1
  const warm = fake.chatRequests().length;
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'typed first' });
  assert.equal((await c.next('final_assistant_answer', 10000)).content, 'Answer to typed first.');
  const speech = clip('0930');
  await streamPcm(c, soxRaw(speech.file, 48000, { padBefore: 0.3, padAfter: 1.5 }), 48000);
  const heard = await c.next('final_user_request', 10000);
  assert.ok(wer(speech.text, heard.content) <= 0.4, `"${heard.content}"`);
  const e = await c.next('error', 5000);
  assert.equal(e.content.code, 'rate_limited');
  const order = c.history.map((m) => m.type);
  assert.ok(order.lastIndexOf('final_user_request') < order.lastIndexOf('error'), 'transcript first, then the error');
  await sleep(500);
  assert.equal(c.received('final_assistant_answer').length, 1, 'no answer to the refused turn');
  assert.deepEqual(fake.chatRequests().slice(warm).map((r) => r.body.messages.at(-1).content), ['typed first']);
  await c.close();
});

test('a tiny --max-queued-mb closes clients that never read; the server stays up and small', async () => {
  const long = Array.from({ length: 40 }, (_, i) => `This is sentence ${i} of an answer nobody is reading.`).join(' ');
  const fake = await startFakeOpenAI({ tokenDelayMs: 1, answer: long });
  fakes.push(fake);
  // ASan keeps freed memory in a quarantine (256 MB by default), which would
  // hide what the server really holds: keep it small for this measurement.
  const asan = [process.env.ASAN_OPTIONS, 'quarantine_size_mb=8'].filter(Boolean).join(':');
  const srv = await server(['--llm-url', fake.url, '--max-queued-mb', '1', '--workers', '2'], { ASAN_OPTIONS: asan });
  const m0 = (await fetchMetrics(srv.port)).values;
  assert.equal(m0.parley_outqueue_budget_bytes, 1 << 20);
  assert.equal(m0.parley_outqueue_bytes, 0);
  const rss0 = rssKb(srv.proc.pid);

  const N = 6;
  const readers = await Promise.all(Array.from({ length: N }, () => connectReady(srv.port)));
  for (const c of readers) {
    c.ws._socket.pause(); // never read again
    c.sendJson({ type: 'text', content: 'talk for a long time' });
  }
  let peak = 0;
  const v = await waitForMetrics(srv.port, (x) => {
    peak = Math.max(peak, x.parley_outqueue_bytes);
    return x.parley_outqueue_overflows_total >= N && x.parley_sessions_live === 0;
  }, { timeoutMs: 60000, intervalMs: 50, what: `${N} slow readers closed` });
  assert.equal(v.parley_outqueue_bytes, 0, 'every queued byte given back');
  // The budget holds, give or take each queue's small reserve (1 MiB / 2 / 100 sessions).
  assert.ok(peak <= (1 << 20) + N * 5243 + 20000, `peak queued ${peak} bytes`);
  const rss1 = rssKb(srv.proc.pid);
  console.log(`# ${N} slow readers: peak queued ${peak} bytes; RSS ${rss0} -> ${rss1} kB`);
  assert.ok(rss1 - rss0 < 64 * 1024, `RSS grew ${rss1 - rss0} kB`);
  assert.match(srv.stderr(), /not reading its messages \(the server-wide budget of 1048576 bytes/);

  for (const c of readers) c.ws._socket.resume();
  for (const c of readers) await c.waitClose(5000);
  // The server is fine: a new client gets an answer.
  const ok = await connectReady(srv.port);
  fake.reset({ answer: 'Fine.' });
  ok.sendJson({ type: 'text', content: 'still there?' });
  assert.equal((await ok.next('final_assistant_answer', 10000)).content, 'Fine.');
  await ok.close();
});

// A long answer: about 2000 characters, well over 100 s of speech, 13 MB or
// more of base64 audio at 48 kHz, more than loopback socket buffers hold.
const LONG_ANSWER = Array.from({ length: 36 }, (_, i) => `Here is sentence number ${i} of a long answer, read slowly.`).join(' ');

test('write progress: a client that never reads but sends a small message every second is closed after --write-timeout', async () => {
  const fake = await startFakeOpenAI({ tokenDelayMs: 1, answer: LONG_ANSWER });
  fakes.push(fake);
  const srv = await server(['--llm-url', fake.url, '--write-timeout', '3', '--llm-max-tokens', '1000']);
  // A slow but honest reader: it reads for 100 ms every 1.5 s.
  const slow = await connectReady(srv.port);
  slow.ws._socket.pause();
  let nudging = true;
  const nudge = setInterval(() => {
    slow.ws._socket.resume();
    setTimeout(() => { if (nudging) slow.ws._socket.pause(); }, 100);
  }, 1500);
  slow.sendJson({ type: 'text', content: 'the slow one' });

  const c = await connectReady(srv.port);
  c.ws._socket.pause(); // never reads again ...
  c.sendJson({ type: 'text', content: 'talk for a long time' });
  // ... but proves it is alive: the idle timeout would never fire.
  const alive = setInterval(() => { if (c.isOpen) c.sendJson({ type: 'set_speed', speed: 50 }); }, 1000);
  const t0 = Date.now();
  let v;
  try {
    await waitForMetrics(srv.port, (x) => x.parley_outqueue_bytes > 0, { timeoutMs: 30000, intervalMs: 50, what: 'bytes queued' });
    v = await waitForMetrics(srv.port, (x) => x.parley_outqueue_overflows_total >= 1,
      { timeoutMs: 30000, intervalMs: 100, what: 'the non-reader closed' });
  } finally {
    clearInterval(alive);
  }
  const closedAfter = Date.now() - t0;
  assert.match(srv.stderr(), /session \d+: closing: the client is not reading its messages \(\d+ waiting, nothing written for [3-9]\.\d s, --write-timeout\)/);
  assert.equal(v.parley_outqueue_overflows_total, 1, 'only the non-reader');
  assert.ok(slow.isOpen, 'the slow reader is still there');
  assert.equal((await waitForMetrics(srv.port, (x) => x.parley_sessions_live === 1, { what: 'one session left' })).parley_sessions_live, 1);
  console.log(`# non-reader closed ${closedAfter} ms after its turn (--write-timeout 3)`);
  c.ws._socket.resume();
  await c.waitClose(5000);

  // The slow reader gets its whole answer once it reads at full speed.
  nudging = false;
  clearInterval(nudge);
  slow.ws._socket.resume();
  const fin = await slow.next('final_assistant_answer', 60000);
  assert.equal(fin.content, LONG_ANSWER);
  assert.ok(slow.isOpen);
  await slow.close();
});

test('a session closed for flooding hears nothing more, and is dropped even when it does not read', async () => {
  const fake = await startFakeOpenAI({ tokenDelayMs: 1, answer: (b, user) => (user === 'talk' ? LONG_ANSWER : `Answer to ${user}.`) });
  fakes.push(fake);
  // A write timeout far away: only the end of the session may close it.
  const srv = await server(['--llm-url', fake.url, '--write-timeout', '600', '--llm-max-tokens', '1000']);
  const c = await connectReady(srv.port);
  c.ws._socket.pause(); // a blocked socket: the queue cannot drain
  c.sendJson({ type: 'text', content: 'talk' });
  await waitForMetrics(srv.port, (x) => x.parley_outqueue_bytes > 1000000, { timeoutMs: 30000, intervalMs: 50, what: 'a full queue' });
  const inText = (x) => x['parley_ws_messages_in_total{kind="text"}'] ?? 0;
  const textBefore = inText((await fetchMetrics(srv.port)).values);

  // 20x real time until the session is ended for it.
  const frame = Buffer.alloc(8 + 4096 * 2);
  const t0 = Date.now();
  while (!/closing it: audio faster than real time/.test(srv.stderr())) {
    assert.ok(Date.now() - t0 < 20000, 'the flood was not stopped');
    c.sendBinary(frame);
    await sleep(4); // 4096 samples at 48 kHz are 85 ms
  }
  const ended = Date.now();
  // Everything after the end is ignored: a typed turn, a session.config.
  c.sendJson({ type: 'text', content: 'after the end' });
  c.sendJson({ type: 'session.config', output_sample_rate: 16000 });
  const v = await waitForMetrics(srv.port, (x) => x.parley_sessions_live === 0, { timeoutMs: 15000, intervalMs: 100, what: 'the ended session dropped' });
  const droppedAfter = Date.now() - ended;
  console.log(`# ended session with a blocked socket dropped ${droppedAfter} ms after its end`);
  assert.ok(droppedAfter < 9000, `dropped after ${droppedAfter} ms`);
  assert.equal(inText(v), textBefore, 'no text message was read after the end');
  assert.equal(v['parley_ws_messages_in_total{kind="session.config"}'] ?? 0, 0);
  await sleep(300);
  assert.ok(!fake.chatRequests().some((r) => r.body.messages.at(-1).content === 'after the end'), 'the typed turn never reached the LLM');
  c.ws._socket.resume();
  await c.waitClose(5000);
});
