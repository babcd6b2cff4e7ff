// Command line and PARLEY_* environment: bad values exit 2, --help, env configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runBin, startServer, connect, connectReady } from './harness.mjs';

const BASE = ['--host', '127.0.0.1'];

const BAD = [
  ['--port 70000', [...BASE, '--port', '70000'], {}],
  ['--port abc', [...BASE, '--port', 'abc'], {}],
  ['--max-sessions 0', [...BASE, '--port', '0', '--max-sessions', '0'], {}],
  ['--log-level loud', [...BASE, '--port', '0', '--log-level', 'loud'], {}],
  ['--web-root /nonexistent/dir', [...BASE, '--port', '0', '--web-root', '/nonexistent/dir'], {}],
  ['--bogus', [...BASE, '--port', '0', '--bogus'], {}],
  ['env PARLEY_PORT=abc', [...BASE], { PARLEY_PORT: 'abc' }],
];

for (const [label, args, env] of BAD) {
  test(`bad configuration ${label} → exit code 2 with a message on stderr`, async () => {
    const r = await runBin(args, { env, timeoutMs: 5000 });
    assert.ok(!r.timedOut, `${label}: server kept running for 5 s instead of exiting 2; stderr:\n${r.stderr}`);
    assert.equal(r.code, 2, `${label}: exit code ${r.code} (signal ${r.signal}); stderr:\n${r.stderr}`);
    assert.ok(r.stderr.trim().length > 0, `${label}: nothing printed on stderr`);
  });
}

test('--help exits 0 and documents every flag and PARLEY_PORT', async () => {
  const r = await runBin(['--help'], { timeoutMs: 5000 });
  assert.ok(!r.timedOut, '--help did not exit within 5 s');
  assert.equal(r.code, 0, `exit code ${r.code}; stderr:\n${r.stderr}`);
  const out = r.stdout + r.stderr;
  for (const s of ['--host', '--port', '--web-root', '--max-sessions', '--log-level', 'PARLEY_PORT']) {
    assert.ok(out.includes(s), `--help output does not mention ${s}:\n${out}`);
  }
});

test('PARLEY_* environment variables configure the server (PARLEY_HOST, PARLEY_PORT, PARLEY_MAX_SESSIONS, PARLEY_LOG_LEVEL)', async () => {
  const srv = await startServer([], {
    PARLEY_HOST: '127.0.0.1', PARLEY_PORT: '0', PARLEY_MAX_SESSIONS: '1', PARLEY_LOG_LEVEL: 'debug',
  }, { hostPort: false });
  const opened = [];
  try {
    const a = await connectReady(srv.port);
    opened.push(a);
    const b = await connect(srv.port);
    opened.push(b);
    const m = await b.next(undefined, 3000);
    assert.equal(m.type, 'error', `second connection with PARLEY_MAX_SESSIONS=1: ${JSON.stringify(m)}`);
    assert.equal(m.content?.code, 'server_full');
    assert.equal((await b.waitClose(3000)).code, 1013);
  } finally {
    await Promise.all(opened.map((c) => c.close()));
    const r = await srv.stop();
    assert.equal(r.code, 0, `exit on SIGTERM: code ${r.code} signal ${r.signal}`);
  }
});
