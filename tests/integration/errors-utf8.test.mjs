// Every error a client can trigger is valid JSON with valid UTF-8, whatever
// bytes it sent; LLM error bodies reach the client as a short, masked cause;
// nothing the client sees names the LLM URL or a key; log lines stay one line
// each; the echo backend's cut keeps the history usable.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, connectReady, getJson, sleep, waitReady } from './harness.mjs';

const fatal = new TextDecoder('utf-8', { fatal: true });
const SECRET_KEY = 'sk-abcdefghijklmnop0123456789';
const URL_PASSWORD = 'hunter2pw';

/** Records every raw text frame of a client: each must be valid UTF-8 and JSON. */
function recordRaw(c) {
  c.raw = [];
  c.ws.on('message', (data, isBinary) => { if (!isBinary) c.raw.push(Buffer.from(data)); });
}

function checkFrames(c, label) {
  assert.ok(c.raw.length > 0, `${label}: no text frames`);
  for (const buf of c.raw) {
    let text;
    try { text = fatal.decode(buf); } catch {
      assert.fail(`${label}: a frame is not valid UTF-8: ${buf.toString('hex').slice(0, 200)}`);
    }
    let msg;
    try { msg = JSON.parse(text); } catch { assert.fail(`${label}: a frame is not JSON: ${text.slice(0, 200)}`); }
    assert.equal(typeof msg.type, 'string');
    assert.ok(!text.includes(SECRET_KEY.slice(3, 15)), `${label}: a key reached the client: ${text}`);
    assert.ok(!text.includes(URL_PASSWORD), `${label}: the URL's password reached the client: ${text}`);
  }
  assert.deepEqual(c.badFrames, []);
}

// A fake OpenAI-compatible server whose failures are raw bytes chosen per turn
// (the last user message names the failure).
const e = (n) => 'é'.repeat(n);
function failureFor(user) {
  // Multibyte characters straddling every plausible cut (80, 120, 200, 300 bytes):
  // an odd ASCII prefix puts the 2-byte characters across even offsets.
  const body = (tail) => Buffer.concat([Buffer.from(`x ${SECRET_KEY} `), Buffer.from(e(150)), tail]);
  switch (user) {
    case 'http-invalid': // not JSON, invalid UTF-8 in the middle
      return { status: 401, body: body(Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82])) };
    case 'http-json-long': // valid JSON, a long multibyte message with a key in it
      return { status: 401, body: Buffer.from(JSON.stringify({ error: { message: `invalid API key ${SECRET_KEY} ${e(300)}` } })) };
    case 'http-json-invalid': // JSON-looking, invalid UTF-8 inside the string
      return { status: 500, body: Buffer.concat([Buffer.from('{"error":{"message":"bad '), Buffer.from([0xed, 0xa0, 0x80, 0xc0, 0xaf]), Buffer.from('"}}')]) };
    case 'sse-not-json': // an event that is not JSON, with invalid bytes at the 80-byte cut
      return { sse: Buffer.concat([Buffer.from('data: x'), Buffer.from(e(40)), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from('\n\n')]) };
    case 'sse-error': // an in-stream error with a long multibyte message
      return { sse: Buffer.from(`data: ${JSON.stringify({ error: { message: `Bearer ${SECRET_KEY} crashed ${e(300)}` } })}\n\n`) };
    default:
      return null;
  }
}

function startRawLLM() {
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: [{ id: 'raw-model' }] }));
      return;
    }
    const body = raw ? JSON.parse(raw) : {};
    const msgs = body.messages || [];
    const user = [...msgs].reverse().find((m) => m.role === 'user')?.content || '';
    const f = failureFor(user);
    if (f && f.status) {
      res.writeHead(f.status, { 'content-type': 'application/json' });
      res.end(f.body);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (content) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
    res.write(chunk('Hello '));
    if (f && f.sse) { res.end(f.sse); return; }
    res.write(chunk('there.'));
    res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\ndata: [DONE]\n\n`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

let llm, srv;

before(async () => {
  llm = await startRawLLM();
  const port = llm.address().port;
  // Credentials in the URL: they must reach neither a client nor the log.
  srv = await startServer(['--llm-url', `http://bob:${URL_PASSWORD}@127.0.0.1:${port}/v1`, '--log-level', 'debug', '--turns-per-minute', '1000'],
    { PARLEY_LLM_API_KEY: SECRET_KEY });
  await waitReady(srv.port);
});

after(async () => {
  await srv?.stop();
  await new Promise((r) => llm?.close(r));
});

test('every client-triggerable error is valid JSON with valid UTF-8, with hostile bytes in the values', async () => {
  const c = await connectReady(srv.port);
  recordRaw(c);
  const bad = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const sends = [
    // invalid_json: invalid UTF-8 alone, inside strings, and long multibyte "near" text
    ['invalid_json', bad([0x7b, 0xff, 0xfe])],
    ['invalid_json', bad('{"type":"text","content":"abc', [0xff, 0xc3, 0x28], '"}')],
    ['invalid_json', bad('{"type":"', [0xed, 0xa0, 0x80], '"}')],
    ['invalid_json', bad('{"type":"text","content":"x', e(2000))], // unterminated
    ['invalid_json', bad('{"type": x', e(100), '}')],
    // invalid_message
    ['invalid_message', bad('[1,"', e(50), '"]')],
    ['invalid_message', bad('{"type":5,"x":"', e(99), '"}')],
    ['invalid_message', bad('{"content":"x', e(99), '"}')],
    // unknown_type: cut at 64 bytes, in the middle of 2- and 4-byte characters
    ['unknown_type', JSON.stringify({ type: `x${e(40)}` })],
    ['unknown_type', JSON.stringify({ type: `xy${'😀'.repeat(30)}` })],
    ['unknown_type', JSON.stringify({ type: 'x\u001b[31m\nFAKE LOG LINE\r\u202e' })],
    ['invalid_json', JSON.stringify({ type: `nul\u0000${e(99)}` })], // jansson refuses NUL
    // missing_field
    ['missing_field', JSON.stringify({ type: 'set_speed' })],
    ['missing_field', JSON.stringify({ type: 'text', note: e(500) })],
    // invalid_field
    ['invalid_field', JSON.stringify({ type: 'text', content: 5 })],
    ['invalid_field', JSON.stringify({ type: 'session.config', voice: `en-us+${e(40)}` })],
    ['invalid_field', JSON.stringify({ type: 'session.config', audio_out: e(300) })],
    // unknown_field: the key is echoed, cut at 64 bytes
    ['unknown_field', JSON.stringify({ type: 'session.config', [`x${e(100)}`]: 1 })],
    ['unknown_field', JSON.stringify({ type: 'session.config', [`x\n${'😀'.repeat(40)}`]: 1 })],
    // out_of_range
    ['out_of_range', JSON.stringify({ type: 'set_speed', speed: 1e308 })],
    ['out_of_range', JSON.stringify({ type: 'text', content: `x${e(2500)}` })],
    ['out_of_range', JSON.stringify({ type: 'playback', played_ms: -1 })],
    // message_too_large
    ['message_too_large', bad('{"type":"text","content":"', e(9000), [0xff], '"}')],
  ];
  for (const [, payload] of sends) c.ws.send(payload, { binary: false });
  // Binary frames: too short, odd, too large.
  c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
  c.ws.send(Buffer.alloc(8 + 5), { binary: true });
  c.ws.send(Buffer.alloc(8 + 2 * 40000), { binary: true });

  const expected = [...sends.map(([code]) => code), 'invalid_frame', 'invalid_frame', 'frame_too_large'];
  const errors = [];
  for (let i = 0; i < expected.length; i++) errors.push(await c.next('error', 5000));
  assert.deepEqual(errors.map((m) => m.content.code), expected);
  for (const m of errors) {
    assert.equal(typeof m.content.message, 'string');
    assert.ok(m.content.message.length > 0);
  }
  // The ESC/newline value came back as JSON escapes, not lost.
  assert.ok(errors.some((m) => m.content.message.includes('FAKE LOG LINE')));
  checkFrames(c, 'protocol errors');

  // Still usable.
  c.sendJson({ type: 'session.config', input_sample_rate: 16000 });
  await c.next('session.configured', 3000);
  await c.close();

  const log = srv.stderr();
  assert.doesNotMatch(log, /out of memory/);
  assert.ok(!log.includes('\u001b'), 'a raw ESC reached the log');
  assert.ok(!log.includes('\u202e'), 'a raw bidi override reached the log');
  for (const line of log.split('\n').filter(Boolean)) {
    if (!/^\d{4}-\d\d-\d\dT/.test(line) && !line.startsWith('[')) assert.fail(`a log line was split: ${JSON.stringify(line)}`);
  }
  assert.match(log, /FAKE LOG LINE/, 'the escaped value is still in the (debug) log');
});

test('LLM error bodies reach the client as a short masked cause; the log has the text, masked', async () => {
  const c = await connectReady(srv.port);
  recordRaw(c);
  assert.equal(c.status.content.llm.url, undefined, 'status has no URL');
  assert.equal(c.status.content.llm.backend, 'openai');
  assert.equal(c.status.content.llm.model, 'raw-model');
  for (const kind of ['http-invalid', 'http-json-long', 'http-json-invalid', 'sse-not-json', 'sse-error']) {
    c.sendJson({ type: 'text', content: kind });
    const err = await c.next('error', 8000);
    assert.equal(err.content.code, 'llm_error', `${kind}: ${JSON.stringify(err.content)}`);
    const bytes = Buffer.byteLength(err.content.message);
    assert.ok(bytes <= 123, `${kind}: cause of ${bytes} bytes: ${err.content.message}`);
    assert.ok(!err.content.message.includes('127.0.0.1'), `${kind}: the URL reached the client`);
    if (kind.startsWith('sse')) { // "Hello " came first: the cut answer was sent before the error
      const f = await c.next('final_assistant_answer', 100);
      assert.equal(f.interrupted, true);
    }
  }
  // A working turn after all that.
  c.sendJson({ type: 'text', content: 'hello' });
  const ok = await c.next('final_assistant_answer', 8000);
  assert.equal(ok.content, 'Hello there.');
  assert.equal(ok.interrupted, false);
  checkFrames(c, 'llm errors');
  await c.close();

  const log = srv.stderr();
  assert.ok(!log.includes(SECRET_KEY.slice(3, 15)), 'the key reached the log');
  assert.ok(!log.includes(URL_PASSWORD), 'the URL password reached the log');
  assert.match(log, /http:\/\/\*\*\*@127\.0\.0\.1/, 'the URL is logged with its credentials masked');
  assert.match(log, /HTTP 401 from .*; body: /, 'the error body is logged');
  assert.match(log, /\\xFF\\xFE/, 'invalid bytes of the body are escaped in the log');
  assert.doesNotMatch(log, /out of memory/);
});

test('echo: a long multibyte turn is cut on a character and the history stays usable', async () => {
  const echo = await startServer(['--llm-backend', 'echo']);
  try {
    const c = await connectReady(echo.port);
    recordRaw(c);
    // 'x' + 300 'é': 601 bytes, the 400-byte cut falls inside a character.
    c.sendJson({ type: 'text', content: `x${e(300)}` });
    const a = await c.next('final_assistant_answer', 15000);
    assert.equal(a.interrupted, false);
    assert.ok(a.content.startsWith(`You said: x${e(199)}`), a.content.slice(0, 40));
    assert.ok(a.content.endsWith('...'));
    assert.ok(!a.content.includes('\ufffd'));
    c.sendJson({ type: 'text', content: 'and now?' });
    const b = await c.next('final_assistant_answer', 15000);
    assert.equal(b.content, 'You said: and now?');
    assert.equal(c.received('error').length, 0, JSON.stringify(c.received('error')));
    checkFrames(c, 'echo');
    await c.close();
    assert.doesNotMatch(echo.stderr(), /out of memory/);
  } finally {
    await echo.stop();
  }
});
