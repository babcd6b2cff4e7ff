// The decoder pool exhausted: with --stt-max 1, two users speak at the same
// moment. The second utterance waits for the only decoder, keeping its
// audio, and is decoded late: both are transcribed, nobody gets
// `overloaded`, and /metrics counts the wait. Only a wait longer than
// --stt-wait-ms ends in `overloaded`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, fetchMetrics, sleep, waitReady } from './harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, wer } from './audio.mjs';

async function talker(port) {
  const c = await connectReady(port);
  c.sendJson({ type: 'session.config', input_sample_rate: 48000 });
  await c.next('session.configured', 5000);
  return c;
}

test('--stt-max 1: two users at once are both transcribed, one late, no overloaded', async () => {
  const srv = await startServer(['--llm-backend', 'echo', '--stt-warm', '1', '--stt-max', '1']);
  try {
    await waitReady(srv.port, 30000);
    const clips = librivoxClips().filter((c) => /0880|0930/.test(c.id)); // about 3 s each
    assert.equal(clips.length, 2);
    const users = await Promise.all(clips.map(() => talker(srv.port)));
    const arrived = users.map(() => null);
    users.forEach((c, i) => c.ws.on('message', (data, binary) => {
      if (!binary && JSON.parse(data.toString()).type === 'final_user_request' && !arrived[i]) arrived[i] = Date.now();
    }));
    await Promise.all(users.map((c, i) => streamPcm(c,
      Buffer.concat([silence(48000, 0.5), soxRaw(clips[i].file, 48000), silence(48000, 1.5)]), 48000,
      { frameSamples: 960 })));
    for (let w = 0; w < 200 && arrived.some((a) => !a); w++) await sleep(100);

    for (const [i, c] of users.entries()) {
      const finals = c.received('final_user_request').map((m) => m.content);
      assert.equal(finals.length, 1, `user ${i}: ${JSON.stringify(finals)}`);
      const e = wer(clips[i].text, finals[0]);
      console.log(`# user ${i}: WER ${(e * 100).toFixed(0)}% "${finals[0]}"`);
      assert.ok(e <= 0.5, `user ${i}: "${finals[0]}" for "${clips[i].text}"`);
      const errors = c.received('error').map((m) => m.content.code);
      assert.deepEqual(errors, [], `user ${i}: errors ${JSON.stringify(errors)}`);
    }
    const m = (await fetchMetrics(srv.port)).values;
    assert.ok(m.parley_stt_pool_waits_total >= 1, 'one utterance waited for the decoder');
    assert.equal(m.parley_stt_pool_exhausted_total, 0, 'none was refused');
    assert.equal(m.parley_stt_decoder_waiters, 0);
    console.log(`# finals ${Math.abs(arrived[0] - arrived[1])} ms apart`);
    await Promise.all(users.map((c) => c.close()));
  } finally {
    await srv.stop();
  }
});

test('a decoder busy longer than --stt-wait-ms: the waiting speaker is told overloaded (the last resort)', async () => {
  const srv = await startServer(['--llm-backend', 'echo', '--stt-warm', '1', '--stt-max', '1', '--stt-wait-ms', '1500']);
  try {
    await waitReady(srv.port, 30000);
    const [a, b] = await Promise.all([talker(srv.port), talker(srv.port)]);
    const long = soxRaw(librivoxClips().find((c) => c.id.endsWith('0870')).file, 48000, { padAfter: 1.5 }); // 7 s
    const first = streamPcm(a, long, 48000, { frameSamples: 960 });
    await sleep(800); // A is speaking and holds the only decoder
    const second = streamPcm(b, long, 48000, { frameSamples: 960 });
    const err = await b.next('error', 8000);
    assert.equal(err.content.code, 'overloaded');
    assert.match(err.content.message, /speech decoder/);
    await Promise.all([first, second]);
    assert.ok((await a.next('final_user_request', 5000)).content.length > 0, 'A was still heard');
    const m = (await fetchMetrics(srv.port)).values;
    assert.ok(m.parley_stt_pool_exhausted_total >= 1);
    await Promise.all([a.close(), b.close()]);
  } finally {
    await srv.stop();
  }
});
