// The benchmark's client side, built to be cheap so that it does not starve
// the server it measures: one Node process, microphone frames encoded once
// (docs/protocol.md: an 8-byte header, BE uint32 timestamp and flags, then
// int16 LE samples) and shared by every talker, and one timer that sends
// every talker's due frames (no timer or busy loop per client). Received
// audio is counted, never kept.
import { WebSocket } from '../../tests/integration/harness.mjs';

export const FRAME_MS = 20;

/** Raw int16 LE PCM -> frames of FRAME_MS (the last one padded with
 *  silence), each with its 8-byte header (timestamp written when sent). */
export function encodeFrames(pcm, rate, { flags = 0 } = {}) {
  const bytes = ((rate * FRAME_MS) / 1000) * 2;
  const frames = [];
  for (let off = 0; off < pcm.length; off += bytes) {
    const f = Buffer.alloc(8 + bytes);
    f.writeUInt32BE(flags >>> 0, 4);
    pcm.copy(f, 8, off, Math.min(off + bytes, pcm.length));
    frames.push(f);
  }
  return frames;
}

/** n frames of silence (one shared buffer). */
export function silenceFrames(rate, ms, { flags = 0 } = {}) {
  const f = Buffer.alloc(8 + ((rate * FRAME_MS) / 1000) * 2);
  f.writeUInt32BE(flags >>> 0, 4);
  return new Array(Math.max(1, Math.round(ms / FRAME_MS))).fill(f);
}

/**
 * One WebSocket session. Keeps no history: listeners see each message as it
 * arrives, with performance.now() of its arrival. Error codes are counted.
 */
export class Session {
  constructor(ws) {
    this.ws = ws;
    this.listeners = new Map(); // type -> [fn(msg, now)]; 'audio' -> fn(bytes, now)
    this.errors = {};           // code -> count
    this.audioBytes = 0;
    this.closed = new Promise((resolve) => ws.on('close', (code) => { this.closeCode = code; resolve(code); }));
    ws.on('error', () => { /* surfaced through close */ });
    ws.on('message', (data, binary) => {
      const now = performance.now();
      if (binary) {
        this.audioBytes += data.length;
        for (const fn of this.listeners.get('audio') || []) fn(data.length, now);
        return;
      }
      let msg;
      try { msg = JSON.parse(data.toString('utf8')); } catch { return; }
      if (msg.type === 'error') {
        const code = msg.content?.code || 'unknown';
        this.errors[code] = (this.errors[code] || 0) + 1;
      }
      for (const fn of this.listeners.get(msg.type) || []) fn(msg, now);
    });
  }

  /** Connects, waits for the first message (`status`), then sends `config`
   *  (session.config) and waits for session.configured. s.readyMs is
   *  connect -> status. */
  static open(port, { config, timeoutMs = 15000 } = {}) {
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
      const s = new Session(ws);
      const timer = setTimeout(() => { ws.terminate(); reject(new Error(`no status within ${timeoutMs} ms`)); }, timeoutMs);
      const fail = (e) => { clearTimeout(timer); reject(e); };
      ws.once('error', fail);
      s.closed.then((code) => fail(new Error(`closed (${code}) before status`)));
      s.once('*first', async (msg, now) => {
        if (msg.type !== 'status') return fail(new Error(`first message ${msg.type}, expected status`));
        s.readyMs = now - t0;
        s.status = msg.content;
        // A server that holds final_user_request until the answer is heard
        // (hold_final in its status) sends it at once for the bench, which
        // times the transcript itself.
        if (config && 'hold_final' in s.status) config = { hold_final: false, ...config };
        if (config) {
          s.sendJson({ type: 'session.config', ...config });
          try { await s.wait('session.configured', timeoutMs); } catch (e) { return fail(e); }
        }
        clearTimeout(timer);
        ws.off('error', fail);
        resolve(s);
      });
    });
  }

  on(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
    return () => this.off(type, fn);
  }

  off(type, fn) {
    const l = this.listeners.get(type) || [];
    const i = l.indexOf(fn);
    if (i >= 0) l.splice(i, 1);
  }

  /** The next message of `type` (or any message, for '*first') arriving from now on. */
  once(type, fn) {
    if (type === '*first') {
      const onAny = (data, binary) => {
        if (binary) return;
        this.ws.off('message', onAny);
        let msg;
        try { msg = JSON.parse(data.toString('utf8')); } catch { msg = { type: 'unparsable' }; }
        fn(msg, performance.now());
      };
      this.ws.on('message', onAny);
      return;
    }
    const f = (msg, now) => { this.off(type, f); fn(msg, now); };
    this.on(type, f);
  }

  /** Resolves {msg, now} for the next message of `type`; rejects after timeoutMs or on close. */
  wait(type, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off(type, f); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const f = (msg, now) => { clearTimeout(timer); this.off(type, f); resolve({ msg, now }); };
      this.on(type, f);
      this.closed.then((code) => { clearTimeout(timer); reject(new Error(`closed (${code}) while waiting for ${type}`)); });
    });
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  sendJson(obj) { if (this.isOpen) this.ws.send(JSON.stringify(obj)); }

  /** Sends a pre-encoded frame, stamping the wall clock into its header
   *  first. Safe on a shared buffer: ws copies it while masking, in send(). */
  sendFrame(frame) {
    if (!this.isOpen) return false;
    frame.writeUInt32BE(Date.now() % 0x100000000, 0);
    this.ws.send(frame, { binary: true });
    return true;
  }

  async close(timeoutMs = 2000) {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try { this.ws.close(1000); } catch { /* already closing */ }
    const t = new Promise((r) => setTimeout(r, timeoutMs, 'timeout'));
    if ((await Promise.race([this.closed, t])) === 'timeout') this.ws.terminate();
  }
}

/**
 * Streams microphone audio for many sessions from one timer. A stream is
 * {session, next(k, due)} where next() returns the k-th frame (due at
 * performance.now() time `due`) or null when the stream is over. Frames
 * are sent when due (the timer ticks every 5 ms); a stream that falls
 * more than MAX_BURST frames behind (the event loop was starved) is moved
 * on, not burst, and counted in `stalls`.
 */
export class Streamer {
  static MAX_BURST = 15;

  constructor() {
    this.streams = new Set();
    this.timer = null;
    this.maxLateMs = 0;
    this.stalls = 0;
    this.frames = 0;
  }

  /** Starts streaming; resolves when next() returned null (or the session closed). */
  play(session, next, { start = performance.now() } = {}) {
    return new Promise((resolve) => {
      this.streams.add({ session, next, t0: start, k: 0, done: resolve });
      if (!this.timer) this.timer = setInterval(() => this.tick(), 5);
      this.tick();
    });
  }

  tick() {
    const now = performance.now();
    for (const st of this.streams) {
      let due = st.t0 + st.k * FRAME_MS;
      if (now - due > Streamer.MAX_BURST * FRAME_MS) {
        this.stalls++;
        st.t0 += now - due; // move on: never burst a backlog
        due = now;
      }
      while (due <= now) {
        const f = st.session.isOpen ? st.next(st.k, due) : null;
        if (!f) { this.streams.delete(st); st.done(); break; }
        st.session.sendFrame(f);
        this.frames++;
        this.maxLateMs = Math.max(this.maxLateMs, now - due);
        st.k++;
        due = st.t0 + st.k * FRAME_MS;
      }
    }
    if (!this.streams.size && this.timer) { clearInterval(this.timer); this.timer = null; }
  }

  stats() { return { frames: this.frames, max_late_ms: Math.round(this.maxLateMs), stalls: this.stalls }; }
}

/**
 * A streamed script of segments, for Streamer.play(): each segment is
 * {frames, speech?}, where speech ({onsetMs, endMs}) says where the speech
 * it carries starts and ends. marks.onset(seg, at) and marks.end(seg, at)
 * are called as the frames holding those instants are sent, with the
 * instant on the sending clock (performance.now()), so a stalled sender
 * shifts them too. nextSegment() returns the next segment or null.
 */
export function script(nextSegment, marks = {}) {
  let seg = null;
  let i = 0;
  return (k, due) => {
    while (!seg || i >= seg.frames.length) {
      seg = nextSegment();
      i = 0;
      if (!seg) return null;
    }
    const sp = seg.speech;
    if (sp) {
      const from = i * FRAME_MS;
      const at = (ms) => ms >= from && (ms < from + FRAME_MS || i === seg.frames.length - 1);
      if (marks.onset && at(sp.onsetMs)) marks.onset(seg, due + sp.onsetMs - from);
      if (marks.end && at(sp.endMs)) marks.end(seg, due + sp.endMs - from);
    }
    return seg.frames[i++];
  };
}
