// False interruptions (issue 17 step 4), shared by tests/integration/resume.test.mjs
// and bench/backchannel.mjs: sounds made at run time (flite through parley's
// own speech output, sox noise), and one scenario: a long answer plays at a
// simulated client, the user makes a sound over it, and what came of it is
// measured from the client's side only (what it played, what it received).
import { spawnSync } from 'node:child_process';
import { connectReady, sleep } from './harness.mjs';
import { silence, trimQuiet, streamPcm } from './audio.mjs';

export const RATE = 48000;
export const SAY = /^say: (.*)$/s;
export const LONG_ANSWER = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight']
  .map((n) => `This is sentence number ${n} of a long answer.`).join(' ');
export const BACKCHANNELS = ['mhm', 'yeah', 'okay, right', 'uh huh, I see'];
export const TURNS = ['wait, what about tomorrow?', 'stop, tell me about the weather instead'];

/** The fake LLM's answer: "say: X" -> X, anything long -> LONG_ANSWER. */
export function fakeAnswer(body, user) {
  const m = SAY.exec(user || '');
  if (m) return m[1];
  return /long/.test(user || '') ? LONG_ANSWER : 'Okay.';
}

/** text spoken by parley's flite voice `voice`, 48 kHz int16 LE, trimmed of flite's padding. */
export async function synth(port, text, voice = 'rms') {
  const c = await connectReady(port);
  c.sendJson({ type: 'session.config', voice, output_sample_rate: RATE, audio_out: 'binary' });
  await c.next('session.configured', 5000);
  c.sendJson({ type: 'text', content: `say: ${text}` });
  await c.next('final_assistant_answer', 30000); // after the answer's last audio
  await c.close();
  const pcm = trimQuiet(Buffer.concat(c.binaries), RATE);
  if (pcm.length < RATE / 10) throw new Error(`flite said "${text}" in ${pcm.length / 2} samples only`);
  return pcm;
}

/** Noise made by sox: `effect` is sox's synth arguments after the length,
 *  e.g. ['brownnoise'], shaped by a fade in and out. */
export function soxNoise(seconds, effect, gain = -6) {
  const r = spawnSync('sox', ['-n', '-r', String(RATE), '-b', '16', '-e', 'signed-integer', '-c', '1',
    '-t', 'raw', '-', 'synth', String(seconds), ...effect, 'gain', String(gain),
    'fade', 'q', '0.01', String(seconds), '0.05'], { maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`sox failed: ${r.stderr}`);
  return r.stdout;
}

/** The noises of the tests and the bench. */
export function noises() {
  return {
    'brown noise 200 ms': soxNoise(0.2, ['brownnoise'], -3),
    'pink noise burst 400 ms': soxNoise(0.4, ['pinknoise'], -6),
    'knock (100 Hz thump) 150 ms': soxNoise(0.15, ['sine', '100', 'sine', '160'], -3),
  };
}

/**
 * A client that plays the assistant's audio at real time, as a browser would:
 * playback starts with the first audio (tts_start), stop_tts flushes what is
 * queued (tts_stop), and, unless rvc, it reports how much it has played
 * (playback.played_ms every 250 ms, counting on across a flush like parley's
 * web client). rvc: RealtimeVoiceChat's page: no playback reports, and every
 * tts_chunk after stop_tts is ignored until tts_interruption.
 */
export class Player {
  constructor(client, { rvc = false } = {}) {
    this.c = client;
    this.rvc = rvc;
    this.buffered = 0;      // samples queued, not played
    this.played = 0;        // samples played since the answer began
    this.playing = false;
    this.ignoring = false;  // rvc: between stop_tts and tts_interruption
    this.before = [];       // audio received before the first stop_tts
    this.after = [];        // audio received after it (and played)
    this.stops = 0;
    this.heardAtStop = null;
    this.stopAt = null;
    this.resumedAt = null;
    this.last = Date.now();
    this.timer = setInterval(() => this.tick(), 10);
    this.reporter = rvc ? null : setInterval(() => {
      if (this.playing) this.send({ type: 'playback', played_ms: Math.round((this.played * 1000) / RATE) });
    }, 250);
    client.ws.on('message', (data, binary) => this.onMessage(data, binary));
  }

  send(m) { if (this.c.isOpen) this.c.sendJson(m); }

  tick() {
    const now = Date.now();
    const adv = Math.floor(((now - this.last) * RATE) / 1000);
    this.last = now;
    if (!this.playing) return;
    const take = Math.min(adv, this.buffered);
    this.played += take;
    this.buffered -= take;
    if (this.buffered === 0) { this.playing = false; this.send({ type: 'tts_stop' }); }
  }

  onMessage(data, binary) {
    let pcm = null;
    if (binary) pcm = Buffer.from(data);
    else {
      const m = JSON.parse(data.toString('utf8'));
      if (m.type === 'tts_chunk') pcm = Buffer.from(m.content, 'base64');
      else if (m.type === 'stop_tts') {
        this.tick();
        if (this.stops++ === 0) { this.heardAtStop = this.played; this.stopAt = Date.now(); }
        this.buffered = 0;
        if (this.playing) { this.playing = false; this.send({ type: 'tts_stop' }); }
        if (this.rvc) this.ignoring = true;
      } else if (m.type === 'tts_interruption') this.ignoring = false;
      else if (m.type === 'final_user_request') { this.played = 0; this.before = []; }
    }
    if (!pcm || this.ignoring) return;
    if (this.stops === 0) this.before.push(pcm);
    else {
      if (!this.after.length) this.resumedAt = Date.now();
      this.after.push(pcm);
    }
    this.tick();
    this.buffered += pcm.length / 2;
    if (!this.playing) { this.playing = true; this.last = Date.now(); this.send({ type: 'tts_start' }); }
  }

  /** ms of the answer's audio the user had heard when stop_tts came. */
  get heardMs() { return this.heardAtStop == null ? null : (this.heardAtStop * 1000) / RATE; }

  /** Where the resumed audio starts in the answer (ms), found by matching its
   *  first 20 ms in the audio received before stop_tts; null if none or not found. */
  get resumedFromMs() {
    if (!this.after.length) return null;
    const orig = Buffer.concat(this.before);
    const head = Buffer.concat(this.after).subarray(0, (RATE / 50) * 2);
    for (let at = orig.indexOf(head); at >= 0; at = orig.indexOf(head, at + 1)) {
      if (at % 2 === 0) return (at / 2 / RATE) * 1000;
    }
    return null;
  }

  stop() { clearInterval(this.timer); clearInterval(this.reporter); }
}

/**
 * One false-or-real interruption: a long answer is asked for by a typed turn;
 * after listenMs of its audio the user makes `sound` (48 kHz PCM) over it,
 * with the frames' flag bit 0 set while the player plays (not for rvc),
 * then silence. Resolves what the client saw:
 * {stopped, resumed, interrupted, userFinals, heardMs, fromMs, repeatedMs,
 *  onsetToStopMs, stopToResumeMs, llmRequests}.
 */
export async function interruptOnce(port, fake, sound, { listenMs = 1500, rvc = false, voice = 'slt', waitMs = 6000, config = {} } = {}) {
  const c = await connectReady(port);
  c.sendJson({ type: 'session.config', voice, ...(rvc ? {} : { input_sample_rate: RATE }), ...config });
  await c.next('session.configured', 5000);
  const p = new Player(c, { rvc });
  const requestsBefore = fake.chatRequests().length;
  try {
    c.sendJson({ type: 'text', content: 'tell me something long' });
    await c.next('tts_chunk', 15000);
    await sleep(listenMs);
    const lead = 0.6;
    let onsetAt = null;
    const t0 = Date.now();
    await streamPcm(c, Buffer.concat([silence(RATE, lead), sound, silence(RATE, 2.5)]), RATE, {
      frameSamples: 960,
      flags: rvc ? 0 : () => (p.playing ? 1 : 0),
      onFrame: (s) => { if (onsetAt == null && s >= lead) onsetAt = t0 + lead * 1000; },
    });
    // The verdict: the audio resumes, or the answer ends interrupted.
    const until = Date.now() + waitMs;
    const interruptedNow = () => c.received('final_assistant_answer').some((m) => m.interrupted);
    while (Date.now() < until && p.stops && !p.after.length && !interruptedNow()) await sleep(50);
    await sleep(300);
    const heardMs = p.heardMs;
    const fromMs = p.resumedFromMs;
    return {
      stopped: p.stops > 0,
      resumed: p.after.length > 0,
      interrupted: interruptedNow(),
      userFinals: c.received('final_user_request').map((m) => m.content),
      heardMs,
      fromMs,
      repeatedMs: heardMs != null && fromMs != null ? heardMs - fromMs : null,
      onsetToStopMs: p.stopAt != null && onsetAt != null ? p.stopAt - onsetAt : null,
      stopToResumeMs: p.stopAt != null && p.resumedAt != null ? p.resumedAt - p.stopAt : null,
      llmRequests: fake.chatRequests().length - requestsBefore,
      client: c,
      player: p,
    };
  } finally {
    p.stop();
  }
}
