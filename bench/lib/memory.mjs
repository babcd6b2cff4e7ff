// Step "memory": what a talking session costs. T sessions are connected and
// idle (VmRSS noted), then all say a sentence at once; the peak VmRSS while
// they talk, less the idle figure, over T. The server starts with no warm
// decoder (--stt-warm 0), so each talker's decoder (made on demand, then
// kept in the pool) is counted: that is what one more person talking costs.
import { sleep } from '../../tests/integration/harness.mjs';
import { Session, Streamer, script, silenceFrames } from './client.mjs';
import { RATE } from './audio.mjs';
import { startParley, startFakeLLM } from './server.mjs';
import { rssKb, round3 } from './stats.mjs';

export async function memory(ctx) {
  const n = ctx.sizes.memoryTalkers;
  const clips = ctx.audio.sentences;
  const fake = await startFakeLLM({ answer: 'Sure.' });
  const srv = await startParley(ctx, 'memory', ['--llm-url', fake.url, '--stt-warm', '0']);
  try {
    const sessions = await Promise.all(Array.from({ length: n }, () =>
      Session.open(srv.port, { config: { input_sample_rate: RATE, audio_out: 'binary' } })));
    await sleep(1000);
    const idle = rssKb(srv.pid);
    let peak = idle;
    const timer = setInterval(() => { peak = Math.max(peak, rssKb(srv.pid)); }, 100);
    const streamer = new Streamer();
    const finals = sessions.map((s) => s.wait('final_user_request', 30000).catch(() => null));
    await Promise.all(sessions.map((s, i) => {
      const segs = [{ frames: silenceFrames(RATE, 300) }, { frames: clips[i % clips.length].frames },
                    { frames: silenceFrames(RATE, 1500) }];
      return streamer.play(s, script(() => segs.shift() || null));
    }));
    const heard = (await Promise.all(finals)).filter(Boolean).length;
    clearInterval(timer);
    peak = Math.max(peak, rssKb(srv.pid));
    await Promise.all(sessions.map((s) => s.close()));
    await sleep(500);
    const after = rssKb(srv.pid);
    const json = {
      talkers: n, transcribed: heard,
      rss_kb: { idle, peak_talking: peak, after_closed: after },
      rss_per_talking_session_mb: round3((peak - idle) / n / 1024),
    };
    const rows = [{
      figure: `RSS per talking session (${n} at once, its decoder included)`,
      value: `${json.rss_per_talking_session_mb} MiB`,
      baseline: ctx.shared.rssPerIdleKb != null ? `idle session ${ctx.shared.rssPerIdleKb} KiB` : '',
      diff: '',
      target: '',
      met: null,
    }];
    return { json, rows };
  } finally {
    await srv.stop();
    await fake.close();
  }
}
