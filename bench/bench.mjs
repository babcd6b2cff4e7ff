#!/usr/bin/env node
// parley's standard benchmark (`make bench`): runs the release server
// through a fixed set of measurements, each with its baseline from the same
// run, prints one table and writes the figures as JSON.
//
//   node bench/bench.mjs [--bin build/parley] [--decoder-bench build/parley-decoder-bench]
//                        [--out build/bench.json] [--quick | --smoke] [--check]
//                        [--steps listen,capacity,...] [--talkers 8,12,16]
//                        [--capacity-seconds S] [--idle N] [--workers N]
//
// --quick: shorter runs (about half); --smoke: tiny sizes for `make test`
// (a sanitizer build: a few seconds of audio, 2 talkers, 20 idle
// sessions); --check: exit 1 unless every figure is present and plausible
// (no performance threshold). The steps are the STEPS table below; the
// figures, how each is measured and the targets are in
// docs/performance.md#make-bench. Needs the test tooling (make deps-test:
// tests/node_modules, sox, pocketsphinx-testdata). Traffic stays on
// 127.0.0.1; every server started is stopped at the end, or killed if this
// process dies.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../tests/integration/harness.mjs';
import { synthSentences, librivox48, sayAnswer } from './lib/audio.mjs';
import { startParley, startFakeLLM, raiseFdLimit } from './lib/server.mjs';
import { cpuMeter } from './lib/stats.mjs';
import { table, check } from './lib/report.mjs';
import { listen } from './lib/listen.mjs';
import { capacity } from './lib/capacity.mjs';
import { latency } from './lib/latency.mjs';
import { bargeIn } from './lib/bargein.mjs';
import { connect } from './lib/connect.mjs';
import { memory } from './lib/memory.mjs';
import { turnEnd } from './lib/turnend.mjs';
import { conversation } from './lib/conversation.mjs';

// The standard set, in order. Each step is async (ctx) -> {json, rows}:
// json goes to the output under steps[name], rows ({figure, value,
// baseline, diff, target, met}) to the table. A step starts and stops its
// own servers (bench/lib/server.mjs) and may use ctx.audio, ctx.sizes and
// ctx.shared (figures an earlier step left for a later one). To add a
// measurement, add a line here (and its sanity check to lib/report.mjs),
// e.g. { name: 'turn-end', run: (ctx) => import('./turn-end.mjs').then((m) => m.step(ctx)) }.
const STEPS = [
  { name: 'listen', what: 'listening CPU against the raw decoder', run: listen },
  { name: 'capacity', what: 'talkers per core within the limits', run: capacity },
  { name: 'latency', what: 'speech end -> first audio, speculation on and off', run: latency },
  { name: 'barge-in', what: 'speech onset over assistant audio -> stop_tts', run: bargeIn },
  { name: 'connect', what: 'connect -> status with idle sessions, RSS per idle session', run: connect },
  { name: 'memory', what: 'RSS per talking session', run: memory },
  { name: 'turn-end', what: 'end of turn: finished sentences, pauses inside unfinished ones', run: turnEnd },
  { name: 'conversation', what: 'issue 17 side by side with the new parts off: premature ends, merging, echo, backchannels, capacity with the echo guard', run: conversation },
];

// Sizes per mode; flags override single values.
const SIZES = {
  full: { listenClips: 5, listenPasses: 2, sentences: 8, talkers: [8, 12, 16], capacitySeconds: 40,
          capacityTtftMs: 40, capacityWorkers: 1, latencyTalkers: 2, latencyTurns: 8, bargeIns: 8,
          idleSessions: 1000, probes: 200, memoryTalkers: 4, lostMs: 15000, turnEndN: 12,
          convTurnN: 30, convEchoAnswers: 100, convEchoRooms: 5, convEchoInterruptions: 40, convBackchannelReps: 1,
          convVoices: 'slt,rms,awb,kal16', convTalkers: 12, convCapacitySeconds: 40 },
  quick: { listenClips: 5, listenPasses: 1, sentences: 4, talkers: [8, 16], capacitySeconds: 20,
           capacityTtftMs: 40, capacityWorkers: 1, latencyTalkers: 1, latencyTurns: 4, bargeIns: 4,
           idleSessions: 1000, probes: 100, memoryTalkers: 2, lostMs: 15000, turnEndN: 6,
           convTurnN: 10, convEchoAnswers: 20, convEchoRooms: 5, convEchoInterruptions: 10, convBackchannelReps: 1,
           convVoices: 'slt,rms', convTalkers: 12, convCapacitySeconds: 20 },
  smoke: { listenClips: 1, listenPasses: 1, sentences: 2, talkers: [2], capacitySeconds: 5,
           capacityTtftMs: 40, capacityWorkers: 1, latencyTalkers: 1, latencyTurns: 1, bargeIns: 2,
           idleSessions: 20, probes: 10, memoryTalkers: 2, lostMs: 20000, turnEndN: 1,
           convTurnN: 1, convEchoAnswers: 1, convEchoRooms: 1, convEchoInterruptions: 1, convBackchannelReps: 1,
           convVoices: 'slt', convBackchannelLimit: 1, convTalkers: 2, convCapacitySeconds: 5 },
};

function die(msg) {
  console.error(`bench: ${msg} (--help for usage)`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = { flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) die(`unexpected argument ${a}`);
    if (['--quick', '--smoke', '--check', '--help'].includes(a)) o.flags.add(a.slice(2));
    else if (i + 1 < argv.length) o[a.slice(2)] = argv[++i];
    else die(`${a} needs a value`);
  }
  return o;
}

const args = parseArgs(process.argv.slice(2));
if (args.flags.has('help')) {
  console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 19).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const mode = args.flags.has('smoke') ? 'smoke' : args.flags.has('quick') ? 'quick' : 'full';
const sizes = { ...SIZES[mode] };
if (args.talkers) sizes.talkers = args.talkers.split(',').map(Number);
if (args['capacity-seconds']) sizes.capacitySeconds = Number(args['capacity-seconds']);
if (args.idle) sizes.idleSessions = Number(args.idle);
if (args.workers) sizes.capacityWorkers = Number(args.workers);
const bin = path.resolve(REPO_ROOT, args.bin || 'build/parley');
const decoderBench = path.resolve(REPO_ROOT, args['decoder-bench'] || path.join(path.dirname(bin), 'parley-decoder-bench'));
const out = path.resolve(REPO_ROOT, args.out || 'build/bench.json');
const names = args.steps ? args.steps.split(',') : STEPS.map((s) => s.name);
for (const n of names) if (!STEPS.find((s) => s.name === n)) die(`unknown step ${n} (steps: ${STEPS.map((s) => s.name).join(', ')})`);
for (const f of [bin, decoderBench]) if (!fs.existsSync(f)) die(`${f} not found (make build)`);
for (const k of ['talkers', 'capacity-seconds', 'idle', 'workers']) {
  if (args[k] && !String(args[k]).split(',').every((x) => Number(x) > 0)) die(`--${k} wants positive numbers, got ${args[k]}`);
}
process.env.PARLEY_BIN = bin; // the harness starts this binary

const log = (m) => process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0)}s] ${m}\n`);
const t0 = performance.now();
const ctx = { bin, decoderBench, mode, smoke: mode === 'smoke', sizes, servers: [], shared: {}, log };
const json = {
  date: new Date().toISOString(), mode, sizes, bin, cpus: os.cpus().length, cpu_model: os.cpus()[0]?.model,
  load_before: os.loadavg(), commit: null, steps: {}, servers: ctx.servers,
};
{
  const g = spawnSync('git', ['-C', REPO_ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  json.commit = g.status === 0 ? g.stdout.trim() : null;
}
const meter = cpuMeter();
raiseFdLimit(sizes.idleSessions * 2 + 512);

// ---- the audio, made now: flite sentences through parley itself, librivox through sox
log(`mode ${mode}: making the audio`);
{
  const fake = await startFakeLLM({ answer: sayAnswer, tokenDelayMs: 1 });
  const srv = await startParley(ctx, 'audio', ['--llm-url', fake.url]);
  try {
    ctx.audio = { sentences: await synthSentences(srv.port, sizes.sentences), librivox: librivox48() };
  } finally {
    await srv.stop();
    await fake.close();
  }
}

// ---- the steps
const rows = [];
for (const step of STEPS.filter((s) => names.includes(s.name))) {
  log(`${step.name}: ${step.what}`);
  const m = cpuMeter();
  try {
    const r = await step.run(ctx);
    json.steps[step.name] = { ...r.json, client_cpu: m.stop() };
    rows.push(...r.rows);
  } catch (e) {
    log(`${step.name} FAILED: ${e.stack || e}`);
    json.steps[step.name] = { error: String(e.message || e) };
    rows.push({ figure: `${step.name}: FAILED`, value: String(e.message || e).slice(0, 120) });
  }
}
json.client = meter.stop();
json.load_after = os.loadavg();
json.duration_s = Math.round((performance.now() - t0) / 1000);
rows.push({
  figure: 'bench client CPU (one Node process, all steps)',
  value: `${json.client.cpu_s} s in ${json.client.wall_s} s (${json.client.cores} cores)`,
  baseline: json.steps.capacity?.levels?.length
    ? `server at ${json.steps.capacity.levels.at(-1).talkers} talkers: ${json.steps.capacity.levels.at(-1).server_cores} cores; client ${json.steps.capacity.levels.at(-1).client.cores}`
    : '',
});

fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(json, null, 2) + '\n');
console.log(`parley bench (${mode}), ${json.date}, ${json.cpus} CPUs, ${bin}, ${json.duration_s} s\n`);
console.log(table(rows));
console.log(`\nJSON: ${out}`);

const problems = args.flags.has('check') ? check(json, names) : [];
const failed = names.filter((n) => json.steps[n]?.error);
for (const p of problems) console.error(`check: ${p}`);
process.exit(problems.length || failed.length ? 1 : 0);
