// Any combination of engines works (issue 9, item 5): every engine remote at
// once (Bedrock + a transcription service + a speech service), and Bedrock
// with the embedded speech engines. A spoken turn goes through each chain
// end to end, and status / /readyz / /metrics describe the engines in use.
// Every server must exit cleanly with no sanitizer report (ASan build).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, fetchMetrics, waitReady, stopClean } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm } from './audio.mjs';
import { startFakeBedrock } from '../fakes/fake-bedrock.mjs';
import { startFakeSTT } from '../fakes/fake-stt.mjs';
import { startFakeTTS } from '../fakes/fake-tts.mjs';

const RATE = 48000;
const MODEL = 'anthropic.claude-3-haiku-20240307-v1:0';
const ANSWER = 'Paris is the capital of France. It is on the Seine.';
const HEARD = 'What is the capital of France?';
const KEY_ID = 'AKIAFAKEEXAMPLE12345';
const SECRET = 'fakeSecretK7MDENG/bPxRfiCYEXAMPLEKEY+abc';

const clip = librivoxClips()[0];
const bytesAt = (seconds) => Math.round(seconds * RATE) * 2;
// Three seconds of recorded speech between silences: one turn.
const SPEECH = Buffer.concat([silence(RATE, 0.3),
  soxRaw(clip.file, RATE).subarray(bytesAt(0.5), bytesAt(3.5)), silence(RATE, 1.5)]);

const cleanups = [];
after(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

async function bedrock() {
  const f = await startFakeBedrock({ accessKeyId: KEY_ID, secretAccessKey: SECRET, answer: ANSWER, tokenDelayMs: 5 });
  cleanups.push(() => f.close());
  return f;
}

async function server(fake, extra) {
  const s = await startServer(['--llm-backend', 'bedrock', '--llm-model', MODEL, '--llm-url', fake.url, ...extra],
    { AWS_REGION: fake.opts.region, AWS_ACCESS_KEY_ID: KEY_ID, AWS_SECRET_ACCESS_KEY: SECRET });
  cleanups.push(() => s.stop());
  return s;
}

/** The user text of the last Converse request the fake Bedrock accepted. */
function lastUserText(fake) {
  const reqs = fake.converseRequests();
  assert.ok(reqs.length > 0, 'Bedrock was asked');
  const body = typeof reqs.at(-1).body === 'string' ? JSON.parse(reqs.at(-1).body) : reqs.at(-1).body;
  const users = body.messages.filter((m) => m.role === 'user');
  return users.at(-1).content.map((c) => c.text).join(' ');
}

/** Speaks the clip; resolves the transcript, the final answer and the audio bytes received. */
async function spokenTurn(c) {
  const from = c.history.length;
  await streamPcm(c, SPEECH, RATE, { pace: 1.5 });
  const heard = await c.next('final_user_request', 30000);
  const answer = await c.next('final_assistant_answer', 30000);
  const audio = c.history.slice(from).filter((m) => m.type === 'tts_chunk')
    .reduce((n, m) => n + Buffer.from(m.content, 'base64').length, 0);
  return { heard: heard.content, answer: answer.content, audio };
}

test('every engine remote: Bedrock + --stt openai + --tts openai hold a spoken turn', async () => {
  const fake = await bedrock();
  const stt = await startFakeSTT({ transcript: HEARD });
  cleanups.push(() => stt.close());
  const tts = await startFakeTTS({ pace: 4 });
  cleanups.push(() => tts.close());
  const srv = await server(fake, ['--stt', 'openai', '--stt-url', stt.url, '--tts', 'openai', '--tts-url', tts.url]);
  await waitReady(srv.port, 30000);
  const c = await connectReady(srv.port);
  const st = c.status.content;
  assert.equal(st.llm.backend, 'bedrock');
  assert.equal(st.stt.engine, 'openai');
  assert.equal(st.stt.state, 'ready');
  assert.equal(st.tts.engine, 'openai');
  assert.equal(st.tts.state, 'ready');

  const t = await spokenTurn(c);
  assert.equal(t.heard, HEARD, 'the transcription service\'s text is the user\'s turn');
  assert.equal(lastUserText(fake), HEARD, 'and it is what Bedrock was asked');
  assert.equal(t.answer, ANSWER);
  assert.ok(t.audio > 0, 'answer audio from the speech service reached the client');
  assert.ok(tts.speechRequests().length >= 1, 'the speech service synthesised the answer');
  assert.ok(stt.requests.some((r) => r.status === 200), 'the transcription service was asked');
  assert.equal(c.received('error').length, 0, `no error: ${JSON.stringify(c.received('error'))}`);

  const m = (await fetchMetrics(srv.port)).values;
  const lane = (name) => Object.entries(m).find(([k]) => k.startsWith('parley_http_requests_total') && k.includes(`lane="${name}"`))?.[1] ?? 0;
  assert.ok(lane('stt') >= 1, `requests counted on the stt lane: ${lane('stt')}`);
  assert.ok(lane('tts') >= 1, `requests counted on the tts lane: ${lane('tts')}`);
  await c.close();
  await stopClean(srv);
});

test('Bedrock with the embedded engines: pocketsphinx listens, flite speaks', async () => {
  const fake = await bedrock();
  const srv = await server(fake, []);
  await waitReady(srv.port, 60000);
  const ready = await getJson(srv.port, '/readyz');
  assert.equal(ready.status, 200, ready.text);
  const c = await connectReady(srv.port);
  assert.equal(c.status.content.stt.engine, 'pocketsphinx');
  assert.equal(c.status.content.tts.engine, 'flite');
  const t = await spokenTurn(c);
  assert.ok(t.heard.length > 0, 'pocketsphinx heard something');
  assert.equal(lastUserText(fake), t.heard, 'what it heard is what Bedrock was asked');
  assert.equal(t.answer, ANSWER);
  assert.ok(t.audio > 0, 'flite spoke the answer');
  await c.close();
  await stopClean(srv);
});
