// The five librivox clips of Debian's pocketsphinx-testdata, resampled to
// 48 kHz, padded with a second of silence and streamed at real-time pace:
// exactly one final transcript per clip, and a word error rate over the
// five of at most 35%.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, sleep, waitReady } from './harness.mjs';
import { librivoxClips, soxRaw, streamPcm, wordErrors } from './audio.mjs';

test('librivox clips at real time: one final each, WER <= 35%', async () => {
  const srv = await startServer(['--llm-backend', 'echo', '--stt-warm', '1']);
  try {
    await waitReady(srv.port);
    const c = await connectReady(srv.port);
    const clips = librivoxClips();
    assert.equal(clips.length, 5);
    let errors = 0;
    let total = 0;
    const report = [];
    for (const clip of clips) {
      const before = c.received('final_user_request').length;
      await streamPcm(c, soxRaw(clip.file, 48000, { padBefore: 1, padAfter: 1 }), 48000);
      await c.next('final_user_request', 4000);
      await sleep(200);
      const finals = c.received('final_user_request').slice(before);
      assert.equal(finals.length, 1, `${clip.id}: ${JSON.stringify(finals.map((f) => f.content))}`);
      const e = wordErrors(clip.text, finals[0].content);
      errors += e.errors;
      total += e.words;
      report.push(`${clip.id}: ${e.errors}/${e.words} "${finals[0].content}"`);
    }
    const wer = errors / total;
    console.log(`# WER ${(wer * 100).toFixed(1)}% (${errors}/${total})\n# ${report.join('\n# ')}`);
    assert.ok(wer <= 0.35, `WER ${(wer * 100).toFixed(1)}%`);
    await c.close();
  } finally {
    await srv.stop();
  }
});
