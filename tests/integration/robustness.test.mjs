// Hostile or unusual input that must neither crash the server nor end the session.
// Each test starts its own server, so one crash does not cascade into other tests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, connectReady, httpGet, getJson, fetchMetrics, sanitizerReports, sleep,
} from './harness.mjs';

const servers = [];
after(async () => { await Promise.all(servers.map((s) => s.stop('SIGKILL'))); });

async function server(args = []) {
  const s = await startServer(args);
  servers.push(s);
  return s;
}

/** The server is still running, answers /healthz and has no sanitizer report. */
async function assertAlive(s, label) {
  await sleep(100);
  const r = await getJson(s.port, '/healthz').catch((e) => ({ status: `no answer (${e.message})` }));
  const gone = s.proc.exitCode !== null || s.proc.signalCode !== null
    ? ` (process exited: code ${s.proc.exitCode}, signal ${s.proc.signalCode})` : '';
  assert.equal(r.status, 200, `${label}: server no longer answers /healthz${gone}; stderr tail:\n${s.stderr().slice(-1500)}`);
  assert.deepEqual(sanitizerReports(s.stderr()), [], `${label}: sanitizer report`);
}

// libwebsockets' own parser drops a request whose path has an encoded NUL
// inside it (no answer), and ends the path at a trailing one ("/%00" is "/").
// Either way no other file than the path before the NUL may be served.
for (const p of ['/a%00b', '/index.html%00.txt', '/%00', '/index.html%00']) {
  test(`HTTP path with a NUL (${p}) serves nothing else and the server survives`, async () => {
    const s = await server();
    const r = await httpGet(s.port, p).catch((e) => ({ status: 'dropped', error: e.message }));
    await assertAlive(s, p);
    if (r.status === 'dropped') return;
    if (r.status === 200) {
      const prefix = p.slice(0, p.indexOf('%00')) || '/';
      assert.ok(p.endsWith('%00'), `${p}: a NUL inside the path must not be served (got 200)`);
      const plain = await httpGet(s.port, prefix);
      assert.equal(r.text, plain.text, `${p}: serves exactly ${prefix}`);
      return;
    }
    assert.ok(r.status === 403 || r.status === 404, `${p}: status ${r.status}`);
  });
}

const FRAMES = [
  ['an empty text frame', '', 'invalid_json'],
  ['an empty binary frame', Buffer.alloc(0), 'invalid_frame'],
  ['a text frame that is not valid UTF-8', Buffer.from('{"type":"\xff\xfe"}', 'latin1'), 'invalid_json', 'text'],
];

for (const [label, payload, code, asText] of FRAMES) {
  test(`${label} → error ${code}, session stays open, server survives`, async () => {
    const s = await server();
    const c = await connectReady(s.port);
    try {
      if (asText || typeof payload === 'string') c.ws.send(payload, { binary: false });
      else c.sendBinary(payload);
      const err = await c.next('error', 1500).catch((e) => e);
      await assertAlive(s, label);
      assert.ok(!(err instanceof Error), `${label}: ${err.message}`);
      assert.equal(err.content?.code, code, `${label}: ${JSON.stringify(err.content)}`);
      assert.ok(c.isOpen, `${label}: connection closed ${JSON.stringify(c.closeInfo)}`);
      c.sendJson({ type: 'session.config', input_sample_rate: 16000 });
      await c.next('session.configured', 2000);
    } finally {
      await c.close();
    }
  });
}

test('a client that stops reading is closed (1008) and counted once in parley_outqueue_overflows_total', async () => {
  // protocol.md: "A client that does not read what it is sent (its out-queue exceeds
  // 1024 messages or 8 MiB) is closed with status 1008."
  const s = await server();
  const before = (await fetchMetrics(s.port)).values.parley_outqueue_overflows_total;
  assert.equal(typeof before, 'number', 'parley_outqueue_overflows_total missing');
  const c = await connectReady(s.port);
  try {
    c.ws._socket.pause(); // stop reading: the server's answers pile up in its out-queue
    let v;
    let sent = 0;
    const deadline = Date.now() + 5000;
    // Each invalid message earns one error answer. Pace the flood so the server reads all of it,
    // and stop once the session is gone.
    for (;;) {
      if (c.isOpen) {
        for (let i = 0; i < 250; i++) c.sendText('{oops');
        sent += 250;
      }
      await sleep(10);
      v = (await fetchMetrics(s.port)).values;
      if (v.parley_outqueue_overflows_total > before && v.parley_sessions_live === 0) break;
      if (Date.now() > deadline) {
        assert.fail(`a client that did not read ${sent} answers was not closed within 5 s: ` +
          `parley_outqueue_overflows_total ${before} -> ${v.parley_outqueue_overflows_total}, ` +
          `parley_sessions_live ${v.parley_sessions_live}, ` +
          `errors written ${v['parley_ws_messages_out_total{kind="error"}']}`);
      }
    }
    c.ws._socket.resume();
    const ci = await c.waitClose(3000);
    // A close frame behind a full socket may never arrive, so 1006 is tolerated client-side.
    assert.ok(ci.code === 1008 || ci.code === 1006, `close code ${ci.code} (${ci.reason})`);
    await sleep(300);
    const after = (await fetchMetrics(s.port)).values;
    assert.equal(after.parley_outqueue_overflows_total - before, 1,
      'one non-reading session must count exactly once in parley_outqueue_overflows_total');
    await assertAlive(s, 'after out-queue overflow');
  } finally {
    c.ws.terminate();
  }
});
