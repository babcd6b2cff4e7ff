#!/usr/bin/env node
// parley soak test: many clients for minutes against the real server, with
// everything a busy day brings at once, and a verdict.
//
//   node bench/soak.mjs [--bin build/parley] [--clients 50] [--duration 120]
//   make soak [SOAK_ARGS="--clients 20 --duration 60"]
//
// What it does:
//   1. starts a fake OpenAI-compatible LLM (tests/fakes/fake-llm.mjs) and
//      parley (`--max-sessions-per-ip` and `--turns-per-minute` lifted: all
//      clients share 127.0.0.1 and talk much more than people do);
//   2. warm-up: a few more than --stt-max clients speak at once (two clips
//      each), in waves until the decoder pool holds --stt-max decoders (each
//      is ~95 MB and stays in the pool); when they have left and the server
//      is idle, its RSS is the baseline;
//   3. the soak: --clients clients for --duration seconds. Each one streams
//      its microphone at real time without pause (quiet noise, and Debian's
//      recorded librivox speech when it talks), types a turn now and then,
//      plays the answers (tts_start/tts_stop, flag bit 0) and talks over
//      them now and then (barge-in), and after 8..40 s disconnects (politely,
//      or by dropping the TCP connection, mid-turn or not) and reconnects.
//      The fake LLM fails now and then: HTTP 500, an error inside the stream,
//      the connection dying mid-answer, a stall mid-answer, no first token;
//   4. the clients leave; once the server reports no session, no leased
//      decoder and no LLM request (then --settle seconds more), the RSS is
//      read again, and the server is stopped with SIGTERM.
//
// It passes when: the server never died and exits 0 on SIGTERM; every
// connection opened and got `status` first; no error outside EXPECTED below
// and no close the client did not ask for; at least --min-answered of the
// turns that were not cut short by the client itself got an answer (typed
// turns, and spoken turns once transcribed); no turn was left with neither
// answer nor error; and the RSS at the end is within --rss-tolerance of the
// baseline. Exit status 0 on pass, 1 on failure, 2 on bad arguments.
//
// Needs the test tooling (make deps-test: tests/node_modules, sox,
// pocketsphinx-testdata). Everything stays on 127.0.0.1.
import fs from 'node:fs';
import os from 'node:os';
import { startServer, getJson, fetchMetrics, sleep, WebSocket } from '../tests/integration/harness.mjs';
import { librivoxClips, soxRaw, whiteNoise } from '../tests/integration/audio.mjs';
import { startFakeOpenAI } from '../tests/fakes/fake-llm.mjs';

// Errors a client may get under this load without anything being wrong.
// Anything else fails the run.
const EXPECTED = {
  // 50 people talking on 2 cores: more speakers than --stt-max decoders, or
  // a listener that fell 2 s behind real time, is told so (docs/protocol.md).
  overloaded: 'more speakers than the CPU or --stt-max decoders can serve',
  // The fake LLM fails on purpose: HTTP 500, an error event, a broken stream.
  llm_error: 'the fake LLM answers HTTP 500, errors in the stream or dies mid-answer',
  // ... and stalls, before the first token or mid-answer.
  llm_timeout: 'the fake LLM stalls (no first token, or silence mid-answer)',
  // Stalled answers hold LLM slots for the stall timeout; turns queued behind
  // them may find the queue full. It is the designed answer to that.
  llm_busy: 'stalled answers can fill --llm-max-inflight + --llm-max-queue',
  // When the listener lags 10 s behind (CPU starved), the oldest audio goes.
  audio_overflow: 'a listener starved of CPU for 10 s drops its oldest audio',
};

const USAGE = `usage: node bench/soak.mjs [options]
  --bin PATH            parley binary (default build/parley, or $PARLEY_BIN)
  --clients N           concurrent clients (default 50)
  --duration S          seconds of soak (default 120)
  --stt-max N           decoders at most; the warm-up fills the pool (default 16)
  --fault-rate X        share of LLM requests that fail (default 0.15)
  --min-answered X      share of judged turns that must get an answer (default 0.6)
  --rss-tolerance X     end RSS within X of the baseline (default 0.10)
  --settle S            seconds to wait after the server is idle (default 5)
  --seed N              random seed (default 1)
  --verbose             log every unexpected event as it happens`;

const argv = process.argv.slice(2);
const opts = {};
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--help' || a === '-h') { console.log(USAGE); process.exit(0); }
  if (a === '--verbose') { opts.verbose = true; continue; }
  if (!a.startsWith('--') || i + 1 >= argv.length) { console.error(USAGE); process.exit(2); }
  opts[a.slice(2)] = argv[++i];
}
const num = (name, def, min, max) => {
  if (opts[name] === undefined) return def;
  const v = Number(opts[name]);
  if (!Number.isFinite(v) || v < min || v > max) {
    console.error(`--${name}: expected a number in ${min}..${max}, got ${opts[name]}`);
    process.exit(2);
  }
  return v;
};
for (const k of Object.keys(opts)) {
  if (!['bin', 'clients', 'duration', 'stt-max', 'fault-rate', 'min-answered', 'rss-tolerance',
    'settle', 'seed', 'verbose'].includes(k)) {
    console.error(`unknown option --${k}\n${USAGE}`);
    process.exit(2);
  }
}
const CLIENTS = num('clients', 50, 1, 1000);
const DURATION_S = num('duration', 120, 5, 86400);
const STT_MAX = num('stt-max', 16, 1, 256);
const FAULT_RATE = num('fault-rate', 0.15, 0, 1);
const MIN_ANSWERED = num('min-answered', 0.6, 0, 1);
const RSS_TOL = num('rss-tolerance', 0.10, 0, 10);
const SETTLE_S = num('settle', 5, 0, 600);
const SEED = num('seed', 1, 0, 2 ** 31);
const VERBOSE = !!opts.verbose;
process.env.PARLEY_BIN = opts.bin || process.env.PARLEY_BIN || 'build/parley';

// ---------------------------------------------------------------- helpers

function mulberry32(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(SEED);
const between = (lo, hi) => lo + rnd() * (hi - lo);
const pick = (xs) => xs[Math.floor(rnd() * xs.length)];
const chance = (p) => rnd() < p;

const rssKb = (pid) => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
};
const hwmKb = (pid) => Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const mb = (kb) => `${(kb / 1024).toFixed(0)} MB`;
const log = (...a) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s]`, ...a);
const T0 = Date.now();

// ------------------------------------------------------------------ audio

const RATES = [48000, 16000];
const clips = librivoxClips().map((c) => {
  const pcm = {};
  for (const r of RATES) pcm[r] = soxRaw(c.file, r);
  return { id: c.id, text: c.text, pcm };
});
const noise = {};
for (const r of RATES) noise[r] = whiteNoise(r, 1, 30); // a quiet room, looped

// ------------------------------------------------------------------ stats

const stats = {
  connectAttempts: 0, connects: 0, connectFailures: 0, statusFirst: 0, noStatus: 0,
  politeCloses: 0, abruptCloses: 0, serverCloses: 0,
  spokenAttempts: 0, spokenTurns: 0, typedTurns: 0,
  answered: 0, answeredInterrupted: 0, llmFailed: 0, unanswered: 0, cut: 0, superseded: 0,
  bargeInAttempts: 0, bargeIns: 0,
  audioSeconds: 0, ttsSeconds: 0,
  errors: {},
  overloadedBy: {},
  unexpected: [],
};
function unexpected(what) {
  if (stats.unexpected.length < 50) stats.unexpected.push(what);
  if (VERBOSE) log(`UNEXPECTED: ${what}`);
}

// -------------------------------------------------------------- the fake LLM

const ANSWERS = [
  'Sure.',
  'That is a good question, and the short answer is yes.',
  'I think so. It depends a little on the weather, but most days it works out fine.',
  'Here is what I would do. Start small, keep notes, and ask again if anything is unclear.',
  'Interesting! Marianne and Elinor would have had strong opinions about that. ' +
    'Elinor would weigh every side, while Marianne would follow her heart. ' +
    'Which of the two do you agree with?',
];
const faultsInjected = { http500: 0, errorEvent: 0, die: 0, stall: 0, noFirstToken: 0 };
let faultsOn = false;
const fake = await startFakeOpenAI({
  tokenDelayMs: 15,
  answer: () => pick(ANSWERS),
  behave: () => {
    if (!faultsOn || !chance(FAULT_RATE)) return { tokenDelayMs: Math.round(between(8, 30)) };
    const k = Math.floor(between(1, 6));
    const r = rnd();
    if (r < 0.3) { faultsInjected.http500++; return { httpError: { status: 500, body: { error: { message: 'fake: internal error' } } } }; }
    if (r < 0.5) { faultsInjected.errorEvent++; return { answer: ANSWERS[4], errorAfter: k }; }
    if (r < 0.75) { faultsInjected.die++; return { answer: ANSWERS[4], dieAfter: k }; }
    if (r < 0.9) { faultsInjected.stall++; return { answer: ANSWERS[4], hangAfter: k }; }
    faultsInjected.noFirstToken++;
    return { hangAfter: 0 };
  },
});

// ----------------------------------------------------------------- server

const srv = await startServer([
  '--llm-url', fake.url,
  '--stt-warm', '2', '--stt-max', String(STT_MAX),
  '--max-sessions', String(Math.max(100, CLIENTS * 2)),
  '--max-sessions-per-ip', '1000', '--turns-per-minute', '1000',
  '--llm-first-token-timeout', '4000', '--llm-stall-timeout', '3000',
], {}, { timeoutMs: 30000 });
const pid = srv.proc.pid;
let serverDied = false;
srv.exited.then((info) => { if (!stopping) { serverDied = info; log(`SERVER DIED: code ${info.code}, signal ${info.signal}`); } });
let stopping = false;
for (let i = 0; i < 600 && (await getJson(srv.port, '/readyz')).status !== 200; i++) await sleep(100);
log(`parley pid ${pid} on port ${srv.port} (${process.env.PARLEY_BIN}), fake LLM at ${fake.url}; RSS ${mb(rssKb(pid))}`);

// Samples RSS every second for the peak.
let rssPeak = 0;
const rssTimer = setInterval(() => {
  try { rssPeak = Math.max(rssPeak, rssKb(pid)); } catch { /* exited */ }
}, 1000);

// ------------------------------------------------------------- microphone

// One ticker sends every client's due frames, at real time. A client that
// falls more than 300 ms behind (a busy event loop) drops the backlog, like
// a microphone buffer that overflowed, instead of bursting it.
const mics = new Set();
const micTimer = setInterval(() => {
  const now = Date.now();
  for (const s of mics) s.pumpMic(now);
}, 10);

// ----------------------------------------------------------------- client

class Session {
  constructor(client, { deadline, behaviour }) {
    this.client = client;
    this.deadline = deadline;         // when this session ends (ms)
    this.behaviour = behaviour;       // 'soak' | 'warmup'
    this.rate = chance(0.3) ? 16000 : 48000;
    this.outRate = 48000;
    this.binaryOut = chance(0.6);
    this.frameSamples = chance(0.5) ? this.rate / 50 : 2048;
    this.speech = null;               // Buffer being spoken, and offset
    this.speechOff = 0;
    this.onSpeechDone = null;
    this.noiseOff = Math.floor(rnd() * noise[this.rate].length / 2) * 2;
    this.playing = false;             // assistant audio "playing" at the client
    this.playEnd = 0;                 // when the audio received so far ends playing
    this.turn = null;                 // {kind: typed|spoken|spoken-pending, t0, interruptedAt}
    this.closedByUs = false;
    this.gotStatus = false;
    this.waiters = [];
  }

  // -- the connection

  open(port) {
    return new Promise((resolve) => {
      stats.connectAttempts++;
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false, handshakeTimeout: 10000 });
      this.ws = ws;
      let opened = false;
      const statusTimer = setTimeout(() => {
        if (!this.gotStatus && opened && !this.closedByUs) {
          stats.noStatus++;
          unexpected(`no status within 10 s of connecting (client ${this.client.id})`);
          this.close(false);
        }
      }, 10000);
      ws.on('open', () => {
        opened = true;
        stats.connects++;
        resolve(true);
      });
      ws.on('error', (e) => {
        if (!opened) {
          stats.connectFailures++;
          unexpected(`connect failed: ${e.message}`);
          resolve(false);
        }
      });
      ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
      ws.on('close', (code, reason) => {
        clearTimeout(statusTimer);
        mics.delete(this);
        if (!opened) { resolve(false); return; }
        if (!this.closedByUs) {
          stats.serverCloses++;
          unexpected(`server closed the connection: ${code} ${reason}`);
        }
        this.endTurn(this.turn && this.turn.interruptedAt ? 'interrupted' : this.closedByUs ? 'cut' : 'unanswered');
        for (const w of this.waiters.splice(0)) w();
        this.closed = true;
      });
    });
  }

  close(polite = chance(0.6)) {
    if (this.closedByUs) return;
    this.closedByUs = true;
    mics.delete(this);
    if (polite) {
      stats.politeCloses++;
      try { this.ws.close(1000); } catch { /* already closing */ }
      setTimeout(() => { if (!this.closed) this.ws.terminate(); }, 3000);
    } else {
      stats.abruptCloses++;
      this.ws.terminate(); // no close frame: the server sees the TCP connection end
    }
  }

  send(obj) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  // -- microphone

  pumpMic(now) {
    if (now - this.nextDue > 300) this.nextDue = now;
    for (let n = 0; n < 4 && now >= this.nextDue; n++) {
      this.sendFrame();
      this.nextDue += (this.frameSamples / this.rate) * 1000;
    }
  }

  sendFrame() {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const bytes = this.frameSamples * 2;
    const buf = Buffer.allocUnsafe(8 + bytes);
    buf.writeUInt32BE(Date.now() % 0x100000000, 0);
    buf.writeUInt32BE(this.playing ? 1 : 0, 4);
    let off = 8;
    while (off < buf.length) {
      if (this.speech) {
        const n = Math.min(buf.length - off, this.speech.length - this.speechOff);
        this.speech.copy(buf, off, this.speechOff, this.speechOff + n);
        off += n;
        this.speechOff += n;
        if (this.speechOff >= this.speech.length) {
          this.speech = null;
          const done = this.onSpeechDone;
          this.onSpeechDone = null;
          if (done) setImmediate(done);
        }
      } else {
        const nb = noise[this.rate];
        const n = Math.min(buf.length - off, nb.length - this.noiseOff);
        nb.copy(buf, off, this.noiseOff, this.noiseOff + n);
        off += n;
        this.noiseOff = (this.noiseOff + n) % nb.length;
      }
    }
    this.ws.send(buf, { binary: true });
    stats.audioSeconds += this.frameSamples / this.rate;
  }

  /** Speaks a clip as the next turn (it counts once transcribed). */
  startSpeech(now) {
    stats.spokenAttempts++;
    this.turn = { kind: 'spoken-pending', t0: now };
    this.speak().then(() => { if (this.turn && this.turn.kind === 'spoken-pending') this.turn.t0 = Date.now(); });
  }

  speak(nclips = 1) {
    const pcm = Array.from({ length: nclips }, () => pick(clips).pcm[this.rate]);
    return new Promise((resolve) => {
      this.speech = nclips === 1 ? pcm[0] : Buffer.concat(pcm);
      this.speechOff = 0;
      this.onSpeechDone = resolve;
    });
  }

  // -- server messages

  onMessage(data, isBinary) {
    const now = Date.now();
    if (isBinary) { this.onAudio(data.length / 2 / this.outRate, now); return; }
    let m;
    try { m = JSON.parse(data.toString('utf8')); } catch {
      unexpected(`a text frame that is not JSON: ${data.toString('utf8').slice(0, 80)}`);
      return;
    }
    if (!this.gotStatus) {
      this.gotStatus = true;
      if (m.type === 'status') stats.statusFirst++;
      else { stats.noStatus++; unexpected(`first message was ${m.type}, not status`); }
    }
    switch (m.type) {
      case 'status':
      case 'session.configured':
      case 'partial_user_request':
      case 'partial_assistant_answer':
      case 'tts_interruption':
        break;
      case 'tts_chunk':
        this.onAudio(Buffer.byteLength(m.content, 'base64') / 2 / this.outRate, now);
        break;
      case 'final_user_request':
        this.finals = (this.finals || 0) + 1;
        if (this.turn && this.turn.kind === 'spoken-pending') {
          this.turn.kind = 'spoken';
          stats.spokenTurns++;
        } else {
          // speech split in two turns, or barge-in speech becoming a turn
          if (this.turn) this.endTurn('superseded');
          stats.spokenTurns++;
          this.turn = { kind: 'spoken', t0: now };
        }
        break;
      case 'final_assistant_answer':
        if (!this.turn || this.turn.kind === 'spoken-pending') break;
        if (!m.interrupted) this.endTurn('answered');
        else this.turn.interruptedAt = now; // by an LLM failure if an llm_* error follows
        break;
      case 'stop_tts':
        if (this.bargeIn) { stats.bargeIns++; this.bargeIn = false; }
        this.stopPlayback(now);
        break;
      case 'error': {
        const code = m.content && m.content.code;
        stats.errors[code] = (stats.errors[code] || 0) + 1;
        if (code === 'overloaded') {
          const why = /decoder/.test(m.content.message) ? 'decoders busy' : 'lagging';
          stats.overloadedBy[why] = (stats.overloadedBy[why] || 0) + 1;
        }
        if (!(code in EXPECTED)) unexpected(`error ${code}: ${m.content && m.content.message}`);
        if ((code === 'llm_error' || code === 'llm_timeout' || code === 'llm_busy') &&
            this.turn && this.turn.kind !== 'spoken-pending') this.endTurn('llm');
        break;
      }
      default:
        unexpected(`unknown message type ${m.type}`);
    }
    for (const w of this.waiters.splice(0)) w();
  }

  onAudio(seconds, now) {
    stats.ttsSeconds += seconds;
    if (!this.playing) {
      this.playing = true;
      this.playStart = now;
      this.playEnd = now;
      this.send({ type: 'tts_start' });
    }
    this.playEnd = Math.max(this.playEnd, now) + seconds * 1000;
  }

  stopPlayback(now) {
    if (!this.playing) return;
    this.playing = false;
    this.send({ type: 'playback', played_ms: Math.max(0, Math.round(now - this.playStart)) });
    this.send({ type: 'tts_stop' });
  }

  /** Resolves when a message arrives, the connection closes, or after ms. */
  wake(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }

  endTurn(how) {
    const t = this.turn;
    if (!t) return;
    this.turn = null;
    if (t.kind === 'spoken-pending') return; // never became a turn
    if (how === 'answered') stats.answered++;
    else if (how === 'interrupted') { stats.answered++; stats.answeredInterrupted++; }
    else if (how === 'llm') stats.llmFailed++;
    else if (how === 'cut') stats.cut++;
    else if (how === 'superseded') stats.superseded++;
    else { stats.unanswered++; unexpected(`a ${t.kind} turn got neither answer nor error (${how})`); }
  }

  // -- behaviour

  async run(port) {
    if (!(await this.open(port))) return;
    if (this.rate !== 48000 || this.binaryOut) {
      const cfg = {};
      if (this.rate !== 48000) cfg.input_sample_rate = this.rate;
      if (this.binaryOut) cfg.audio_out = 'binary';
      this.send({ type: 'session.config', ...cfg });
    }
    this.nextDue = Date.now();
    mics.add(this);
    if (this.behaviour === 'warmup') {
      await sleep(between(0, 300));
      await this.speak(2);
      const t0 = Date.now();
      while (!this.closed && !this.finals && Date.now() - t0 < 8000) await this.wake(500);
      this.close(true);
      return;
    }
    const closeTimer = setTimeout(() => this.close(), Math.max(0, this.deadline - Date.now()));
    while (!this.closed && !this.closedByUs) {
      const now = Date.now();
      if (this.playing && now > this.playEnd + 200) this.stopPlayback(now);
      if (this.turn && now - this.turn.t0 > 45000) this.endTurn('timeout');
      if (this.turn && this.turn.interruptedAt && now - this.turn.interruptedAt > 1000) this.endTurn('interrupted');
      if (!this.turn && !this.speech && !this.nextAction) this.nextAction = now + between(1000, 5000);
      if (this.playing && !this.speech && !this.turn && !this.bargeIn && chance(0.01)) {
        // talk over the answer while it plays: expect stop_tts
        stats.bargeInAttempts++;
        this.bargeIn = true;
        setTimeout(() => { this.bargeIn = false; }, 5000);
        this.startSpeech(now);
      } else if (this.nextAction && now >= this.nextAction && !this.turn && !this.speech) {
        this.nextAction = 0;
        if (chance(0.3)) {
          stats.typedTurns++;
          this.turn = { kind: 'typed', t0: now };
          this.send({ type: 'text', content: pick(clips).text.toLowerCase() });
        } else {
          this.startSpeech(now);
        }
      }
      // speech that never became a turn (not transcribed) is dropped after 8 s
      if (this.turn && this.turn.kind === 'spoken-pending' && !this.speech && Date.now() - this.turn.t0 > 8000) {
        this.turn = null;
      }
      await this.wake(100);
    }
    clearTimeout(closeTimer);
  }
}

class Client {
  constructor(id) { this.id = id; this.sessions = 0; }

  async run(port, until) {
    while (Date.now() < until - 2000 && !serverDied) {
      this.sessions++;
      const life = between(8000, 40000);
      const s = new Session(this, { deadline: Math.min(until, Date.now() + life), behaviour: 'soak' });
      await s.run(port);
      while (!s.closed) await s.wake(200);
      await sleep(between(100, 2000)); // reconnect
    }
  }
}

// ------------------------------------------------------------ metrics

async function waitIdle(timeoutMs) {
  const t0 = Date.now();
  for (;;) {
    const v = (await fetchMetrics(srv.port)).values;
    const live = v.parley_sessions_live, leased = v.parley_stt_decoders_leased;
    const inflight = v.parley_llm_requests_inflight, queued = v.parley_llm_queue_depth;
    if (live === 0 && leased === 0 && inflight === 0 && queued === 0) return { ok: true, v };
    if (Date.now() - t0 > timeoutMs) return { ok: false, v, live, leased, inflight, queued };
    await sleep(250);
  }
}

// ------------------------------------------------------------- warm-up

// Speakers hold a decoder from speech onset to their final transcript, so
// long utterances (two clips back to back) from more speakers than
// --stt-max make every decoder exist at once, even when a starved CPU makes
// the listeners lag. Waves repeat until the pool is full.
const poolSize = (v) => (v.parley_stt_decoders_idle || 0) + (v.parley_stt_decoders_leased || 0);
const rssReady = rssKb(pid);
const decodersReady = poolSize((await fetchMetrics(srv.port)).values);
const WARM_SPEAKERS = STT_MAX + Math.max(2, Math.ceil(STT_MAX / 4));
log(`warm-up: ${WARM_SPEAKERS} speakers at once, until the decoder pool holds --stt-max ${STT_MAX}`);
let decoders = decodersReady;
for (let wave = 1; wave <= 4 && decoders < STT_MAX; wave++) {
  const ss = Array.from({ length: WARM_SPEAKERS }, () => new Session({ id: 'warm' }, { behaviour: 'warmup' }));
  await Promise.all(ss.map((s) => s.run(srv.port)));
  await Promise.all(ss.map(async (s) => { while (!s.closed) await s.wake(200); }));
  await waitIdle(30000);
  decoders = poolSize((await fetchMetrics(srv.port)).values);
  log(`warm-up wave ${wave}: ${decoders} decoder(s) in the pool, RSS ${mb(rssKb(pid))}`);
}
const warmErrors = { ...stats.errors };
for (const k of Object.keys(stats)) {
  if (typeof stats[k] === 'number') stats[k] = 0;
}
stats.errors = {};
stats.overloadedBy = {};
stats.unexpected = [];
await sleep(SETTLE_S * 1000);
const rssStart = rssKb(pid);
rssPeak = rssStart;
// What one more decoder costs, measured here (for the rare run whose
// warm-up could not fill the pool: see the end).
const perDecoderKb = decoders > decodersReady ? (rssStart - rssReady) / (decoders - decodersReady) : 95 * 1024;
log(`baseline RSS ${mb(rssStart)} (${decoders} decoders, ${mb(perDecoderKb)} each; warm-up errors ${JSON.stringify(warmErrors)})`);

// ------------------------------------------------------------------ soak

faultsOn = true;
const cpu0 = process.cpuUsage();
const ticks = () => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const ticks0 = ticks();
const soakStart = Date.now();
const until = soakStart + DURATION_S * 1000;
log(`soak: ${CLIENTS} clients for ${DURATION_S} s, LLM fault rate ${FAULT_RATE}`);
const clients = Array.from({ length: CLIENTS }, (_, i) => new Client(i));
const progress = setInterval(async () => {
  try {
    const v = (await fetchMetrics(srv.port)).values;
    log(`sessions ${v.parley_sessions_live}, decoders leased ${v.parley_stt_decoders_leased}, ` +
      `LLM inflight ${v.parley_llm_requests_inflight} queued ${v.parley_llm_queue_depth}; ` +
      `turns ${stats.spokenTurns + stats.typedTurns}, answered ${stats.answered}; ` +
      `errors ${JSON.stringify(stats.errors)}; RSS ${mb(rssKb(pid))}`);
  } catch { /* the server is gone: reported below */ }
}, 15000);
await Promise.all(clients.map(async (c, i) => {
  await sleep((i * 1000 * Math.min(10, DURATION_S / 4)) / CLIENTS); // arrive over ~10 s
  await c.run(srv.port, until);
}));
clearInterval(progress);
const soakS = (Date.now() - soakStart) / 1000;
const cpuCores = (ticks() - ticks0) / 100 / soakS; // USER_HZ is 100 on Linux
const benchCpu = process.cpuUsage(cpu0);
log(`clients left; waiting for the server to go idle`);

// ------------------------------------------------------------- settle

let idle = { ok: false };
if (!serverDied) {
  idle = await waitIdle(60000);
  if (!idle.ok) {
    unexpected(`server not idle 60 s after the clients left: sessions ${idle.live}, decoders leased ${idle.leased}, ` +
      `LLM inflight ${idle.inflight}, queued ${idle.queued}`);
  }
  await sleep(SETTLE_S * 1000);
}
const rssEnd = serverDied ? NaN : rssKb(pid);
const hwm = serverDied ? NaN : hwmKb(pid);
clearInterval(rssTimer);
clearInterval(micTimer);
const endMetrics = serverDied ? {} : (await fetchMetrics(srv.port)).values;
stopping = true;
const stop = await srv.stop('SIGTERM', { killAfterMs: 10000 });
await fake.close();

// --------------------------------------------------------------- verdict

const turns = stats.spokenTurns + stats.typedTurns;
const judged = stats.answered + stats.llmFailed + stats.unanswered;
const answeredShare = judged ? stats.answered / judged : 0;
const failures = [];
if (serverDied) failures.push(`the server died (code ${serverDied.code}, signal ${serverDied.signal})`);
else if (stop.code !== 0) failures.push(`the server exited ${stop.code} (signal ${stop.signal}) on SIGTERM`);
const crashLines = srv.stderr().split('\n').filter((l) => /AddressSanitizer|ThreadSanitizer|runtime error:|Segmentation|Aborted|malloc\(\)|double free|stack smashing|buffer overflow detected/.test(l));
if (crashLines.length) failures.push(`crash reports in stderr:\n    ${crashLines.slice(0, 5).join('\n    ')}`);
if (stats.noStatus) failures.push(`${stats.noStatus} connection(s) did not get status first`);
if (stats.connectFailures) failures.push(`${stats.connectFailures} connection(s) failed to open`);
const badErrors = Object.entries(stats.errors).filter(([c]) => !(c in EXPECTED));
if (badErrors.length) failures.push(`unexpected error codes: ${badErrors.map(([c, n]) => `${c} x${n}`).join(', ')}`);
if (stats.serverCloses) failures.push(`${stats.serverCloses} connection(s) closed by the server`);
if (stats.unanswered) failures.push(`${stats.unanswered} turn(s) got neither an answer nor an error within 45 s`);
if (judged === 0) failures.push('no turn at all');
else if (answeredShare < MIN_ANSWERED) failures.push(`only ${(answeredShare * 100).toFixed(0)}% of turns got an answer (need ${MIN_ANSWERED * 100}%)`);
if (!serverDied && !idle.ok) failures.push('the server did not go idle after the clients left');
// The pool keeps every decoder it made. If the warm-up could not make
// --stt-max of them and the soak made more, those are the pool's designed
// footprint, not a leak: the baseline counts them at the measured price.
const decodersEnd = poolSize(endMetrics);
const extraDecoders = Math.max(0, decodersEnd - decoders);
const rssBase = rssStart + extraDecoders * perDecoderKb;
const rssGrowth = (rssEnd - rssBase) / rssBase;
if (!(rssGrowth <= RSS_TOL)) failures.push(`RSS ${mb(rssEnd)} at the end is ${(rssGrowth * 100).toFixed(1)}% over the baseline ${mb(rssBase)} (tolerance ${RSS_TOL * 100}%)`);
const otherUnexpected = stats.unexpected.filter((u) => !/^error |^server closed|^connect failed|neither answer/.test(u));
if (otherUnexpected.length) failures.push(`other unexpected events: ${otherUnexpected.length}`);

// --------------------------------------------------------------- summary

const serverLog = srv.stderr();
const logCounts = { ERROR: 0, WARN: 0 };
for (const l of serverLog.split('\n')) {
  const m = /^\S+ (ERROR|WARN) /.exec(l);
  if (m) logCounts[m[1]]++;
}
const out = [];
out.push('');
out.push(`parley soak, ${new Date().toISOString()}, ${os.cpus().length} CPU cores, binary ${process.env.PARLEY_BIN}`);
out.push(`  clients            ${CLIENTS} for ${soakS.toFixed(0)} s (seed ${SEED}); server CPU ${cpuCores.toFixed(2)} cores, soak client CPU ${((benchCpu.user + benchCpu.system) / 1e6 / soakS).toFixed(2)} cores`);
out.push(`  connects           ${stats.connects} of ${stats.connectAttempts} attempts (status first: ${stats.statusFirst}); closes by the client: ${stats.politeCloses} polite, ${stats.abruptCloses} abrupt; by the server: ${stats.serverCloses}`);
out.push(`  audio              ${stats.audioSeconds.toFixed(0)} s of microphone sent, ${stats.ttsSeconds.toFixed(0)} s of answer audio received`);
out.push(`  turns              ${turns}: ${stats.spokenTurns} spoken (of ${stats.spokenAttempts} utterances), ${stats.typedTurns} typed`);
out.push(`  answers            ${stats.answered} (${stats.answeredInterrupted} cut short without an LLM error) = ${(answeredShare * 100).toFixed(0)}% of ${judged} judged turns; ${stats.llmFailed} ended by an LLM error, ${stats.unanswered} by nothing; not judged: ${stats.cut} cut by the client's disconnect, ${stats.superseded} superseded by the next turn`);
out.push(`  barge-in           ${stats.bargeIns} stop_tts for ${stats.bargeInAttempts} attempts`);
out.push(`  LLM faults         ${JSON.stringify(faultsInjected)}; server's LLM errors by cause: ${Object.entries(endMetrics).filter(([k]) => k.startsWith('parley_llm_errors_total')).map(([k, v]) => `${/cause="(\w+)"/.exec(k)[1]} ${v}`).join(', ')}`);
out.push(`  errors by code     ${Object.entries(stats.errors).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}${c in EXPECTED ? '' : ' (UNEXPECTED)'}`).join(', ') || 'none'}` +
  (stats.errors.overloaded ? ` (overloaded: ${Object.entries(stats.overloadedBy).map(([k, n]) => `${k} ${n}`).join(', ')})` : ''));
out.push(`  server log         ${logCounts.ERROR} ERROR, ${logCounts.WARN} WARN lines`);
out.push(`  RSS                start ${mb(rssStart)} (after warm-up, ${decoders} decoders), peak ${mb(Math.max(rssPeak, rssEnd || 0))} (VmHWM ${mb(hwm)}), end ${mb(rssEnd)} (${decodersEnd} decoders): ${rssGrowth >= 0 ? '+' : ''}${(rssGrowth * 100).toFixed(1)}%` +
  (extraDecoders ? ` against ${mb(rssBase)}, the start plus ${extraDecoders} decoder(s) the warm-up did not make` : ''));
out.push(serverDied ? `  shutdown           none: the server had died (its stderr tail is above)`
  : `  shutdown           exit ${stop.code}${stop.signal ? ` signal ${stop.signal}` : ''} ${stop.ms} ms after SIGTERM`);
if (stats.unexpected.length) {
  out.push('  unexpected events (first ones):');
  for (const u of stats.unexpected.slice(0, 15)) out.push(`    - ${u}`);
}
out.push(`  verdict            ${failures.length ? 'FAIL' : 'PASS'}`);
for (const f of failures) out.push(`    - ${f}`);
console.log(out.join('\n'));
if (crashLines.length && !serverDied) console.log(`\nserver stderr tail:\n${serverLog.slice(-4000)}`);
process.exit(failures.length ? 1 : 0);
