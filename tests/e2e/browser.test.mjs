// The browser client in a real browser: Debian's chromium driven by
// playwright-core, with a WAV file as the microphone (Chromium's fake
// capture device plays it in a loop from the moment the page opens the mic).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startServer, getJson, sleep, REPO_ROOT } from '../integration/harness.mjs';
import { librivoxClips, soxRaw, writeWav, silence, wer } from '../integration/audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const clips = librivoxClips();
const clip = (suffix) => clips.find((c) => c.id.endsWith(suffix));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-e2e-'));
const cleanups = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  fs.rmSync(tmp, { recursive: true, force: true });
});

const SHORT_ANSWER = 'Hello from the fake model. It is good to talk with you today, my friend.';
const LONG_ANSWER = Array.from({ length: 14 }, (_, i) => `Here is the ${['first', 'second', 'third', 'fourth', 'fifth', 'sixth', 'seventh', 'eighth', 'ninth', 'tenth', 'eleventh', 'twelfth', 'thirteenth', 'fourteenth'][i]} sentence of a very long answer.`).join(' ');

/** A WAV for the fake microphone: pieces of [clip suffix | seconds of silence]. */
function micWav(name, pieces) {
  const pcm = Buffer.concat(pieces.map((p) => (typeof p === 'number' ? silence(48000, p) : soxRaw(clip(p).file, 48000))));
  const file = path.join(tmp, `${name}.wav`);
  writeWav(file, pcm, 48000);
  return file;
}

async function openPage(url, wav, { waitConnected = true } = {}) {
  const context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'profile-')), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 820 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-sync',
      '--disable-background-networking', '--disable-component-update', '--disable-dev-shm-usage',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
      ...(wav ? [`--use-file-for-fake-audio-capture=${wav}`] : []),
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  cleanups.push(() => context.close());
  const page = context.pages()[0] || await context.newPage();
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  await page.goto(url);
  if (waitConnected) await page.waitForFunction(() => window.parley && window.parley.stats.connected, null, { timeout: 10000 });
  return page;
}

const stats = (page) => page.evaluate(() => ({ ...window.parley.stats }));

async function server(args, env) {
  const s = await startServer(args, env);
  cleanups.push(() => s.stop());
  for (let i = 0; i < 200 && (await getJson(s.port, '/readyz')).status !== 200; i++) await sleep(50);
  return s;
}

async function fake(answer) {
  const f = await startFakeOpenAI({ tokenDelayMs: 10, answer });
  cleanups.push(() => f.close());
  return f;
}

test('spoken turns: the librivox clips as the microphone are transcribed, answered and played', async () => {
  const llm = await fake('Okay, I understand.');
  const srv = await server(['--llm-url', llm.url, '--stt-warm', '1']);
  const pieces = [1];
  for (const c of clips) pieces.push(c.id.slice(-4), 2.5);
  pieces.push(30);
  const page = await openPage(srv.url, micWav('spoken', pieces));
  // Chromium's noise suppressor distorts clean recorded speech enough to
  // cost pocketsphinx several words; this test measures recognition, so it
  // turns it off with the page's own setting (see README).
  await page.uncheck('#ns');
  await page.click('#mic');
  await page.waitForFunction(() => window.parley.stats.userFinals >= 5, null, { timeout: 60000 });
  const said = await page.locator('.msg.user .text').allInnerTexts();
  assert.equal(said.length, 5, JSON.stringify(said));
  let errors = 0;
  let words = 0;
  clips.forEach((c, i) => {
    const w = wer(c.text, said[i]);
    const n = c.text.split(/\s+/).length;
    errors += w * n;
    words += n;
  });
  const total = errors / words;
  console.log(`# browser WER ${(total * 100).toFixed(1)}%\n# ${said.join('\n# ')}`);
  // Through the browser (44.1 kHz capture, Chromium's audio path) these
  // clips measure 32-35% (the same clips streamed to /ws: 28%, held to 30%
  // by speech-librivox, which guards accuracy): the bound leaves room for
  // that spread.
  assert.ok(total <= 0.40, `WER ${(total * 100).toFixed(1)}% over the five clips`);
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length >= 5, null, { timeout: 10000 });
  assert.match(await page.locator('.msg.assistant .text').first().innerText(), /Okay, I understand\./);
  await page.waitForFunction(() => window.parley.stats.samplesPlayed >= window.parley.stats.sampleRate * 1.0, null, { timeout: 15000 });
  const s = await stats(page);
  assert.ok(s.framesSent > 500, `frames sent: ${s.framesSent}`);
  assert.ok(s.samplesPlayed / s.sampleRate >= 1, `played ${(s.samplesPlayed / s.sampleRate).toFixed(2)} s`);
  assert.deepEqual(page.errors, []);
});

test('typed turn gets a spoken answer', async () => {
  const llm = await fake(SHORT_ANSWER);
  const srv = await server(['--llm-url', llm.url]);
  const page = await openPage(srv.url);
  await page.fill('#text', 'Hello there');
  await page.press('#text', 'Enter');
  await page.waitForFunction((a) => [...document.querySelectorAll('.msg.assistant .text')].some((n) => n.textContent === a), SHORT_ANSWER, { timeout: 10000 });
  await page.waitForFunction(() => window.parley.stats.samplesPlayed >= window.parley.stats.sampleRate, null, { timeout: 15000 });
  assert.equal(await page.locator('.msg.user .text').first().innerText(), 'Hello there');
  assert.equal(llm.chatRequests().at(-1).body.messages.at(-1).content, 'Hello there');
  // A second exchange, then a picture of the finished conversation for the README.
  llm.set({ answer: 'Tomorrow looks sunny and mild, with a light breeze in the afternoon.' });
  await page.fill('#text', 'What will the weather be like tomorrow?');
  await page.press('#text', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant:not(.partial)').length >= 2, null, { timeout: 10000 });
  await page.waitForFunction(() => !window.parley.stats.playing && window.parley.stats.state !== 'thinking', null, { timeout: 15000 });
  // The README's picture is refreshed on request only (PARLEY_UPDATE_SCREENSHOT=1),
  // so a test run leaves the working tree as it was.
  const shot = process.env.PARLEY_UPDATE_SCREENSHOT === '1'
    ? path.join(REPO_ROOT, 'docs', 'screenshot.png') : path.join(os.tmpdir(), 'parley-screenshot.png');
  await page.screenshot({ path: shot });
  assert.deepEqual(page.errors, []);
});

test('barge-in in the browser: speaking over the answer stops playback within a second', async () => {
  const llm = await fake((body, user) => (body.messages.filter((m) => m.role === 'user').length === 1 ? LONG_ANSWER : 'Okay.'));
  const srv = await server(['--llm-url', llm.url, '--stt-warm', '1']);
  // question at 1 s, then 5 s of listening to the answer, then the interruption
  const q = clip('0930');
  const qEnd = 1 + 3.29;
  const interruptAt = qEnd + 5;
  const page = await openPage(srv.url, micWav('barge', [1, '0930', 5, '0880', 30]));
  await page.uncheck('#ns');
  await page.click('#mic');
  const t0 = Date.now();
  await page.waitForFunction(() => window.parley.stats.playing, null, { timeout: 20000 });
  await page.waitForFunction(() => window.parley.stats.interruptions >= 1, null, { timeout: 20000 });
  await page.waitForFunction(() => !window.parley.stats.playing, null, { timeout: 5000 });
  const stoppedAfterOnset = Date.now() - t0 - interruptAt * 1000;
  assert.ok(stoppedAfterOnset <= 1000, `playback stopped ${stoppedAfterOnset} ms after the user started talking`);
  const mark = page.locator('.msg.assistant.interrupted .mark');
  await mark.first().waitFor({ timeout: 3000 });
  assert.equal(await mark.first().innerText(), '(interrupted)');
  const cut = await page.locator('.msg.assistant.interrupted .text').first().innerText();
  assert.ok(cut.length < LONG_ANSWER.length, 'the answer shows what was heard');
  assert.ok(q.text.length > 0);
  assert.deepEqual(page.errors, []);
});

test('echo banner, server errors as notices, and reconnecting after a restart', async () => {
  const srv = await server(['--llm-backend', 'echo']);
  const page = await openPage(srv.url);
  await page.locator('#echo-banner').waitFor({ state: 'visible', timeout: 5000 });
  assert.match(await page.locator('#echo-banner').innerText(), /no language model|No LLM/i);

  // An error from the server appears as a readable notice.
  // English voices are listed first; espeak-ng's other languages in a group.
  assert.ok(await page.locator('#voice > option[value="rms"]').count() === 1, 'rms is a top-level choice');
  assert.ok(await page.locator('#voice > option[value="en-gb"]').count() === 1, 'en-gb is a top-level choice');
  assert.ok(await page.locator('#voice > optgroup option[value="de"]').count() === 1, 'German is under other languages');
  await page.selectOption('#voice', 'rms');
  await page.evaluate(() => { /* a voice the server does not have, as a stale page would send */
    const o = document.createElement('option'); o.value = 'retired-voice'; o.textContent = 'retired-voice';
    document.getElementById('voice').append(o);
  });
  await page.selectOption('#voice', 'retired-voice');
  const notice = page.locator('.notice');
  await notice.first().waitFor({ timeout: 5000 });
  assert.match(await notice.first().innerText(), /unknown voice 'retired-voice'.*invalid_field/);

  // Stop the server: the page says so; start it again on the same port: it reconnects.
  const before = await stats(page);
  await srv.stop();
  await page.waitForFunction(() => !window.parley.stats.connected, null, { timeout: 5000 });
  assert.match(await page.locator('#conn-text').innerText(), /reconnecting/);
  const back = await startServer(['--host', '127.0.0.1', '--port', String(srv.port), '--stt-warm', '0', '--llm-backend', 'echo'], {}, { hostPort: false });
  cleanups.push(() => back.stop());
  await page.waitForFunction((n) => window.parley.stats.connected && window.parley.stats.reconnects > n, before.reconnects, { timeout: 15000 });
  assert.equal(await page.locator('#conn-text').innerText(), 'connected');
  assert.deepEqual(page.errors, []);
});

test('with --auth-token: the page connects from /#token=…, hides it, and asks for a token when it has none or a wrong one', async () => {
  const TOKEN = 'e2e-token-0123456789abcdefXYZ';
  const llm = await fake(SHORT_ANSWER);
  const srv = await server(['--llm-url', llm.url], { PARLEY_AUTH_TOKEN: TOKEN });
  const page = await openPage(`${srv.url}/#token=${TOKEN}`);
  assert.equal(await page.evaluate(() => location.hash), '', 'the token is removed from the address bar');
  assert.equal(await page.evaluate(() => location.href), `${srv.url}/`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('parley.token')), TOKEN);
  assert.ok(await page.locator('#token-banner').isHidden());
  await page.fill('#text', 'Hello there');
  await page.press('#text', 'Enter');
  await page.waitForFunction((a) => [...document.querySelectorAll('.msg.assistant .text')].some((n) => n.textContent === a), SHORT_ANSWER, { timeout: 10000 });
  // A reload keeps the tab's token.
  await page.reload();
  await page.waitForFunction(() => window.parley && window.parley.stats.connected, null, { timeout: 10000 });

  // Another browser without the token: the page asks; a wrong one is refused; the right one connects.
  const bare = await openPage(srv.url, undefined, { waitConnected: false });
  await bare.locator('#token-banner').waitFor({ state: 'visible', timeout: 10000 });
  assert.equal(await bare.locator('#conn-text').innerText(), 'access token needed');
  await bare.fill('#token-input', 'not-the-token-0123456789');
  await bare.press('#token-input', 'Enter');
  await bare.waitForFunction(() => window.parley.stats.tokenAsked >= 2, null, { timeout: 10000 });
  assert.match(await bare.locator('#token-why').innerText(), /did not accept/);
  assert.equal(await bare.evaluate(() => window.parley.stats.connected), false);
  await bare.fill('#token-input', TOKEN);
  await bare.press('#token-input', 'Enter');
  await bare.waitForFunction(() => window.parley.stats.connected, null, { timeout: 10000 });
  assert.ok(await bare.locator('#token-banner').isHidden());
  assert.ok(!srv.stderr().includes(TOKEN), 'the token never reaches the log');
  assert.match(srv.stderr(), /refused WebSocket from 127\.0\.0\.1: wrong token/);
  assert.deepEqual(page.errors, []);
  assert.deepEqual(bare.errors, []);
});
