// Graceful shutdown: SIGTERM / SIGINT close every session with 1001 and exit 0 within 2 s.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, sanitizerReports } from './harness.mjs';

async function shutdownWith(signal, nClients) {
  const srv = await startServer();
  const clients = [];
  try {
    for (let i = 0; i < nClients; i++) clients.push(await connectReady(srv.port));
    const r = await srv.stop(signal);
    assert.equal(r.signal, null, `${signal}: server died by signal ${r.signal}; stderr:\n${srv.stderr()}`);
    assert.equal(r.code, 0, `${signal}: exit code ${r.code}; stderr:\n${srv.stderr()}`);
    assert.ok(r.ms <= 2000, `${signal}: exit took ${r.ms} ms (limit 2000 ms)`);
    const closes = await Promise.all(clients.map((c) => c.waitClose(2000).catch((e) => ({ code: `none (${e.message})` }))));
    assert.deepEqual(closes.map((x) => x.code), clients.map(() => 1001), 'close code seen by each client');
    assert.deepEqual(sanitizerReports(srv.stderr()), []);
  } finally {
    for (const c of clients) c.ws.terminate();
    await srv.stop('SIGKILL');
  }
}

test('SIGTERM with 5 clients: each client gets close 1001, process exits 0 within 2000 ms', async () => {
  await shutdownWith('SIGTERM', 5);
});

test('SIGINT with 2 clients: each client gets close 1001, process exits 0 within 2000 ms', async () => {
  await shutdownWith('SIGINT', 2);
});

test('SIGTERM with no clients: process exits 0 within 2000 ms', async () => {
  await shutdownWith('SIGTERM', 0);
});
