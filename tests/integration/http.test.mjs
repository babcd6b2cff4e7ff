// HTTP endpoints: web root, health/readiness, metrics, static files, traversal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, httpGet, httpRequest, getJson, fetchMetrics, sanitizerReports, sleep,
} from './harness.mjs';

const SECRET = 'TOP-SECRET-parley-traversal-canary-7f3a';

let srv;        // default web root (repo's web/)
let webSrv;     // --web-root <tmp>/root
let tmpBase;
let webRoot;

const FILES = {
  'index.html': { body: '<!doctype html><html><body>root index ROOT-INDEX-MARK</body></html>', mime: ['text/html'] },
  'static/app.js': { body: 'console.log("app");\n', mime: ['text/javascript', 'application/javascript'] },
  'static/style.css': { body: 'body { color: red; }\n', mime: ['text/css'] },
  'a.mjs': { body: 'export const a = 1;\n', mime: ['text/javascript', 'application/javascript'] },
  's.svg': { body: '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>', mime: ['image/svg+xml'] },
  'x.json': { body: '{"x":1}', mime: ['application/json'] },
  'sound.wav': { body: Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1'), mime: ['audio/wav', 'audio/x-wav', 'audio/wave'] },
  'img.png': { body: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]), mime: ['image/png'] },
  'favicon.ico': { body: Buffer.from([0, 0, 1, 0, 1, 0, 0, 0]), mime: ['image/x-icon', 'image/vnd.microsoft.icon'] },
  'sub/index.html': { body: '<html><body>SUB-INDEX-MARK</body></html>', mime: ['text/html'] },
};

function mimeOf(res) {
  return (res.headers['content-type'] || '').split(';')[0].trim().toLowerCase();
}

before(async () => {
  tmpBase = mkdtempSync(path.join(os.tmpdir(), 'parley-http-'));
  webRoot = path.join(tmpBase, 'root');
  mkdirSync(webRoot);
  writeFileSync(path.join(tmpBase, 'secret.txt'), SECRET);
  for (const [rel, f] of Object.entries(FILES)) {
    mkdirSync(path.dirname(path.join(webRoot, rel)), { recursive: true });
    writeFileSync(path.join(webRoot, rel), f.body);
  }
  [srv, webSrv] = await Promise.all([startServer(), startServer(['--web-root', webRoot])]);
});

after(async () => {
  await Promise.all([srv?.stop('SIGKILL'), webSrv?.stop('SIGKILL')]);
  if (tmpBase) rmSync(tmpBase, { recursive: true, force: true });
});

test('GET / serves the default web client as text/html', async () => {
  const r = await httpGet(srv.port, '/');
  assert.equal(r.status, 200);
  assert.equal(mimeOf(r), 'text/html', `content-type was ${r.headers['content-type']}`);
  assert.match(r.text, /<html/i);
});

test('GET /healthz → 200 {"status":"ok"}', async () => {
  const r = await getJson(srv.port, '/healthz');
  assert.equal(r.status, 200);
  assert.ok(r.json, `body is not JSON: ${r.text}`);
  assert.equal(r.json.status, 'ok');
});

test('GET /readyz → 200 {"ready":true} (polled up to 10 s; 503 {"ready":false,reason} before)', async () => {
  const deadline = Date.now() + 10000;
  let r;
  for (;;) {
    r = await getJson(srv.port, '/readyz');
    if (r.status === 200) break;
    assert.equal(r.status, 503, `/readyz must be 200 or 503, got ${r.status}: ${r.text}`);
    assert.ok(r.json, `503 body is not JSON: ${r.text}`);
    assert.equal(r.json.ready, false);
    assert.equal(typeof r.json.reason, 'string');
    if (Date.now() > deadline) assert.fail(`/readyz still 503 after 10 s: ${r.text}`);
    await sleep(200);
  }
  assert.ok(r.json, `body is not JSON: ${r.text}`);
  assert.equal(r.json.ready, true);
});

test('GET /metrics → Prometheus text with the core metric families', async () => {
  const m = await fetchMetrics(srv.port);
  assert.equal(m.status, 200);
  assert.ok(m.contentType.startsWith('text/plain'), `content-type was "${m.contentType}"`);
  assert.ok(m.text.includes('# TYPE parley_sessions_live gauge'), 'missing "# TYPE parley_sessions_live gauge"');
  for (const s of ['parley_sessions_total', 'parley_ws_messages_in_total', 'parley_ws_messages_out_total',
    'parley_protocol_errors_total', 'parley_session_ready_seconds_bucket']) {
    assert.ok(m.text.includes(s), `/metrics does not mention ${s}`);
  }
  assert.ok('parley_session_ready_seconds_bucket{le="+Inf"}' in m.values,
    'missing sample parley_session_ready_seconds_bucket{le="+Inf"}');
  assert.ok('parley_session_ready_seconds_sum' in m.values, 'missing sample parley_session_ready_seconds_sum');
  assert.ok('parley_session_ready_seconds_count' in m.values, 'missing sample parley_session_ready_seconds_count');
  assert.equal(m.values.parley_sessions_live, 0, 'parley_sessions_live should be 0 with no clients');
  assert.deepEqual(m.values.badLines, [], 'unparseable sample lines in /metrics');
});

test('GET /metrics declares every metric of the spec table with its type', async () => {
  const m = await fetchMetrics(srv.port);
  const types = {
    parley_sessions_live: 'gauge',
    parley_sessions_total: 'counter',
    parley_ws_messages_in_total: 'counter',
    parley_ws_messages_out_total: 'counter',
    parley_protocol_errors_total: 'counter',
    parley_session_ready_seconds: 'histogram',
    parley_outqueue_overflows_total: 'counter',
    parley_ready: 'gauge',
  };
  for (const [name, type] of Object.entries(types)) {
    // Prometheus 0.0.4 allows the TYPE of a counter to name the family with or without _total.
    const re = new RegExp(`^# TYPE ${name.replace(/_total$/, '')}(_total)? ${type}$`, 'm');
    assert.match(m.text, re, `missing "# TYPE ${name} ${type}"`);
  }
  assert.equal(m.values.parley_ready, 1, 'parley_ready should be 1 once /readyz is 200');
});

test('--web-root: each file type is served with the right MIME type and bytes', async () => {
  for (const [rel, f] of Object.entries(FILES)) {
    const r = await httpGet(webSrv.port, `/${rel}`);
    assert.equal(r.status, 200, `/${rel} status`);
    assert.ok(f.mime.includes(mimeOf(r)), `/${rel}: content-type "${r.headers['content-type']}" not in ${f.mime.join(' | ')}`);
    assert.ok(r.body.equals(Buffer.from(f.body)), `/${rel}: body differs from the file`);
  }
});

test('--web-root: / serves DIR/index.html and /sub/ serves sub/index.html', async () => {
  const root = await httpGet(webSrv.port, '/');
  assert.equal(root.status, 200);
  assert.equal(mimeOf(root), 'text/html');
  assert.ok(root.text.includes('ROOT-INDEX-MARK'), `/ body: ${root.text.slice(0, 200)}`);
  const sub = await httpGet(webSrv.port, '/sub/');
  assert.equal(sub.status, 200);
  assert.equal(mimeOf(sub), 'text/html');
  assert.ok(sub.text.includes('SUB-INDEX-MARK'), `/sub/ body: ${sub.text.slice(0, 200)}`);
});

test('--web-root: a missing file is 404', async () => {
  for (const p of ['/nope.html', '/static/missing.js', '/sub/nothing/here.css']) {
    const r = await httpGet(webSrv.port, p);
    assert.equal(r.status, 404, `${p} status`);
  }
});

test('--web-root: HEAD on a file is allowed (200, no body)', async () => {
  const r = await httpRequest(webSrv.port, '/index.html', { method: 'HEAD' });
  assert.equal(r.status, 200);
  assert.equal(mimeOf(r), 'text/html');
  assert.equal(r.body.length, 0);
});

const TRAVERSALS = [
  '/../secret.txt',
  '/static/../../secret.txt',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/static/%2e%2e/%2e%2e/secret.txt',
  '/..%2fsecret.txt',
  '/%2e%2e%2fsecret.txt',
  '/..%5csecret.txt',
  '/%252e%252e/secret.txt',
];

for (const p of TRAVERSALS) {
  test(`--web-root: traversal ${p} is refused (403/404) and never leaks the parent's file`, async () => {
    const r = await httpGet(webSrv.port, p);
    assert.ok(!r.text.includes(SECRET), `${p} leaked secret.txt`);
    assert.ok(r.status === 403 || r.status === 404, `${p}: status ${r.status}, expected 403 or 404`);
  });
}

test('--web-root: POST on a file → 405', async () => {
  const r = await httpRequest(webSrv.port, '/index.html', {
    method: 'POST', headers: { 'content-type': 'text/plain', 'content-length': '0' },
  });
  assert.equal(r.status, 405);
});

test('servers stop cleanly on SIGTERM with no sanitizer reports in stderr', async () => {
  const [a, b] = await Promise.all([srv.stop(), webSrv.stop()]);
  const reports = [...sanitizerReports(srv.stderr()), ...sanitizerReports(webSrv.stderr())];
  assert.deepEqual(reports, []);
  assert.deepEqual([a.code, b.code], [0, 0], `exit codes (signals ${a.signal}, ${b.signal})`);
});
