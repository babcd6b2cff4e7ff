// Ordering and slots under failure, through the real server:
// - when the LLM fails mid-answer, final_assistant_answer (interrupted) comes
//   before the error (docs/protocol.md), even while speech is still being
//   synthesised for the answer;
// - sessions that close while their turn is being submitted or streamed give
//   their LLM slot back (--llm-max-inflight 1: a kept slot would starve
//   everyone);
// - /metrics passes `promtool check metrics` after traffic.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, connect, connectReady, getJson, fetchMetrics, waitForMetrics, httpGet, sleep, waitReady } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

// Long sentences, so synthesis of the pieces already received is still
// running when the stream fails.
const ANSWER = 'The quick brown fox jumps over the lazy dog, and then it runs far away into the deep green forest. '
  + 'Another sentence follows here with many more words to speak aloud. And a third one, too.';

let fake, srv;


before(async () => {
  fake = await startFakeOpenAI({ answer: ANSWER, tokenDelayMs: 2 });
  srv = await startServer(['--llm-url', fake.url, '--llm-max-inflight', '1', '--llm-stall-timeout', '400']);
  await waitReady(srv.port);
});

after(async () => {
  await srv?.stop();
  await fake?.close();
});

for (const [name, fault, code] of [
  ['an error event mid-answer', { errorAfter: 22 }, 'llm_error'],
  ['the connection dying mid-answer', { dieAfter: 22 }, 'llm_error'],
  ['a stall mid-answer', { hangAfter: 22 }, 'llm_timeout'],
]) {
  test(`${name}: final_assistant_answer (interrupted), then the error`, async () => {
    fake.reset({ answer: ANSWER, tokenDelayMs: 2, ...fault });
    const c = await connectReady(srv.port);
    for (let turn = 0; turn < 3; turn++) {
      const start = c.history.length;
      c.sendJson({ type: 'text', content: `please answer ${turn}` });
      const err = await c.next('error', 10000);
      assert.equal(err.content.code, code);
      const after = c.history.slice(start);
      const iFinal = after.findIndex((m) => m.type === 'final_assistant_answer');
      const iErr = after.findIndex((m) => m.type === 'error');
      assert.ok(iFinal >= 0 && iFinal < iErr,
        `order: ${JSON.stringify(after.map((m) => m.type))}`);
      const f = after[iFinal];
      assert.equal(f.interrupted, true);
      assert.ok(f.content.length > 0 && ANSWER.startsWith(f.content), f.content);
      // Audio of the answer went out before both.
      assert.ok(after.slice(0, iFinal).some((m) => m.type === 'tts_chunk'), 'speech came first');
      await c.next('final_assistant_answer', 100);
    }
    await c.close();
  });
}

test('sessions closing around their turns never keep the only LLM slot', async () => {
  // A slow backend: every answer would hold the single slot for seconds.
  fake.reset({ answer: ANSWER, tokenDelayMs: 200 });
  for (let round = 0; round < 30; round++) {
    const c = await connect(srv.port);
    // Turn and close back to back, sometimes before the status arrived,
    // sometimes while the answer streams.
    c.sendJson({ type: 'text', content: `quick question ${round}` });
    if (round % 3 === 1) await sleep(5);
    if (round % 3 === 2) await sleep(60);
    if (round % 2) c.ws.terminate(); else c.ws.close();
  }
  await waitForMetrics(srv.port, (m) => m.parley_llm_requests_inflight === 0 && m.parley_llm_queue_depth === 0,
    { timeoutMs: 8000, what: 'no answer in flight after the clients left' });
  fake.reset({ answer: 'Still here.', tokenDelayMs: 2 });
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'anyone?' });
  const a = await c.next('final_assistant_answer', 8000);
  assert.equal(a.content, 'Still here.');
  await c.close();
  const m = (await fetchMetrics(srv.port)).values;
  assert.equal(m.parley_llm_requests_inflight, 0);
  // Every stream of a closed session was closed at the backend, not run to its end.
  const slow = fake.chatRequests().filter((r) => /quick question/.test(JSON.stringify(r.body.messages)));
  assert.ok(slow.every((r) => r.aborted), 'a closed session\'s stream ran to its end');
});

test('promtool check metrics passes on a live /metrics after traffic', async () => {
  const has = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  assert.ok(!has.error, 'promtool is missing: run scripts/install-deps.sh --test (Debian package prometheus)');
  const m = (await fetchMetrics(srv.port)).values;
  assert.ok(m.parley_llm_first_token_seconds_count > 0, 'histograms have data');
  assert.ok(m.parley_stage_first_audio_seconds_count > 0, 'stage histograms have data');
  assert.ok(m.parley_llm_warmup_seconds > 0 && m.parley_llm_warmup_seconds < 60, 'warm-up in seconds');
  assert.ok(m.parley_llm_warm_first_token_seconds < 60, 'first token in seconds');
  const text = (await httpGet(srv.port, '/metrics')).text;
  assert.doesNotMatch(text, /milli/, 'no non-base unit');
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
});
