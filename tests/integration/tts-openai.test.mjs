// --tts openai through the real server against the fake speech service
// (tests/fakes/fake-tts.mjs): audio streams to the client while the service
// is still synthesising, several sessions' requests run at once, barge-in
// closes the in-flight request, the service's voices are offered and
// chosen, and failures (down at startup, 500, dying or stalling mid-stream,
// a refused key, audio parley cannot read) give a clear error and the next
// turn works. With the embedded recogniser for the spoken turns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startServer, connectReady, getJson, sleep, waitReady, sanitizerReports, fetchMetrics,
} from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, collectedAudio } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';
import { startFakeTTS } from '../fakes/fake-tts.mjs';

const FIRST = 'Hello there, this is the first sentence.';
const SECOND = 'And here is a second one.';
const LONG = Array.from({ length: 10 }, (_, i) => `This is sentence number ${i + 1} of a rather long answer.`).join(' ');
const clips = librivoxClips();
const clip = (suffix) => clips.find((c) => c.id.endsWith(suffix));

let llm, tts, srv;
const servers = [];

async function server(args, env = {}) {
  const s = await startServer(args, env);
  servers.push(s);
  return s;
}

before(async () => {
  llm = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (/long/.test(user) ? LONG : `${FIRST} ${SECOND}`),
  });
  tts = await startFakeTTS();
  srv = await server(['--llm-url', llm.url, '--tts', 'openai', '--tts-url', `${tts.url}/v1`,
    '--tts-voice', 'af_bella', '--tts-timeout', '4000', '--tts-stall-timeout', '800', '--stt-warm', '1']);
  await waitReady(srv.port, 20000);
});

after(async () => {
  for (const s of servers) {
    const r = await s.stop();
    assert.equal(r.code, 0, `parley exits cleanly (${JSON.stringify(r)})`);
    assert.deepEqual(sanitizerReports(s.stderr()), [], 'no sanitizer report');
  }
  await llm?.close();
  await tts?.close();
});

/** Timestamps of a client's messages by type, as they arrive. */
function arrivals(client) {
  const at = [];
  client.ws.on('message', (data, isBinary) => {
    if (isBinary) { at.push({ type: 'binary', t: Date.now() }); return; }
    try { at.push({ type: JSON.parse(data.toString()).type, t: Date.now() }); } catch { /* ignored */ }
  });
  return at;
}

/** The dominant frequency of int16 LE audio at rate, from zero crossings. */
function toneHz(pcm, rate) {
  let crossings = 0;
  let prev = 0;
  let n = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) {
    const v = pcm.readInt16LE(i);
    if (Math.abs(v) < 200) continue; // silence between sentences
    n++;
    if (prev !== 0 && Math.sign(v) !== Math.sign(prev)) crossings++;
    prev = v;
  }
  return n ? (crossings / 2) / (n / rate) : 0;
}

test('a typed turn is spoken by the service; the first audio reaches the client before the service has finished', async () => {
  // The first piece is the short quick chunk ("Hello there," about 0.5 s of
  // audio): the service sends it at a quarter of real time, so streaming
  // leaves a wide margin between its first audio and its end, and a server
  // that waited for the whole answer would still fail the check below.
  tts.reset({ behave: (body) => (/^Hello/.test(body?.input ?? '') ? { pace: 0.25 } : null) });
  const before = tts.speechRequests().length;
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.tts.engine, 'openai');
  assert.equal(c.status.content.tts.state, 'ready');
  assert.equal(c.status.content.tts.model, 'tts-1');
  assert.ok(c.status.content.tts.warmup_ms > 0);
  assert.equal(c.status.content.default_voice, 'af_bella');
  const at = arrivals(c);
  c.sendJson({ type: 'text', content: 'hello' });
  await c.next('tts_chunk', 10000);
  const firstAudio = at.find((m) => m.type === 'tts_chunk').t;
  await c.next('final_assistant_answer', 10000);
  await c.waitQuiet('tts_chunk', 700, 20000);
  const reqs = tts.speechRequests().slice(before);
  assert.ok(reqs.length >= 2, `one request per sentence (${reqs.length})`);
  const spoken = reqs.map((r) => r.body.input).join(' ');
  assert.match(spoken, /Hello there/);
  assert.match(spoken, /second one/);
  for (const r of reqs) {
    assert.equal(r.body.model, 'tts-1');
    assert.equal(r.body.voice, 'af_bella');
    assert.equal(r.body.response_format, 'pcm');
    assert.equal(r.body.speed, 1);
    assert.equal(r.auth, null, 'no key configured, none sent');
    assert.equal(r.aborted, false);
  }
  // The service streams a sentence in real time: its first audio must be at
  // the client long before the service finished that answer.
  assert.ok(firstAudio < reqs[0].end, `first audio at +${firstAudio - reqs[0].start} ms, service done at +${reqs[0].end - reqs[0].start} ms`);
  assert.ok(reqs[0].end - firstAudio > 200, `well before the end (+${reqs[0].end - firstAudio} ms)`);
  // The audio is the service's tone (440 Hz), as long as the service made it.
  const audio = collectedAudio(c);
  const seconds = audio.length / 2 / 48000;
  const expected = reqs.reduce((s, r) => s + Math.max(0.2, r.body.input.length * 0.04), 0);
  assert.ok(Math.abs(seconds - expected) < 0.1 * expected + 0.1, `${seconds.toFixed(2)} s of audio, ${expected.toFixed(2)} s sent`);
  const hz = toneHz(audio, 48000);
  assert.ok(Math.abs(hz - 440) < 15, `a 440 Hz tone after resampling: ${hz.toFixed(1)} Hz`);
  const finalAt = at.findIndex((m) => m.type === 'final_assistant_answer');
  assert.equal(at.slice(finalAt).filter((m) => m.type === 'tts_chunk' || m.type === 'binary').length, 0,
    'final_assistant_answer comes after the answer\'s last audio');
  assert.equal(c.received('error').length, 0);
  await c.close();
});

test('a spoken turn (embedded recogniser) is answered in the service\'s voice', async () => {
  tts.reset();
  const c = await connectReady(srv.port);
  const speech = soxRaw(clip('0870').file, 48000, { padAfter: 1.5 });
  await streamPcm(c, Buffer.concat([silence(48000, 0.3), speech]), 48000, { pace: 2 });
  const heard = await c.next('final_user_request', 10000);
  assert.ok(heard.content.length > 0);
  await c.next('tts_chunk', 10000);
  await c.next('final_assistant_answer', 10000);
  assert.equal(c.received('error').length, 0);
  await c.close();
});

test('several sessions\' requests are in flight at once', async () => {
  tts.reset({ msPerChar: 60 });
  tts.maxInflight = 0;
  const clients = await Promise.all([1, 2, 3].map(() => connectReady(srv.port)));
  for (const c of clients) c.sendJson({ type: 'text', content: 'hello' });
  await Promise.all(clients.map((c) => c.next('tts_chunk', 10000)));
  await Promise.all(clients.map((c) => c.waitQuiet('tts_chunk', 700, 20000)));
  assert.ok(tts.maxInflight >= 3, `${tts.maxInflight} requests at once`);
  for (const c of clients) {
    assert.equal(c.received('error').length, 0);
    await c.close();
  }
});

test('barge-in closes the in-flight request (the service sees it) and no audio of the cut answer follows stop_tts', async () => {
  tts.reset({ msPerChar: 80 }); // ~4 s of audio a sentence
  const before = tts.speechRequests().length;
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'tell me something long' });
  await c.next('tts_chunk', 10000);
  await sleep(800);
  const speech = soxRaw(clip('0880').file, 48000, { padAfter: 1.5 });
  const stopP = c.next('stop_tts', 8000).then(() => Date.now());
  const streaming = streamPcm(c, speech, 48000, { frameSamples: 960, flags: 1 });
  const stopAt = await stopP;
  await c.next('tts_interruption', 3000);
  // The answer is suspended until the speech is known to be a turn (false
  // interruptions resume, docs/protocol.md): it is cut, and its synthesis
  // closed, at the verdict.
  let cutAt = null;
  const cutP = (async () => {
    let m = await c.next('final_assistant_answer', 10000);
    while (!m.interrupted) m = await c.next('final_assistant_answer', 10000);
    cutAt = Date.now();
  })();
  await streaming;
  await c.next('final_user_request', 10000);
  await cutP;
  // The cut answer's requests: every one ended, the one running was closed by parley.
  const cut = tts.speechRequests().slice(before).filter((r) => r.start <= stopAt);
  for (let i = 0; i < 40 && cut.some((r) => r.end === null); i++) await sleep(50);
  assert.ok(cut.length >= 1);
  assert.ok(cut.every((r) => r.end !== null), 'no request of the cut answer is left running');
  const closed = cut.filter((r) => r.aborted);
  assert.ok(closed.length >= 1, `the service saw the connection close (${JSON.stringify(cut.map((r) => [r.body.input, r.aborted]))})`);
  assert.ok(closed.every((r) => r.end - cutAt < 1000), 'closed when the answer was cut');
  assert.ok(!cut.some((r) => r.body.input.includes('number 5')), 'the rest of the answer was never requested');
  // Nothing of the cut answer after stop_tts: audio only after the next transcript.
  const order = c.history.map((m) => m.type);
  const stopIdx = order.indexOf('stop_tts');
  const nextTurn = order.indexOf('final_user_request', stopIdx);
  assert.equal(order.slice(stopIdx, nextTurn).filter((t) => t === 'tts_chunk').length, 0, 'no audio after stop_tts');
  await c.close();
});

test('the service\'s voices (GET /v1/audio/voices) are in status.voices and can be chosen', async () => {
  tts.reset();
  const c = await connectReady(srv.port);
  const voices = c.status.content.voices;
  for (const v of ['af_bella', 'af_sky', 'am_adam']) assert.ok(voices.includes(v), `${v} in ${voices.join(' ')}`);
  assert.ok(voices.includes('slt'), 'the embedded voices stay available');
  c.sendJson({ type: 'session.config', voice: 'AF_SKY' });
  const conf = await c.next('session.configured');
  assert.equal(conf.content.voice, 'af_sky');
  const before = tts.speechRequests().length;
  c.sendJson({ type: 'text', content: 'hello' });
  await c.next('final_assistant_answer', 10000);
  await c.waitQuiet('tts_chunk', 700, 20000);
  const reqs = tts.speechRequests().slice(before);
  assert.ok(reqs.length >= 1 && reqs.every((r) => r.body.voice === 'af_sky'), 'requests in the chosen voice');
  c.sendJson({ type: 'session.config', voice: 'af_nobody' });
  const err = await c.next('error');
  assert.equal(err.content.code, 'invalid_field');
  await c.close();
});

async function turnWithError(c, code) {
  c.sendJson({ type: 'text', content: 'hello' });
  const err = await c.next('error', 10000);
  assert.equal(err.content.code, code, JSON.stringify(err));
  assert.ok(!err.content.message.includes('127.0.0.1'), `no service address: ${err.content.message}`);
  return err;
}

async function turnWorks(c) {
  const errors = c.received('error').length;
  c.sendJson({ type: 'text', content: 'hello again' });
  await c.next('final_assistant_answer', 10000);
  await c.next('tts_chunk', 10000);
  await c.waitQuiet('tts_chunk', 700, 20000);
  assert.equal(c.received('error').length, errors, 'no new error');
}

test('a service that dies mid-sentence: that session gets an error, the next turn works', async () => {
  tts.reset({ closeAfterChunks: 3 });
  const c = await connectReady(srv.port);
  const err = await turnWithError(c, 'tts_error');
  assert.match(err.content.message, /broke off/);
  tts.reset();
  await sleep(500);
  await turnWorks(c);
  await c.close();
});

test('a service that stalls mid-sentence: an error after --tts-stall-timeout, the next turn works', async () => {
  tts.reset({ stallAfterChunks: 2 });
  const before = tts.speechRequests().length;
  const c = await connectReady(srv.port);
  const t0 = Date.now();
  const err = await turnWithError(c, 'tts_timeout');
  assert.ok(Date.now() - t0 < 5000, 'within the stall timeout, not hung');
  assert.match(err.content.message, /stopped sending for 800 ms/);
  const stalled = tts.speechRequests().slice(before)[0];
  for (let i = 0; i < 40 && !stalled.end; i++) await sleep(50);
  assert.equal(stalled.aborted, true, 'parley hung up on the stalled answer');
  tts.reset();
  await sleep(500);
  await turnWorks(c);
  await c.close();
});

test('an HTTP error from the service: the error names it, keys masked; the next turn works', async () => {
  const key = 'sk-proj-Zx81Qw4Lm2Np7Rt5Vb9Kc3Hd6Jf0Gs1A';
  tts.reset({ httpError: { status: 500, body: { detail: `engine crashed with key ${key}` } } });
  const c = await connectReady(srv.port);
  const err = await turnWithError(c, 'tts_error');
  assert.match(err.content.message, /answered 500: engine crashed/);
  assert.ok(!err.content.message.includes(key.slice(8)), `key masked: ${err.content.message}`);
  assert.ok(Buffer.byteLength(err.content.message) <= 120);
  assert.ok(!srv.stderr().includes(key.slice(8)), 'nor in the log');
  tts.reset();
  await turnWorks(c);
  await c.close();
});

test('WAV answers: streamed (0xFFFFFFFF sizes) and whole files (Orpheus-FastAPI) at the header\'s rate', async () => {
  const c = await connectReady(srv.port);
  for (const opts of [{ alwaysWav: true, wavRate: 22050, toneHz: () => 600 }, { alwaysWav: true, contentType: 'application/octet-stream', wavRate: 16000, toneHz: () => 300 }]) {
    tts.reset(opts);
    const from = c.history.length;
    c.sendJson({ type: 'text', content: 'hello' });
    await c.next('final_assistant_answer', 10000);
    await c.waitQuiet('tts_chunk', 700, 20000);
    const audio = Buffer.concat(c.history.slice(from).filter((m) => m.type === 'tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
    const hz = toneHz(audio, 48000);
    const want = opts.toneHz();
    assert.ok(Math.abs(hz - want) < want * 0.04, `${want} Hz at ${opts.wavRate} Hz read as ${hz.toFixed(1)} Hz`);
  }
  assert.equal(c.received('error').length, 0);
  await c.close();
});

test('raw PCM at the rate its Content-Type names (openedai-speech: audio/pcm;rate=22050)', async () => {
  const c = await connectReady(srv.port);
  tts.reset({ pcmRate: 22050, toneHz: () => 500 });
  const from = c.history.length;
  c.sendJson({ type: 'text', content: 'hello' });
  await c.next('final_assistant_answer', 10000);
  await c.waitQuiet('tts_chunk', 700, 20000);
  const audio = Buffer.concat(c.history.slice(from).filter((m) => m.type === 'tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  const hz = toneHz(audio, 48000);
  assert.ok(Math.abs(hz - 500) < 500 * 0.04, `500 Hz at 22050 Hz read as ${hz.toFixed(1)} Hz`);
  assert.equal(c.received('error').length, 0);
  tts.reset();
  await c.close();
});

test('audio parley cannot read (mp3) gives a clear error', async () => {
  tts.reset({ contentType: 'audio/mpeg' });
  const c = await connectReady(srv.port);
  const err = await turnWithError(c, 'tts_error');
  assert.match(err.content.message, /audio\/mpeg/);
  tts.reset();
  await turnWorks(c);
  await c.close();
});

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test('a service down at startup: /readyz names tts and why; ready once the service starts', async () => {
  const port = await freePort();
  const s = await server(['--llm-url', llm.url, '--tts', 'openai', '--tts-url', `http://127.0.0.1:${port}`, '--tts-voice', 'am_adam']);
  let r;
  for (let i = 0; i < 100; i++) {
    r = await getJson(s.port, '/readyz');
    if (r.status === 503 && /tts/.test(r.text) && /down/.test(r.text)) break;
    await sleep(100);
  }
  assert.equal(r.status, 503);
  assert.match(r.json.reason, /tts/);
  assert.match(r.json.reason, new RegExp(`127\\.0\\.0\\.1:${port}.*down|down.*127\\.0\\.0\\.1:${port}`));
  const early = await connectReady(s.port);
  assert.equal(early.status.content.tts.state, 'unavailable');
  assert.match(early.status.content.tts.reason, /down/);
  assert.ok(!early.status.content.tts.reason.includes(`:${port}`), `clients never see the address: ${early.status.content.tts.reason}`);
  await early.close();
  const late = await startFakeTTS({ port, voices: ['am_adam', 'bf_emma'] });
  try {
    await waitReady(s.port, 60000);
    const c = await connectReady(s.port);
    assert.ok(c.status.content.voices.includes('bf_emma'), 'its voices are listed once it is up');
    c.sendJson({ type: 'text', content: 'hello' });
    await c.next('tts_chunk', 10000);
    assert.equal(late.speechRequests().at(-1).body.voice, 'am_adam');
    await c.close();
  } finally {
    await late.close();
  }
});

test('a key: sent as a bearer token; a wrong one gives an operator sentence in /readyz', async () => {
  const key = 'sk-test-Qm3Vx8Lp1Rz6Tn4Wb7Yc2Kd5';
  const keyed = await startFakeTTS({ apiKey: key });
  try {
    const ok = await server(['--llm-url', llm.url, '--tts', 'openai', '--tts-url', keyed.url], { PARLEY_TTS_API_KEY: key });
    await waitReady(ok.port, 20000);
    assert.ok(keyed.requests.length > 0 && keyed.requests.every((r) => r.auth === `Bearer ${key}`));
    assert.equal(keyed.speechRequests()[0].body.voice, 'alloy', 'the default voice');
    const bad = await server(['--llm-url', llm.url, '--tts', 'openai', '--tts-url', keyed.url], { OPENAI_API_KEY: 'sk-wrong-Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8' });
    let r;
    for (let i = 0; i < 100; i++) {
      r = await getJson(bad.port, '/readyz');
      if (/key/.test(r.text)) break;
      await sleep(100);
    }
    assert.equal(r.status, 503);
    assert.match(r.json.reason, /refused the key/);
    assert.ok(!r.text.includes('Aa1Bb2Cc3'), 'the key is not shown');
  } finally {
    await keyed.close();
  }
});

test('no --tts-url: parley says what is missing', async () => {
  await assert.rejects(startServer(['--llm-url', llm.url, '--tts', 'openai']), /--tts-url/);
});

test('metrics: the tts lane is visible', async () => {
  const m = (await fetchMetrics(srv.port)).values;
  assert.ok('parley_http_inflight{lane="tts"}' in m, Object.keys(m).filter((k) => k.includes('http')).join(' '));
});

/** Starts parley against svc (its own server, stopped by the test itself). */
async function warmupServer(svc, extra = []) {
  return startServer(['--llm-url', llm.url, '--tts', 'openai', '--tts-url', svc.url,
    '--tts-voice', 'af_bella', ...extra]);
}

/** SIGTERM: parley exits at once (well before the warm-up's own timeouts), cleanly. */
async function stopsAtOnce(s, why) {
  const r = await s.stop('SIGTERM', { killAfterMs: 20000 });
  assert.equal(r.code, 0, JSON.stringify(r));
  assert.ok(r.ms < 5000, `exited ${r.ms} ms after SIGTERM (${why})`);
  assert.deepEqual(sanitizerReports(s.stderr()), []);
}

test('SIGTERM while the warm-up waits on a stuck voice list: parley exits at once, cleanly', async () => {
  const stuck = await startFakeTTS({ voicesStall: true });
  try {
    const s = await warmupServer(stuck, ['--tts-timeout', '15000']);
    const list = () => stuck.requests.find((q) => q.path.startsWith('/v1/audio/voices'));
    for (let i = 0; i < 100 && !list(); i++) await sleep(50);
    assert.ok(list(), 'the warm-up asked for the voice list');
    await sleep(200);
    await stopsAtOnce(s, 'the voice list may take 30 s');
    for (let i = 0; i < 40 && !list().aborted; i++) await sleep(50);
    assert.ok(list().aborted, 'the service saw the request go');
  } finally {
    await stuck.close();
  }
});

test('SIGTERM while the warm-up\'s synthesis drips (a chunk every 2 s): parley exits at once, cleanly', async () => {
  const slow = await startFakeTTS({ pace: 0.01 }); // 20 ms of audio every 2 s
  try {
    const s = await warmupServer(slow, ['--tts-timeout', '15000']);
    const probe = () => slow.speechRequests()[0];
    for (let i = 0; i < 100 && !probe()?.firstByte; i++) await sleep(50);
    assert.ok(probe()?.firstByte, 'the warm-up\'s synthesis is streaming');
    await stopsAtOnce(s, 'the synthesis would take 24 s');
    for (let i = 0; i < 40 && !probe().aborted; i++) await sleep(50);
    assert.ok(probe().aborted, 'the service saw the request go');
  } finally {
    await slow.close();
  }
});

test('a warm-up synthesis that drips without stalling gives up after 2 x --tts-timeout', async () => {
  const slow = await startFakeTTS({ pace: 0.01 });
  try {
    const s = await warmupServer(slow, ['--tts-timeout', '1500']);
    try {
      let r;
      for (let i = 0; i < 150; i++) {
        r = await getJson(s.port, '/readyz');
        if (/did not finish/.test(r.text)) break;
        await sleep(100);
      }
      assert.equal(r.status, 503);
      assert.match(r.json.reason, /too slow \(the service did not finish within 3000 ms/);
    } finally {
      await stopsAtOnce(s, 'a warm-up in flight is cancelled');
    }
  } finally {
    await slow.close();
  }
});
