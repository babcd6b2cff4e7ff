// The five librivox clips of Debian's pocketsphinx-testdata, resampled to
// 48 kHz, padded with a second of silence and streamed at real-time pace:
// exactly one final transcript per clip, and a word error rate over the
// five of at most 30%. Live partial transcripts arrive while the longer
// clips are still being spoken.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, connectReady, getJson, sleep, waitReady } from './harness.mjs';
import { librivoxClips, soxRaw, streamPcm, wordErrors } from './audio.mjs';

test('librivox clips at real time: one final each, WER <= 30%, partials while speaking', async () => {
  const srv = await startServer(['--llm-backend', 'echo', '--stt-warm', '1']);
  try {
    await waitReady(srv.port);
    const c = await connectReady(srv.port);
    const clips = librivoxClips();
    assert.equal(clips.length, 5);
    let errors = 0;
    let total = 0;
    let partialChecks = 0;
    const report = [];
    for (const clip of clips) {
      const before = c.received('final_user_request').length;
      const partialsBefore = c.received('partial_user_request').length;
      const pcm = soxRaw(clip.file, 48000, { padBefore: 1, padAfter: 1 });
      const speechEnds = pcm.length / 2 / 48000 - 1; // seconds into the stream
      let whileSpeaking = null; // partials received up to a second before the speech ends
      await streamPcm(c, pcm, 48000, {
        onFrame: (elapsed) => {
          if (whileSpeaking === null && elapsed >= speechEnds - 1) {
            whileSpeaking = c.received('partial_user_request').slice(partialsBefore).map((m) => m.content);
          }
        },
      });
      if (speechEnds - 1 >= 4) { // clips of five seconds and more
        assert.ok(whileSpeaking.length >= 2, `${clip.id}: partial transcripts while speaking: ${JSON.stringify(whileSpeaking)}`);
        assert.ok(whileSpeaking.every((p) => typeof p === 'string' && p.trim().length > 0), JSON.stringify(whileSpeaking));
        assert.equal(new Set(whileSpeaking).size, whileSpeaking.length, `only changed partials are sent: ${JSON.stringify(whileSpeaking)}`);
        partialChecks++;
      }
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
    assert.ok(wer <= 0.30, `WER ${(wer * 100).toFixed(1)}%`);
    assert.equal(partialChecks, 3, 'three clips are long enough to check partials');
    await c.close();
  } finally {
    await srv.stop();
  }
});
