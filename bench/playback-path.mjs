#!/usr/bin/env node
// What the page's playback path (web/playback-path.js: the answer through a
// local RTCPeerConnection pair into an <audio> element, so that Chromium's
// echo canceller hears it) adds between an answer's audio arriving on the
// WebSocket and the listener hearing it, against the direct path (the same
// page with RTCPeerConnection removed: the worklet plays into the context's
// destination). In Debian's Chromium, headless, driven by playwright-core.
//
//   node bench/playback-path.mjs [--bin build-test/parley] [--answers 6]
//
// Per path and answer: the page's own figures (the loopback's delay measured
// from the onsets the worklet plays and the onsets heard in the received
// track; the sound card's delay: media-playout's totalPlayoutDelay for the
// <audio> element, baseLatency + outputLatency for the context) and, on the
// Node side, first audio frame received → tts_start sent (the jitter
// buffer's 60 ms prebuffer plus the delay the page allows for). Prints the
// medians (and ranges). Needs the test tooling (tests/node_modules, chromium).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { startServer, getJson, sleep } from '../tests/integration/harness.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';

// playwright-core is the tests' package (tests/node_modules).
const { chromium } = createRequire(new URL('../tests/package.json', import.meta.url))('playwright-core');

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
if (arg('bin')) process.env.PARLEY_BIN = arg('bin');
const ANSWERS = Number(arg('answers', 6));
const CHROMIUM = process.env.PARLEY_CHROMIUM || '/usr/bin/chromium';
const ANSWER = 'Hello from the fake model. It is good to talk with you today, my friend. Here is one more sentence, so that the answer lasts a while.';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[(s.length - 1) >> 1] : NaN; };
const range = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;

async function run(srv, direct) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'parley-pp-'));
  const context = await chromium.launchPersistentContext(tmp, {
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage', '--autoplay-policy=no-user-gesture-required'],
  });
  if (direct) await context.addInitScript(() => { delete window.RTCPeerConnection; });
  const page = context.pages()[0] || await context.newPage();
  const w = { sent: [], firstAudio: [], finalAt: 0, waiting: false };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => {
      if (typeof f.payload !== 'string') return;
      const m = JSON.parse(f.payload);
      if (m.type === 'tts_start' || m.type === 'tts_stop') w.sent.push({ at: performance.now(), type: m.type });
    });
    ws.on('framereceived', (f) => {
      if (typeof f.payload === 'string') {
        if (JSON.parse(f.payload).type === 'final_assistant_answer') w.finalAt = performance.now();
      } else if (w.waiting) { w.firstAudio.push(performance.now()); w.waiting = false; }
    });
  });
  await page.goto(srv.url);
  await page.waitForFunction(() => window.parley && window.parley.stats.connected && window.parley.stats.playbackPath !== 'pending', null, { timeout: 10000 });
  const rows = [];
  for (let i = 0; i < ANSWERS; i++) {
    w.waiting = true;
    const before = w.sent.length;
    await page.fill('#text', `Hello there, number ${i + 1}`);
    await page.press('#text', 'Enter');
    await page.waitForFunction((n) => window.parley.stats.assistantFinals >= n, i + 1, { timeout: 20000 });
    for (let t = 0; !(w.sent.length && w.sent.at(-1).type === 'tts_stop' && w.sent.at(-1).at > w.finalAt); t++) {
      if (t > 200) throw new Error('no tts_stop');
      await sleep(100);
    }
    const start = w.sent.slice(before).find((m) => m.type === 'tts_start');
    const s = await page.evaluate(() => ({ ...window.parley.stats }));
    rows.push({ audioToStart: start.at - w.firstAudio[i], loop: s.loopbackMs || 0, output: s.playbackOutputMs, total: s.playbackDelayMs, seen: s.loopbackMsSeen, path: s.playbackPath });
    await sleep(500);
  }
  await context.close();
  fs.rmSync(tmp, { recursive: true, force: true });
  return rows;
}

const llm = await startFakeOpenAI({ tokenDelayMs: 10, answer: ANSWER });
const srv = await startServer(['--llm-url', llm.url, '--stt-warm', '0']);
for (let i = 0; i < 200 && (await getJson(srv.port, '/readyz')).status !== 200; i++) await sleep(50);
const out = {};
for (const direct of [false, true]) {
  const rows = await run(srv, direct);
  const name = rows[0].path;
  out[name] = rows;
  const later = rows.slice(1);
  console.log(`${name}: ${rows.length} answers`);
  console.log(`  first audio → tts_start, first answer: ${rows[0].audioToStart.toFixed(1)} ms; later answers: ${range(later.map((r) => r.audioToStart))} ms`);
  console.log(`  delay allowed for (loopback + sound card), later answers: ${range(later.map((r) => r.total))} ms`);
  if (name === 'webrtc') {
    const seen = rows.flatMap((r) => r.seen);
    console.log(`  loopback measured at onsets: ${range(seen)} ms over ${seen.length} onsets`);
  }
  console.log(`  sound card: ${range(later.map((r) => r.output))} ms`);
}
const added = median(out.webrtc.slice(1).map((r) => r.audioToStart)) - median(out.direct.slice(1).map((r) => r.audioToStart));
console.log(`added by the loopback (median first audio → tts_start, later answers, webrtc − direct): ${added.toFixed(1)} ms`);
await srv.stop();
await llm.close();
