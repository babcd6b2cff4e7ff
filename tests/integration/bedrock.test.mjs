// AWS Bedrock as the shared LLM, through the real server against the fake
// Bedrock runtime (tests/fakes/fake-bedrock.mjs), which checks SigV4 with its
// own implementation (or the bearer API key) and streams real event-stream
// frames: warm-up, status and /readyz, streamed answers with SigV4 (with a
// session token) and with a bearer key, in-stream exceptions, a corrupted
// CRC, a stall, a validation error, and wrong or missing credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, fetchMetrics, sleep, waitReady, sanitizerReports } from './harness.mjs';
import { startFakeBedrock } from '../fakes/fake-bedrock.mjs';

const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const ANSWER = 'Bedrock says hello. The quick brown fox jumps over the lazy dog.';
const KEY_ID = 'AKIAFAKEEXAMPLE12345';
const SECRET = 'fakeSecretK7MDENG/bPxRfiCYEXAMPLEKEY+abc';
const FLAGS = ['--llm-backend', 'bedrock', '--llm-model', MODEL, '--llm-first-token-timeout', '3000',
  '--llm-stall-timeout', '600', '--turns-per-minute', '100000'];

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

async function fakeBedrock(opts) {
  const f = await startFakeBedrock({ accessKeyId: KEY_ID, secretAccessKey: SECRET, answer: ANSWER, tokenDelayMs: 5, ...opts });
  cleanups.push(() => f.close());
  return f;
}

const servers = [];
async function server(fake, env, extra = []) {
  const s = await startServer([...FLAGS, '--llm-url', fake.url, ...extra], env);
  cleanups.push(() => s.stop());
  servers.push(s);
  return s;
}

const sigv4Env = (fake, extra = {}) => ({
  AWS_REGION: fake.opts.region, AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET, ...extra,
});

/** A turn that must end in the complete answer, with partial answers before
 *  it and no error; resolves the partials' contents. */
async function expectAnswer(c, text = 'hello') {
  const errorsBefore = c.received('error').length;
  const partialsBefore = c.received('partial_assistant_answer').length;
  c.sendJson({ type: 'text', content: text });
  const a = await c.next('final_assistant_answer', 10000);
  assert.equal(a.content, ANSWER);
  assert.equal(a.interrupted, false);
  assert.equal(c.received('error').length, errorsBefore, 'no error');
  const partials = c.received('partial_assistant_answer').slice(partialsBefore).map((m) => m.content);
  assert.ok(partials.length >= 2, `partial answers before the final one: ${partials.length}`);
  assert.ok(partials.every((p) => ANSWER.startsWith(p)), `partials are prefixes: ${JSON.stringify(partials)}`);
  return partials;
}

/** A turn that must fail with `code` and a message matching re. */
async function expectFault(c, code, re) {
  c.sendJson({ type: 'text', content: 'please answer' });
  const error = await c.next('error', 10000);
  assert.equal(error.content.code, code, JSON.stringify(error.content));
  assert.match(error.content.message, re);
  await c.next('final_assistant_answer', 300).catch(() => null); // a partial answer, if any
  return error;
}

function noSecrets(text, ...secrets) {
  for (const s of secrets) assert.ok(!text.includes(s), `a secret leaked: ${s.slice(0, 6)}…`);
}

test('SigV4 with a session token: warm-up, /readyz, status, a streamed answer, alternating history', async () => {
  const token = 'FwoGZXIvYXdzEXAMPLEsessionTOKEN/+abc=';
  const fake = await fakeBedrock({ region: 'eu-west-3', sessionToken: token, tokenDelayMs: 15 });
  const srv = await server(fake, sigv4Env(fake, { AWS_REGION: 'eu-west-3', AWS_SESSION_TOKEN: token }));
  await waitReady(srv.port, 15000);

  const warm = fake.converseRequests();
  assert.equal(warm.length, 1, 'one warm-up generation');
  assert.equal(warm[0].modelId, MODEL);
  assert.match(warm[0].path, /^\/model\/anthropic\.claude-3-haiku-20240307-v1%3A0\/converse-stream$/, 'the ":" is encoded once on the wire');
  assert.match(warm[0].canonicalRequest, /\n\/model\/anthropic\.claude-3-haiku-20240307-v1%253A0\/converse-stream\n/, 'and twice in the canonical request');
  assert.match(warm[0].headers.authorization, /SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,/);
  assert.match(warm[0].headers.authorization, /Credential=AKIAFAKEEXAMPLE12345\/\d{8}\/eu-west-3\/bedrock\/aws4_request/);
  assert.equal(warm[0].body.messages[0].role, 'user');
  assert.match(warm[0].body.system[0].text, /spoken|speech/i, 'the system prompt goes in "system"');
  assert.equal(warm[0].body.inferenceConfig.maxTokens, 48);

  const ready = await getJson(srv.port, '/readyz');
  assert.equal(ready.status, 200);
  const c = await connectReady(srv.port);
  cleanups.push(() => c.close());
  const llm = c.status.content.llm;
  assert.equal(llm.backend, 'bedrock');
  assert.equal(llm.model, MODEL);
  assert.equal(llm.state, 'ready');
  assert.ok(llm.first_token_ms >= 0 && llm.tokens_per_s > 0, JSON.stringify(llm));
  assert.match(srv.stderr(), /pre-warming shared LLM \(bedrock, anthropic\.claude-3-haiku-20240307-v1:0/);
  assert.match(srv.stderr(), /shared LLM warm: first token \d+ ms/);

  await expectAnswer(c, 'My name is Ada.');
  await expectAnswer(c, 'What is my name?');
  const second = fake.converseRequests().at(-1).body;
  assert.deepEqual(second.messages.map((m) => m.role), ['user', 'assistant', 'user']);
  assert.equal(second.messages[0].content[0].text, 'My name is Ada.');
  assert.equal(second.messages[1].content[0].text, ANSWER);

  const m = (await fetchMetrics(srv.port)).values;
  assert.ok(m.parley_llm_warm_tokens_per_second > 0);
  noSecrets(srv.stderr(), SECRET, token);
});

test('a Bedrock API key as a bearer token', async () => {
  const key = 'ABSKQmVkcm9ja0FQSUtleS1FWEFNUExFa2V5MTIzNDU2Nzg5MA==';
  const fake = await fakeBedrock({ region: 'us-west-2', bearerToken: key });
  const srv = await server(fake, { AWS_REGION: 'us-west-2', AWS_BEARER_TOKEN_BEDROCK: key });
  await waitReady(srv.port, 15000);
  const c = await connectReady(srv.port);
  cleanups.push(() => c.close());
  assert.equal(c.status.content.llm.backend, 'bedrock');
  await expectAnswer(c);
  for (const r of fake.requests) {
    assert.equal(r.auth, 'bearer');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-amz-date'], undefined, 'no SigV4 when a bearer key is set');
  }
  assert.equal(fake.converseRequests().length, 2);
  noSecrets(srv.stderr(), key);
});

// One server for the faults (SigV4, no session token).
let faults, srvF, cF;
before(async () => {
  faults = await fakeBedrock({ region: 'ap-southeast-2', splitBytes: 7 });
  srvF = await server(faults, sigv4Env(faults));
  await waitReady(srvF.port, 15000);
  cF = await connectReady(srvF.port);
  cleanups.push(() => cF.close());
});

test('an exception event mid-stream: llm_error with its message, then the next turn works', async () => {
  faults.reset({ exceptionAfter: 3, exception: { type: 'throttlingException', message: 'Too many requests, please wait before trying again.' } });
  await expectFault(cF, 'llm_error', /throttlingException: Too many requests, please wait before trying again/);
  faults.reset({ exceptionAfter: 0, exception: { type: 'modelStreamErrorException', message: 'Model stream failed.' } });
  await expectFault(cF, 'llm_error', /modelStreamErrorException: Model stream failed/);
  faults.reset();
  // Two user turns without an answer between them: merged into one turn.
  await expectAnswer(cF, 'are you back?');
  const roles = faults.converseRequests().at(-1).body.messages.map((m) => m.role);
  for (let i = 1; i < roles.length; i++) assert.notEqual(roles[i], roles[i - 1], `alternating: ${roles}`);
  assert.equal(roles[0], 'user');
});

test('a corrupted CRC: a clear llm_error, then the next turn works', async () => {
  faults.reset({ corruptCrcAfter: 2 });
  await expectFault(cF, 'llm_error', /event stream: message CRC mismatch/);
  faults.reset();
  await expectAnswer(cF, 'again?');
});

test('a stall mid-answer: llm_timeout, the fake sees the connection close, then the next turn works', async () => {
  faults.reset({ hangAfter: 2 });
  await expectFault(cF, 'llm_timeout', /stopped sending for 600 ms/);
  const stalled = faults.converseRequests().at(-1);
  for (let i = 0; i < 50 && !stalled.aborted; i++) await sleep(20);
  assert.ok(stalled.aborted, 'parley hung up on the stalled stream');
  faults.reset();
  await expectAnswer(cF, 'still there?');
});

test('a validation error (HTTP 400): llm_error with Bedrock\'s message', async () => {
  faults.reset({ httpError: { status: 400, type: 'ValidationException', message: 'Input is too long for requested model.' } });
  await expectFault(cF, 'llm_error', /HTTP 400: Input is too long for requested model/);
  faults.reset();
  await expectAnswer(cF, 'shorter then');
});

test('credentials refused mid-run (HTTP 403): says which credentials, never the secret', async () => {
  faults.reset({ secretAccessKey: 'someOtherSecretThanTheOneParleyHas000000' });
  const err = await expectFault(cF, 'llm_error', /HTTP 403: AWS refused the credentials \(access key AKIA…2345, no session token/);
  noSecrets(err.content.message, SECRET);
  faults.reset();
  await expectAnswer(cF, 'fixed?');
  noSecrets(srvF.stderr(), SECRET);
});

test('wrong credentials at startup: not ready, /readyz and status say why; ready once they work', async () => {
  const fake = await fakeBedrock({ region: 'us-east-1', secretAccessKey: 'theRealSecretIsNotTheOneParleyHas0000000' });
  const srv = await server(fake, sigv4Env(fake));
  let r;
  for (let i = 0; i < 100; i++) {
    r = await getJson(srv.port, '/readyz');
    if (/AWS refused/.test(r.text)) break;
    await sleep(50);
  }
  assert.equal(r.status, 503);
  assert.match(r.json.reason, /llm: warm-up request got HTTP 403 .*AWS refused the credentials \(access key AKIA…2345, no session token, region us-east-1\)/);
  noSecrets(r.text, SECRET);
  const c = await connectReady(srv.port);
  cleanups.push(() => c.close());
  assert.equal(c.status.content.llm.state, 'unavailable');
  assert.match(c.status.content.llm.reason, /AWS refused the credentials/);
  // A turn is refused at once, with the reason.
  c.sendJson({ type: 'text', content: 'hello?' });
  const err = await c.next('error', 5000);
  assert.equal(err.content.code, 'llm_unavailable');
  assert.match(err.content.message, /AWS refused the credentials/);
  noSecrets(srv.stderr(), SECRET);
  // Fixed on the service side: the warm-up retry succeeds.
  fake.set({ secretAccessKey: SECRET });
  await waitReady(srv.port, 15000);
  assert.equal((await c.next('status', 5000)).content.llm.state, 'ready');
  await expectAnswer(c);
});

test('an unknown access key, missing credentials, region or model: /readyz says how to fix it', async () => {
  const fake = await fakeBedrock({ accessKeyId: 'AKIASOMEONEELSE99999' });
  const cases = [
    [sigv4Env(fake), /AWS refused the credentials \(access key AKIA…2345.*The security token/],
    [{ AWS_REGION: 'us-east-1' }, /no AWS credentials for Bedrock: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/],
    [{ AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: KEY_ID }, /AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not/],
    [{ AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET }, /no AWS region for Bedrock: set AWS_REGION/],
  ];
  for (const [env, re] of cases) {
    const srv = await server(fake, env);
    let r;
    for (let i = 0; i < 100; i++) {
      r = await getJson(srv.port, '/readyz');
      if (re.test(r.text)) break;
      await sleep(50);
    }
    assert.equal(r.status, 503);
    assert.match(r.json.reason, re);
    await srv.stop();
  }
  // No model: the flags without --llm-model.
  const srv = await startServer(['--llm-backend', 'bedrock', '--llm-url', fake.url], sigv4Env(fake));
  cleanups.push(() => srv.stop());
  let r;
  for (let i = 0; i < 100; i++) {
    r = await getJson(srv.port, '/readyz');
    if (/--llm-model/.test(r.text)) break;
    await sleep(50);
  }
  assert.match(r.json.reason, /no Bedrock model: set --llm-model/);
});

test('every server stops cleanly: no sanitizer report, no leak', async () => {
  await cF.close();
  for (const s of servers) {
    const r = await s.stop();
    assert.deepEqual(sanitizerReports(s.stderr()), []);
    assert.ok(r.alreadyExited || r.code === 0, `exit ${JSON.stringify(r)}`);
  }
});
