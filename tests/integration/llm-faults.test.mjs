// Every stream quirk and fault of real LLM servers, through the real server:
// quirks must still give the complete answer; faults give the session an
// `error` naming the cause, keep the partial answer (marked interrupted),
// leave other sessions alone, and the next turn works once the backend is ok.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, fetchMetrics, sleep, waitReady } from './harness.mjs';
import { startFakeOpenAI, startFakeOllama } from '../fakes/fake-llm.mjs';

const ANSWER = 'The quick brown fox jumps over the lazy dog.';
let openai, ollama, srvO, srvL, cO, cL;


before(async () => {
  openai = await startFakeOpenAI({ answer: ANSWER, tokenDelayMs: 5 });
  ollama = await startFakeOllama({ answer: ANSWER, tokenDelayMs: 5 });
  // One session asks about thirty questions in a row, far above the default
  // --turns-per-minute (limits.test.mjs tests that limit).
  const timeouts = ['--llm-first-token-timeout', '700', '--llm-stall-timeout', '500', '--turns-per-minute', '100000'];
  srvO = await startServer(['--llm-url', `${openai.url}/v1`, ...timeouts]);
  srvL = await startServer(['--llm-backend', 'ollama', '--llm-url', ollama.url, ...timeouts]);
  await Promise.all([waitReady(srvO.port), waitReady(srvL.port)]);
  cO = await connectReady(srvO.port);
  cL = await connectReady(srvL.port);
});

after(async () => {
  for (const c of [cO, cL]) await c?.close().catch(() => {});
  for (const s of [srvO, srvL]) await s?.stop().catch(() => {});
  for (const f of [openai, ollama]) await f?.close().catch(() => {});
});

/** A turn that must end in the complete answer, with no error. */
async function expectAnswer(c, text = 'hello') {
  const errorsBefore = c.received('error').length;
  c.sendJson({ type: 'text', content: text });
  const a = await c.next('final_assistant_answer', 8000);
  assert.equal(a.content, ANSWER);
  assert.equal(a.interrupted, false);
  assert.equal(c.received('error').length, errorsBefore, 'no error');
}

/** A turn that must fail with `code`; returns {error, final (or null)}. */
async function expectFault(c, code, messageRe, { partial = false } = {}) {
  c.sendJson({ type: 'text', content: 'please answer' });
  const error = await c.next('error', 8000);
  assert.equal(error.content.code, code, JSON.stringify(error.content));
  assert.match(error.content.message, messageRe);
  // Any partial answer went out, marked as interrupted, before the error.
  const f = await c.next('final_assistant_answer', 100).catch(() => null);
  if (partial) {
    assert.ok(f, 'a final_assistant_answer for the partial text');
    assert.equal(f.interrupted, true);
    assert.ok(ANSWER.startsWith(f.content) && f.content.length > 0 && f.content.length < ANSWER.length,
      `partial answer: "${f.content}"`);
  }
  return { error, final: f };
}

async function recovers(fake, c) {
  fake.reset();
  await expectAnswer(c, 'are you back?');
}

for (const [name, opts] of [
  ['data: without the space', { nospace: true }],
  ['CRLF line endings', { crlf: true }],
  ['events split at every byte', { splitBytes: 1 }],
  ['an event with several data: lines', { multiData: true }],
  [': comment / ping lines', { comments: true }],
  ['a final usage chunk with empty choices', { usageChunk: true }],
  ['unknown fields (obfuscation, system_fingerprint)', { extraFields: true }],
  ['every quirk at once', { nospace: true, crlf: true, splitBytes: 2, multiData: true, comments: true, usageChunk: true, extraFields: true }],
]) {
  test(`openai stream quirk: ${name}`, async () => {
    openai.reset(opts);
    await expectAnswer(cO);
  });
}

test('openai fault: data: {"error": ...} mid-stream', async () => {
  openai.reset({ errorAfter: 3 });
  await expectFault(cO, 'llm_error', /The model crashed mid-answer/, { partial: true });
  await recovers(openai, cO);
  // The cut answer is in the history, marked with "...".
  const msgs = openai.chatRequests().at(-1).body.messages;
  assert.deepEqual(msgs.slice(-3).map((m) => m.role), ['user', 'assistant', 'user']);
  assert.equal(msgs.at(-2).content, 'The quick brown ...');
});

test('openai fault: the older llama.cpp "error: {...}" line', async () => {
  openai.reset({ errorAfter: 2, llamacppError: true });
  await expectFault(cO, 'llm_error', /llama\.cpp exploded/, { partial: true });
  await recovers(openai, cO);
});

test('openai fault: HTTP 500 with a JSON error body', async () => {
  openai.reset({ httpError: { status: 500, body: { error: { message: 'Internal failure in the model runner', type: 'server_error' } } } });
  await expectFault(cO, 'llm_error', /HTTP 500.*Internal failure in the model runner/);
  await recovers(openai, cO);
});

test('openai fault: HTTP 401 (bad key) names the reason', async () => {
  openai.reset({ httpError: { status: 401, body: { error: { message: 'Incorrect API key provided: sk-***', type: 'invalid_request_error' } } } });
  await expectFault(cO, 'llm_error', /HTTP 401.*Incorrect API key/);
  await recovers(openai, cO);
});

test('openai fault: HTTP 429 with a plain-text body', async () => {
  openai.reset({ httpError: { status: 429, body: 'Too Many Requests' } });
  await expectFault(cO, 'llm_error', /HTTP 429.*Too Many Requests/);
  await recovers(openai, cO);
});

test('openai fault: the connection dies mid-answer', async () => {
  openai.reset({ dieAfter: 3 });
  await expectFault(cO, 'llm_error', /broke mid-answer|ended/, { partial: true });
  await recovers(openai, cO);
});

test('openai fault: the stream ends without [DONE] or finish_reason', async () => {
  openai.reset({ noDone: true });
  const { final } = await expectFault(cO, 'llm_error', /ended before the answer was complete/);
  assert.ok(final && final.interrupted, 'the whole text arrived but is marked interrupted');
  await recovers(openai, cO);
});

test('openai fault: the backend hangs mid-answer (stall timeout)', async () => {
  openai.reset({ hangAfter: 3 });
  const t0 = Date.now();
  await expectFault(cO, 'llm_timeout', /stopped sending for 500 ms/, { partial: true });
  assert.ok(Date.now() - t0 < 3000);
  await sleep(100);
  assert.equal(openai.chatRequests().at(-1).aborted, true, 'the hung stream was closed');
  await recovers(openai, cO);
});

test('openai fault: no first token in time (first-token timeout)', async () => {
  openai.reset({ firstTokenDelayMs: 3000 });
  await expectFault(cO, 'llm_timeout', /no answer from the LLM within 700 ms/);
  await recovers(openai, cO);
});

test('openai fault: backend down, then back', async () => {
  const port = new URL(openai.url).port;
  await openai.close();
  await expectFault(cO, 'llm_unavailable', /cannot connect to the LLM server/);
  // Other connections and the server stay fine.
  assert.equal((await getJson(srvO.port, '/healthz')).status, 200);
  openai = await startFakeOpenAI({ answer: ANSWER, tokenDelayMs: 5 });
  if (new URL(openai.url).port !== port) {
    // Restart on the same port so the server finds it again.
    await openai.close();
    const { FakeOpenAI } = await import('../fakes/fake-llm.mjs');
    openai = new FakeOpenAI({ answer: ANSWER, tokenDelayMs: 5 });
    await new Promise((r) => openai.server.listen(Number(port), '127.0.0.1', r));
    openai.url = `http://127.0.0.1:${port}`;
  }
  await expectAnswer(cO, 'anyone there?');
});

test('a fault in one session leaves another session\'s answer intact', async () => {
  openai.reset({ tokenDelayMs: 20, behave: (body, user) => (user.includes('crash') ? { dieAfter: 2 } : {}) });
  const other = await connectReady(srvO.port);
  other.sendJson({ type: 'text', content: 'a calm question' });
  cO.sendJson({ type: 'text', content: 'please crash' });
  const err = await cO.next('error', 5000);
  assert.equal(err.content.code, 'llm_error');
  assert.equal((await cO.next('final_assistant_answer', 1000)).interrupted, true);
  const ok = await other.next('final_assistant_answer', 5000);
  assert.equal(ok.content, ANSWER);
  assert.equal(other.received('error').length, 0);
  await other.close();
  await recovers(openai, cO);
});

test('ollama stream: the complete answer, split at every byte', async () => {
  ollama.reset({ splitBytes: 1 });
  await expectAnswer(cL);
});

test('ollama fault: {"error": ...} line mid-stream', async () => {
  ollama.reset({ errorAfter: 3 });
  await expectFault(cL, 'llm_error', /unexpected EOF/, { partial: true });
  await recovers(ollama, cL);
});

test('ollama fault: model gone (HTTP 404 with the reason)', async () => {
  ollama.reset({ pulled: false });
  await expectFault(cL, 'llm_error', /HTTP 404.*not found, try pulling it first/);
  await recovers(ollama, cL);
});

test('ollama fault: the connection dies mid-answer', async () => {
  ollama.reset({ dieAfter: 2 });
  await expectFault(cL, 'llm_error', /broke mid-answer|ended/, { partial: true });
  await recovers(ollama, cL);
});

test('ollama fault: the stream ends without done:true', async () => {
  ollama.reset({ noDone: true });
  await expectFault(cL, 'llm_error', /ended before the answer was complete/);
  await recovers(ollama, cL);
});

test('errors are counted by cause in /metrics and no slot leaks', async () => {
  const m = (await fetchMetrics(srvO.port)).values;
  assert.ok(m['parley_llm_errors_total{cause="backend_error"}'] >= 2);
  assert.ok(m['parley_llm_errors_total{cause="http_status"}'] >= 3);
  assert.ok(m['parley_llm_errors_total{cause="timeout"}'] >= 2);
  assert.ok(m['parley_llm_errors_total{cause="unavailable"}'] >= 1);
  assert.ok(m['parley_llm_errors_total{cause="broken_stream"}'] >= 1);
  assert.equal(m.parley_llm_requests_inflight, 0);
  assert.equal(m.parley_llm_queue_depth, 0);
  assert.ok(m.parley_llm_first_token_seconds_count >= 10);
  assert.ok(m['parley_ws_messages_out_total{kind="final_assistant_answer"}'] >= 10);
});
