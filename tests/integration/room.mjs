// A simulated room for the echo guard's tests and bench: a client with a
// loudspeaker and a microphone and no echo canceller. It plays the answer's
// audio as it arrives, in order, at real time (20 ms a tick, the
// microphone's clock), and its microphone hears that playback again: late
// by the room's delay, attenuated, band-limited (200 Hz .. 3.4 kHz, a small
// loudspeaker and a laptop microphone), with a reverberant tail (a sparse,
// exponentially decaying impulse response, 60 dB down after `tailMs`) and a
// noise floor; plus whatever the user says (say()). It sends the microphone
// in 20 ms frames at real time with flag bit 0 while it plays, and the
// playback reports a page sends: tts_start when playback starts, tts_stop
// when it drains or is flushed (stop_tts), playback played_ms every 250 ms.
//
//   const room = new Room(client, { delayMs: 150, gainDb: -6 });
//   room.start();  ... room.say(pcm16k) ... await room.stop();
//
// All audio is 16 kHz mono int16: the session is configured with
// input_sample_rate and output_sample_rate 16000, audio_out binary.
import { sleep } from './harness.mjs';

export const RATE = 16000;
const FRAME = 320; // 20 ms

/** A biquad (RBJ cookbook) as a function of one sample. */
function biquad(kind, f0, q = Math.SQRT1_2) {
  const w = (2 * Math.PI * f0) / RATE;
  const cos = Math.cos(w);
  const alpha = Math.sin(w) / (2 * q);
  const a0 = 1 + alpha;
  const b = kind === 'lp'
    ? [(1 - cos) / 2, 1 - cos, (1 - cos) / 2]
    : [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2];
  const a = [-2 * cos, 1 - alpha];
  let x1 = 0; let x2 = 0; let y1 = 0; let y2 = 0;
  return (x) => {
    const y = (b[0] * x + b[1] * x1 + b[2] * x2 - a[0] * y1 - a[1] * y2) / a0;
    x2 = x1; x1 = x; y2 = y1; y1 = y;
    return y;
  };
}

/** A deterministic pseudo-random generator (mulberry32), values in [0, 1). */
export function random(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The room's impulse response: the direct path at `delayMs`, then 48
 *  reflections spread over `tailMs`, decaying to -60 dB. [{at, gain}] */
function impulse(delayMs, gainDb, tailMs, rnd) {
  const g = 10 ** (gainDb / 20);
  const taps = [{ at: Math.round((delayMs * RATE) / 1000), gain: g }];
  for (let k = 0; k < 48; k++) {
    const t = 3 + rnd() * tailMs; // ms after the direct path
    const decay = 10 ** ((-60 * t) / tailMs / 20);
    taps.push({ at: taps[0].at + Math.round((t * RATE) / 1000), gain: g * 0.5 * decay * (rnd() < 0.5 ? -1 : 1) });
  }
  return taps;
}

export class Room {
  /**
   * client: a harness Client configured for 16 kHz in and out, binary audio.
   * delayMs, gainDb: the echo's direct path; tailMs: the reverberation;
   * noise: the noise floor's amplitude (int16 peak); seed: the room's
   * reflections and noise.
   */
  constructor(client, { delayMs = 150, gainDb = 0, tailMs = 250, noise = 30, seed = 1 } = {}) {
    this.c = client;
    const rnd = random(seed);
    this.rnd = rnd;
    this.taps = impulse(delayMs, gainDb, tailMs, rnd);
    this.hp = biquad('hp', 200);
    this.lp = biquad('lp', 3400);
    this.noise = noise;
    const span = this.taps.reduce((m, t) => Math.max(m, t.at), 0) + FRAME;
    this.hist = new Float64Array(span + FRAME); // what the loudspeaker played, newest last
    this.queue = []; // received audio not yet played (Int16Array pieces)
    this.qoff = 0;
    this.playing = false;
    this.played = 0; // samples of the current answer played
    this.user = null; // Int16Array the user is saying, and where it is at
    this.userAt = 0;
    this.frames = 0;
    this.clipped = 0; // microphone samples clipped
    this.onBinary = (data, binary) => {
      if (!binary) return;
      const b = Buffer.from(data);
      this.queue.push(new Int16Array(b.buffer, b.byteOffset, b.length >> 1));
    };
    this.onJson = (data, binary) => {
      if (binary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'stop_tts') { // flush at once
        this.queue = [];
        this.qoff = 0;
        this.setPlaying(false);
      }
    };
  }

  setPlaying(on) {
    if (on === this.playing) return;
    this.playing = on;
    this.c.sendJson({ type: on ? 'tts_start' : 'tts_stop' });
  }

  /** A new answer begins (its playback reports count from 0). */
  newAnswer() { this.played = 0; }

  /** The user says pcm (16 kHz) from the next tick on; userSentAt is
   *  then the time the frame holding its first sample was sent. */
  say(pcm) { this.user = pcm; this.userAt = 0; this.userSentAt = 0; }

  /** The next 20 ms of the loudspeaker's output. */
  play() {
    const out = new Float64Array(FRAME);
    let n = 0;
    while (n < FRAME && this.queue.length) {
      const head = this.queue[0];
      const k = Math.min(FRAME - n, head.length - this.qoff);
      for (let i = 0; i < k; i++) out[n + i] = head[this.qoff + i];
      n += k;
      this.qoff += k;
      if (this.qoff === head.length) { this.queue.shift(); this.qoff = 0; }
    }
    if (n) this.setPlaying(true);
    else if (this.playing) this.setPlaying(false);
    this.played += n;
    return out;
  }

  /** One 20 ms microphone frame: the room's echo of the loudspeaker, the
   *  noise floor and the user. */
  tick() {
    const spk = this.play();
    const h = this.hist;
    h.copyWithin(0, FRAME);
    h.set(spk, h.length - FRAME);
    const pcm = Buffer.alloc(8 + FRAME * 2);
    const base = h.length - FRAME;
    for (let i = 0; i < FRAME; i++) {
      let v = 0;
      for (const t of this.taps) v += t.gain * h[base + i - t.at];
      v = this.lp(this.hp(v));
      v += (this.rnd() * 2 - 1) * this.noise;
      if (this.user && this.userAt < this.user.length) {
        if (!this.userAt) this.userSentAt = performance.now() + 0; // sent with this frame
        v += this.user[this.userAt++];
      }
      if (v > 32767 || v < -32768) this.clipped++;
      pcm.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v))), 8 + i * 2);
    }
    pcm.writeUInt32BE(Date.now() % 0x100000000, 0);
    pcm.writeUInt32BE(this.playing ? 1 : 0, 4);
    return pcm;
  }

  /** Runs the microphone at real time until stop(). */
  start() {
    this.c.ws.on('message', this.onBinary);
    this.c.ws.on('message', this.onJson);
    this.running = true;
    this.loop = (async () => {
      const t0 = performance.now();
      let lastReport = 0;
      for (let k = 0; this.running && this.c.isOpen; k++) {
        const due = t0 + (k + 1) * 20;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        this.c.sendBinary(this.tick());
        this.frames++;
        if (this.playing && performance.now() - lastReport >= 250) {
          lastReport = performance.now();
          this.c.sendJson({ type: 'playback', played_ms: Math.round((this.played * 1000) / RATE) });
        }
      }
    })();
  }

  async stop() {
    this.running = false;
    await this.loop;
    this.c.ws.off('message', this.onBinary);
    this.c.ws.off('message', this.onJson);
  }

  /** Resolves once nothing is queued or playing (or after maxMs). */
  async drained(maxMs = 60000) {
    const t0 = Date.now();
    while ((this.playing || this.queue.length) && Date.now() - t0 < maxMs) await sleep(50);
  }

  /** The room's impulse response's summary, for messages. */
  describe() {
    const d = (this.taps[0].at * 1000) / RATE;
    return `delay ${d.toFixed(0)} ms, gain ${(20 * Math.log10(Math.abs(this.taps[0].gain))).toFixed(0)} dB`;
  }
}
