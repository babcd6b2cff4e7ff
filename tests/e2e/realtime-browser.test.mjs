// A browser-style Realtime client in a real browser: Debian's chromium,
// driven by playwright-core, opens /v1/realtime over TLS (wss, a certificate
// made at run time) the way OpenAI's browser SDK classes do: the
// subprotocols `realtime` and `openai-insecure-api-key.KEY` (plus
// `openai-beta.realtime-v1` for the beta dialect). The browser fails a
// handshake whose answer names no offered subprotocol, so these tests pass
// only if parley echoes `realtime`; and parley must take the key from the
// subprotocol, since a browser cannot set an Authorization header.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, sleep } from '../integration/harness.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const KEY = 'browser-key-0123456789abcdef';
const ANSWER = 'Hello from the fake model over a secure socket.';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-rt-e2e-'));
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
});

function makeCert() {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { cwd: tmp, stdio: 'ignore' });
  return { cert: path.join(tmp, 'cert.pem'), key: path.join(tmp, 'key.pem') };
}

/** GET https://127.0.0.1:port/readyz's status (the certificate is ours). */
function readyz(port) {
  return new Promise((resolve) => {
    https.get({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', () => resolve(0));
  });
}

let shared;
/** One TLS parley with --auth-token and a fake LLM, and one page of it. */
async function setup() {
  if (shared) return shared;
  const llm = await startFakeOpenAI({ tokenDelayMs: 5, answer: ANSWER });
  cleanups.push(() => llm.close());
  const tls = makeCert();
  const srv = await startServer(['--llm-url', llm.url, '--tls-cert', tls.cert, '--tls-key', tls.key],
    { PARLEY_AUTH_TOKEN: KEY });
  cleanups.push(() => srv.stop());
  for (let i = 0; i < 200 && (await readyz(srv.port)) !== 200; i++) await sleep(50);
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    ignoreHTTPSErrors: true, // the test certificate is self-signed
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-sync',
      '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage',
      '--ignore-certificate-errors'],
  });
  cleanups.push(() => context.close());
  const page = context.pages()[0] || await context.newPage();
  await page.goto(srv.url); // the page's own https origin: allowed by the Origin rule
  shared = { srv, llm, page };
  return shared;
}

/**
 * In the page: opens wss://HOST/v1/realtime with `protocols`, and, if it
 * opens, says a typed turn and collects every event up to response.done.
 * Returns { opened, protocol, events, closeCode }.
 */
function converse(page, protocols, beta) {
  return page.evaluate(async ({ protocols, beta }) => {
    const ws = new WebSocket(`wss://${location.host}/v1/realtime?model=browser-test`, protocols);
    const events = [];
    const result = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ opened: ws.readyState === 1, timeout: true }), 20000);
      ws.onclose = (e) => { clearTimeout(timer); resolve({ opened: false, closeCode: e.code }); };
      ws.onmessage = (m) => {
        const e = JSON.parse(m.data);
        events.push(e);
        if (e.type === 'session.created') {
          ws.send(JSON.stringify({ type: 'session.update', event_id: 'evt_up',
            session: beta ? { modalities: ['text'] } : { type: 'realtime', output_modalities: ['text'] } }));
        } else if (e.type === 'session.updated') {
          ws.send(JSON.stringify({ type: 'conversation.item.create', event_id: 'evt_item',
            item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hello over TLS.' }] } }));
          ws.send(JSON.stringify({ type: 'response.create', event_id: 'evt_resp' }));
        } else if (e.type === 'response.done') {
          clearTimeout(timer);
          ws.onclose = null;
          resolve({ opened: true });
        }
      };
    });
    const protocol = ws.protocol;
    ws.close();
    return { ...result, protocol, events };
  }, { protocols, beta });
}

test('Chromium over wss: offering realtime + the key subprotocol gets `realtime` back and a typed GA conversation', async () => {
  const { page, llm } = await setup();
  const r = await converse(page, ['realtime', `openai-insecure-api-key.${KEY}`], false);
  assert.ok(r.opened, `the handshake succeeded (${JSON.stringify(r)})`);
  assert.equal(r.protocol, 'realtime');
  const types = r.events.map((e) => e.type);
  assert.equal(types[0], 'session.created');
  assert.equal(r.events[0].session.model, 'browser-test');
  assert.equal(r.events[0].session.type, 'realtime', 'the GA session shape');
  assert.ok(types.includes('conversation.item.added'), types.join(' '));
  assert.ok(types.includes('response.output_text.delta'), types.join(' '));
  assert.ok(!types.includes('error'), JSON.stringify(r.events.filter((e) => e.type === 'error')));
  const done = r.events.at(-1);
  assert.equal(done.response.status, 'completed');
  assert.equal(done.response.output[0].content[0].text, ANSWER);
  assert.ok(llm.requests.some((q) => JSON.stringify(q.body).includes('Hello over TLS.')), 'the typed text reached the LLM');
});

test('Chromium over wss: adding openai-beta.realtime-v1 selects the beta dialect', async () => {
  const { page } = await setup();
  const r = await converse(page, ['realtime', `openai-insecure-api-key.${KEY}`, 'openai-beta.realtime-v1'], true);
  assert.ok(r.opened, `the handshake succeeded (${JSON.stringify(r)})`);
  assert.equal(r.protocol, 'realtime');
  const types = r.events.map((e) => e.type);
  assert.equal(r.events[0].session.object, 'realtime.session');
  assert.ok(Array.isArray(r.events[0].session.modalities), 'the beta session shape');
  assert.ok(types.includes('conversation.item.created'), types.join(' '));
  assert.ok(types.includes('response.text.delta'), types.join(' '));
  assert.equal(r.events.at(-1).response.status, 'completed');
});

test('Chromium over wss: a wrong key in the subprotocol is refused before any session', async () => {
  const { page } = await setup();
  const r = await converse(page, ['realtime', 'openai-insecure-api-key.not-the-right-key-000'], false);
  assert.equal(r.opened, false);
  assert.equal(r.closeCode, 1006, 'the browser saw the upgrade refused');
  assert.equal(r.events.length, 0);
});
