// Access control and connection limits through the real server: Origin and
// Host checks, the auth token in its three forms, TLS, the admin port, the
// per-address session cap, WebSocket ping with the idle timeout, TCP
// keepalive. docs/security.md describes the rules tested here.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, runBin, connect, connectReady, Client, WebSocket, getJson, httpGet,
  fetchMetrics, waitForMetrics, sanitizerReports, sleep,
} from './harness.mjs';

const cleanups = [];
const servers = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function server(args = [], env = {}, opts = {}) {
  const s = await startServer(args, env, opts);
  servers.push(s);
  cleanups.push(() => s.stop('SIGKILL'));
  return s;
}

const TOKEN = 'tok_' + 'a1B2c3D4e5F6g7H8i9J0'.repeat(2);
const WS_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

/**
 * A WebSocket upgrade request with exactly these headers (Host included:
 * set `host`), through node:http. Resolves {status, headers, text}: 101 when
 * the server switched protocols (the socket is then closed), else the HTTP
 * answer.
 */
function upgrade(port, { path: p = '/ws', headers = {}, host = `127.0.0.1:${port}`, tls = null } = {}) {
  return new Promise((resolve, reject) => {
    const mod = tls ? https : http;
    const req = mod.request({
      host: '127.0.0.1', port, path: p, method: 'GET', agent: false, setHost: false,
      ...(tls ? { ca: tls, servername: 'localhost' } : {}),
      headers: {
        Host: host, Connection: 'Upgrade', Upgrade: 'websocket',
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
    req.on('error', reject);
    req.end();
  });
}

/** Sends raw bytes as a request and resolves the first line of the answer. */
function rawRequest(port, bytes) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error('raw request timed out')); });
    s.on('connect', () => s.write(bytes));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n')) { s.destroy(); resolve(got.split('\r\n')[0]); }
    });
    s.on('error', reject);
    s.on('close', () => resolve(got.split('\r\n')[0]));
  });
}

/** GET with a chosen Host header. */
function getWithHost(port, p, host) {
  return httpGet(port, p, { headers: { Host: host } });
}

/** A `ws` client with options (headers, subprotocols, TLS); resolves a Client. */
function wsClient(url, { protocols, headers, ca } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, ca, perMessageDeflate: false, handshakeTimeout: 5000 });
    const c = new Client(ws);
    ws.once('open', () => resolve(c));
    ws.once('unexpected-response', (req, res) => { reject(new Error(`HTTP ${res.statusCode}`)); ws.terminate(); });
    ws.once('error', reject);
  });
}

async function sessionsTotal(port) {
  return (await fetchMetrics(port)).values.parley_sessions_total ?? 0;
}

// ------------------------------------------------------------------ Origin

test('Origin: none, the page\'s own and loopback origins are accepted; another site is refused with 403 and logged', async () => {
  const srv = await server();
  const own = `http://127.0.0.1:${srv.port}`;
  assert.equal((await upgrade(srv.port)).status, 101, 'no Origin (a non-browser client)');
  assert.equal((await upgrade(srv.port, { headers: { Origin: own } })).status, 101, 'own origin');
  assert.equal((await upgrade(srv.port, { headers: { Origin: 'http://localhost:5173' } })).status, 101, 'loopback origin, other port');
  assert.equal((await upgrade(srv.port, { headers: { Origin: 'https://[::1]' } })).status, 101, 'IPv6 loopback origin');

  const before = await sessionsTotal(srv.port);
  for (const origin of ['http://evil.example', `https://127.0.0.1.evil.example:${srv.port}`, 'null',
    `http://localhost.evil.example:${srv.port}`]) {
    const r = await upgrade(srv.port, { headers: { Origin: origin } });
    assert.equal(r.status, 403, `Origin ${origin}: ${r.status} ${r.text}`);
  }
  // A browser page on another site, through the real client.
  await assert.rejects(wsClient(srv.wsUrl, { headers: { Origin: 'https://evil.example' } }), /HTTP 403/);
  assert.equal(await sessionsTotal(srv.port), before, 'a refused upgrade creates no session');
  assert.equal((await fetchMetrics(srv.port)).values['parley_connections_refused_total{reason="origin"}'], 5);
  assert.match(srv.stderr(), /WARN {2}refused WebSocket from 127\.0\.0\.1: Origin 'http:\/\/evil\.example' is not allowed/);

  // Header values are escaped in the log (a terminal escape here).
  const line = await rawRequest(srv.port, 'GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n' +
    `Upgrade: websocket\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n` +
    'Origin: http://evil.example\x1b[2J\r\n\r\n');
  assert.match(line, / 403 /);
  await sleep(100);
  assert.ok(srv.stderr().includes("Origin 'http://evil.example\\x1b[2J'"), 'escaped in the log');
  assert.ok(!srv.stderr().includes('\x1b'), 'no raw escape byte in the log');
  // The real client from the page's own origin still gets its session.
  const c = await wsClient(srv.wsUrl, { headers: { Origin: own } });
  assert.equal((await c.next(undefined, 5000)).type, 'status');
  await c.close();
});

test('--allowed-origins adds origins; * allows any; the own-Host rule follows the Host header', async () => {
  const listed = await server(['--allowed-origins', 'https://app.example, http://other.example:8443/']);
  assert.equal((await upgrade(listed.port, { headers: { Origin: 'https://app.example' } })).status, 101);
  assert.equal((await upgrade(listed.port, { headers: { Origin: 'http://other.example:8443' } })).status, 101);
  assert.equal((await upgrade(listed.port, { headers: { Origin: 'http://app.example' } })).status, 403, 'scheme matters');
  assert.equal((await upgrade(listed.port, { headers: { Origin: 'https://evil.example' } })).status, 403);

  const any = await server(['--allowed-origins', '*']);
  assert.equal((await upgrade(any.port, { headers: { Origin: 'https://evil.example' } })).status, 101);

  // Bound to every interface, a Host that is not loopback is fine, and the
  // page's own origin is scheme://Host.
  const wide = await server(['--host', '0.0.0.0', '--port', '0'], {}, { hostPort: false });
  const host = `chat.example:${wide.port}`;
  assert.equal((await upgrade(wide.port, { host, headers: { Origin: `http://${host}` } })).status, 101);
  assert.equal((await upgrade(wide.port, { host, headers: { Origin: `https://${host}` } })).status, 403, 'https page, plain server');
  assert.equal((await upgrade(wide.port, { host, headers: { Origin: 'http://chat.example' } })).status, 403, 'other port');
  assert.equal((await upgrade(wide.port, { host, headers: { Origin: 'http://evil.example' } })).status, 403);
  assert.equal((await getWithHost(wide.port, '/healthz', host)).status, 200);
});

// ------------------------------------------------------------------ Host (DNS rebinding)

test('loopback bind: a foreign Host is refused (403) for /ws and for every HTTP path; loopback names pass', async () => {
  const srv = await server();
  for (const host of ['evil.example', `evil.example:${srv.port}`, '10.0.0.1', `127.0.0.1.nip.io:${srv.port}`]) {
    const r = await upgrade(srv.port, { host, headers: { Origin: `http://${host}` } });
    assert.equal(r.status, 403, `upgrade with Host ${host}`);
    for (const p of ['/', '/healthz', '/metrics', '/app.js', '/auth.json']) {
      assert.equal((await getWithHost(srv.port, p, host)).status, 403, `GET ${p} with Host ${host}`);
    }
  }
  for (const host of [`localhost:${srv.port}`, 'localhost', `127.0.0.1:${srv.port}`, `[::1]:${srv.port}`]) {
    assert.equal((await getWithHost(srv.port, '/healthz', host)).status, 200, `Host ${host}`);
    assert.equal((await upgrade(srv.port, { host })).status, 101, `upgrade with Host ${host}`);
  }
  assert.match(srv.stderr(), /refused WebSocket from 127\.0\.0\.1: Host 'evil\.example' is not a loopback name/);
  assert.match(srv.stderr(), /refused HTTP request from 127\.0\.0\.1: Host 'evil\.example' is not a loopback name/);
});

test('a loopback bind spelt as an interface (lo) or a name (localhost, this machine\'s name) keeps the Host check on', async () => {
  // lws binds interface names itself; names are resolved by parley (lws
  // would listen on nothing). Each is loopback only here, so DNS rebinding
  // must still be refused.
  const names = ['lo', 'localhost'];
  const me = os.hostname();
  const mine = (() => { try { return execFileSync('getent', ['ahostsv4', me], { encoding: 'utf8' }); } catch { return ''; } })();
  if (/^127\./.test(mine)) names.push(me); // Debian maps it to 127.0.1.1
  for (const name of names) {
    const srv = await server(['--host', name, '--port', '0', '--stt-warm', '0'], {}, { hostPort: false });
    assert.equal((await getWithHost(srv.port, '/healthz', `evil.example:${srv.port}`)).status, 403, `--host ${name}: foreign Host`);
    assert.equal((await upgrade(srv.port, { host: `evil.example:${srv.port}` })).status, 403, `--host ${name}: upgrade with foreign Host`);
    assert.equal((await getWithHost(srv.port, '/healthz', `localhost:${srv.port}`)).status, 200, `--host ${name}: loopback Host`);
    await srv.stop();
  }
});

// ------------------------------------------------------------------ auth token

test('auth token: missing or wrong → 401 in each form; right → 101 and a session in each form; never logged', async () => {
  const srv = await server([], { PARLEY_AUTH_TOKEN: TOKEN });
  assert.match(srv.stderr(), /listening on http:\/\/127\.0\.0\.1:\d+ \(WebSocket at \/ws and \/v1\/realtime, token required\)/);
  const before = await sessionsTotal(srv.port);

  const missing = await upgrade(srv.port);
  assert.equal(missing.status, 401);
  assert.match(missing.headers['www-authenticate'] ?? '', /^Bearer/);
  const wrong = `${TOKEN.slice(0, -1)}X`;
  const cases = [
    ['Authorization', { headers: { Authorization: `Bearer ${wrong}` } }],
    ['Authorization, other scheme', { headers: { Authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } }],
    ['subprotocol', { headers: { 'Sec-WebSocket-Protocol': `parley, parley.token.${wrong}` } }],
    ['query', { path: `/ws?token=${wrong}` }],
    ['query, prefix of the token', { path: `/ws?token=${TOKEN.slice(0, 20)}` }],
    ['query, empty', { path: '/ws?token=' }],
  ];
  for (const [what, opts] of cases) {
    const r = await upgrade(srv.port, opts);
    assert.equal(r.status, 401, `${what}: ${r.status}`);
  }
  assert.equal(await sessionsTotal(srv.port), before, 'no session without the token');
  assert.equal((await fetchMetrics(srv.port)).values['parley_connections_refused_total{reason="token"}'], 1 + cases.length);

  // Right token, each form, through the real client.
  const viaHeader = await wsClient(srv.wsUrl, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const viaProtocol = await wsClient(srv.wsUrl, { protocols: ['parley', `parley.token.${TOKEN}`] });
  assert.equal(viaProtocol.ws.protocol, 'parley', 'the server echoes "parley", never the token');
  const viaQuery = await wsClient(`${srv.wsUrl}?token=${TOKEN}`);
  for (const c of [viaHeader, viaProtocol, viaQuery]) {
    assert.equal((await c.next(undefined, 5000)).type, 'status');
    await c.close();
  }
  // Raw status codes too.
  assert.equal((await upgrade(srv.port, { headers: { Authorization: `Bearer ${TOKEN}` } })).status, 101);
  const proto = await upgrade(srv.port, { headers: { 'Sec-WebSocket-Protocol': `parley, parley.token.${TOKEN}` } });
  assert.equal(proto.status, 101);
  assert.equal(proto.headers['sec-websocket-protocol'], 'parley');
  assert.equal((await upgrade(srv.port, { path: `/ws?x=1&token=${TOKEN}` })).status, 101);

  // /auth.json tells the page what it needs, and checks a token it holds.
  assert.deepEqual((await getJson(srv.port, '/auth.json')).json, { token_required: true, token_valid: null });
  const ok = await httpGet(srv.port, '/auth.json', { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.deepEqual(JSON.parse(ok.text), { token_required: true, token_valid: true });
  const bad = await httpGet(srv.port, '/auth.json', { headers: { Authorization: `Bearer ${wrong}` } });
  assert.deepEqual(JSON.parse(bad.text), { token_required: true, token_valid: false });
  // The page itself and /healthz need no token.
  assert.equal((await httpGet(srv.port, '/')).status, 200);

  await sleep(100);
  const log = srv.stderr();
  assert.match(log, /refused WebSocket from 127\.0\.0\.1: missing token/);
  assert.match(log, /refused WebSocket from 127\.0\.0\.1: wrong token/);
  assert.ok(!log.includes(TOKEN.slice(4, 24)), 'the token (or a wrong guess) must never reach the log');
  assert.ok(!log.includes(wrong.slice(4, 24)));

  const open = await server();
  assert.deepEqual((await getJson(open.port, '/auth.json')).json, { token_required: false, token_valid: true });
});

test('an auth token that cannot travel in a subprotocol, or is too short, stops parley with exit 2', async () => {
  for (const bad of ['short', 'has spaces inside it ok', 'slash/is/not/a/token/char', 'x'.repeat(101)]) {
    const r = await runBin(['--port', '0'], { env: { PARLEY_AUTH_TOKEN: bad } });
    assert.equal(r.code, 2, `token '${bad}': exit ${r.code}`);
    assert.match(r.stderr, /PARLEY_AUTH_TOKEN: the token must be 16\.\.100 characters/);
  }
});

// ------------------------------------------------------------------ TLS

function openssl(args, cwd) {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

function makeCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-tls-'));
  cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  openssl(['genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', 'other-key.pem'], dir);
  fs.writeFileSync(path.join(dir, 'garbage.pem'), '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n');
  return { dir, cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), ca: fs.readFileSync(path.join(dir, 'cert.pem')) };
}

test('TLS: https GET of the page and a wss session that gets status; the log says https://', async () => {
  const t = makeCert();
  const srv = await server(['--tls-cert', t.cert, '--tls-key', t.key]);
  assert.match(srv.stderr(), /listening on https:\/\/127\.0\.0\.1:\d+/);
  assert.match(srv.url, /^https:/);
  const page = await new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: srv.port, path: '/', ca: t.ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body, alpn: res.socket.alpnProtocol }));
    }).on('error', reject);
  });
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>parley/);

  // wss from the page's own https origin (certificate verified against the test CA).
  const c = await wsClient(srv.wsUrl, { ca: t.ca, headers: { Origin: `https://127.0.0.1:${srv.port}` } });
  const first = await c.next(undefined, 5000);
  assert.equal(first.type, 'status');
  c.sendJson({ type: 'session.config', input_sample_rate: 16000 });
  assert.equal((await c.next('session.configured', 3000)).content.input_sample_rate, 16000);
  await c.close();
  // With TLS on, the own origin is https://Host; http://Host from another host is not.
  assert.equal((await upgrade(srv.port, { tls: t.ca, host: `localhost:${srv.port}`, headers: { Origin: `https://localhost:${srv.port}` } })).status, 101);
  // Plain HTTP to the TLS port gets no answer.
  await assert.rejects(httpGet(srv.port, '/healthz', { timeoutMs: 2000 }));
});

test('TLS: a missing, unreadable, invalid or mismatched certificate or key stops parley with exit 2', async () => {
  const t = makeCert();
  const cases = [
    [['--tls-cert', t.cert], /TLS needs both --tls-cert and --tls-key/],
    [['--tls-cert', path.join(t.dir, 'nope.pem'), '--tls-key', t.key], /--tls-cert: cannot read/],
    [['--tls-cert', path.join(t.dir, 'garbage.pem'), '--tls-key', t.key], /TLS: cannot load the certificate/],
    [['--tls-cert', t.cert, '--tls-key', t.cert], /TLS: cannot load the private key/],
    [['--tls-cert', t.cert, '--tls-key', path.join(t.dir, 'other-key.pem')], /does not belong to the certificate/],
  ];
  for (const [args, re] of cases) {
    const r = await runBin(['--port', '0', '--stt-warm', '0', ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

// ------------------------------------------------------------------ admin port

test('--admin-port: /metrics and /readyz only there (404 on the main port); /healthz on both; no WebSocket there', async () => {
  const srv = await server(['--admin-port', '0']);
  const m = /admin endpoints on http:\/\/127\.0\.0\.1:(\d+)/.exec(srv.stderr());
  assert.ok(m, 'the admin port is logged');
  const admin = Number(m[1]);
  assert.notEqual(admin, srv.port);

  assert.equal((await httpGet(srv.port, '/metrics')).status, 404);
  assert.equal((await httpGet(srv.port, '/readyz')).status, 404);
  assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
  assert.equal((await httpGet(srv.port, '/')).status, 200);

  const metrics = await httpGet(admin, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /parley_sessions_live/);
  assert.ok([200, 503].includes((await httpGet(admin, '/readyz')).status));
  assert.equal((await httpGet(admin, '/healthz')).status, 200);
  assert.equal((await httpGet(admin, '/')).status, 404, 'no browser client on the admin port');
  assert.equal((await httpGet(admin, '/app.js')).status, 404);
  assert.equal((await upgrade(admin)).status, 404, 'no WebSocket on the admin port');
  assert.equal((await getWithHost(admin, '/metrics', 'evil.example')).status, 403, 'loopback admin port refuses foreign Host');

  // Sessions on the main port show in the admin port's metrics.
  const c = await connectReady(srv.port);
  await waitForMetrics(admin, (v) => v.parley_sessions_live === 1, { what: 'parley_sessions_live == 1 on the admin port' });
  await c.close();
});

// ------------------------------------------------------------------ per-address cap

test('--max-sessions-per-ip 2: a third session from the address gets too_many_sessions and close 1013; a slot frees on close', async () => {
  const srv = await server(['--max-sessions-per-ip', '2']);
  const a = await connectReady(srv.port);
  const b = await connectReady(srv.port);
  const opened = [a, b];
  try {
    const c = await connect(srv.port);
    opened.push(c);
    const first = await c.next(undefined, 3000);
    assert.equal(first.type, 'error');
    assert.equal(first.content.code, 'too_many_sessions');
    assert.equal((await c.waitClose(3000)).code, 1013);
    assert.equal(c.received('status').length, 0);
    assert.match(srv.stderr(), /connection from 127\.0\.0\.1 refused: 2 sessions already open from 127\.0\.0\.1 \(--max-sessions-per-ip\)/);
    const m = (await fetchMetrics(srv.port)).values;
    assert.equal(m.parley_sessions_live, 2);
    assert.equal(m['parley_connections_refused_total{reason="too_many_sessions"}'], 1);

    await a.close();
    let d;
    const deadline = Date.now() + 3000;
    while (!d) {
      const cand = await connect(srv.port);
      opened.push(cand);
      const msg = await cand.next(undefined, 3000);
      if (msg.type === 'status') d = cand;
      else if (Date.now() > deadline) assert.fail('still too_many_sessions 3 s after a session closed');
      else await sleep(100);
    }
    assert.ok(b.isOpen);
  } finally {
    await Promise.all(opened.map((x) => x.close()));
  }
});

// ------------------------------------------------------------------ ping, idle timeout, keepalive

/**
 * A hand-made WebSocket client on a raw TCP socket that never answers
 * pings (the `ws` package always does). Resolves once upgraded; records
 * the opcodes of the frames it receives and when the socket closed.
 */
function rawWs(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const st = { socket: s, opcodes: [], pingAt: [], closedAt: null, t0: Date.now() };
    let buf = Buffer.alloc(0);
    let upgraded = false;
    st.closed = new Promise((r) => s.on('close', () => { st.closedAt = Date.now(); r(); }));
    s.on('error', () => {});
    s.on('connect', () => s.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade\r\n` +
      `Upgrade: websocket\r\nSec-WebSocket-Key: ${WS_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(head)) { reject(new Error(head)); s.destroy(); return; }
        upgraded = true;
        buf = buf.subarray(end + 4);
        resolve(st);
      }
      for (;;) { // server frames are unmasked
        if (buf.length < 2) return;
        let len = buf[1] & 0x7f;
        let off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + len) return;
        const op = buf[0] & 0x0f;
        st.opcodes.push(op);
        if (op === 0x9) st.pingAt.push(Date.now());
        buf = buf.subarray(off + len);
      }
    });
  });
}

/** A masked client text frame. */
function textFrame(str) {
  const payload = Buffer.from(str);
  const mask = Buffer.from([1, 2, 3, 4]);
  const head = Buffer.from([0x81, 0x80 | payload.length]);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, body]);
}

test('idle timeout: a client that never answers pings is pinged and closed, and its slot is freed; one that answers stays', async () => {
  const srv = await server(['--ws-ping-interval', '1', '--idle-timeout', '3']);
  const dead = await rawWs(srv.port);
  const alive = await connectReady(srv.port); // `ws` answers pings by itself
  await waitForMetrics(srv.port, (v) => v.parley_sessions_live === 2, { what: 'two sessions' });

  await Promise.race([dead.closed, sleep(10000)]);
  assert.ok(dead.closedAt, 'the silent client was not closed within 10 s');
  const after = (dead.closedAt - dead.t0) / 1000;
  assert.ok(dead.pingAt.length >= 1, `no ping frame seen (opcodes ${dead.opcodes})`);
  assert.ok((dead.pingAt[0] - dead.t0) / 1000 >= 0.8, 'the first ping comes after the ping interval');
  assert.ok(after >= 2.5 && after <= 6, `closed after ${after.toFixed(1)} s (idle timeout 3 s)`);
  await waitForMetrics(srv.port, (v) => v.parley_sessions_live === 1, { what: 'the dead client\'s session freed' });
  assert.ok(alive.isOpen, 'the client that answers pings stays connected');
  await alive.close();
});

test('idle timeout: any message counts as traffic, so a client that talks but ignores pings is not closed', async () => {
  const srv = await server(['--ws-ping-interval', '1', '--idle-timeout', '3']);
  const talker = await rawWs(srv.port);
  const t0 = Date.now();
  while (Date.now() - t0 < 5500) {
    talker.socket.write(textFrame('{"type":"tts_stop"}'));
    await sleep(500);
  }
  assert.equal(talker.closedAt, null, 'a client sending messages was closed as idle');
  talker.socket.destroy();
  await waitForMetrics(srv.port, (v) => v.parley_sessions_live === 0, { what: 'session freed after the socket closed' });
});

test('TCP keepalive is on for WebSocket connections', async (t) => {
  try { execFileSync('ss', ['-V'], { stdio: 'ignore' }); } catch { t.skip('ss (iproute2) is not installed'); return; }
  const srv = await server(['--ws-ping-interval', '7', '--idle-timeout', '30']);
  const c = await connectReady(srv.port);
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${srv.port} )`]).toString();
  assert.match(out, /timer:\(keepalive,/, `ss shows no keepalive timer:\n${out}`);
  await c.close();
});

test('access-control servers stop cleanly with no sanitizer reports', async () => {
  for (const s of servers) {
    const r = await s.stop();
    assert.ok(r.alreadyExited || r.code === 0, `exit ${r.code} ${r.signal}`);
    assert.deepEqual(sanitizerReports(s.stderr()), []);
  }
});
