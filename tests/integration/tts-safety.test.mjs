// Speech engines that survive any text (issue 8): hostile typed turns and
// LLM answers through the real server and the real synthesisers (flite and
// espeak-ng), and voice names that are not on the allow-list. Each text must
// produce an answer with audio, or a clear error, and the server must stay
// up and keep serving other sessions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, httpGet, getJson, sleep, sanitizerReports, waitReady } from './harness.mjs';
import { collectedAudio } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const LONG_WORD = 'a'.repeat(5000);
const HOSTILE_ANSWERS = {
  bangs: `Sure${'!'.repeat(1000)}`,
  apostrophes: `Fine ${"s'".repeat(300)}`,
  word: `Here it is: ${LONG_WORD}.`,
  emoji: `Party ${'😀🎉👍🏽👨‍👩‍👧‍👦🇬🇧'.repeat(30)}`,
  markdown: '# Title\n\n**Bold** and _it_ and `code`\n\n```sh\nmake test\n```\n- one\n- two\n[a link](https://example.com/x_y)',
  digits: `Call ${'1234567890'.repeat(20)} now.`,
  mixed: `${'?!'.repeat(300)} ${'a.'.repeat(200)} e${'\u0301'.repeat(200)} \u202eevil\u202c ${'\u200b'.repeat(100)}`,
};

let echo, fake, llm;

before(async () => {
  echo = await startServer(['--llm-backend', 'echo']);
  fake = await startFakeOpenAI({
    tokenDelayMs: 0,
    answer: (body, user) => HOSTILE_ANSWERS[user.trim()] ?? 'Okay.',
  });
  llm = await startServer(['--llm-url', fake.url]);
  for (const srv of [echo, llm]) {
    await waitReady(srv.port);
  }
});

after(async () => {
  for (const srv of [echo, llm]) {
    const code = (await srv?.stop())?.code;
    assert.equal(code, 0, 'the server exits cleanly');
    assert.deepEqual(sanitizerReports(srv.stderr()), [], 'no sanitizer reports');
  }
  await fake?.close();
});

/** Configures voice (if any), sends a typed turn, and waits for its final answer. */
async function turn(srv, content, voice) {
  const c = await connectReady(srv.port);
  if (voice) {
    c.sendJson({ type: 'session.config', voice });
    await c.next('session.configured');
  }
  c.sendJson({ type: 'text', content });
  const final = await c.next('final_assistant_answer', 30000);
  return { c, final };
}

/** The server still answers HTTP and a fresh session, and is still running. */
async function stillUp(srv) {
  assert.equal((await httpGet(srv.port, '/healthz')).status, 200);
  const c = await connectReady(srv.port);
  assert.equal(c.status.type, 'status');
  await c.close();
  assert.equal(srv.proc.exitCode, null, 'the process is alive');
}

async function answeredWithAudio(srv, content, voice) {
  const { c, final } = await turn(srv, content, voice);
  assert.equal(c.received('error').length, 0, `no error: ${c.summary()}`);
  const audio = collectedAudio(c);
  assert.ok(audio.length > 4800, `audio for ${voice}: ${audio.length} bytes`);
  await c.close();
  await stillUp(srv);
  return final;
}

for (const voice of ['slt', 'kal16', 'en-us']) {
  test(`400 '!' as a typed turn (echo, ${voice}) is spoken and the server stays up`, async () => {
    const final = await answeredWithAudio(echo, '!'.repeat(400), voice);
    assert.match(final.content, /^You said: !{10}/, 'the text shown is the original');
  });
}

test("\"s'\" x 100 as a typed turn (echo, espeak-ng) is spoken", async () => {
  await answeredWithAudio(echo, "s'".repeat(100), 'en-us');
  await answeredWithAudio(echo, "s' ".repeat(100), 'en-gb');
});

test('hostile typed turns (emoji only, markdown, a 3990-letter word, control characters) are spoken', async () => {
  for (const voice of ['slt', 'en-us']) {
    await answeredWithAudio(echo, '😀🎉👍🏽'.repeat(20), voice);
    await answeredWithAudio(echo, '**bold** `code` [link](http://x.y) ```\n# heading\n- item', voice);
    await answeredWithAudio(echo, 'b'.repeat(3990), voice);
    await answeredWithAudio(echo, 'tab\tbell\u0007 nul-ish \u0001\u001b[31m red \u202e rtl', voice);
  }
});

test('a 5000-character typed word is refused with a clear error; the session goes on', async () => {
  const c = await connectReady(echo.port);
  c.sendJson({ type: 'text', content: LONG_WORD });
  const e = await c.next('error', 5000);
  assert.equal(e.content.code, 'out_of_range');
  assert.match(e.content.message, /at most 4000 bytes/);
  c.sendJson({ type: 'text', content: 'hello' });
  await c.next('final_assistant_answer', 20000);
  assert.ok(collectedAudio(c).length > 0);
  await c.close();
});

test('an espeak-ng variant of 37 letters is refused with invalid_field; the session keeps its voice and still answers', async () => {
  const c = await connectReady(echo.port);
  c.sendJson({ type: 'session.config', voice: 'en-gb' });
  assert.equal((await c.next('session.configured')).content.voice, 'en-gb');
  for (const bad of [`en-us+${'a'.repeat(37)}`, 'en-us+', 'en-us+f3+f3', '+f3', 'slt+f3', 'en-us+../../x']) {
    c.sendJson({ type: 'session.config', voice: bad });
    const e = await c.next('error', 5000);
    assert.equal(e.content.code, 'invalid_field', bad);
    if (/^[A-Za-z0-9_.+-]+$/.test(bad)) {
      assert.match(e.content.message, /unknown voice .*slt.*en-us/, 'the message lists valid names');
    }
  }
  c.sendJson({ type: 'text', content: 'still there?' });
  const final = await c.next('final_assistant_answer', 20000);
  assert.match(final.content, /still there/);
  assert.ok(collectedAudio(c).length > 4800, 'answered with audio');
  assert.equal(c.received('session.configured').length, 1, 'no voice change after en-gb was applied');
  await c.close();
  await stillUp(echo);
});

test('voices come from the allow-list: status lists it; names match without case, variants too', async () => {
  const c = await connectReady(echo.port);
  const voices = c.status.content.voices;
  assert.ok(Array.isArray(voices));
  for (const v of ['slt', 'rms', 'awb', 'kal16', 'en-us', 'en-gb']) assert.ok(voices.includes(v), v);
  assert.ok(voices.every((v) => typeof v === 'string' && /^[a-z0-9_.-]{1,32}$/.test(v)), 'plain names');
  c.sendJson({ type: 'session.config', voice: 'EN-US+F3' });
  assert.equal((await c.next('session.configured')).content.voice, 'en-us+f3', 'the list spelling');
  c.sendJson({ type: 'text', content: 'a variant voice' });
  await c.next('final_assistant_answer', 20000);
  assert.ok(collectedAudio(c).length > 4800);
  await c.close();
});

test('--tts-voice goes through the allow-list too', async () => {
  const { runBin } = await import('./harness.mjs');
  const r = await runBin(['--llm-backend', 'echo', '--port', '0', '--tts-voice', `en-us+${'a'.repeat(37)}`], { timeoutMs: 15000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /unknown voice/);
  assert.deepEqual(sanitizerReports(r.stderr), []);
});

for (const [name, answer] of Object.entries(HOSTILE_ANSWERS)) {
  test(`a hostile LLM answer (${name}) is spoken by flite and espeak-ng; the text shown is the original`, async () => {
    for (const voice of ['kal16', 'en-us']) {
      const final = await answeredWithAudio(llm, name, voice);
      assert.equal(final.content, answer);
    }
  });
}
