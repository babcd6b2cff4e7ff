// WebSocket /ws: session start, input validation, session.config, audio, metrics, limits.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, connect, connectReady, audioFrame, fetchMetrics, waitForMetrics,
  sanitizerReports, sleep, withTimeout, waitReady,
} from './harness.mjs';

let srv;   // default server
let full;  // --max-sessions 2

before(async () => {
  // The default server takes 50 clients from one address (the 50-client test).
  [srv, full] = await Promise.all([startServer(['--max-sessions-per-ip', '64']), startServer(['--max-sessions', '2'])]);
  // status says "ready" once the LLM and speech engines are warm; on a busy
  // machine that can take longer than the first test's connect.
  await Promise.all([waitReady(srv.port, 60000), waitReady(full.port, 60000)]);
});

after(async () => {
  await Promise.all([srv?.stop('SIGKILL'), full?.stop('SIGKILL')]);
});

const VALID_CONFIG = { type: 'session.config', input_sample_rate: 16000 };

/** Prove the session still works: a valid session.config is answered by session.configured. */
async function assertUsable(c, label) {
  assert.ok(c.isOpen, `${label}: connection closed (${JSON.stringify(c.closeInfo)})`);
  c.sendJson(VALID_CONFIG);
  const conf = await c.next('session.configured', 2000);
  assert.equal(conf.content?.input_sample_rate, 16000, `${label}: session.configured content ${JSON.stringify(conf.content)}`);
}

function assertErrorShape(err, code, label) {
  assert.equal(err.type, 'error');
  assert.equal(typeof err.content, 'object', `${label}: error content ${JSON.stringify(err.content)}`);
  assert.equal(err.content.code, code, `${label}: got ${JSON.stringify(err.content)}`);
  assert.equal(typeof err.content.message, 'string', `${label}: message must be a string`);
  assert.ok(err.content.message.length > 0, `${label}: message must be non-empty`);
}

// ------------------------------------------------------------------ session start

test('connect to /ws → first message is status (ready, numeric id, 48 kHz, base64)', async () => {
  const c = await connect(srv.port);
  try {
    const first = await c.next(undefined, 5000);
    assert.equal(first.type, 'status', `first message: ${JSON.stringify(first)}`);
    const s = first.content;
    assert.equal(typeof s, 'object');
    assert.equal(s.state, 'ready');
    assert.equal(typeof s.session_id, 'number');
    assert.ok(Number.isInteger(s.session_id), `session_id ${s.session_id}`);
    assert.equal(s.input_sample_rate, 48000);
    assert.equal(s.output_sample_rate, 48000);
    assert.equal(s.audio_out, 'base64');
    assert.equal(typeof s.voice, 'string', 'status.voice (the default voice)');
    assert.ok(s.voice.length > 0, 'status.voice must be non-empty');
    assert.equal(s.tts_rate, 1, 'status.tts_rate default');
    assert.deepEqual(c.badFrames, [], 'server sent a text frame that is not a JSON object with a string type');
  } finally {
    await c.close();
  }
});

test('two connections get different session_ids', async () => {
  const [a, b] = await Promise.all([connectReady(srv.port), connectReady(srv.port)]);
  try {
    assert.notEqual(a.status.content.session_id, b.status.content.session_id);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test('a WebSocket upgrade on another path is refused', async () => {
  for (const p of ['/nope', '/ws/extra', '/']) {
    await assert.rejects(connect(srv.port, { path: p, timeoutMs: 3000 }), (e) => {
      assert.doesNotMatch(String(e.message), /did not open within/, `${p}: upgrade hung instead of being refused`);
      return true;
    }, `upgrade on ${p} should fail`);
  }
});

// ------------------------------------------------------------------ invalid input

const big = (n) => 'a'.repeat(n);
const TEXT_PREFIX = '{"type":"text","content":"';
const TEXT_20000 = TEXT_PREFIX + big(20000 - TEXT_PREFIX.length - 2) + '"}';
const INVALID = [
  // [label, payload (string = text frame, Buffer = binary frame), expected code]
  ['not JSON', '{oops', 'invalid_json'],
  ['JSON array', '[1,2]', 'invalid_message'],
  ['object without type', '{"content":"x"}', 'invalid_message'],
  ['numeric type', '{"type":5}', 'invalid_message'],
  ['unknown type', '{"type":"dance"}', 'unknown_type'],
  ['set_speed without speed', '{"type":"set_speed"}', 'missing_field'],
  ['set_speed speed "fast"', '{"type":"set_speed","speed":"fast"}', 'invalid_field'],
  ['set_speed speed 150', '{"type":"set_speed","speed":150}', 'out_of_range'],
  ['set_speed speed -1', '{"type":"set_speed","speed":-1}', 'out_of_range'],
  ['session.config input_sample_rate 7999', '{"type":"session.config","input_sample_rate":7999}', 'out_of_range'],
  ['session.config input_sample_rate 96001', '{"type":"session.config","input_sample_rate":96001}', 'out_of_range'],
  ['session.config input_sample_rate "x"', '{"type":"session.config","input_sample_rate":"x"}', 'invalid_field'],
  ['session.config output_sample_rate 100000', '{"type":"session.config","output_sample_rate":100000}', 'out_of_range'],
  ['session.config audio_out "mp3"', '{"type":"session.config","audio_out":"mp3"}', 'invalid_field'],
  ['session.config tts_rate 5', '{"type":"session.config","tts_rate":5}', 'out_of_range'],
  ['session.config voice ""', '{"type":"session.config","voice":""}', 'invalid_field'],
  ['session.config misspelt field', '{"type":"session.config","inptu_sample_rate":16000}', 'unknown_field'],
  ['text without content', '{"type":"text"}', 'missing_field'],
  ['text content only whitespace', '{"type":"text","content":"   "}', 'invalid_field'],
  ['text content 5000 chars', JSON.stringify({ type: 'text', content: big(5000) }), 'out_of_range'],
  ['playback played_ms -5', '{"type":"playback","played_ms":-5}', 'out_of_range'],
  ['playback played_ms "x"', '{"type":"playback","played_ms":"x"}', 'invalid_field'],
  ['20000-byte text frame', TEXT_20000, 'message_too_large'],
  ['binary frame of 4 bytes', Buffer.alloc(4), 'invalid_frame'],
  ['binary frame of exactly 8 bytes (no samples)', audioFrame(0), 'invalid_frame'],
  ['binary frame of 8+3 bytes (odd sample bytes)', audioFrame(1, { extraBytes: 1 }), 'invalid_frame'],
  ['binary frame of 8+2*40000 bytes', audioFrame(40000), 'frame_too_large'],
];

for (const [label, payload, code] of INVALID) {
  test(`invalid input: ${label} → error ${code}, session stays usable`, async () => {
    if (typeof payload === 'string' && label.startsWith('20000')) assert.equal(Buffer.byteLength(payload), 20000);
    const c = await connectReady(srv.port);
    try {
      if (typeof payload === 'string') c.sendText(payload); else c.sendBinary(payload);
      const err = await c.next('error', 1500);
      assertErrorShape(err, code, label);
      await assertUsable(c, label);
      // "Every rejected input gets one error": nothing else was rejected.
      const errors = c.received('error');
      assert.equal(errors.length, 1, `${label}: expected exactly one error, got ${c.summary()}`);
    } finally {
      await c.close();
    }
  });
}

test('valid control messages produce no error', async () => {
  const c = await connectReady(srv.port);
  try {
    for (const m of [
      { type: 'tts_start' },
      { type: 'tts_stop' },
      { type: 'clear_history' },
      { type: 'set_speed', speed: 50 },
      { type: 'set_speed', speed: 0 },
      { type: 'set_speed', speed: 100 },
      { type: 'playback', played_ms: 100 },
      { type: 'text', content: 'hello' },
      { type: 'tts_start', unknown_extra_field: true }, // extra fields are ignored outside session.config
    ]) c.sendJson(m);
    await sleep(300);
    assert.deepEqual(c.received('error'), [], `unexpected errors: ${JSON.stringify(c.received('error'))}`);
    assert.ok(c.isOpen, `connection closed: ${JSON.stringify(c.closeInfo)}`);
    await assertUsable(c, 'after valid control messages');
  } finally {
    await c.close();
  }
});

// ------------------------------------------------------------------ session.config

test('session.config → session.configured echoes the effective config; an invalid config changes nothing', async () => {
  const c = await connectReady(srv.port);
  try {
    c.sendJson({
      type: 'session.config', input_sample_rate: 16000, output_sample_rate: 24000,
      audio_out: 'binary', voice: 'rms', tts_rate: 1.5,
    });
    const a = await c.next('session.configured');
    assert.deepEqual(
      pick(a.content),
      { input_sample_rate: 16000, output_sample_rate: 24000, audio_out: 'binary', voice: 'rms', tts_rate: 1.5 },
    );

    // Invalid: one bad field among good ones → error, nothing applied.
    c.sendJson({ type: 'session.config', input_sample_rate: 22050, output_sample_rate: 8000, tts_rate: 5 });
    const err = await c.next('error');
    assertErrorShape(err, 'out_of_range', 'tts_rate 5');
    c.sendJson({ type: 'session.config', input_sample_rate: 22050, audio_out: 'base64', bogus: 1 });
    const err2 = await c.next('error');
    assertErrorShape(err2, 'unknown_field', 'bogus field');

    // Valid partial config: omitted fields keep their earlier values.
    c.sendJson({ type: 'session.config', output_sample_rate: 44100 });
    const b = await c.next('session.configured');
    assert.deepEqual(
      pick(b.content),
      { input_sample_rate: 16000, output_sample_rate: 44100, audio_out: 'binary', voice: 'rms', tts_rate: 1.5 },
    );

    // Boundary values are accepted.
    c.sendJson({ type: 'session.config', input_sample_rate: 8000, output_sample_rate: 96000, tts_rate: 0.5, audio_out: 'base64' });
    const d = await c.next('session.configured');
    assert.deepEqual(
      pick(d.content),
      { input_sample_rate: 8000, output_sample_rate: 96000, audio_out: 'base64', voice: 'rms', tts_rate: 0.5 },
    );
    assert.equal(c.received('error').length, 2, c.summary());
  } finally {
    await c.close();
  }
});

function pick(content) {
  const { input_sample_rate, output_sample_rate, audio_out, voice, tts_rate } = content ?? {};
  return { input_sample_rate, output_sample_rate, audio_out, voice, tts_rate };
}

// ------------------------------------------------------------------ audio

test('valid audio frames are accepted and counted in /metrics', async () => {
  const before = (await fetchMetrics(srv.port)).values['parley_ws_messages_in_total{kind="audio"}'] ?? 0;
  const c = await connectReady(srv.port);
  try {
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) {
      c.sendBinary(audioFrame(2048, { timestamp: t0 + i * 43, flags: i % 2 }));
    }
    // Also: a frame of 1 sample and one of exactly 32768 samples are valid.
    c.sendBinary(audioFrame(1));
    c.sendBinary(audioFrame(32768));
    await assertUsable(c, 'after audio');
    await sleep(200);
    assert.deepEqual(c.received('error'), [], `unexpected errors: ${JSON.stringify(c.received('error'))}`);
    await waitForMetrics(srv.port,
      (v) => (v['parley_ws_messages_in_total{kind="audio"}'] ?? 0) >= before + 52,
      { timeoutMs: 3000, what: `parley_ws_messages_in_total{kind="audio"} >= ${before + 52}` });
  } finally {
    await c.close();
  }
});

// ------------------------------------------------------------------ metrics

test('protocol errors and message kinds are counted in /metrics', async () => {
  const c = await connectReady(srv.port);
  try {
    c.sendText('{oops');
    await c.next('error');
    c.sendText('{"type":"dance"}');
    await c.next('error');
    c.sendText('[1,2]');
    await c.next('error');
    c.sendBinary(Buffer.alloc(4));
    await c.next('error');
    c.sendJson({ type: 'set_speed', speed: 30 });
    c.sendJson(VALID_CONFIG);
    await c.next('session.configured');
    const v = await waitForMetrics(srv.port, (m) =>
      (m['parley_protocol_errors_total{code="invalid_json"}'] ?? 0) >= 1 &&
      (m['parley_protocol_errors_total{code="unknown_type"}'] ?? 0) >= 1 &&
      (m['parley_protocol_errors_total{code="invalid_message"}'] ?? 0) >= 1 &&
      (m['parley_protocol_errors_total{code="invalid_frame"}'] ?? 0) >= 1,
    { timeoutMs: 3000, what: 'protocol error counters' });
    const checks = {
      'parley_ws_messages_in_total{kind="set_speed"}': 1,
      'parley_ws_messages_in_total{kind="session.config"}': 1,
      'parley_ws_messages_in_total{kind="invalid"}': 1,
      'parley_ws_messages_out_total{kind="status"}': 1,
      'parley_ws_messages_out_total{kind="error"}': 4,
      'parley_ws_messages_out_total{kind="session.configured"}': 1,
      parley_sessions_total: 1,
      parley_session_ready_seconds_count: 1,
      'parley_session_ready_seconds_bucket{le="+Inf"}': 1,
    };
    for (const [k, min] of Object.entries(checks)) {
      assert.ok((v[k] ?? -1) >= min, `${k} = ${v[k]}, expected >= ${min}`);
    }
    assert.ok(v.parley_sessions_live >= 1, `parley_sessions_live = ${v.parley_sessions_live} with a client connected`);
  } finally {
    await c.close();
  }
});

test('50 concurrent clients: all get status; after disconnect sessions_live returns to 0', async () => {
  const before = (await fetchMetrics(srv.port)).values.parley_sessions_total ?? 0;
  const results = await Promise.allSettled(Array.from({ length: 50 }, () => connectReady(srv.port)));
  const clients = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  try {
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
    assert.deepEqual(failed, [], `${failed.length} of 50 clients failed`);
    const ids = new Set(clients.map((c) => c.status.content.session_id));
    assert.equal(ids.size, 50, 'session ids must be unique');
    const live = (await fetchMetrics(srv.port)).values.parley_sessions_live;
    assert.ok(live >= 50, `parley_sessions_live = ${live} with 50 clients connected`);
  } finally {
    await withTimeout(Promise.all(clients.map((c) => c.close())), 5000, 'closing 50 clients');
  }
  await waitForMetrics(srv.port,
    (v) => v.parley_sessions_live === 0 && (v.parley_sessions_total ?? 0) >= before + 50,
    { timeoutMs: 5000, what: `parley_sessions_live == 0 and parley_sessions_total >= ${before + 50}` });
});

// ------------------------------------------------------------------ --max-sessions

test('--max-sessions 2: third connection gets server_full then close 1013; a slot frees on disconnect', async () => {
  const a = await connectReady(full.port);
  const b = await connectReady(full.port);
  const opened = [a, b];
  try {
    const c = await connect(full.port);
    opened.push(c);
    const first = await c.next(undefined, 3000);
    assertErrorShape(first, 'server_full', 'third connection');
    const closeInfo = await c.waitClose(3000);
    assert.equal(closeInfo.code, 1013);
    assert.equal(c.received('status').length, 0, 'a refused connection must not get status');

    await a.close();
    // The slot must be free once the close handshake finished; allow the server a moment to reap it.
    let d;
    let dStatus;
    const deadline = Date.now() + 2000;
    for (;;) {
      const cand = await connect(full.port);
      opened.push(cand);
      const m = await cand.next(undefined, 3000);
      if (m.type === 'status') { d = cand; dStatus = m; break; }
      assertErrorShape(m, 'server_full', 'reconnect');
      await cand.waitClose(3000).catch(() => {});
      if (Date.now() > deadline) assert.fail('still server_full 2 s after a session closed');
      await sleep(100);
    }
    assert.equal(dStatus.content?.state, 'ready');
    assert.ok(d.isOpen);
    assert.ok(b.isOpen, 'second client must stay connected');
  } finally {
    await Promise.all(opened.map((x) => x.close()));
  }
});

test('servers stop cleanly on SIGTERM with no sanitizer reports in stderr', async () => {
  const [a, b] = await Promise.all([srv.stop(), full.stop()]);
  const reports = [...sanitizerReports(srv.stderr()), ...sanitizerReports(full.stderr())];
  assert.deepEqual(reports, []);
  assert.deepEqual([a.code, b.code], [0, 0], `exit codes (signals ${a.signal}, ${b.signal})`);
});
