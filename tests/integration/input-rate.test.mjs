// Undeclared input rates (docs/protocol.md#binary-audio-frames): a client
// that never sends input_sample_rate is heard at the rate its frame
// timestamps show, a declared rate always wins; and --web-root serves a
// client laid out like RealtimeVoiceChat's code/static unchanged.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  startServer, connectReady, fetchMetrics, httpGet, sleep, waitReady, sanitizerReports,
} from './harness.mjs';
import { streamPcm, collectedAudio, silence, wordErrors } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

// The five sentences of issue 10's measurement style: flite's slt voice,
// the one a wrong rate hurts most.
const SENTENCES = [
  'Could you tell me what the weather will be like tomorrow afternoon?',
  'I would like to book a table for two people tonight.',
  'Please remind me to call my sister at six.',
  'The train to the city leaves from platform four.',
  'What time does the museum open on Sunday morning?',
];

let fake, srv;
const speech = {}; // rate -> [pcm of each sentence]

before(async () => {
  fake = await startFakeOpenAI({
    tokenDelayMs: 2,
    answer: (body, user) => {
      const m = /sentence (\d)/.exec(user);
      return m ? SENTENCES[Number(m[1])] : 'Okay.';
    },
  });
  srv = await startServer(['--llm-url', fake.url, '--stt-warm', '3']);
  await waitReady(srv.port);
  // parley's own flite slt, delivered at 44.1 and 48 kHz.
  await Promise.all([44100, 48000].map(async (rate) => {
    speech[rate] = await Promise.all(SENTENCES.map(async (_, i) => {
      const c = await connectReady(srv.port);
      c.sendJson({ type: 'session.config', voice: 'slt', output_sample_rate: rate, audio_out: 'binary' });
      await c.next('session.configured');
      c.sendJson({ type: 'text', content: `say sentence ${i}` });
      await c.next('final_assistant_answer', 15000);
      // The answer's audio is over when no frame came for 600 ms.
      let n = -1;
      for (let k = 0; k < 100 && (n !== c.binaries.length || n === 0); k++) {
        n = c.binaries.length;
        await sleep(600);
      }
      const pcm = collectedAudio(c);
      await c.close();
      return pcm;
    }));
  }));
});

after(async () => {
  await srv?.stop();
  await fake?.close();
  if (srv) assert.deepEqual(sanitizerReports(srv.stderr()), [], 'no sanitizer reports');
});

/** Streams the sentences with 2 s of silence after each; returns the final
 *  transcripts. The silence leaves the answer ("Okay.") time to be sent
 *  before the next sentence even on a loaded machine: speech that begins
 *  before any of the answer was heard continues the turn (turn merging). */
async function speak(client, rate, { clockRate = rate, pace = 1.4, jitter = 15 } = {}) {
  const parts = [silence(rate, 0.3)];
  for (const pcm of speech[rate]) parts.push(pcm, silence(rate, 2.0));
  await streamPcm(client, Buffer.concat(parts), rate,
    { frameSamples: 2048, pace, clockRate, clockJitterMs: jitter });
  const finals = [];
  for (let i = 0; i < SENTENCES.length; i++) finals.push((await client.next('final_user_request', 10000)).content);
  return finals;
}

function score(finals) {
  let errors = 0, words = 0;
  finals.forEach((hyp, i) => { const e = wordErrors(SENTENCES[i], hyp); errors += e.errors; words += e.words; });
  return errors / words;
}

const inferred = (c) => c.received('session.configured').filter((m) => m.content.input_sample_rate_inferred);

test('undeclared 44.1 kHz is detected from the timestamps and heard as well as declared 44.1 kHz', async () => {
  const before = (await fetchMetrics(srv.port)).values['parley_input_rate_inferred_total{rate="44100"}'] ?? 0;
  const declared = await connectReady(srv.port);
  declared.sendJson({ type: 'session.config', input_sample_rate: 44100 });
  await declared.next('session.configured');
  const undeclared = await connectReady(srv.port);
  const [d, u] = await Promise.all([speak(declared, 44100), speak(undeclared, 44100)]);

  const note = inferred(undeclared);
  assert.equal(note.length, 1, 'one session.configured tells the client what was inferred');
  assert.equal(note[0].content.input_sample_rate, 44100);
  assert.equal(inferred(declared).length, 0, 'a declared session infers nothing');
  const m = (await fetchMetrics(srv.port)).values;
  assert.equal(m['parley_input_rate_inferred_total{rate="44100"}'], before + 1);
  assert.match(srv.stderr(), /undeclared input rate inferred from frame timestamps: 44100 Hz/);

  const wd = score(d), wu = score(u);
  console.log(`# slt at 44.1 kHz: WER declared ${(wd * 100).toFixed(1)}%, undeclared ${(wu * 100).toFixed(1)}%`);
  console.log(`#   declared:   ${JSON.stringify(d)}\n#   undeclared: ${JSON.stringify(u)}`);
  assert.ok(wd <= 0.25, `declared 44.1 kHz WER ${(wd * 100).toFixed(1)}%`);
  assert.ok(wu <= wd + 0.05, `undeclared WER ${(wu * 100).toFixed(1)}% vs declared ${(wd * 100).toFixed(1)}%`);
  await Promise.all([declared.close(), undeclared.close()]);
});

test('undeclared 48 kHz stays 48 kHz (no switch, no message), counted as confirmed', async () => {
  const before = (await fetchMetrics(srv.port)).values['parley_input_rate_inferred_total{rate="48000"}'] ?? 0;
  const c = await connectReady(srv.port);
  const pcm = Buffer.concat([silence(48000, 0.3), speech[48000][0], silence(48000, 1.2)]);
  await streamPcm(c, pcm, 48000, { frameSamples: 960, pace: 1.4, clockRate: 48000, clockJitterMs: 20 });
  const heard = await c.next('final_user_request', 10000);
  const e = wordErrors(SENTENCES[0], heard.content);
  assert.ok(e.errors / e.words <= 0.3, `"${heard.content}"`);
  assert.equal(c.received('session.configured').length, 0);
  const m = (await fetchMetrics(srv.port)).values;
  assert.equal(m['parley_input_rate_inferred_total{rate="48000"}'], before + 1);
  await c.close();
});

test('a declared rate wins: before the audio (timestamps saying otherwise) and after an inference', async () => {
  // Declared 44.1 kHz, frames stamped as if 48 kHz: nothing is inferred.
  const a = await connectReady(srv.port);
  a.sendJson({ type: 'session.config', input_sample_rate: 44100 });
  assert.equal((await a.next('session.configured')).content.input_sample_rate, 44100);
  const pcm = Buffer.concat([silence(44100, 0.3), speech[44100][1], silence(44100, 1.2)]);
  await streamPcm(a, pcm, 44100, { pace: 1.4, clockRate: 48000 });
  const heard = await a.next('final_user_request', 10000);
  const e = wordErrors(SENTENCES[1], heard.content);
  assert.ok(e.errors / e.words <= 0.3, `"${heard.content}"`);
  assert.equal(inferred(a).length, 0);
  await a.close();

  // Inferred 44.1 kHz, then the client declares 16 kHz: that holds.
  const b = await connectReady(srv.port);
  const streaming = streamPcm(b, Buffer.concat([silence(44100, 1.5)]), 44100, { clockRate: 44100, pace: 1.4 });
  const note = await b.next('session.configured', 5000);
  assert.equal(note.content.input_sample_rate, 44100);
  assert.equal(note.content.input_sample_rate_inferred, true);
  await streaming;
  b.sendJson({ type: 'session.config', input_sample_rate: 16000 });
  const conf = await b.next('session.configured');
  assert.equal(conf.content.input_sample_rate, 16000);
  assert.equal(conf.content.input_sample_rate_inferred, undefined);
  await streamPcm(b, silence(16000, 1.5), 16000, { clockRate: 44100, pace: 1.4 }); // stamps disagree
  await sleep(200);
  assert.equal(b.received('session.configured').length, 2, 'nothing inferred after the declaration');
  await b.close();
});

test('--web-root serves RealtimeVoiceChat\'s code/static layout: /static/NAME falls back to NAME, safely', async () => {
  const base = mkdtempSync(path.join(os.tmpdir(), 'parley-rvc-'));
  const root = path.join(base, 'static');
  mkdirSync(root);
  const page = '<!doctype html><html><head><link rel="stylesheet" href="/static/style.css">'
    + '<script src="/static/app.js"></script></head><body>RVC-PAGE</body></html>';
  writeFileSync(path.join(root, 'index.html'), page);
  writeFileSync(path.join(root, 'app.js'), 'console.log("rvc app");\n');
  writeFileSync(path.join(root, 'style.css'), 'body { margin: 0; }\n');
  writeFileSync(path.join(root, 'pcmWorkletProcessor.js'), 'class P {}\n');
  writeFileSync(path.join(base, 'secret.txt'), 'RVC-SECRET');
  const web = await startServer(['--web-root', root, '--llm-backend', 'echo', '--stt-warm', '0']);
  try {
    const index = await httpGet(web.port, '/');
    assert.equal(index.status, 200);
    assert.match(index.text, /RVC-PAGE/);
    // Every asset the page names, at the path it names.
    for (const ref of index.text.match(/\/static\/[\w.]+/g)) {
      const r = await httpGet(web.port, ref);
      assert.equal(r.status, 200, ref);
    }
    const js = await httpGet(web.port, '/static/app.js');
    assert.equal(js.text, 'console.log("rvc app");\n');
    assert.match(js.headers['content-type'], /javascript/);
    assert.equal((await httpGet(web.port, '/static/pcmWorkletProcessor.js')).status, 200);
    assert.equal((await httpGet(web.port, '/app.js')).status, 200, 'the root path still works');
    assert.equal((await httpGet(web.port, '/static/missing.js')).status, 404);
    for (const bad of ['/static/../secret.txt', '/static/..%2fsecret.txt', '/static/%2e%2e/secret.txt',
      '/static/%252e%252e/secret.txt']) {
      const r = await httpGet(web.port, bad);
      assert.ok(r.status === 403 || r.status === 404 || r.status === 400, `${bad}: ${r.status}`);
      assert.ok(!r.text.includes('RVC-SECRET'), `${bad} leaked the file outside the root`);
    }
    assert.deepEqual(sanitizerReports(web.stderr()), []);
  } finally {
    await web.stop();
    rmSync(base, { recursive: true, force: true });
  }
});
