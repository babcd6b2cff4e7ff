// The speech engines' warm-up through the real server: every engine is
// warmed and measured once at startup, and the result is in /readyz,
// /metrics, the log and the status message; an engine that cannot warm up
// keeps /readyz at 503 with its reason, is retried, and sessions are told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, fetchMetrics, sleep, waitReady } from './harness.mjs';
import { startFakeOpenAI } from '../fakes/fake-llm.mjs';

test('every speech engine is warmed and measured: /readyz, /metrics, log and status', async () => {
  const fake = await startFakeOpenAI({ answer: () => 'Okay.' });
  const srv = await startServer(['--llm-url', fake.url, '--stt-warm', '1']);
  try {
    await waitReady(srv.port, 30000);
    const m = (await fetchMetrics(srv.port)).values;
    for (const [kind, engine] of [['stt', 'pocketsphinx'], ['tts', 'flite'], ['tts', 'espeak']]) {
      assert.equal(m[`parley_${kind}_ready{engine="${engine}"}`], 1, `${kind} ${engine} ready`);
      const s = m[`parley_${kind}_warmup_seconds{engine="${engine}"}`];
      assert.ok(s > 0 && s < 60, `${kind} ${engine} warm-up measured: ${s} s`);
      assert.match(srv.stderr(), new RegExp(`speech ${kind} ${engine} warm: \\d+ ms`));
    }

    const c = await connectReady(srv.port);
    const st = c.status.content;
    assert.equal(st.stt.engine, 'pocketsphinx');
    assert.equal(st.stt.state, 'ready');
    assert.ok(st.stt.warmup_ms > 0, `stt warmup_ms ${st.stt.warmup_ms}`);
    assert.equal(st.stt.reason, undefined);
    assert.equal(st.tts.engine, 'flite'); // the default voice's synthesiser
    assert.equal(st.tts.state, 'ready');
    assert.ok(st.tts.warmup_ms > 0, `tts warmup_ms ${st.tts.warmup_ms}`);

    // A session whose default voice is espeak-ng's sees that engine.
    await c.close();
  } finally {
    await srv.stop();
    await fake.close();
  }

  const fake2 = await startFakeOpenAI({ answer: () => 'Okay.' });
  const srv2 = await startServer(['--llm-url', fake2.url, '--tts', 'espeak']);
  try {
    await waitReady(srv2.port, 30000);
    const c = await connectReady(srv2.port);
    assert.equal(c.status.content.tts.engine, 'espeak');
    assert.equal(c.status.content.tts.state, 'ready');
    await c.close();
  } finally {
    await srv2.stop();
    await fake2.close();
  }
});

test('a recogniser that cannot warm up: /readyz 503 names it and why, status says so, and it is retried', async () => {
  const fake = await startFakeOpenAI({ answer: () => 'Okay.' });
  // A directory that is not an acoustic model: the decoders cannot load.
  const srv = await startServer(['--llm-url', fake.url, '--stt-warm', '1', '--stt-hmm', '/tmp']);
  try {
    let r;
    const deadline = Date.now() + 20000;
    do {
      await sleep(200);
      r = await getJson(srv.port, '/readyz');
    } while (!/stt: pocketsphinx: cannot load/.test(r.text) && Date.now() < deadline);
    assert.equal(r.status, 503);
    assert.match(r.text, /stt: pocketsphinx: cannot load the speech model/);

    const m = (await fetchMetrics(srv.port)).values;
    assert.equal(m['parley_stt_ready{engine="pocketsphinx"}'], 0);
    assert.equal(m['parley_tts_ready{engine="flite"}'], 1); // the others are not held back

    const c = await connectReady(srv.port);
    assert.equal(c.status.content.stt.state, 'unavailable');
    assert.match(c.status.content.stt.reason, /cannot load the speech model/);
    assert.equal(c.status.content.stt.warmup_ms, undefined);
    // The next attempt (backoff 1, 2, 4 ... s) tells every session again.
    const again = await c.next('status', 15000);
    assert.equal(again.content.stt.state, 'unavailable');
    assert.match(srv.stderr(), /speech stt pocketsphinx not ready: .*retrying in \d+ s/);
    await c.close();
  } finally {
    await srv.stop();
    await fake.close();
  }
});
