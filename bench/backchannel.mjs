#!/usr/bin/env node
// False-interruption benchmark (issue 17 step 4): how often an answer
// interrupted by a backchannel or a short noise resumes, how much of it is
// lost or repeated, how many LLM requests that costs, and that real
// interruptions still stop the answer (onset -> stop_tts).
//
//   node bench/backchannel.mjs [--bin build/parley] [--voices slt,rms,awb,kal16]
//                              [--reps 2] [--listen-ms 1500,3000] [--args "..."]
//                              [--limit N] [--json FILE]
//
// Each attempt is one session (tests/integration/resume-lib.mjs): a typed
// turn asks the fake LLM for a long answer (8 sentences); a simulated client
// plays its audio at real time (tts_start, playback.played_ms every 250 ms,
// stop_tts flushes); after --listen-ms of audio the user makes a sound over
// it (flag bit 0 set while playing), then stays silent. Sounds: the
// backchannels "mhm", "yeah", "okay, right", "uh huh, I see" in each flite
// voice (synthesised at run time through parley's own speech output), three
// sox noises (200 ms of brown noise, a 400 ms pink-noise burst, a 150 ms
// 100/160 Hz knock), and two real interruptions per voice ("wait, what about
// tomorrow?", "stop, tell me about the weather instead").
//
// Figures, all from the client's side: recovered = the audio resumed with
// the answer's own audio, no user turn, the answer completed, one LLM
// request; lost/repeated = what the client had played at stop_tts minus where
// the resumed audio starts in the answer (found by matching its first 20 ms
// in the audio received before stop_tts; positive: repeated, negative:
// lost); onset -> stop_tts on the sending clock; a real interruption must end
// the answer interrupted and become the user's turn.
import { options, helpFromHeader } from './lib/args.mjs';
import { startServer, waitReady, serverBin } from '../tests/integration/harness.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { summary } from './lib/stats.mjs';
import fs from 'node:fs';
import {
  fakeAnswer, synth, noises, interruptOnce, BACKCHANNELS, TURNS,
} from '../tests/integration/resume-lib.mjs';

helpFromHeader(import.meta.url);
const o = options();
if (o.opt('bin')) process.env.PARLEY_BIN = o.opt('bin');
else if (!process.env.PARLEY_BIN) process.env.PARLEY_BIN = 'build/parley';
const voices = o.opt('voices', 'slt,rms,awb,kal16').split(',');
const reps = Number(o.opt('reps', '2'));
const listens = o.opt('listen-ms', '1500,3000').split(',').map(Number);
const extra = o.opt('args', '').split(' ').filter(Boolean);
// --limit N: at most N sounds of each kind (backchannel, turn, noise): make
// test's bench smoke.
const limit = Number(o.opt('limit', '0'));
if (!(Number.isInteger(limit) && limit >= 0)) throw new Error(`--limit wants a whole number, got ${o.opt('limit')}`);

const fake = await startFakeOpenAI({ tokenDelayMs: 10, answer: fakeAnswer });
const srv = await startServer(['--llm-url', fake.url, '--stt-warm', '2', '--turns-per-minute', '1000', ...extra], {}, { timeoutMs: 30000 });
await waitReady(srv.port, 60000);
const rows = [];
let firstWords = [];
try {
  const items = [];
  for (const v of voices) {
    for (const t of BACKCHANNELS) items.push({ kind: 'backchannel', name: `${v}: ${t}`, pcm: await synth(srv.port, t, v) });
    for (const t of TURNS) items.push({ kind: 'turn', name: `${v}: ${t}`, pcm: await synth(srv.port, t, v) });
  }
  for (const [name, pcm] of Object.entries(noises())) items.push({ kind: 'noise', name, pcm });
  if (limit) {
    const seen = {};
    items.splice(0, items.length, ...items.filter((it) => (seen[it.kind] = (seen[it.kind] || 0) + 1) <= limit));
  }
  for (let k = 0; k < reps; k++) {
    for (const it of items) {
      const listenMs = listens[k % listens.length];
      const r = await interruptOnce(srv.port, fake, it.pcm, { listenMs });
      await r.client.close();
      const row = { kind: it.kind, name: it.name, listenMs, stopped: r.stopped, resumed: r.resumed,
        interrupted: r.interrupted, userFinals: r.userFinals, heardMs: r.heardMs, fromMs: r.fromMs,
        repeatedMs: r.repeatedMs, onsetToStopMs: r.onsetToStopMs, stopToResumeMs: r.stopToResumeMs,
        llmRequests: r.llmRequests };
      row.recovered = !r.stopped ? !r.interrupted && r.llmRequests === 1 && !r.userFinals.length
        : r.resumed && r.fromMs != null && !r.interrupted && !r.userFinals.length && r.llmRequests === 1;
      rows.push(row);
      console.error(`${it.kind.padEnd(11)} ${it.name.padEnd(48)} ${row.recovered ? 'resumed' : r.interrupted ? 'interrupted' : 'other'}`
        + ` heard ${r.heardMs?.toFixed(0)} from ${r.fromMs?.toFixed(0)} stop ${r.onsetToStopMs} ms`
        + ` resume +${r.stopToResumeMs} ms, llm ${r.llmRequests} ${JSON.stringify(r.userFinals)}`);
    }
  }
} finally {
  // The server's log: how long after the onset the first words of each
  // suspended utterance came (the bound on "no words" is set from these).
  firstWords = [...srv.stderr().matchAll(/first words (\d+) ms after the speech onset/g)].map((m) => Number(m[1]));
  await srv.stop();
  await fake.close();
}

const pick = (kind) => rows.filter((r) => r.kind === kind);
function falseStats(list) {
  const stopped = list.filter((r) => r.stopped);
  const rec = list.filter((r) => r.recovered);
  const within = stopped.filter((r) => r.recovered && Math.abs(r.repeatedMs) <= 1000);
  return {
    attempts: list.length,
    stopped: stopped.length,
    recovered: rec.length,
    recovered_within_1s: list.filter((r) => !r.stopped ? r.recovered : r.recovered && Math.abs(r.repeatedMs) <= 1000).length,
    rate: list.length ? Math.round((1000 * list.filter((r) => (!r.stopped ? r.recovered : r.recovered && Math.abs(r.repeatedMs) <= 1000)).length) / list.length) / 10 : null,
    repeated_ms: summary(within.map((r) => r.repeatedMs)),
    lost_ms_max: within.length ? Math.max(0, ...within.map((r) => -r.repeatedMs)) : 0,
    stop_to_resume_ms: summary(rec.filter((r) => r.stopped).map((r) => r.stopToResumeMs)),
    llm_requests_extra: list.reduce((a, r) => a + r.llmRequests - 1, 0),
    misheard_as_turns: list.filter((r) => r.userFinals.length).map((r) => `${r.name} -> "${r.userFinals.join(' | ')}"`),
  };
}
const turns = pick('turn');
const out = {
  bin: serverBin(), voices, reps, listen_ms: listens,
  backchannels: falseStats(pick('backchannel')),
  noises: falseStats(pick('noise')),
  real_interruptions: {
    attempts: turns.length,
    interrupted: turns.filter((r) => r.interrupted).length,
    became_turns: turns.filter((r) => r.userFinals.length).length,
    onset_to_stop_tts_ms: summary(turns.map((r) => r.onsetToStopMs)),
    resumed_wrongly: turns.filter((r) => !r.interrupted).map((r) => `${r.name} -> "${r.userFinals.join(' | ')}"`),
  },
  all_onset_to_stop_tts_ms: summary(rows.filter((r) => r.stopped).map((r) => r.onsetToStopMs)),
  first_words_after_onset_ms: summary(firstWords),
  rows,
};
if (o.opt('json')) fs.writeFileSync(o.opt('json'), JSON.stringify(out, null, 2));
const { rows: _r, ...brief } = out;
console.log(JSON.stringify(brief, null, 2));
