#!/usr/bin/env node
// parley voice benchmark: runs the real server (with a fake, local LLM so the
// numbers are parley's own) and measures, in one run, side by side:
//   1. connect -> status for many WebSocket sessions, and memory per idle session;
//   2. spoken turns with 1, 4, 8, ... users talking at the same moment:
//      speech end -> final transcript, speech end -> first answer audio,
//      overload errors, word error rate;
//   3. barge-in: speech onset over playing audio -> stop_tts.
//
//   node bench/voice-load.mjs [--bin build/parley] [--users 1,4,8,12] [--connections 200]
//        [--rounds 1] [--warmup-rounds 1] [--server-cpus 0] [--client-cpus 1] [--ttft 0]
//        [--skip connect,barge] [--json FILE] [-- extra server flags]
//
// --rounds N: every user speaks N turns one after the other (continuous
// talkers), each as soon as the answer to the last one started, after
// --warmup-rounds unmeasured ones (a server that has served N talkers has
// its decoders; the first time, the pool loads them as they speak). Capacity
// per core: --server-cpus 0 --client-cpus 1 pins the server (every thread)
// and this process to different cores (taskset). --ttft MS: the fake LLM's
// time to first token. The table also gives speech end -> final transcript
// beyond the end-of-turn pause (--pause-ms, 600 by default) and final
// transcript -> first answer audio beyond the LLM's time to first token.
//
// Needs the test tooling (make test installs it: tests/node_modules, sox,
// pocketsphinx-testdata). Traffic stays on 127.0.0.1.
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startServer, connectReady, getJson, fetchMetrics, sleep } from '../tests/integration/harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, wer } from '../tests/integration/audio.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { options, helpFromHeader } from './lib/args.mjs';

const argv = process.argv.slice(2);
const { opt, rest: EXTRA } = options(argv);
helpFromHeader(import.meta.url, argv);
process.env.PARLEY_BIN = opt('bin', process.env.PARLEY_BIN || 'build/parley');
const USERS = opt('users', '1,4,8,12').split(',').map(Number);
const CONNECTIONS = Number(opt('connections', '200'));
const ROUNDS = Number(opt('rounds', '1'));
const WARMUP_ROUNDS = Number(opt('warmup-rounds', '1'));
const SERVER_CPUS = opt('server-cpus', null);
const CLIENT_CPUS = opt('client-cpus', null);
const TTFT_MS = Number(opt('ttft', '0'));
const PAUSE_MS = Number(opt('pause-ms', '600'));
const SKIP = new Set(opt('skip', '').split(',').filter(Boolean));
const JSON_OUT = opt('json', null);
if (CLIENT_CPUS) execFileSync('taskset', ['-a', '-cp', CLIENT_CPUS, String(process.pid)], { stdio: 'ignore' });

const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (x) => (Number.isFinite(x) ? `${Math.round(x)}` : '-');
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
};

const fake = await startFakeOpenAI({ tokenDelayMs: 20, firstTokenDelayMs: TTFT_MS, answer: 'Sure. That is a fine question, and here is a short answer to it.' });
const maxUsers = Math.max(...USERS);
// pinned: one worker per core it may use, as `taskset -c LIST parley` gets
const pinnedWorkers = SERVER_CPUS && !EXTRA.includes('--workers')
  ? ['--workers', String(SERVER_CPUS.split(',').reduce((a, r) => { const [x, y] = r.split('-').map(Number); return a + (y === undefined ? 1 : y - x + 1); }, 0))] : [];
const WARM = 4;
const srv = await startServer([...pinnedWorkers, '--llm-url', fake.url, '--stt-warm', String(WARM), '--stt-max', String(Math.max(32, maxUsers + WARM)),
  '--max-sessions', String(CONNECTIONS + maxUsers + 50), '--max-sessions-per-ip', String(CONNECTIONS + maxUsers + 50), ...EXTRA]);
const pid = srv.proc.pid;
if (SERVER_CPUS) execFileSync('taskset', ['-a', '-cp', SERVER_CPUS, String(pid)], { stdio: 'ignore' });
for (let i = 0; i < 600 && (await getJson(srv.port, '/readyz')).status !== 200; i++) await sleep(50);
// every warm decoder made before anything is measured
const decodersReady = async () => {
  for (let i = 0; i < 1200 && ((await fetchMetrics(srv.port)).values.parley_stt_decoders_idle || 0) < WARM; i++) await sleep(50);
};
await decodersReady();
const results = {
  date: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, server_cpus: SERVER_CPUS,
  client_cpus: CLIENT_CPUS, rounds: ROUNDS, ttft_ms: TTFT_MS, pause_ms: PAUSE_MS, server_args: EXTRA,
};

// ---- 1. connections
if (!SKIP.has('connect')) {
  await sleep(500);
  const rss0 = rssKb(pid);
  const times = [];
  const clients = [];
  for (let i = 0; i < CONNECTIONS; i += 20) {
    const batch = await Promise.all(Array.from({ length: Math.min(20, CONNECTIONS - i) }, async () => {
      const t0 = performance.now();
      const c = await connectReady(srv.port);
      times.push(performance.now() - t0);
      return c;
    }));
    clients.push(...batch);
  }
  await sleep(500);
  const rss1 = rssKb(pid);
  results.connect = { n: CONNECTIONS, p50_ms: pct(times, 50), p95_ms: pct(times, 95), kb_per_idle_session: (rss1 - rss0) / CONNECTIONS };
  await Promise.all(clients.map((c) => c.close()));
}

// ---- 2. spoken turns under load
const clip = librivoxClips().find((c) => c.id.endsWith('0880'));
const speech = soxRaw(clip.file, 48000);
const pcm = Buffer.concat([silence(48000, 0.5), speech, silence(48000, 1.5)]);
const speechEndS = 0.5 + speech.length / 2 / 48000;
/** A session that declares its 48 kHz input, as parley's page does (an
 *  undeclared one is held while its rate is inferred). */
async function talker(port) {
  const c = await connectReady(port);
  const hold = 'hold_final' in c.status.content ? { hold_final: false } : {};
  c.sendJson({ type: 'session.config', input_sample_rate: 48000, ...hold });
  await c.next('session.configured', 5000);
  return c;
}

results.turns = [];
for (const n of USERS) {
  const clients = await Promise.all(Array.from({ length: n }, () => talker(srv.port)));
  for (let r = 0; r < WARMUP_ROUNDS; r++) {
    await Promise.all(clients.map(async (c, i) => {
      await sleep(i * 37 % 250);
      await streamPcm(c, pcm, 48000, { frameSamples: 960 });
    }));
    await sleep(2000);
  }
  await decodersReady(); // the pool has made what it makes; nothing loads while measuring
  await sleep(1000);
  const errorsBefore = clients.map((c) => c.received('error').filter((e) => e.content.code === 'overloaded').length);
  const ticks0 = cpuTicks(pid);
  const wall0 = Date.now();
  const per = await Promise.all(clients.map(async (c, i) => {
    await sleep(i * 37 % 250); // users do not start in lockstep
    let final = null;
    let audio = null;
    c.ws.on('message', (data, binary) => { // arrival times, as the client sees them
      if (binary) return;
      const type = JSON.parse(data.toString()).type;
      if (type === 'final_user_request' && !final) final = Date.now();
      if (type === 'tts_chunk' && final && !audio) audio = Date.now();
    });
    const turns = [];
    for (let r = 0; r < ROUNDS; r++) {
      final = null;
      audio = null;
      const t0 = Date.now();
      await streamPcm(c, pcm, 48000, { frameSamples: 960 });
      const tEnd = t0 + speechEndS * 1000;
      for (let w = 0; w < 80 && !audio; w++) await sleep(50);
      const text = c.received('final_user_request').at(-1)?.content || '';
      turns.push({ final: final && final - tEnd, audio: audio && final && audio - final, total: audio && audio - tEnd, wer: wer(clip.text, text) });
    }
    return { turns, overloaded: c.received('error').filter((e) => e.content.code === 'overloaded').length - errorsBefore[i] };
  }));
  const cpu = (cpuTicks(pid) - ticks0) / 100 / ((Date.now() - wall0) / 1000);
  const all = per.flatMap((p) => p.turns);
  const finals = all.map((t) => t.final).filter((x) => x != null);
  const audios = all.map((t) => t.audio).filter((x) => x != null);
  const totals = all.map((t) => t.total).filter((x) => x != null);
  results.turns.push({
    users: n, turns: all.length, transcribed: finals.length,
    final_p50: pct(finals, 50), final_p95: pct(finals, 95), final_p95_beyond_pause: pct(finals, 95) - PAUSE_MS,
    audio_after_final_p50: pct(audios, 50), audio_after_final_p99: pct(audios, 99),
    audio_after_final_p99_beyond_ttft: pct(audios, 99) - TTFT_MS,
    audio_p50: pct(totals, 50), audio_p95: pct(totals, 95),
    wer: all.reduce((a, t) => a + t.wer, 0) / all.length, overloaded: per.reduce((a, p) => a + p.overloaded, 0),
    cpu_cores: cpu,
  });
  await Promise.all(clients.map((c) => c.close()));
  await sleep(500);
}

// ---- 3. barge-in
if (!SKIP.has('barge')) {
  fake.set({ answer: Array.from({ length: 12 }, () => 'This sentence is part of a long answer.').join(' ') });
  const lat = [];
  for (let k = 0; k < 5; k++) {
    const c = await talker(srv.port);
    c.sendJson({ type: 'text', content: 'talk for a while' });
    await c.next('tts_chunk', 10000);
    await sleep(1000);
    const t0 = Date.now();
    const stop = c.next('stop_tts', 5000).then(() => Date.now()).catch(() => null);
    const streaming = streamPcm(c, Buffer.concat([speech, silence(48000, 1)]), 48000, { frameSamples: 960, flags: 1 });
    const at = await stop;
    if (at) lat.push(at - t0);
    await streaming;
    await c.close();
  }
  results.barge_in = { n: lat.length, p50_ms: pct(lat, 50), max_ms: Math.max(...lat) };
}

// why sessions were told `overloaded` (the server's warnings), for the notes
results.overload_causes = {};
for (const m of srv.stderr().matchAll(/overloaded: (.*)$/gm)) results.overload_causes[m[1]] = (results.overload_causes[m[1]] || 0) + 1;
if (process.env.PARLEY_BENCH_LOG) fs.writeFileSync(process.env.PARLEY_BENCH_LOG, srv.stderr());
await srv.stop();
await fake.close();

// ---- report
const lines = [];
lines.push(`parley voice benchmark, ${results.date}, ${results.cpus} CPU cores, binary ${process.env.PARLEY_BIN}` +
  (SERVER_CPUS ? `, server on CPU ${SERVER_CPUS}` : '') + (CLIENT_CPUS ? `, clients on CPU ${CLIENT_CPUS}` : '') +
  `, ${ROUNDS} turn(s) per user measured after ${WARMUP_ROUNDS} unmeasured, LLM time to first token ${TTFT_MS} ms`);
lines.push('');
if (results.connect) {
  lines.push(`connect -> status (${results.connect.n} sessions, 20 at a time): p50 ${results.connect.p50_ms.toFixed(1)} ms, p95 ${results.connect.p95_ms.toFixed(1)} ms; memory per idle session ${results.connect.kb_per_idle_session.toFixed(1)} KB`);
  lines.push('');
}
lines.push(`| users speaking at once | turns transcribed | speech end -> final transcript p50 / p95 (ms) | p95 beyond the ${PAUSE_MS} ms pause | final -> first audio p50 / p99 (ms) | p99 beyond the LLM's first token | speech end -> first audio p50 / p95 | mean WER | overloaded | server CPU (cores) |`);
lines.push('|---|---|---|---|---|---|---|---|---|---|');
for (const t of results.turns) {
  lines.push(`| ${t.users} | ${t.transcribed}/${t.turns} | ${fmt(t.final_p50)} / ${fmt(t.final_p95)} | ${fmt(t.final_p95_beyond_pause)} | ${fmt(t.audio_after_final_p50)} / ${fmt(t.audio_after_final_p99)} | ${fmt(t.audio_after_final_p99_beyond_ttft)} | ${fmt(t.audio_p50)} / ${fmt(t.audio_p95)} | ${(t.wer * 100).toFixed(0)}% | ${t.overloaded} | ${t.cpu_cores.toFixed(2)} |`);
}
if (results.barge_in) {
  lines.push('');
  lines.push(`barge-in (speech onset in the stream -> stop_tts, ${results.barge_in.n} runs): p50 ${fmt(results.barge_in.p50_ms)} ms, max ${fmt(results.barge_in.max_ms)} ms`);
}
for (const [why, k] of Object.entries(results.overload_causes)) lines.push(`overloaded ${k}x: ${why}`);
console.log(lines.join('\n'));
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(results, null, 2));
