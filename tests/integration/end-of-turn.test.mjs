// --end-of-turn model|rules (docs/architecture.md "End of turn: the model"):
// the switch, what status says, and the model waiting through a pause
// inside a name (the rules' 300 ms "looks finished" wait cuts it). How
// quickly it ends finished sentences is timing, measured by
// bench/turn-end.mjs, not asserted here: a misheard last word ("tonight"
// heard as "and") makes any single sentence wait.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { runBin, startServer, connectReady, waitReady } from './harness.mjs';
import { whiteNoise, streamPcm, trimQuiet } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const RATE = 48000;
const servers = [];
let fake;

after(async () => {
  for (const s of servers) await s.stop();
  await fake?.close();
});

async function server(args) {
  fake ??= await startFakeOpenAI({ tokenDelayMs: 5, answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : 'Okay.') });
  const srv = await startServer(['--llm-url', fake.url, '--stt-warm', '1', '--turns-per-minute', '200', ...args]);
  servers.push(srv);
  await waitReady(srv.port);
  return srv;
}

test('--end-of-turn wants model or rules: anything else exits 2 and says so', async () => {
  const r = await runBin(['--host', '127.0.0.1', '--port', '0', '--end-of-turn', 'guess'], { timeoutMs: 5000 });
  assert.equal(r.code, 2, `exit code ${r.code}; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /model, rules/);
});

test('status tells which end of turn the server uses', async () => {
  for (const [args, want] of [[[], 'model'], [['--end-of-turn', 'rules'], 'rules']]) {
    const srv = await server(args);
    const c = await connectReady(srv.port);
    assert.equal(c.status.content.end_of_turn, want, JSON.stringify(c.status.content));
    await c.close();
  }
});

/** flite (rms) through srv, trimmed. */
async function sayOn(srv, text) {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'rms' });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: `say: ${text}` });
  await c.next('final_assistant_answer', 20000);
  const pcm = Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64')));
  await c.close();
  return trimQuiet(pcm, RATE);
}

/** Streams the parts with pauseMs of quiet between them at real-time pace;
 *  resolves the final transcripts, each with its arrival after the end of
 *  the speech (ms). */
async function speak(srv, parts, pauseMs = 0) {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', input_sample_rate: RATE, hold_final: false });
  await c.next('session.configured');
  const finals = [];
  c.ws.on('message', (data, binary) => {
    if (!binary) {
      const m = JSON.parse(data.toString());
      if (m.type === 'final_user_request') finals.push({ at: performance.now(), text: m.content });
    }
  });
  const chunks = [whiteNoise(RATE, 0.4, 20)];
  parts.forEach((p, i) => { if (i) chunks.push(whiteNoise(RATE, pauseMs / 1000, 20)); chunks.push(p); });
  const speechMs = (chunks.reduce((n, b) => n + b.length / 2, 0) * 1000) / RATE;
  const t0 = performance.now();
  await streamPcm(c, Buffer.concat([...chunks, whiteNoise(RATE, 2.0, 20)]), RATE, { pace: 1 });
  await c.close();
  return finals.map((f) => ({ ms: f.at - t0 - speechMs, text: f.text }));
}

test('the model waits through a 700 ms pause after a first name: "call John ... Smith" is one turn', async () => {
  const srv = await server([]);
  const finals = await speak(srv, [await sayOn(srv, 'Call John'), await sayOn(srv, 'Smith on his mobile.')], 700);
  assert.equal(finals.length, 1, `not cut at the pause: ${JSON.stringify(finals)}`);
  assert.match(finals[0].text, /smith|mobile/i, `one turn with the rest in it: "${finals[0].text}"`);
});
