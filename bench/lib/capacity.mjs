// Step "capacity": how many continuous talkers one core carries within the
// issue's limits. The server is pinned to CPU 0 (taskset; --workers 1, as
// on a one-core machine), this benchmark process to CPU 1.
//
// First, the baseline: two talkers say each sentence once on the idle
// server; the smaller speech end -> final transcript per sentence is the
// pause the server used for that sentence (plus the little it needs to
// finish the decode), measured rather than assumed, since the end-of-turn
// rule adapts to the words. Then N talkers at once for each N: each streams
// its microphone without a break and says short sentences (flite, 1.4-2.4
// s) with 1.8-3.5 s pauses. Per N: `overloaded` errors, utterances lost
// (no final transcript within 15 s; transcripts are matched to sentences
// by their words), speech end -> final transcript p95 raw and beyond the
// baseline of the same sentence, final transcript ->
// first answer audio p99 raw and beyond the fake LLM's time to first
// token. Capacity is the largest N within the limits: no overloaded, none
// lost, transcript p95 <= 300 ms beyond the pause, first audio p99 <= 150
// ms beyond the LLM. Speculation is off here, so the LLM request starts at
// the final transcript and the second figure is parley's own.
import { Session, Streamer } from './client.mjs';
import { RATE } from './audio.mjs';
import { Talker, rng } from './talker.mjs';
import { startParley, startFakeLLM, pin, affinity } from './server.mjs';
import { summary, minus, procCpuSeconds, cpuBusySeconds, rssKb, cpuMeter, round3 } from './stats.mjs';

export const LIMITS = { final_beyond_pause_p95_ms: 300, audio_beyond_llm_p99_ms: 150 };
const ANSWER = 'Sure, I can help with that.';

async function talkers(port, n) {
  return Promise.all(Array.from({ length: n }, () =>
    Session.open(port, { config: { input_sample_rate: RATE, audio_out: 'binary' } })));
}

function errorsOf(sessions) {
  const all = {};
  for (const s of sessions) for (const [k, v] of Object.entries(s.errors)) all[k] = (all[k] || 0) + v;
  return all;
}

export async function capacity(ctx) {
  const { talkers: levels, capacitySeconds, sentences: k } = ctx.sizes;
  const clips = ctx.audio.sentences.slice(0, k);
  const ttft = ctx.sizes.capacityTtftMs;
  const maxN = Math.max(...levels);
  const fake = await startFakeLLM({ firstTokenDelayMs: ttft, answer: ANSWER });
  const srv = await startParley(ctx, 'capacity', [
    '--llm-url', fake.url, '--speculate', 'off', '--workers', String(ctx.sizes.capacityWorkers),
    '--stt-warm', String(Math.min(maxN, 16)), '--stt-max', String(Math.max(16, maxN)),
    '--max-sessions-per-ip', String(maxN + 16), ...(ctx.serverArgs || []),
  ], { cpus: '0' });
  const ownAffinity = affinity(process.pid);
  pin(process.pid, '1');
  const json = { server_cpus: srv.affinity(), client_cpus: affinity(process.pid), llm_first_token_ms: ttft,
                 workers: ctx.sizes.capacityWorkers, sentences: clips.length, levels: [] };
  try {
    // ---- baseline: each sentence twice (two talkers, 1.1 s apart, in
    // opposite orders), the smaller of the two, so a moment when another
    // process held the core does not inflate the pause
    {
      const two = await talkers(srv.port, 2);
      const orders = [[...clips], [...clips].reverse()];
      const streamer = new Streamer();
      const ts = two.map((s, i) => new Talker(s, {
        leadMs: 300 + i * 1100, pick: () => orders[i].shift() || null, gapMs: () => 2200,
        lostMs: Math.max(10000, ctx.sizes.lostMs),
      }));
      await Promise.all(ts.map((t) => streamer.play(t.s, t.next)));
      await Promise.all(ts.map((t) => t.settle()));
      await Promise.all(two.map((s) => s.close()));
      const pause = {};
      const utts = ts.flatMap((t) => t.utts);
      for (const u of utts) {
        if (u.finalAt) pause[u.clip.id] = Math.round(Math.min(pause[u.clip.id] ?? Infinity, u.finalAt - u.endAt));
      }
      const audio = utts.filter((u) => u.finalAt && u.audioAt).map((u) => u.audioAt - u.finalAt);
      json.baseline = { pause_ms: pause, final: summary(Object.values(pause)), first_audio: summary(audio),
                        missing: clips.filter((c) => pause[c.id] == null).map((c) => c.id) };
      if (!Object.keys(pause).length) throw new Error('baseline: no sentence was transcribed on the idle server');
    }
    // a sentence the idle server did not transcribe counts the median pause
    const pauseOf = (u) => json.baseline.pause_ms[u.clip.id] ?? json.baseline.final.p50;

    // ---- N talkers at once
    for (const n of levels) {
      const sessions = await talkers(srv.port, n);
      const rand = rng(1000 + n);
      const until = performance.now() + capacitySeconds * 1000;
      const ts = sessions.map((s) => {
        let last = -1;
        const pick = () => { // a random sentence, not the one just said
          if (performance.now() >= until) return null;
          let i = Math.floor(rand() * clips.length);
          if (i === last && clips.length > 1) i = (i + 1) % clips.length;
          last = i;
          return clips[i];
        };
        return new Talker(s, {
          leadMs: Math.round(rand() * 2500),
          pick,
          gapMs: () => 1800 + Math.round(rand() * 1700),
          lostMs: ctx.sizes.lostMs,
        });
      });
      const streamer = new Streamer();
      const meter = cpuMeter();
      const c0 = procCpuSeconds(srv.pid);
      const busy0 = cpuBusySeconds(0);
      const w0 = performance.now();
      let rssPeak = 0;
      const rssTimer = setInterval(() => { rssPeak = Math.max(rssPeak, rssKb(srv.pid)); }, 500);
      await Promise.all(ts.map((t) => streamer.play(t.s, t.next)));
      await Promise.all(ts.map((t) => t.settle()));
      clearInterval(rssTimer);
      const wall = (performance.now() - w0) / 1000;
      const serverCpu = procCpuSeconds(srv.pid) - c0;
      const serverCores = serverCpu / wall;
      const othersCores = Math.max(0, (cpuBusySeconds(0) - busy0 - serverCpu) / wall);
      const client = meter.stop();
      const utts = ts.flatMap((t) => t.utts);
      const heard = utts.filter((u) => u.finalAt);
      const finals = heard.map((u) => u.finalAt - u.endAt);
      const beyond = heard.map((u) => u.finalAt - u.endAt - pauseOf(u));
      const audio = heard.filter((u) => u.audioAt).map((u) => u.audioAt - u.finalAt);
      const errors = errorsOf(sessions);
      const level = {
        talkers: n,
        utterances: utts.length,
        transcribed: heard.length,
        lost: utts.length - heard.length,
        unmatched_transcripts: ts.reduce((a, t) => a + t.unmatched, 0),
        overloaded: errors.overloaded || 0,
        errors,
        final_ms: summary(finals),
        final_beyond_pause_ms: summary(beyond),
        first_audio_ms: summary(audio),
        first_audio_beyond_llm_p99_ms: minus(summary(audio).p99, ttft),
        server_cores: round3(serverCores),
        others_on_cpu0_cores: round3(othersCores), // other processes on the server's core
        server_rss_peak_mb: Math.round(rssPeak / 1024),
        client: { ...client, ...streamer.stats() },
      };
      level.within_limits = level.overloaded === 0 && level.lost === 0 && heard.length > 0 &&
        level.final_beyond_pause_ms.p95 <= LIMITS.final_beyond_pause_p95_ms &&
        level.first_audio_beyond_llm_p99_ms != null &&
        level.first_audio_beyond_llm_p99_ms <= LIMITS.audio_beyond_llm_p99_ms;
      json.levels.push(level);
      ctx.log(`capacity: ${n} talkers: ${heard.length}/${utts.length} transcribed, overloaded ${level.overloaded}, ` +
              `final p95 ${level.final_ms.p95} ms (${sgn(level.final_beyond_pause_ms.p95)}), first audio p99 ` +
              `${level.first_audio_ms.p99} ms, server ${level.server_cores} cores, client ${client.cores} cores`);
      await Promise.all(sessions.map((s) => s.close()));
      await new Promise((r) => setTimeout(r, 1500));
    }
  } finally {
    pin(process.pid, ownAffinity.split(' ')[0]);
    await srv.stop();
    await fake.close();
  }
  const ok = json.levels.filter((l) => l.within_limits).map((l) => l.talkers);
  json.capacity_per_core = ok.length ? Math.max(...ok) : 0;
  json.limits = LIMITS;

  const b = json.baseline;
  const rows = [{
    figure: `capacity: talkers per core within the limits (tried ${levels.join(', ')})`,
    value: String(json.capacity_per_core),
    baseline: '',
    diff: '',
    target: '8 or more',
    met: json.capacity_per_core >= 8,
  }];
  for (const l of json.levels) {
    rows.push({
      figure: `  ${l.talkers} talkers on one core: overloaded, lost / utterances`,
      value: `${l.overloaded}, ${l.lost}/${l.utterances}`,
      baseline: '',
      diff: `server ${l.server_cores} cores (others on its core ${l.others_on_cpu0_cores}); client ${l.client.cores}` +
        (l.client.stalls ? `, stalled ${l.client.stalls}x` : ''),
      target: '0, 0',
      met: l.overloaded === 0 && l.lost === 0,
    }, {
      figure: `  ${l.talkers} talkers: speech end -> final transcript p95`,
      value: `${fmt(l.final_ms.p95)} ms`,
      baseline: `alone ${fmt(b.final.p50)} ms (the pause)`,
      diff: `${sgn(l.final_beyond_pause_ms.p95)} ms`,
      target: `+${LIMITS.final_beyond_pause_p95_ms} ms or less`,
      met: l.final_beyond_pause_ms.p95 != null && l.final_beyond_pause_ms.p95 <= LIMITS.final_beyond_pause_p95_ms,
    }, {
      figure: `  ${l.talkers} talkers: final transcript -> first audio p99`,
      value: `${fmt(l.first_audio_ms.p99)} ms`,
      baseline: `LLM first token ${ttft} ms; alone ${fmt(b.first_audio.p50)} ms`,
      diff: `${sgn(l.first_audio_beyond_llm_p99_ms)} ms`,
      target: `+${LIMITS.audio_beyond_llm_p99_ms} ms or less`,
      met: l.first_audio_beyond_llm_p99_ms != null && l.first_audio_beyond_llm_p99_ms <= LIMITS.audio_beyond_llm_p99_ms,
    });
  }
  return { json, rows };
}

const fmt = (x) => (x == null ? '-' : String(Math.round(x)));
const sgn = (x) => (x == null ? '-' : x < 0 ? `-${Math.round(-x)}` : `+${Math.round(x)}`);
