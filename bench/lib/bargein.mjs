// Step "barge-in": the user starts speaking over the assistant's audio ->
// `stop_tts` at the client. Each attempt: a typed turn with a long answer;
// once its audio arrives the client says it is playing (`tts_start`, and
// flag bit 0 on its frames), streams 600 ms of silence, then a sentence.
// Onset is where the sentence's speech starts in the audio sent (its
// energy), on the sending clock. The server's own figure (its VAD onset ->
// stop_tts sent, parley_stage_barge_in_seconds) is shown beside it.
import { fetchMetrics, sleep } from '../../tests/integration/harness.mjs';
import { Session, Streamer, script, silenceFrames, encodeFrames } from './client.mjs';
import { RATE } from './audio.mjs';
import { startParley, startFakeLLM } from './server.mjs';
import { summary } from './stats.mjs';

export const TARGET_P50_MS = 200;
const LONG = Array.from({ length: 12 }, () => 'This sentence is part of a long answer.').join(' ');

export async function bargeIn(ctx) {
  const clips = ctx.audio.sentences.slice(0, ctx.sizes.sentences).map((c) => ({ ...c, frames: encodeFrames(c.pcm, RATE, { flags: 1 }) }));
  const fake = await startFakeLLM({ answer: LONG });
  const srv = await startParley(ctx, 'barge-in', ['--llm-url', fake.url, '--stt-warm', '2']);
  const lat = [];
  let missed = 0;
  try {
    for (let k = 0; k < ctx.sizes.bargeIns; k++) {
      const s = await Session.open(srv.port, { config: { input_sample_rate: RATE, audio_out: 'binary' } });
      const first = new Promise((r) => s.once('audio', r));
      s.sendJson({ type: 'text', content: 'talk for a while' });
      await Promise.race([first, sleep(20000)]);
      s.sendJson({ type: 'tts_start' });
      const c = clips[k % clips.length];
      let onsetAt = null;
      const stop = s.wait('stop_tts', 30000).then(({ now }) => now, () => null);
      const segs = [{ frames: silenceFrames(RATE, 600, { flags: 1 }) }, { frames: c.frames, speech: c },
                    { frames: silenceFrames(RATE, 1000, { flags: 1 }) }];
      const streaming = new Streamer().play(s, script(() => segs.shift() || null, {
        onset: (seg, when) => { onsetAt = when; },
      }));
      const at = await Promise.race([stop, streaming.then(() => sleep(ctx.smoke ? 10000 : 3000)).then(() => null)]);
      if (at != null && onsetAt != null) lat.push(at - onsetAt);
      else missed++;
      await streaming;
      await s.close();
    }
    const m = (await fetchMetrics(srv.port)).values;
    const n = m.parley_stage_barge_in_seconds_count || 0;
    const json = {
      attempts: ctx.sizes.bargeIns, missed, onset_to_stop_tts_ms: summary(lat),
      server_mean_ms: n ? Math.round((m.parley_stage_barge_in_seconds_sum / n) * 1000 * 10) / 10 : null,
      server_count: n, target_p50_ms: TARGET_P50_MS,
    };
    const rows = [{
      figure: `barge-in: speech onset -> stop_tts at the client, p50 (${lat.length} of ${json.attempts})`,
      value: `${fmt(json.onset_to_stop_tts_ms.p50)} ms (max ${fmt(json.onset_to_stop_tts_ms.max)})`,
      baseline: `server's own (its VAD onset) mean ${fmt(json.server_mean_ms)} ms`,
      diff: '',
      target: `${TARGET_P50_MS} ms or less`,
      met: json.onset_to_stop_tts_ms.p50 != null && json.onset_to_stop_tts_ms.p50 <= TARGET_P50_MS,
    }];
    return { json, rows };
  } finally {
    await srv.stop();
    await fake.close();
  }
}

const fmt = (x) => (x == null ? '-' : String(Math.round(x)));
