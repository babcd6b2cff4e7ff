#!/usr/bin/env node
// parley's listening path against the raw decoder, per decoder setting, side
// by side in one run:
//   - the raw pocketsphinx decoder (build/parley-decoder-bench, the same
//     settings parley uses) on Debian's five librivox clips at 16 kHz: CPU
//     per audio second inside the decoder calls, and WER;
//   - the same clips streamed at 48 kHz (declared, as the page does), at
//     real-time pace, in 20 ms frames, through `--talkers` sessions of the
//     server at once (a fake LLM that answers nothing, so no speech is
//     synthesised): the server's whole CPU (/proc/PID/stat) per talker per
//     audio second of the clips, the ratio to the decoder, and WER.
//
//   node bench/listen-settings.mjs [--bin build-rel/parley[,other/parley]]
//        [--settings "maxhmmpf=3000,fwdflat=0,bestpath=0;maxhmmpf=1500"]
//        [--talkers 1] [--clips 5] [--repeat 1] [--json FILE]
//
// --repeat N runs every (setting, binary) pair N times, interleaved, and
// reports the medians (the machine's noise is large: other work on the
// same cores slows a decoder woken from cold caches most).
// Several --bin (comma-separated) run one after the other for every setting,
// each with the parley-decoder-bench beside it, so a baseline build and this
// one are compared in the same run. Needs sox and pocketsphinx-testdata (as
// make test installs). Use a release build: sanitizers distort CPU.
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startServer, connectReady, getJson, fetchMetrics, sleep } from '../tests/integration/harness.mjs';
import { librivoxClips, soxRaw, silence, streamPcm, wordErrors } from '../tests/integration/audio.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { options, helpFromHeader } from './lib/args.mjs';

const argv = process.argv.slice(2);
const { opt } = options(argv);
helpFromHeader(import.meta.url, argv);
const BINS = opt('bin', 'build-rel/parley').split(',').map((b) => path.resolve(b));
const SETTINGS = opt('settings', 'maxhmmpf=3000,fwdflat=0,bestpath=0;maxhmmpf=1500;maxhmmpf=5000;fwdflat=1;bestpath=1')
  .split(';').filter(Boolean).map((s) => ({
    maxhmmpf: 3000, fwdflat: 0, bestpath: 0,
    ...Object.fromEntries(s.split(',').map((kv) => kv.split('=')).map(([k, v]) => [k.trim(), Number(v)])),
  }));
const TALKERS = Number(opt('talkers', '1'));
const CLIPS = librivoxClips().slice(0, Number(opt('clips', '5')));
const JSON_OUT = opt('json', null);
const REPEAT = Number(opt('repeat', '1'));
const PAD_AFTER_S = 1.2; // the end-of-turn pause (600 ms) and some margin
const RATE = 48000;

const flags = (st) => ['--stt-maxhmmpf', String(st.maxhmmpf), '--stt-fwdflat', String(st.fwdflat),
  '--stt-bestpath', String(st.bestpath)];
const cpuTicks = (pid) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime, in clock ticks (100 Hz)
};
const werOf = (pairs) => {
  let errors = 0;
  let words = 0;
  for (const [ref, hyp] of pairs) {
    const e = wordErrors(ref, hyp);
    errors += e.errors;
    words += e.words;
  }
  return words ? errors / words : 0;
};

/** The raw decoder on the 16 kHz clips. */
function decoder(bin, st) {
  const exe = path.join(path.dirname(bin), 'parley-decoder-bench');
  const r = spawnSync(exe, [...flags(st), ...CLIPS.map((c) => c.file)], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`${exe}: ${r.stderr}`);
  const j = JSON.parse(r.stdout);
  return {
    audio_s: j.audio_s, cpu_s: j.cpu_s, cpu_per_audio_s: j.cpu_per_audio_s,
    wer: werOf(CLIPS.map((c, i) => [c.text, j.files[i].hyp])),
  };
}

const clipPcm = CLIPS.map((c) => soxRaw(c.file, RATE));
const clipAudioS = clipPcm.reduce((a, b) => a + b.length / 2 / RATE, 0);

/** One talker: every clip, then enough silence to end the turn. */
async function talk(c) {
  const finals = [];
  for (let i = 0; i < CLIPS.length; i++) {
    const before = c.received('final_user_request').length;
    await streamPcm(c, Buffer.concat([clipPcm[i], silence(RATE, PAD_AFTER_S)]), RATE, { frameSamples: 960 });
    for (let w = 0; w < 40 && c.received('final_user_request').length === before; w++) await sleep(50);
    finals.push(c.received('final_user_request').slice(before).map((m) => m.content).join(' '));
  }
  return finals;
}

/** parley's listening path: the server's CPU over the streaming. */
async function listening(bin, st, fakeUrl) {
  process.env.PARLEY_BIN = bin;
  // One warm decoder per talker and a spare, all created before the
  // measurement starts: loading a decoder (~0.4 CPU-s) is not listening.
  const warm = TALKERS + 1;
  const srv = await startServer(['--llm-url', fakeUrl, '--stt-warm', String(warm), '--stt-max', String(warm + 1),
    ...flags(st)]);
  try {
    for (let i = 0; i < 400 && (await getJson(srv.port, '/readyz')).status !== 200; i++) await sleep(50);
    for (let i = 0; i < 400 && ((await fetchMetrics(srv.port)).values.parley_stt_decoders_idle || 0) < warm; i++) await sleep(50);
    const clients = await Promise.all(Array.from({ length: TALKERS }, async () => {
      const c = await connectReady(srv.port);
      const hold = 'hold_final' in c.status.content ? { hold_final: false } : {};
      c.sendJson({ type: 'session.config', input_sample_rate: RATE, ...hold });
      await c.next('session.configured', 5000);
      return c;
    }));
    await sleep(300);
    const pid = srv.proc.pid;
    const t0 = cpuTicks(pid);
    const w0 = performance.now();
    const all = await Promise.all(clients.map((c, k) => sleep(k * 37 % 250).then(() => talk(c))));
    const cpu = (cpuTicks(pid) - t0) / 100;
    const wall = (performance.now() - w0) / 1000;
    const overloaded = clients.reduce((a, c) => a + c.received('error').filter((e) => e.content.code === 'overloaded').length, 0);
    await Promise.all(clients.map((c) => c.close()));
    return {
      talkers: TALKERS, audio_s: clipAudioS, wall_s: wall, cpu_s: cpu,
      cpu_per_talker_audio_s: cpu / TALKERS / clipAudioS,
      wer: werOf(all.flatMap((finals) => finals.map((f, i) => [CLIPS[i].text, f]))),
      overloaded,
    };
  } finally {
    await srv.stop();
  }
}

// Nothing to say (no synthesis to count), except to the LLM warm-up.
const fake = await startFakeOpenAI({
  answer: (body) => (JSON.stringify(body.messages || []).includes('Say hello in one short sentence') ? 'Hello.' : ''),
  tokenDelayMs: 1,
});
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const runs = new Map(); // `${setting}|${bin}` -> [{decoder, parley}]
try {
  for (let k = 0; k < REPEAT; k++) {
    for (const st of SETTINGS) {
      for (const bin of BINS) {
        const dec = decoder(bin, st);
        const lis = await listening(bin, st, fake.url);
        const key = `${JSON.stringify(st)}|${bin}`;
        if (!runs.has(key)) runs.set(key, []);
        runs.get(key).push({ decoder: dec, parley: lis });
        console.error(`# ${path.relative(process.cwd(), bin)} ${JSON.stringify(st)}: decoder ${dec.cpu_per_audio_s.toFixed(4)}, parley ${lis.cpu_per_talker_audio_s.toFixed(4)}, x${(lis.cpu_per_talker_audio_s / dec.cpu_per_audio_s).toFixed(2)}`);
      }
    }
  }
} finally {
  await fake.close();
}
const rows = [];
for (const st of SETTINGS) {
  for (const bin of BINS) {
    const rs = runs.get(`${JSON.stringify(st)}|${bin}`) || [];
    if (!rs.length) continue;
    const d = median(rs.map((r) => r.decoder.cpu_per_audio_s));
    const p = median(rs.map((r) => r.parley.cpu_per_talker_audio_s));
    rows.push({
      bin, settings: st, runs: rs,
      decoder: { cpu_per_audio_s: d, wer: rs[0].decoder.wer },
      parley: { cpu_per_talker_audio_s: p, wer: median(rs.map((r) => r.parley.wer)), overloaded: rs.reduce((a, r) => a + r.parley.overloaded, 0) },
      ratio: median(rs.map((r) => r.parley.cpu_per_talker_audio_s / r.decoder.cpu_per_audio_s)),
    });
  }
}

const pctS = (x) => `${(x * 100).toFixed(1)}%`;
const lines = [];
lines.push(`listening CPU vs the raw decoder: ${CLIPS.length} librivox clips (${clipAudioS.toFixed(1)} s), ${TALKERS} talker(s) at 48 kHz, real time, median of ${REPEAT} run(s)`);
lines.push('');
lines.push('| binary | maxhmmpf | fwdflat | bestpath | decoder CPU-s / audio-s | parley CPU-s / talker / audio-s | ratio | decoder WER | parley WER | overloaded |');
lines.push('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  lines.push(`| ${path.relative(process.cwd(), r.bin)} | ${r.settings.maxhmmpf} | ${r.settings.fwdflat} | ${r.settings.bestpath} | ${r.decoder.cpu_per_audio_s.toFixed(4)} | ${r.parley.cpu_per_talker_audio_s.toFixed(4)} | ${r.ratio.toFixed(2)} | ${pctS(r.decoder.wer)} | ${pctS(r.parley.wer)} | ${r.parley.overloaded} |`);
}
console.log(lines.join('\n'));
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), talkers: TALKERS, repeat: REPEAT, clips: CLIPS.map((c) => c.id), rows }, null, 2));
