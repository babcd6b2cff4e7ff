// Step "latency": end of the user's speech -> the answer's first audio at
// the client, with a fake LLM of 150 ms and 300 ms time to first token,
// `--speculate on` against `--speculate off`, side by side: two servers
// (one per setting, each with its own fake LLM) run at the same time, so
// they share whatever else the machine is doing. On each, a few talkers
// (a light load) say short sentences with pauses; speech end is where the
// sentence's audio ends, known from the audio sent.
import { Session, Streamer } from './client.mjs';
import { RATE } from './audio.mjs';
import { Talker } from './talker.mjs';
import { startParley, startFakeLLM } from './server.mjs';
import { summary, minus } from './stats.mjs';

export const TARGETS = { p50_at_150_ms: 450, saving_at_300_ms: 200 };
const ANSWER = 'Sure, I can help with that.';

async function run(srv, clips, { talkers, turns, lostMs }, offset) {
  const sessions = await Promise.all(Array.from({ length: talkers }, () =>
    Session.open(srv.port, { config: { input_sample_rate: RATE, audio_out: 'binary' } })));
  const streamer = new Streamer();
  const ts = sessions.map((s, i) => {
    let said = 0;
    return new Talker(s, {
      leadMs: 300 + i * 900, // not in lockstep
      pick: () => (said < turns ? clips[(offset + i * 3 + said++) % clips.length] : null),
      gapMs: () => 2500,
      lostMs: Math.max(10000, lostMs),
    });
  });
  await Promise.all(ts.map((t) => streamer.play(t.s, t.next)));
  await Promise.all(ts.map((t) => t.settle()));
  await Promise.all(sessions.map((s) => s.close()));
  const utts = ts.flatMap((t) => t.utts);
  return {
    utterances: utts.length,
    end_to_audio_ms: summary(utts.filter((u) => u.audioAt).map((u) => u.audioAt - u.endAt)),
    end_to_final_ms: summary(utts.filter((u) => u.finalAt).map((u) => u.finalAt - u.endAt)),
    // audio of an answer arriving after the speech ended but before its final
    // transcript: with speculation, audio let out before the turn was
    // confirmed (or, under load, the previous answer's tail)
    audio_before_final: ts.reduce((a, t) => a + t.audioBeforeFinal, 0),
    errors: sessions.reduce((a, s) => { for (const [k, v] of Object.entries(s.errors)) a[k] = (a[k] || 0) + v; return a; }, {}),
  };
}

export async function latency(ctx) {
  const clips = ctx.audio.sentences.slice(0, ctx.sizes.sentences);
  const modes = ['on', 'off'];
  const fakes = await Promise.all(modes.map(() => startFakeLLM({ answer: ANSWER })));
  const srvs = [];
  try {
    for (const [i, m] of modes.entries()) {
      srvs.push(await startParley(ctx, `latency-speculate-${m}`, ['--llm-url', fakes[i].url, '--speculate', m, '--stt-warm', '3']));
    }
    const json = { talkers_per_server: ctx.sizes.latencyTalkers, turns_per_talker: ctx.sizes.latencyTurns, ttft: [] };
    for (const [k, ttft] of [150, 300].entries()) {
      for (const f of fakes) f.set({ firstTokenDelayMs: ttft });
      const before = fakes.map((f) => f.chatRequests().length);
      const [on, off] = await Promise.all(srvs.map((srv) =>
        run(srv, clips, { talkers: ctx.sizes.latencyTalkers, turns: ctx.sizes.latencyTurns, lostMs: ctx.sizes.lostMs }, k)));
      const r = {
        llm_first_token_ms: ttft, speculate_on: on, speculate_off: off,
        saving_p50_ms: minus(off.end_to_audio_ms.p50, on.end_to_audio_ms.p50),
        saving_p95_ms: minus(off.end_to_audio_ms.p95, on.end_to_audio_ms.p95),
        llm_requests: { on: fakes[0].chatRequests().length - before[0], off: fakes[1].chatRequests().length - before[1] },
      };
      json.ttft.push(r);
      ctx.log(`latency: first token ${ttft} ms: speculate on p50 ${on.end_to_audio_ms.p50} ms, off ${off.end_to_audio_ms.p50} ms`);
    }
    const rows = [];
    for (const r of json.ttft) {
      const on = r.speculate_on.end_to_audio_ms;
      const off = r.speculate_off.end_to_audio_ms;
      rows.push({
        figure: `speech end -> first audio, LLM first token ${r.llm_first_token_ms} ms: p50 / p95 (n ${on.n}/${off.n})`,
        value: `speculate on ${fmt(on.p50)} / ${fmt(on.p95)} ms`,
        baseline: `off ${fmt(off.p50)} / ${fmt(off.p95)} ms`,
        diff: `saves ${fmt(r.saving_p50_ms)} / ${fmt(r.saving_p95_ms)} ms`,
        target: r.llm_first_token_ms === 150 ? `p50 ${TARGETS.p50_at_150_ms} ms or less` : `saves ${TARGETS.saving_at_300_ms} ms or more`,
        met: r.llm_first_token_ms === 150 ? on.p50 != null && on.p50 <= TARGETS.p50_at_150_ms
          : r.saving_p50_ms != null && r.saving_p50_ms >= TARGETS.saving_at_300_ms,
      });
    }
    return { json, rows };
  } finally {
    for (const s of srvs) await s.stop();
    for (const f of fakes) await f.close();
  }
}

const fmt = (x) => (x == null ? '-' : String(Math.round(x)));
