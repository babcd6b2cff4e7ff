#!/usr/bin/env node
// The echo guard's targets (issue 17) in simulated rooms
// (tests/integration/room.mjs: a client with no echo canceller whose
// microphone hears the answer again, 20-300 ms late, at -20..0 dB,
// band-limited, with a 250 ms reverberant tail and a noise floor).
//
//   node bench/echo.mjs [--bin build/parley] [--answers 100] [--rooms 5]
//                       [--interruptions 40] [--guard on|off] [--cpu yes|no]
//                       [--args "SERVER ARGS"] [--json FILE]
//
// 1. Answers cut by their own echo: --answers answers (two sentences of
//    flite slt each, ~6 s) spread over --rooms sessions, each in its own
//    room (delay, gain and reflections drawn from a fixed seed), played in
//    parallel; counts the answers stopped (stop_tts) with nobody speaking
//    and the user turns (final_user_request) that came of the echo.
// 2. A real interruption over the echo: in each room, after the answers
//    above, --interruptions / --rooms answers are interrupted 1.5..4 s into
//    their playback by the user's voice (flite rms: "Wait, stop, I have a
//    different question for you."); onset (the first frame holding the
//    speech, sent) -> stop_tts received, p50/p95.
// 3. The guard's CPU: the server's own count (its log: the thread CPU of
//    the frames it worked on, per second of assistant audio heard), and
//    the whole server's CPU (/proc) over 30 s of five silent sessions
//    streaming their microphones, with the guard on and off.
import { startServer, connectReady, waitReady, sleep } from '../tests/integration/harness.mjs';
import { trimQuiet } from '../tests/integration/audio.mjs';
import { Room, RATE, random } from '../tests/integration/room.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';
import { summary, procCpuSeconds } from './lib/stats.mjs';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
if (arg('bin')) process.env.PARLEY_BIN = arg('bin');
const ANSWERS = Number(arg('answers', 100));
const ROOMS = Number(arg('rooms', 5));
const INTERRUPTIONS = Number(arg('interruptions', 40));
const GUARD = arg('guard', 'on');
// --args: more server arguments (bench/lib/conversation.mjs turns the new
// conversation parts off with them); --json: every figure to FILE.
const EXTRA = (arg('args', '') || '').split(' ').filter(Boolean);
const JSON_OUT = arg('json', null);
const ANSWER = 'The capital of France is Paris, a city on the river Seine. ' +
  'It has been a centre of art, science and trade for many centuries.';

async function userVoice(srv) {
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', voice: 'rms', output_sample_rate: RATE });
  await c.next('session.configured');
  c.sendJson({ type: 'text', content: 'say: Wait, stop, I have a different question for you.' });
  await c.next('final_assistant_answer', 20000);
  const pcm = trimQuiet(Buffer.concat(c.received('tts_chunk').map((m) => Buffer.from(m.content, 'base64'))), RATE);
  await c.close();
  return new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length));
}

/** One room: `answers` answers played out, then `interrupts` interrupted. */
async function runRoom(srv, k, answers, interrupts, voice) {
  const rnd = random(1000 + k);
  const spec = { delayMs: Math.round(20 + rnd() * 280), gainDb: Math.round(-20 * rnd()), seed: 100 + k };
  const c = await connectReady(srv.port);
  c.sendJson({ type: 'session.config', input_sample_rate: RATE, output_sample_rate: RATE,
               audio_out: 'binary', hold_final: false, echo_cancelled: GUARD === 'off' });
  await c.next('session.configured');
  const room = new Room(c, spec);
  room.start();
  await sleep(600);
  let cut = 0;
  let turns = 0;
  const res = { spec, cut: 0, echoTurns: 0, delays: [], missed: 0 };
  for (let a = 0; a < answers; a++) {
    const stops = c.received('stop_tts').length;
    const finals = c.received('final_user_request').length;
    room.newAnswer();
    c.sendJson({ type: 'text', content: 'Tell me about Paris.' });
    await c.next('final_assistant_answer', 30000);
    await sleep(400);
    await room.drained(30000);
    await sleep(1200);
    if (c.received('stop_tts').length > stops) cut++;
    turns += c.received('final_user_request').length - finals;
    // an answer to an echo turn may be playing: let it finish
    await room.drained(30000);
  }
  res.cut = cut;
  res.echoTurns = turns;
  for (let i = 0; i < interrupts; i++) {
    room.newAnswer();
    c.sendJson({ type: 'text', content: 'Tell me about Paris.' });
    await c.next('final_assistant_answer', 30000);
    await sleep(1500 + rnd() * 2500);
    const stop = c.next('stop_tts', 5000).then(() => performance.now(), () => null);
    room.say(voice);
    const at = await stop;
    if (at && room.userSentAt) res.delays.push(at - (room.userSentAt - 20));
    else res.missed++;
    await sleep(5000); // the user's turn and its answer
    await room.drained(30000);
    await sleep(1200);
  }
  await room.stop();
  await c.close();
  return res;
}

async function silentCpu(bin, guard) {
  const fake = await startFakeOpenAI({ answer: 'Okay.' });
  const srv = await startServer(['--llm-url', fake.url, '--echo-guard', guard]);
  await waitReady(srv.port);
  const rooms = [];
  for (let k = 0; k < 5; k++) {
    const c = await connectReady(srv.port);
    c.sendJson({ type: 'session.config', input_sample_rate: RATE, output_sample_rate: RATE, audio_out: 'binary' });
    await c.next('session.configured');
    const room = new Room(c, { seed: k });
    room.start();
    rooms.push({ c, room });
  }
  await sleep(3000);
  const c0 = procCpuSeconds(srv.proc.pid);
  await sleep(30000);
  const cpu = procCpuSeconds(srv.proc.pid) - c0;
  for (const { c, room } of rooms) { await room.stop(); await c.close(); }
  await srv.stop();
  await fake.close();
  return cpu;
}

const fake = await startFakeOpenAI({
  tokenDelayMs: 5,
  answer: (body, user) => (user.startsWith('say: ') ? user.slice(5) : ANSWER),
});
const srv = await startServer(['--llm-url', fake.url, '--stt-warm', String(ROOMS), '--turns-per-minute', '600',
                               '--log-level', 'info', '--echo-guard', 'auto', ...EXTRA]);
await waitReady(srv.port);
const voice = await userVoice(srv);
const per = Math.ceil(ANSWERS / ROOMS);
const perInt = Math.ceil(INTERRUPTIONS / ROOMS);
const t0 = Date.now();
const results = await Promise.all(Array.from({ length: ROOMS }, (_, k) => runRoom(srv, k, per, perInt, voice)));
await srv.stop();
await fake.close();

const log = srv.stderr();
let guardMs = 0;
let guardS = 0;
for (const m of log.matchAll(/echo guard: delay (-?\d+) ms, \d+ frames worked on \(([\d.]+) s\).*cpu ([\d.]+) ms/g)) {
  guardS += Number(m[2]);
  guardMs += Number(m[3]);
}
const delays = results.flatMap((r) => r.delays);
if (arg('verbose')) for (const m of log.matchAll(/session \d+: echo guard: .*/g)) console.log(`  ${m[0]}`);
console.log(`echo guard ${GUARD}: ${ROOMS} rooms, ${per * ROOMS} answers, ${perInt * ROOMS} interruptions ` +
            `(${((Date.now() - t0) / 1000).toFixed(0)} s)`);
for (const r of results) {
  console.log(`  room delay ${r.spec.delayMs} ms, gain ${r.spec.gainDb} dB: cut ${r.cut}/${per}, echo turns ${r.echoTurns}, ` +
              `interruptions stopped ${r.delays.length}/${perInt} (${r.delays.map((d) => d.toFixed(0)).join(' ')} ms)`);
}
console.log(`answers cut by their own echo: ${results.reduce((n, r) => n + r.cut, 0)} of ${per * ROOMS}`);
console.log(`user turns from echo: ${results.reduce((n, r) => n + r.echoTurns, 0)}`);
console.log(`interruption onset -> stop_tts: ${JSON.stringify(summary(delays))} ms; not stopped within 5 s: ` +
            `${results.reduce((n, r) => n + r.missed, 0)}`);
if (guardS) console.log(`guard CPU: ${guardMs.toFixed(0)} ms over ${guardS.toFixed(0)} s of echo worked on = ` +
                        `${(guardMs / guardS).toFixed(2)} ms per second of assistant audio (${(guardMs / guardS / 10).toFixed(2)} % of a core)`);
const totals = {
  guard: GUARD, args: EXTRA, rooms: ROOMS, answers: per * ROOMS, interruptions: perInt * ROOMS,
  cut: results.reduce((n, r) => n + r.cut, 0), echo_turns: results.reduce((n, r) => n + r.echoTurns, 0),
  stopped: delays.length, not_stopped: results.reduce((n, r) => n + r.missed, 0),
  interruption_ms: summary(delays), guard_cpu_ms_per_audio_s: guardS ? guardMs / guardS : null,
  duration_s: Math.round((Date.now() - t0) / 1000), per_room: results,
};
if (arg('cpu', 'yes') !== 'no') {
  const on = await silentCpu(arg('bin'), 'on');
  const off = await silentCpu(arg('bin'), 'off');
  console.log(`server CPU, 5 silent sessions streaming 30 s: guard on ${on.toFixed(2)} s, off ${off.toFixed(2)} s`);
  totals.silent_cpu_s = { on, off };
}
if (JSON_OUT) (await import('node:fs')).writeFileSync(JSON_OUT, JSON.stringify(totals, null, 2));
