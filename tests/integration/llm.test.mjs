// The shared LLM engine through the real server: warm-up once, isolation
// between sessions, fair sharing, cancellation, backend selection.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, fetchMetrics, waitForMetrics, sleep, withTimeout, waitReady } from './harness.mjs';
import { startFakeOpenAI, startFakeOllama } from '../fakes/fake-llm.mjs';

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

async function server(args, env = {}) {
  const s = await startServer(args, env);
  cleanups.push(() => s.stop());
  return s;
}

async function fakeOpenAI(opts) {
  const f = await startFakeOpenAI(opts);
  cleanups.push(() => f.close());
  return f;
}

async function fakeOllama(opts) {
  const f = await startFakeOllama(opts);
  cleanups.push(() => f.close());
  return f;
}


/** Sends a typed turn and resolves the final answer message. */
async function ask(client, text, timeoutMs = 10000) {
  client.sendJson({ type: 'text', content: text });
  return client.next('final_assistant_answer', timeoutMs);
}

test('warm-up happens exactly once, before /readyz turns 200; later connections add none', async () => {
  const fake = await fakeOpenAI({ firstTokenDelayMs: 600 });
  // 21 sessions from one address: above the default --max-sessions-per-ip.
  const srv = await server(['--llm-url', `${fake.url}/v1`, '--max-sessions-per-ip', '32']);
  // A session connecting during warm-up is told, then told again when ready.
  const early = await connectReady(srv.port);
  assert.equal(early.status.content.state, 'initializing');
  assert.equal(early.status.content.llm.state, 'warming');
  assert.equal((await getJson(srv.port, '/readyz')).status, 503);

  await waitReady(srv.port);
  const warmups = fake.chatRequests().length;
  assert.equal(warmups, 1, 'one warm-up generation');
  const warm = fake.chatRequests()[0].body;
  assert.equal(warm.messages[0].role, 'system', 'the system prompt is sent at warm-up');
  assert.match(warm.messages[0].content, /spoken|speech/i);

  // Speech engines announce their own warm-up with a status too: skip to
  // the one that says the LLM is ready.
  let again = await early.next('status', 3000);
  while (again.content.state !== 'ready') again = await early.next('status', 3000);
  assert.equal(again.content.state, 'ready');
  assert.equal(again.content.llm.state, 'ready');
  assert.equal(again.content.llm.model, 'fake-model', 'model taken from /v1/models');
  assert.ok(again.content.llm.first_token_ms >= 500, `measured ttft ${again.content.llm.first_token_ms}`);
  assert.ok(again.content.llm.tokens_per_s > 0);

  const before = fake.requests.length;
  const clients = await Promise.all(Array.from({ length: 20 }, () => connectReady(srv.port)));
  for (const c of clients) {
    assert.equal(c.status.content.state, 'ready');
    assert.equal(c.status.content.llm.backend, 'openai');
  }
  await sleep(200);
  assert.equal(fake.requests.length, before, 'connections cause no LLM traffic');
  await Promise.all([...clients, early].map((c) => c.close()));

  const m = (await fetchMetrics(srv.port)).values;
  assert.ok(m.parley_llm_warmup_seconds >= 0.5);
  assert.ok(m.parley_llm_warm_first_token_seconds >= 0.5);
  assert.ok(m.parley_llm_warm_tokens_per_second > 0);
  assert.match(srv.stderr(), /pre-warming shared LLM \(openai/);
  assert.match(srv.stderr(), /shared LLM warm: first token \d+ ms, [\d.]+ tokens\/s \(warm-up [\d.]+ s\)/);
});

test('isolation: 20 sessions each get only their own words, in answers and in requests', async () => {
  const words = Array.from({ length: 20 }, (_, i) => `zebra${i}x${Math.random().toString(36).slice(2, 6)}`);
  const wordRe = /zebra\d+x[a-z0-9]+/g;
  // The fake repeats every secret word it can see in the whole request.
  const fake = await fakeOpenAI({
    tokenDelayMs: 2,
    answer: (body) => {
      const seen = new Set(JSON.stringify(body.messages).match(wordRe) || []);
      return seen.size ? `Your secret word is ${[...seen].join(' and ')}.` : 'Hello.';
    },
  });
  const srv = await server(['--llm-url', fake.url, '--llm-max-inflight', '4', '--max-sessions-per-ip', '32']);
  await waitReady(srv.port);
  const clients = await Promise.all(words.map(() => connectReady(srv.port)));
  await Promise.all(clients.map((c, i) => ask(c, `My secret word is ${words[i]}. Remember it.`)));
  const answers = await Promise.all(clients.map((c) => ask(c, 'What is my secret word?')));
  answers.forEach((a, i) => {
    assert.equal(a.content, `Your secret word is ${words[i]}.`);
    assert.equal(a.interrupted, false);
  });
  for (const r of fake.chatRequests().slice(1)) { // skip the warm-up
    const seen = new Set(JSON.stringify(r.body.messages).match(wordRe) || []);
    assert.equal(seen.size, 1, `request holds one session's words only: ${[...seen]}`);
    assert.equal(r.body.messages[0].role, 'system');
  }
  // The second question carries the first exchange: user, assistant, user.
  const second = fake.chatRequests().filter((r) => r.body.messages.length === 4);
  assert.equal(second.length, 20);
  for (const r of second) assert.deepEqual(r.body.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
  await Promise.all(clients.map((c) => c.close()));
});

test('fair sharing: --llm-max-inflight 2, six sessions at once, FIFO, all complete', async () => {
  const fake = await fakeOpenAI({ tokenDelayMs: 40, answer: (b, user) => `Answer to ${user} is here now.` });
  const srv = await server(['--llm-url', fake.url, '--llm-max-inflight', '2']);
  await waitReady(srv.port);
  const warm = fake.chatRequests().length;
  fake.maxInflight = 0;
  const clients = await Promise.all(Array.from({ length: 6 }, () => connectReady(srv.port)));
  const finals = [];
  for (let i = 0; i < 6; i++) {
    finals.push(ask(clients[i], `question${i}`, 15000));
    await sleep(15); // a defined arrival order
  }
  const answers = await Promise.all(finals);
  answers.forEach((a, i) => assert.equal(a.content, `Answer to question${i} is here now.`));
  assert.ok(fake.maxInflight <= 2, `at most 2 at once at the backend, saw ${fake.maxInflight}`);
  assert.equal(fake.maxInflight, 2, 'both slots were used');
  const order = fake.chatRequests().slice(warm).map((r) => r.body.messages.at(-1).content);
  assert.deepEqual(order, ['question0', 'question1', 'question2', 'question3', 'question4', 'question5']);
  await Promise.all(clients.map((c) => c.close()));
});

test('a full queue answers llm_busy at once instead of waiting', async () => {
  const fake = await fakeOpenAI({ tokenDelayMs: 100, answer: 'One. Two. Three. Four. Five. Six.' });
  const srv = await server(['--llm-url', fake.url, '--llm-max-inflight', '1', '--llm-max-queue', '1']);
  await waitReady(srv.port);
  const [a, b, c] = await Promise.all([0, 1, 2].map(() => connectReady(srv.port)));
  a.sendJson({ type: 'text', content: 'first' });
  await a.next('partial_assistant_answer', 5000);
  b.sendJson({ type: 'text', content: 'second' });
  await sleep(50);
  c.sendJson({ type: 'text', content: 'third' });
  const err = await c.next('error', 2000);
  assert.equal(err.content.code, 'llm_busy');
  assert.ok((await a.next('final_assistant_answer', 5000)).content);
  assert.ok((await b.next('final_assistant_answer', 8000)).content, 'the queued turn still runs');
  await Promise.all([a, b, c].map((x) => x.close()));
});

async function slowStreamCancelled(trigger) {
  const fake = await fakeOpenAI({
    tokenDelayMs: 150,
    answer: (b, user) => (user.includes('long time') ? 'This is one sentence. '.repeat(20).trim() : 'Hi.'),
  });
  const srv = await server(['--llm-url', fake.url]);
  await waitReady(srv.port);
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'talk for a long time' });
  await c.next('partial_assistant_answer', 5000);
  await waitForMetrics(srv.port, (m) => m.parley_llm_requests_inflight === 1, { what: 'one request in flight' });
  const rec = fake.chatRequests().at(-1);
  assert.equal(rec.aborted, false);
  const t0 = Date.now();
  await trigger(c);
  while (!rec.aborted && Date.now() - t0 < 2000) await sleep(20);
  assert.equal(rec.aborted, true, 'the backend saw its connection close');
  await waitForMetrics(srv.port, (m) => m.parley_llm_requests_inflight === 0, { what: 'slot freed' });
  return { srv, fake, c };
}

test('cancellation: clear_history closes the backend stream and frees the slot', async () => {
  const { c, fake, srv } = await slowStreamCancelled(async (c) => c.sendJson({ type: 'clear_history' }));
  await sleep(300);
  assert.equal(c.received('final_assistant_answer').length, 0, 'a cleared answer is not finalised');
  // The next turn starts from an empty history.
  fake.set({ tokenDelayMs: 1, answer: 'fresh' });
  await ask(c, 'new start');
  const last = fake.chatRequests().at(-1).body.messages;
  assert.deepEqual(last.map((m) => m.role), ['system', 'user']);
  await c.close();
  assert.equal((await fetchMetrics(srv.port)).values.parley_llm_requests_inflight, 0);
});

test('cancellation: disconnecting closes the backend stream and frees the slot', async () => {
  await slowStreamCancelled(async (c) => { c.ws.terminate(); });
});

test('a new turn interrupts the answer in flight, which stays in the history as interrupted', async () => {
  const fake = await fakeOpenAI({
    tokenDelayMs: 100,
    answer: 'Alpha comes first. Beta comes second. Gamma comes third. Delta comes fourth. Epsilon comes fifth. Theta comes last.',
  });
  const srv = await server(['--llm-url', fake.url]);
  await waitReady(srv.port);
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'text', content: 'first question' });
  await c.next('partial_assistant_answer', 5000);
  await c.next('partial_assistant_answer', 5000);
  fake.set({ tokenDelayMs: 1, answer: 'short' });
  const a = await ask(c, 'second question');
  assert.equal(a.content, 'short');
  const msgs = fake.chatRequests().at(-1).body.messages;
  assert.deepEqual(msgs.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
  assert.match(msgs[2].content, /^Alpha comes first\. Beta.*\.\.\.$/, 'the cut answer ends with "..."');
  assert.ok(!msgs[2].content.includes('Theta'));
  await c.close();
});

test('auto picks Ollama when it answers; warm-up checks tags, loads the model, keeps it alive', async () => {
  const fake = await fakeOllama({});
  const srv = await server(['--ollama-url', fake.url]);
  await waitReady(srv.port);
  const paths = fake.requests.map((r) => r.path);
  assert.ok(paths.includes('/api/tags'));
  const load = fake.loadRequests();
  assert.equal(load.length, 1, 'one load request');
  assert.equal(load[0].body.keep_alive, -1, 'keeps the model loaded by default');
  assert.equal(fake.chatRequests().length, 1, 'one measured warm-up generation');
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.llm.backend, 'ollama');
  assert.equal(c.status.content.llm.model, 'llama3.2');
  const a = await ask(c, 'hello');
  assert.equal(a.content, 'Hello from the fake model.');
  const req = fake.chatRequests().at(-1).body;
  assert.equal(req.stream, true);
  assert.equal(req.keep_alive, -1);
  await c.close();
});

test('ollama: a model that is not pulled is named in /readyz with the fix', async () => {
  const fake = await fakeOllama({ pulled: false });
  const srv = await server(['--llm-backend', 'ollama', '--llm-url', fake.url, '--llm-model', 'llama3.2']);
  let r;
  const deadline = Date.now() + 5000;
  do {
    r = await getJson(srv.port, '/readyz');
    if (r.json?.reason && /pull/.test(r.json.reason)) break;
    await sleep(50);
  } while (Date.now() < deadline);
  assert.equal(r.status, 503);
  assert.match(r.json.reason, /model 'llama3\.2' is not pulled.*run: ollama pull llama3\.2/);
  for (let i = 0; i < 40 && !/ollama pull llama3\.2/.test(srv.stderr()); i++) await sleep(50);
  assert.match(srv.stderr(), /shared LLM not ready: .*run: ollama pull llama3\.2/);
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.state, 'initializing');
  assert.equal(c.status.content.llm.state, 'unavailable');
  c.sendJson({ type: 'text', content: 'hello?' });
  const err = await c.next('error', 3000);
  assert.equal(err.content.code, 'llm_unavailable');
  assert.match(err.content.message, /ollama pull/);
  // Once the model is pulled, the retry (with backoff) makes parley ready.
  fake.set({ pulled: true });
  await waitReady(srv.port, 8000);
  const again = await c.next('status', 3000);
  assert.equal(again.content.state, 'ready');
  await c.close();
});

test('auto with no LLM anywhere runs echo, and says so in the log and in status', async () => {
  const srv = await server(['--ollama-url', 'http://127.0.0.1:9']);
  await waitReady(srv.port);
  const c = await connectReady(srv.port);
  const llm = c.status.content.llm;
  assert.equal(llm.backend, 'echo');
  assert.match(llm.warning, /No LLM is configured/);
  assert.match(llm.warning, /--llm-url/);
  assert.match(srv.stderr(), /NO LLM CONFIGURED/);
  c.sendJson({ type: 'text', content: 'testing one two' });
  const partial = await c.next('partial_assistant_answer', 3000); // follows the speech
  assert.equal(partial.content, 'You said: testing one two.');
  const a = await c.next('final_assistant_answer', 5000);
  assert.equal(a.content, 'You said: testing one two.');
  await c.close();
});

test('auto with only an API key uses OpenAI (PARLEY_OPENAI_URL) with the key as bearer token', async () => {
  const fake = await fakeOpenAI({});
  let auth = null;
  const orig = fake.route.bind(fake);
  fake.route = async (req, res, body, rec, o) => { auth = req.headers.authorization; return orig(req, res, body, rec, o); };
  const srv = await server(['--ollama-url', 'http://127.0.0.1:9'], { PARLEY_OPENAI_URL: fake.url, OPENAI_API_KEY: 'sk-test-123' });
  await waitReady(srv.port);
  assert.equal(auth, 'Bearer sk-test-123');
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.llm.backend, 'openai');
  assert.equal(c.status.content.llm.model, 'gpt-4o-mini', 'OpenAI default model');
  assert.equal(fake.chatRequests()[0].body.model, 'gpt-4o-mini');
  await c.close();
});

test('explicit --llm-backend echo never touches the network', async () => {
  const srv = await server(['--llm-backend', 'echo', '--llm-url', 'http://127.0.0.1:9']);
  await waitReady(srv.port);
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.llm.backend, 'echo');
  const a = await withTimeout(ask(c, 'ping'), 5000, 'echo answer');
  assert.equal(a.content, 'You said: ping.');
  await c.close();
});

test('turns superseded while waiting for a slot never reach the backend; a freed slot is used at once', async () => {
  const fake = await fakeOpenAI({ tokenDelayMs: 60, answer: (b, user) => `Reply to ${user} goes here.` });
  const srv = await server(['--llm-url', fake.url, '--llm-max-inflight', '1']);
  await waitReady(srv.port);
  const warm = fake.chatRequests().length;
  const [a, b] = await Promise.all([connectReady(srv.port), connectReady(srv.port)]);
  a.sendJson({ type: 'text', content: 'first' });
  for (let i = 0; i < 100 && fake.chatRequests().length === warm; i++) await sleep(10); // A holds the slot
  for (let i = 1; i <= 5; i++) {
    b.sendJson({ type: 'text', content: `b${i}` }); // each cancels the one before, still queued
    await sleep(20);
  }
  await a.next('final_assistant_answer', 5000);
  const doneA = Date.now();
  const fb = await b.next('final_assistant_answer', 5000);
  assert.equal(fb.content, 'Reply to b5 goes here.');
  const reqs = fake.chatRequests().slice(warm);
  assert.deepEqual(reqs.map((r) => r.body.messages.at(-1).content), ['first', 'b5'], 'cancelled turns were never sent');
  assert.ok(reqs[1].start - doneA < 300, `the queued turn started ${reqs[1].start - doneA} ms after the slot freed`);
  const m = (await fetchMetrics(srv.port)).values;
  assert.equal(m.parley_llm_queue_depth, 0);
  await Promise.all([a.close(), b.close()]);
});
