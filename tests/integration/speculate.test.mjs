// Speculative answers (docs/architecture.md#speculation) through the real
// server: in the user's trailing silence the LLM request starts with the
// transcript so far; its answer is held until the turn is confirmed, kept
// when the final transcript matches, cancelled when it differs or the user
// goes on speaking, and never audible before the user's final transcript.
//
// Deterministic transcripts come from the fake transcription service
// (--stt openai with --stt-partial-ms: partials are re-posts of the growing
// utterance, so the test decides what the partials and the final say); the
// embedded pocketsphinx listens to flite speech with a pause inside.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, connectAtOnce, fetchMetrics, sleep, waitReady, waitForMetrics, stopClean } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, collectedAudio } from './audio.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';
import { startFakeSTT } from '../fakes/fake-stt.mjs';

const RATE = 48000;
const bytesAt = (seconds) => Math.round(seconds * RATE) * 2;
// Two seconds of a recording (the fake transcriber decides what was said),
// then a silence long enough to end the turn.
const clip = librivoxClips()[0];
const SPEECH = Buffer.concat([silence(RATE, 0.3),
  soxRaw(clip.file, RATE).subarray(bytesAt(0.5), bytesAt(2.5)), silence(RATE, 1.5)]);
const FRANCE = 'What is the capital of France?';
const SPAIN = 'What is the capital of Spain?';
const ANSWERS = { france: 'Paris is the capital of France.', spain: 'Madrid is the capital of Spain.' };

let llm;
const servers = [];
const stts = []; // closed in after() too: a failed test must not keep the file alive

async function fakeSTT(opts) {
  const stt = await startFakeSTT(opts);
  stts.push(stt);
  return stt;
}

before(async () => {
  llm = await startFakeOpenAI({
    tokenDelayMs: 5,
    answer: (body, user) => (/france/i.test(user) ? ANSWERS.france
      : /spain/i.test(user) ? ANSWERS.spain : `You said: ${user}`),
  });
});

after(async () => {
  for (const s of servers) await s.stop();
  for (const s of stts) await s.close();
  await llm?.close();
});

async function server(args, env = {}) {
  const srv = await startServer(['--llm-url', llm.url, ...args], env);
  servers.push(srv);
  await waitReady(srv.port, 20000);
  return srv;
}

/** Every message the client receives, in order, with its arrival time
 *  ('audio' for a binary frame). */
function recordArrivals(c) {
  const log = [];
  c.ws.on('message', (data, isBinary) => {
    let type = 'audio';
    if (!isBinary) {
      try { type = JSON.parse(data.toString('utf8')).type; } catch { type = '?'; }
    }
    log.push({ type, at: Date.now() });
  });
  return log;
}

const spec = (m, outcome) => m.values[`parley_speculations_total{outcome="${outcome}"}`] ?? 0;

/** The chat requests the fake LLM got after `since` (the warm-up's excluded). */
const chats = (since) => llm.chatRequests().slice(since);
const lastUser = (rec) => rec.body.messages.filter((m) => m.role === 'user').at(-1).content;

/** Waits until the client's speaker has been quiet for 700 ms. */
async function waitAudioQuiet(c, maxMs = 15000) {
  const t0 = Date.now();
  let n = -1;
  while (Date.now() - t0 < maxMs) {
    const now = c.binaries.length + c.received('tts_chunk').length;
    if (now === n && n > 0) return;
    n = now;
    await sleep(700);
  }
}

function sttServer(stt, extra = []) {
  return server(['--stt', 'openai', '--stt-url', stt.url, '--stt-partial-ms', '300', ...extra]);
}

test('kept: the final transcript matches the speculation: one LLM request, started in the pause, its answer spoken', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt);
  const since = llm.chatRequests().length;
  const c = await connectAtOnce(srv.port);
  const arrivals = recordArrivals(c);
  await streamPcm(c, SPEECH, RATE, { pace: 1 });
  const heard = await c.next('final_user_request', 20000);
  assert.equal(heard.content, FRANCE);
  const ans = await c.next('final_assistant_answer', 20000);
  assert.equal(ans.content, ANSWERS.france);
  await waitAudioQuiet(c);
  assert.ok(collectedAudio(c).length > RATE, 'the answer is spoken');

  const reqs = chats(since);
  assert.equal(reqs.length, 1, 'exactly one LLM request');
  assert.equal(lastUser(reqs[0]), FRANCE, 'its user turn is the transcript');
  assert.equal(reqs[0].aborted, false);
  const finalAt = arrivals.find((a) => a.type === 'final_user_request').at;
  assert.ok(reqs[0].start < finalAt - 50,
    `the request started in the pause, ${finalAt - reqs[0].start} ms before the final transcript`);
  const m = await fetchMetrics(srv.port);
  assert.equal(spec(m, 'started'), 1);
  assert.equal(spec(m, 'kept'), 1);
  assert.equal(spec(m, 'discarded'), 0);

  // The kept turn is in the history: the next turn's request carries it.
  c.sendJson({ type: 'text', content: 'and Spain?' });
  await c.next('final_assistant_answer', 10000);
  const next = chats(since).at(-1).body.messages.slice(-3).map((x) => [x.role, x.content]);
  assert.deepEqual(next, [['user', FRANCE], ['assistant', ANSWERS.france], ['user', 'and Spain?']]);
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

test('discarded: the final transcript differs: the speculation is cancelled, the final one answered, the client never hears of it', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt);
  // Once the speculation reaches the LLM, the transcriber changes its mind:
  // the later partials and the final say Spain. The speculative answer is
  // slow (still streaming when the turn ends: cancelled), then fast (complete
  // while held: dropped).
  for (const [round, delay] of [[1, 3000], [2, 0]]) {
    stt.set({ transcript: FRANCE });
    const since = llm.chatRequests().length;
    llm.set({
      tokenDelayMs: delay ? 5 : 0,
      behave: (body, user) => {
        if (/france/i.test(user)) { stt.set({ transcript: SPAIN }); return { firstTokenDelayMs: delay }; }
        return null;
      },
    });
    try {
      const c = await connectAtOnce(srv.port);
      await streamPcm(c, SPEECH, RATE, { pace: 1 });
      const heard = await c.next('final_user_request', 20000);
      assert.equal(heard.content, SPAIN);
      const ans = await c.next('final_assistant_answer', 20000);
      assert.equal(ans.content, ANSWERS.spain);
      await waitAudioQuiet(c);

      const reqs = chats(since);
      assert.equal(reqs.length, 2, 'the speculation, then the final transcript');
      assert.equal(lastUser(reqs[0]), FRANCE);
      if (delay) assert.equal(reqs[0].aborted, true, 'the speculation was cancelled (the LLM saw the connection close)');
      else assert.ok(reqs[0].end < reqs[1].start, 'the speculation had completed, held');
      assert.equal(lastUser(reqs[1]), SPAIN);
      for (const msg of c.history) {
        assert.ok(!JSON.stringify(msg).includes('Paris'), `nothing of the discarded answer: ${JSON.stringify(msg)}`);
      }
      assert.equal(c.received('error').length, 0);
      const m = await fetchMetrics(srv.port);
      assert.equal(spec(m, 'started'), round);
      assert.equal(spec(m, 'kept'), 0);
      assert.equal(spec(m, 'discarded'), round);
      await c.close();
    } finally {
      llm.reset();
    }
  }
  await stopClean(srv, servers);
  await stt.close();
});

test('never audible before the turn is confirmed: a fast answer complete during the pause waits for the final transcript', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt);
  const since = llm.chatRequests().length;
  // Several sentences, so the first would be spoken as soon as the second
  // starts arriving, if anything of a held answer leaked.
  llm.set({ tokenDelayMs: 0, answer: `${ANSWERS.france} It lies on the Seine. It has about two million people.` });
  try {
    for (const audioOut of ['base64', 'binary']) {
      const c = await connectAtOnce(srv.port);
      c.sendJson({ type: 'session.config', audio_out: audioOut });
      await c.next('session.configured', 10000);
      const arrivals = recordArrivals(c);
      const before = llm.chatRequests().length;
      await streamPcm(c, SPEECH, RATE, { pace: 1 });
      const ans = await c.next('final_assistant_answer', 20000);
      assert.match(ans.content, /^Paris.*people\.$/);
      await waitAudioQuiet(c);
      const rec = llm.chatRequests().at(before);
      const finalAt = arrivals.find((a) => a.type === 'final_user_request').at;
      assert.ok(rec.end !== null && rec.end < finalAt,
        `${audioOut}: the whole answer had arrived ${finalAt - rec.end} ms before the final transcript`);
      const order = arrivals.map((a) => a.type);
      const first = order.indexOf('final_user_request');
      const answerTypes = ['partial_assistant_answer', 'final_assistant_answer', 'tts_chunk', 'audio', 'stop_tts'];
      const early = order.slice(0, first).filter((t) => answerTypes.includes(t));
      assert.deepEqual(early, [], `${audioOut}: nothing of the answer before the final transcript: ${order.join(' ')}`);
      assert.ok(order.slice(first).some((t) => t === 'tts_chunk' || t === 'audio'), 'then it is spoken');
      await c.close();
    }
    const m = await fetchMetrics(srv.port);
    assert.equal(spec(m, 'kept'), 2);
    assert.equal(chats(since).length, 2);
  } finally {
    llm.reset();
  }
  await stopClean(srv, servers);
  await stt.close();
});

test('--speculate off: today\'s behaviour, one request after the final transcript', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt, ['--speculate', 'off']);
  const since = llm.chatRequests().length;
  const c = await connectAtOnce(srv.port);
  const arrivals = recordArrivals(c);
  await streamPcm(c, SPEECH, RATE, { pace: 1 });
  const ans = await c.next('final_assistant_answer', 20000);
  assert.equal(ans.content, ANSWERS.france);
  const reqs = chats(since);
  assert.equal(reqs.length, 1);
  const finalAt = arrivals.find((a) => a.type === 'final_user_request').at;
  assert.ok(reqs[0].start >= finalAt - 100, `the request came with the final transcript (${reqs[0].start - finalAt} ms)`);
  const m = await fetchMetrics(srv.port);
  assert.equal(spec(m, 'started'), 0);
  await c.close();
  await stopClean(srv, servers);
  await stt.close();
});

// ---- the embedded recogniser: a pause inside the utterance ----------------

/** flite's speech for `text` (parley's own voice), trimmed of its padding. */
async function fliteSpeech(port, text, voice = 'rms') {
  const c = await connectReady(port);
  c.sendJson({ type: 'session.config', voice, audio_out: 'binary' });
  await c.next('session.configured', 10000);
  c.sendJson({ type: 'text', content: `say: ${text}` });
  await c.next('final_assistant_answer', 15000);
  await waitAudioQuiet(c);
  const pcm = collectedAudio(c);
  await c.close();
  let a = 0;
  let b = pcm.length / 2;
  while (a < b && Math.abs(pcm.readInt16LE(a * 2)) < 200) a++;
  while (b > a && Math.abs(pcm.readInt16LE((b - 1) * 2)) < 200) b--;
  return pcm.subarray(a * 2, b * 2);
}

const GAP = 0.22; // seconds of silence inside the utterance

test('cancelled when the user goes on: a pause inside the utterance starts a speculation that is cancelled silently', async () => {
  const srv = await server(['--stt-warm', '1', '--speculate-ms', '100']);
  llm.set({ answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : `You said: ${user}`) });
  let head, tail;
  try {
    head = await fliteSpeech(srv.port, 'I would like to book a table');
    tail = await fliteSpeech(srv.port, 'for two people tonight.');
  } finally {
    llm.reset();
  }
  const since = llm.chatRequests().length;
  // The speculative answer (on the first words only) is slow: still
  // streaming when the user goes on.
  llm.set({
    answer: (body, user) => `You said: ${user}`,
    behave: (body, user) => (/(people|tonight)/.test(user) ? null : { firstTokenDelayMs: 3000 }),
  });
  try {
    const c = await connectAtOnce(srv.port);
    const arrivals = recordArrivals(c);
    const tailMs = (tail.length / 2 / RATE) * 1000;
    assert.ok(tailMs > 800, `the rest of the sentence takes ${tailMs.toFixed(0)} ms`);
    const resumeAt = Date.now() + (0.5 + head.length / 2 / RATE + GAP) * 1000;
    // past --speculate-ms, short of the shortest end-of-turn pause (300 ms)
    await streamPcm(c, Buffer.concat([silence(RATE, 0.5), head, silence(RATE, GAP), tail,
      silence(RATE, 1.5)]), RATE, { pace: 1 });
    const heard = await c.next('final_user_request', 20000);
    assert.match(heard.content, /(people|tonight)/, 'one turn: the pause did not end it');
    const ans = await c.next('final_assistant_answer', 20000);
    assert.equal(ans.content, `You said: ${heard.content}`);
    await waitForMetrics(srv.port, (v) => (v['parley_speculations_total{outcome="discarded"}'] ?? 0) >= 1,
      { timeoutMs: 5000, what: 'a discarded speculation' });

    const reqs = chats(since);
    const first = reqs[0];
    assert.ok(reqs.length >= 2, `a speculation, then the turn (${reqs.length} requests)`);
    const words = (t) => t.split(/\s+/).filter(Boolean).length;
    assert.ok(words(lastUser(first)) >= 2 && words(lastUser(first)) < words(heard.content),
      `the speculation had the first words only: "${lastUser(first)}" of "${heard.content}"`);
    assert.doesNotMatch(lastUser(first), /(people|tonight)/);
    assert.equal(first.aborted, true, 'the LLM saw it cancelled');
    // cancelled as the user went on, not when the turn ended (or a later
    // speculation replaced it)
    assert.ok(first.end - resumeAt < tailMs / 2,
      `cancelled ${first.end - resumeAt} ms after the user went on (the rest takes ${tailMs.toFixed(0)} ms)`);
    assert.equal(lastUser(reqs.at(-1)), heard.content);
    assert.equal(c.received('final_user_request').length, 1);
    assert.equal(c.received('final_assistant_answer').length, 1, 'the client heard of one answer only');
    assert.equal(c.received('error').length, 0);
    await c.close();
  } finally {
    llm.reset();
  }
  await stopClean(srv, servers);
});

// ---- fairness and cancellation -------------------------------------------

/** Waits until pred() holds (checked every 20 ms); throws after ms. */
async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('fair admission: a typed turn of another session preempts a speculation holding the only LLM slot; the speculating turn is then answered normally', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt, ['--llm-max-inflight', '1']);
  const since = llm.chatRequests().length;
  // The speculation hangs until cancelled; everything else answers at once.
  let specSeen = 0;
  llm.set({
    behave: (body, user) => {
      if (user === FRANCE && specSeen++ === 0) return { hangAfter: 0 };
      return null;
    },
  });
  try {
    const a = await connectReady(srv.port);
    const b = await connectReady(srv.port);
    const speaking = streamPcm(a, SPEECH, RATE, { pace: 1 });
    await until(() => chats(since).length >= 1, 15000, 'the speculation to reach the LLM');
    const t0 = Date.now();
    b.sendJson({ type: 'text', content: 'Is it raining in Spain?' });
    const bAns = await b.next('final_assistant_answer', 10000);
    assert.equal(bAns.content, ANSWERS.spain);
    assert.ok(Date.now() - t0 < 3000, `the typed turn did not wait behind the speculation (${Date.now() - t0} ms)`);
    await speaking;
    const heard = await a.next('final_user_request', 20000);
    assert.equal(heard.content, FRANCE);
    const aAns = await a.next('final_assistant_answer', 20000);
    assert.equal(aAns.content, ANSWERS.france);
    const reqs = chats(since);
    assert.equal(lastUser(reqs[0]), FRANCE);
    assert.equal(reqs[0].aborted, true, 'the speculation was preempted');
    assert.equal(reqs.filter((r) => lastUser(r) === FRANCE).length, 2, 'the confirmed turn was submitted again');
    const m = await fetchMetrics(srv.port);
    assert.equal(m.values.parley_llm_preempted_total, 1);
    assert.equal(spec(m, 'discarded'), 1);
    assert.equal(spec(m, 'kept'), 0);
    for (const c of [a, b]) assert.equal(c.received('error').length, 0, c.summary());
    await a.close();
    await b.close();
  } finally {
    llm.reset();
  }
  await stopClean(srv, servers);
  await stt.close();
});

test('clear_history, close and shutdown cancel a held speculation: the LLM sees it cancelled, the client hears nothing of it', async () => {
  const stt = await fakeSTT({ transcript: FRANCE });
  const srv = await sttServer(stt);
  llm.set({ behave: (body, user) => (user === FRANCE ? { hangAfter: 1 } : null) });
  try {
    for (const how of ['clear_history', 'close']) {
      const since = llm.chatRequests().length;
      const c = await connectAtOnce(srv.port);
      // speech, then a pause that never ends the turn: the client stops sending
      const speaking = streamPcm(c, SPEECH.subarray(0, bytesAt(2.3) + bytesAt(0.3)), RATE, { pace: 1 });
      await until(() => chats(since).length >= 1, 15000, 'the speculation to reach the LLM');
      if (how === 'clear_history') c.sendJson({ type: 'clear_history' });
      else await c.close();
      await until(() => chats(since)[0].aborted, 5000, `the speculation to be cancelled by ${how}`);
      await speaking.catch(() => {});
      if (how === 'clear_history') {
        await sleep(1500); // the utterance may still end in a turn, answered afresh
        const order = c.history.map((m) => m.type);
        const first = order.indexOf('final_user_request');
        const early = order.slice(0, first < 0 ? undefined : first)
          .filter((t) => /assistant|tts_chunk/.test(t));
        assert.deepEqual(early, [], `nothing of the held answer: ${order.join(' ')}`);
        await c.close();
      }
    }
    const m = await fetchMetrics(srv.port);
    assert.ok(spec(m, 'discarded') >= 2, `discarded ${spec(m, 'discarded')}`);
    // Shutdown with a speculation held: a clean exit, nothing leaked.
    const since = llm.chatRequests().length;
    const c = await connectAtOnce(srv.port);
    const speaking = streamPcm(c, SPEECH.subarray(0, bytesAt(2.6)), RATE, { pace: 1 });
    await until(() => chats(since).length >= 1, 15000, 'the speculation to reach the LLM');
    await speaking.catch(() => {});
    await stopClean(srv, servers);
  } finally {
    llm.reset();
  }
  await stt.close();
});
