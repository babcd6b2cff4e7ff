// The /v1/realtime endpoint at the transport level (server/gate.c, ws.c,
// server.c): the path and its ?model= query, subprotocol negotiation (the
// "realtime" echo, none when none was offered), the key in Authorization or
// in the openai-insecure-api-key.KEY subprotocol, the beta dialect chosen
// by header or subprotocol, the same access control and limits as /ws, the
// refusal of a full server in Realtime words, and large (fragmented)
// frames; the official SDK's Node classes through the handshake. The
// protocol itself is tested in realtime.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { OpenAIRealtimeWS as BetaRealtimeWS } from 'openai/beta/realtime/ws';
import {
  startServer, Client, WebSocket, fetchMetrics, waitForMetrics, sanitizerReports, sleep, withTimeout,
} from './harness.mjs';

const KEY = 'sk-test_' + 'Z9y8X7w6V5u4T3s2'.repeat(2);
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

let open;   // no --auth-token
let locked; // --auth-token KEY, at most 2 sessions
before(async () => {
  [open, locked] = await Promise.all([
    startServer(['--max-sessions-per-ip', '64']),
    startServer(['--max-sessions', '2'], { PARLEY_AUTH_TOKEN: KEY }),
  ]);
});
after(async () => {
  for (const s of [open, locked]) {
    if (!s) continue;
    const reports = sanitizerReports(s.stderr());
    await s.stop('SIGKILL');
    assert.deepEqual(reports, [], 'sanitizer reports in the server log');
  }
});

/**
 * A WebSocket upgrade with exactly these headers, through node:http.
 * Resolves {status, headers, text}: 101 when the server switched protocols
 * (the socket is then closed), else its HTTP answer; {status: 0} when it
 * hung up without one.
 */
function upgrade(port, { path: p = '/v1/realtime', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1', port, path: p, method: 'GET', agent: false,
      headers: {
        Connection: 'Upgrade', Upgrade: 'websocket',
        'Sec-WebSocket-Key': WS_KEY, 'Sec-WebSocket-Version': '13', ...headers,
      },
    });
    req.setTimeout(5000, () => req.destroy(new Error(`upgrade ${p} timed out`)));
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, headers: res.headers, text: '' });
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' || /socket hang up/.test(e.message)
      ? resolve({ status: 0, headers: {}, text: '' }) : reject(e)));
    req.end();
  });
}

/**
 * A `ws` client; resolves a Client once open, with .ws.protocol the
 * negotiated subprotocol. Rejects with "HTTP <status>" on a refused upgrade.
 * createConnection opens plain TCP whatever the URL says (as the SDK tests
 * must: the SDK always builds wss:// URLs).
 */
function rt(port, { path: p = '/v1/realtime?model=gpt-test', protocols, headers } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`, protocols, {
      headers, perMessageDeflate: false, handshakeTimeout: 5000, maxPayload: 64 << 20,
      createConnection: (o) => net.connect({ host: o.host, port: o.port }),
    });
    const c = new Client(ws);
    ws.once('open', () => resolve(c));
    ws.once('unexpected-response', (req, res) => { reject(new Error(`HTTP ${res.statusCode}`)); ws.terminate(); });
    ws.once('error', reject);
  });
}

/** Connects and returns [client, session.created]. */
async function rtCreated(port, opts) {
  const c = await rt(port, opts);
  const first = await c.next(undefined, 10000);
  assert.equal(first.type, 'session.created', `first event: ${JSON.stringify(first)}`);
  assert.match(first.event_id, /^event_/);
  return [c, first];
}

const isBeta = (session) => 'modalities' in session && !('output_modalities' in session);
const isGA = (session) => 'output_modalities' in session && !('modalities' in session);

// ------------------------------------------------------------ path and query

test('/v1/realtime?model=x connects without a subprotocol: none echoed, session.created reports the model (GA)', async () => {
  const raw = await upgrade(open.port, { path: '/v1/realtime?model=x' });
  assert.equal(raw.status, 101);
  assert.equal(raw.headers['sec-websocket-protocol'], undefined, 'no subprotocol offered, none answered');

  const [c, created] = await rtCreated(open.port, { path: '/v1/realtime?model=x' });
  assert.equal(c.ws.protocol, '');
  assert.equal(created.session.model, 'x');
  assert.ok(isGA(created.session), `GA session shape: ${JSON.stringify(created.session)}`);
  await c.close();

  // Without ?model=, and with other query arguments around it.
  const [d, created2] = await rtCreated(open.port, { path: '/v1/realtime?a=1&model=gpt-realtime&b=2' });
  assert.equal(created2.session.model, 'gpt-realtime');
  await d.close();
  const [e] = await rtCreated(open.port, { path: '/v1/realtime' });
  await e.close();
  await sleep(100);
  assert.match(open.stderr(), /client connected from 127\.0\.0\.1 \(session \d+, \/v1\/realtime, model 'x', GA dialect\)/);
});

test('other paths are 404 before any session; /ws is unchanged beside /v1/realtime', async () => {
  const before = (await fetchMetrics(open.port)).values.parley_sessions_total ?? 0;
  for (const p of ['/v1/realtime/', '/v1/realtimex', '/realtime', '/v1/Realtime', '/v1', '/v1/realtime/x?model=y']) {
    const r = await upgrade(open.port, { path: p });
    assert.equal(r.status, 404, `${p}: ${r.status}`);
    assert.match(r.text, /\/ws and \/v1\/realtime/);
  }
  assert.equal((await fetchMetrics(open.port)).values.parley_sessions_total ?? 0, before);

  // /ws still speaks the native protocol, offering "parley" or nothing...
  const native = await upgrade(open.port, { path: '/ws', headers: { 'Sec-WebSocket-Protocol': 'parley' } });
  assert.equal(native.status, 101);
  assert.equal(native.headers['sec-websocket-protocol'], 'parley');
  const n = await rt(open.port, { path: '/ws' });
  assert.equal((await n.next(undefined, 5000)).type, 'status');
  await n.close();
  // ... and, as before "realtime" existed, drops a client offering only a
  // subprotocol it does not speak.
  assert.equal((await upgrade(open.port, { path: '/ws', headers: { 'Sec-WebSocket-Protocol': 'realtime' } })).status, 0);
  assert.equal((await upgrade(open.port, { path: '/ws', headers: { 'Sec-WebSocket-Protocol': 'other' } })).status, 0);
});

test('Host and Origin rules apply to /v1/realtime as to /ws (403 before any session)', async () => {
  const before = (await fetchMetrics(open.port)).values.parley_sessions_total ?? 0;
  let r = await upgrade(open.port, { headers: { Host: 'evil.example' } });
  assert.equal(r.status, 403);
  r = await upgrade(open.port, { headers: { Origin: 'http://evil.example' } });
  assert.equal(r.status, 403);
  assert.equal((await fetchMetrics(open.port)).values.parley_sessions_total ?? 0, before);
  r = await upgrade(open.port, { headers: { Origin: `http://127.0.0.1:${open.port}` } });
  assert.equal(r.status, 101, 'the page\'s own origin');
  await sleep(100);
  assert.match(open.stderr(), /refused WebSocket from 127\.0\.0\.1: Origin 'http:\/\/evil\.example' is not allowed \(see --allowed-origins\) \(\/v1\/realtime\)/);
});

// ------------------------------------------------------------ subprotocols

test('offering realtime + the key subprotocol negotiates "realtime" (GA); adding openai-beta.realtime-v1 selects beta', async () => {
  const [ga, gaCreated] = await rtCreated(open.port, { protocols: ['realtime', `openai-insecure-api-key.${KEY}`] });
  assert.equal(ga.ws.protocol, 'realtime');
  assert.ok(isGA(gaCreated.session), `GA session shape: ${JSON.stringify(gaCreated.session)}`);
  await ga.close();

  const [beta, betaCreated] = await rtCreated(open.port, {
    protocols: ['realtime', `openai-insecure-api-key.${KEY}`, 'openai-beta.realtime-v1'],
  });
  assert.equal(beta.ws.protocol, 'realtime');
  assert.ok(isBeta(betaCreated.session), `beta session shape: ${JSON.stringify(betaCreated.session)}`);
  assert.equal(betaCreated.session.model, 'gpt-test');
  await beta.close();

  // The SDK's beta class says it with a header instead.
  const [hdr, hdrCreated] = await rtCreated(open.port, { headers: { 'OpenAI-Beta': 'realtime=v1' } });
  assert.equal(hdr.ws.protocol, '');
  assert.ok(isBeta(hdrCreated.session), `beta session shape: ${JSON.stringify(hdrCreated.session)}`);
  await hdr.close();
  const [other, otherCreated] = await rtCreated(open.port, { headers: { 'OpenAI-Beta': 'assistants=v2' } });
  assert.ok(isGA(otherCreated.session), 'another OpenAI-Beta value keeps GA');
  await other.close();

  // Raw: the echo is exactly "realtime", never the key.
  const r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': `realtime, openai-insecure-api-key.${KEY}` } });
  assert.equal(r.status, 101);
  assert.equal(r.headers['sec-websocket-protocol'], 'realtime');
  assert.ok(!open.stderr().includes(KEY.slice(8, 30)), 'the key never reaches the log');
});

test('subprotocol lists lws cannot take are refused with 400 and the reason, not dropped', async () => {
  const long = `realtime, openai-insecure-api-key.${'k'.repeat(100)}`; // 134 bytes: over 126
  let r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': long } });
  assert.equal(r.status, 400);
  assert.match(r.text, /over 126 bytes.*Authorization header/);
  // A 126-byte header still works.
  const fits = `realtime, openai-insecure-api-key.${'k'.repeat(92)}`;
  assert.equal(fits.length, 126);
  r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': fits } });
  assert.equal(r.status, 101);
  assert.equal(r.headers['sec-websocket-protocol'], 'realtime');
  // The key first: lws would read a name over 63 bytes before "realtime".
  r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': `openai-insecure-api-key.${'k'.repeat(40)}, realtime` } });
  assert.equal(r.status, 400);
  assert.match(r.text, /offer "realtime" first/);
  // A short key first is fine (lws skips names it does not know).
  r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': 'openai-insecure-api-key.k, realtime' } });
  assert.equal(r.status, 101);
  assert.equal(r.headers['sec-websocket-protocol'], 'realtime');
  // Nothing lws knows.
  r = await upgrade(open.port, { headers: { 'Sec-WebSocket-Protocol': 'openai-beta.realtime-v1' } });
  assert.equal(r.status, 400);
  assert.match(r.text, /offer the "realtime" subprotocol/);
});

// ------------------------------------------------------------ credentials

test('--auth-token on /v1/realtime: the key in Authorization or in the subprotocol lets in; wrong or missing → 401 before any session', async () => {
  const before = (await fetchMetrics(locked.port)).values.parley_sessions_total ?? 0;
  const refusedBefore = (await fetchMetrics(locked.port)).values['parley_connections_refused_total{reason="token"}'] ?? 0;
  const wrong = `${KEY.slice(0, -1)}X`;
  const cases = [
    ['missing', {}],
    ['wrong Authorization', { headers: { Authorization: `Bearer ${wrong}` } }],
    ['wrong key subprotocol', { headers: { 'Sec-WebSocket-Protocol': `realtime, openai-insecure-api-key.${wrong}` } }],
    ['empty key subprotocol', { headers: { 'Sec-WebSocket-Protocol': 'realtime, openai-insecure-api-key.' } }],
    ['right key, wrong place (a header lws does not read)', { headers: { 'X-Api-Key': KEY } }],
  ];
  for (const [what, opts] of cases) {
    const r = await upgrade(locked.port, opts);
    assert.equal(r.status, 401, `${what}: ${r.status}`);
    assert.match(r.headers['www-authenticate'] ?? '', /^Bearer/);
  }
  await assert.rejects(rt(locked.port), /HTTP 401/);
  assert.equal((await fetchMetrics(locked.port)).values.parley_sessions_total ?? 0, before, 'no session without the key');
  assert.equal((await fetchMetrics(locked.port)).values['parley_connections_refused_total{reason="token"}'],
    refusedBefore + cases.length + 1);

  // Right key: as the SDK's Node classes send it, and as its browser classes do.
  const [viaHeader] = await rtCreated(locked.port, { headers: { Authorization: `Bearer ${KEY}` } });
  assert.equal(viaHeader.ws.protocol, '');
  await viaHeader.close();
  const [viaProtocol] = await rtCreated(locked.port, { protocols: ['realtime', `openai-insecure-api-key.${KEY}`] });
  assert.equal(viaProtocol.ws.protocol, 'realtime');
  await viaProtocol.close();
  // A wrong Authorization beside the right subprotocol key: any right one will do (as on /ws).
  const [both] = await rtCreated(locked.port, {
    protocols: ['realtime', `openai-insecure-api-key.${KEY}`], headers: { Authorization: `Bearer ${wrong}` },
  });
  await both.close();
  // What /ws accepts is accepted here too.
  const [viaQuery] = await rtCreated(locked.port, { path: `/v1/realtime?model=m&token=${KEY}` });
  await viaQuery.close();
  // /ws does not take the OpenAI key subprotocol (its clients never send it).
  assert.equal((await upgrade(locked.port, {
    path: '/ws', headers: { 'Sec-WebSocket-Protocol': `parley, openai-insecure-api-key.${KEY}` },
  })).status, 401);

  await sleep(100);
  const log = locked.stderr();
  assert.match(log, /refused WebSocket from 127\.0\.0\.1: missing token \(\/v1\/realtime\)/);
  assert.match(log, /refused WebSocket from 127\.0\.0\.1: wrong token \(\/v1\/realtime\)/);
  assert.ok(!log.includes(KEY.slice(8, 30)) && !log.includes(wrong.slice(8, 30)), 'no key in the log');
});

test('without --auth-token a key is ignored, right or wrong', async () => {
  const [c] = await rtCreated(open.port, { headers: { Authorization: 'Bearer anything-at-all' } });
  await c.close();
  const [d] = await rtCreated(open.port, { protocols: ['realtime', 'openai-insecure-api-key.whatever'] });
  assert.equal(d.ws.protocol, 'realtime');
  await d.close();
});

test('the official SDK\'s Node classes (GA, beta) connect with the key in Authorization: no subprotocol either way, the dialect from OpenAI-Beta', async () => {
  // The SDK builds wss:// URLs: plain TCP underneath (ws's opts.path is the HTTP path, not a socket).
  const createConnection = (o) => net.connect({ host: o.host, port: o.port });
  const client = new OpenAI({ apiKey: KEY, baseURL: `http://127.0.0.1:${locked.port}/v1` });
  for (const [Cls, beta] of [[OpenAIRealtimeWS, false], [BetaRealtimeWS, true]]) {
    const sdk = new Cls({ model: 'parley-sdk', options: { createConnection } }, client);
    const errors = [];
    sdk.on('error', (err) => errors.push(err.error ?? err)); // without a listener an error is an unhandled rejection
    const { session } = await withTimeout(sdk.emitted('session.created'), 10000, 'session.created');
    assert.equal(session.model, 'parley-sdk');
    assert.ok(beta ? isBeta(session) : isGA(session), `${beta ? 'beta' : 'GA'} shape: ${JSON.stringify(session)}`);
    assert.equal(sdk.socket.protocol, '');
    const closed = new Promise((r) => sdk.socket.once('close', r));
    sdk.close();
    await withTimeout(closed, 5000, 'close');
    assert.deepEqual(errors, []);
  }
  // A wrong key: the SDK sees the 401 as an error, no session.
  const bad = new OpenAIRealtimeWS({ model: 'm', options: { createConnection } },
    new OpenAI({ apiKey: 'sk-wrong-key-0123456789', baseURL: `http://127.0.0.1:${locked.port}/v1` }));
  const err = await withTimeout(new Promise((r) => bad.on('error', r)), 5000, 'the SDK\'s error');
  assert.match(String(err.message), /401/);
});

// ------------------------------------------------------------ limits

test('server_full on /v1/realtime: a Realtime error event, then close 1013; sessions counted per wire', async () => {
  const auth = { headers: { Authorization: `Bearer ${KEY}` } };
  const before = await waitForMetrics(locked.port, (x) => x.parley_sessions_live === 0, { what: 'earlier sessions closed' });
  const [a] = await rtCreated(locked.port, auth);
  const nat = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${locked.port}/ws`, { headers: auth.headers, perMessageDeflate: false });
    const cl = new Client(ws);
    ws.once('open', () => resolve(cl));
    ws.once('error', reject);
  });
  assert.equal((await nat.next(undefined, 5000)).type, 'status');
  try {
    const v = await waitForMetrics(locked.port, (x) => x['parley_sessions_live_by_wire{wire="realtime"}'] === 1 &&
      x['parley_sessions_live_by_wire{wire="native"}'] === 1, { what: 'one live session per wire' });
    assert.equal(v['parley_sessions_by_wire_total{wire="realtime"}'] - (before['parley_sessions_by_wire_total{wire="realtime"}'] ?? 0), 1);
    assert.equal(v['parley_sessions_by_wire_total{wire="native"}'] - (before['parley_sessions_by_wire_total{wire="native"}'] ?? 0), 1);

    const full = await rt(locked.port, auth);
    const err = await full.next(undefined, 5000);
    assert.equal(err.type, 'error', `first event: ${JSON.stringify(err)}`);
    assert.match(err.event_id, /^event_/);
    assert.equal(err.error?.code, 'server_full');
    assert.equal(typeof err.error?.message, 'string');
    assert.equal(typeof err.error?.type, 'string');
    assert.equal(full.received('session.created').length, 0, 'no session.created when refused');
    assert.equal((await full.waitClose(5000)).code, 1013);
    await sleep(100);
    assert.match(locked.stderr(), /refused: 2 sessions already open \(--max-sessions\) \(\/v1\/realtime\)/);
  } finally {
    await a.close();
    await nat.close();
  }
  await waitForMetrics(locked.port, (x) => x['parley_sessions_live_by_wire{wire="realtime"}'] === 0 &&
    x.parley_sessions_live === 0, { what: 'sessions closed' });
});

// ------------------------------------------------------------ frame sizes

test('large text frames: multi-hundred-KB events (fragmented too) reach the protocol whole; an oversized one is an error event and the session goes on', async () => {
  const [c] = await rtCreated(open.port, { path: '/v1/realtime?model=big' });
  try {
    // 600 KB event whose event_id comes last: the protocol answers the
    // unknown type with an error naming it only if it parsed all of it.
    const pad = 'x'.repeat(600 * 1024);
    c.sendText(`{"type":"parley.bogus","pad":"${pad}","event_id":"evt_big_1"}`);
    let e = await c.next('error', 10000);
    assert.equal(e.error.event_id, 'evt_big_1');

    // The same in three fragments.
    const msg = Buffer.from(`{"type":"parley.bogus","pad":"${pad}","event_id":"evt_big_2"}`);
    const third = Math.floor(msg.length / 3);
    c.ws.send(msg.subarray(0, third), { fin: false, binary: false });
    c.ws.send(msg.subarray(third, 2 * third), { fin: false, binary: false });
    c.ws.send(msg.subarray(2 * third), { fin: true, binary: false });
    e = await c.next('error', 10000);
    assert.equal(e.error.event_id, 'evt_big_2');

    // 4 s of 24 kHz pcm16 silence in one append (256 000 base64 characters):
    // accepted, no error (input audio may run 5 s ahead of real time).
    const audio = Buffer.alloc(24000 * 2 * 4).toString('base64');
    assert.equal(audio.length, 256000);
    c.sendJson({ type: 'input_audio_buffer.append', event_id: 'evt_append', audio });
    c.sendText('{"type":"parley.bogus","event_id":"evt_after_append"}');
    e = await c.next('error', 10000);
    assert.equal(e.error.event_id, 'evt_after_append', `the append was refused: ${JSON.stringify(e)}`);

    // Over the wire's cap (parley_realtime_wire.max_frame): discarded
    // unread, answered by an error event; the connection stays open.
    const huge = 'y'.repeat(5 << 20);
    c.sendText(`{"type":"input_audio_buffer.append","event_id":"evt_huge","audio":"${huge}"}`);
    e = await c.next('error', 15000);
    assert.match(JSON.stringify(e.error), /too large|exceeds|bytes/i, `oversize error: ${JSON.stringify(e)}`);
    assert.ok(c.isOpen, 'the connection stays open after an oversized frame');
    c.sendText('{"type":"parley.bogus","event_id":"evt_after_huge"}');
    e = await c.next('error', 10000);
    assert.equal(e.error.event_id, 'evt_after_huge');
  } finally {
    await c.close();
  }
});
