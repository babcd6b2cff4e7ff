// A fake OpenAI-compatible speech service for parley's tests, on loopback,
// behaving like Kokoro-FastAPI (and, on request, like Orpheus-FastAPI and
// OpenAI): POST /v1/audio/speech streams audio in small chunks with pauses,
// GET /v1/audio/voices lists the voices, bad requests get FastAPI-style
// {"detail": ...} errors. It records every request, whether the client hung
// up before the answer was complete, and when the answer finished.
//
//   const fake = await startFakeTTS();            // or { port } to pick one
//   fake.url                -> 'http://127.0.0.1:PORT'
//   fake.requests           -> [{ method, path, body, auth, aborted, start, firstByte, end, bytes }]
//   fake.speechRequests()   -> the POSTs to /v1/audio/speech
//   fake.set({...}) / fake.reset({...})
//   await fake.down(); await fake.up()   // stop listening / listen again on the same port
//   await fake.close()
//
// The audio is a sine tone (amplitude 8000) of toneHz(body) Hz, default 440,
// msPerChar ms per character of input (at least 200 ms), at 24 kHz, 16-bit
// mono little-endian: raw for response_format "pcm", a streamed WAV
// (RIFF and data sizes 0xFFFFFFFF, a LIST chunk before "fmt ", as
// Kokoro-FastAPI's ffmpeg writer makes it) for "wav". Every chunk holds
// chunkMs of audio and is followed by a pause of chunkMs / pace; chunk
// boundaries fall on odd byte offsets, and the WAV header is sent in two
// pieces, so a client has to carry bytes across chunks.
//
// Behaviour options:
//   voices: ['af_bella', 'af_sky', 'am_adam']   what GET /v1/audio/voices lists
//   voicesShape: 'kokoro'   {"voices":[{"id","name"}]}; 'legacy' {"voices":[names]};
//                           'orpheus' {"status":"ok","voices":[names]};
//                           'none' 404 (OpenAI, openedai-speech)
//   aliases: ['alloy', 'nova']   OpenAI names accepted too (Kokoro maps them)
//   models: ['tts-1', 'kokoro']  the model names accepted
//   toneHz: (body) => 440        the tone's frequency
//   msPerChar: 40, chunkMs: 20, pace: 1  (pace 2 sends twice as fast as real time)
//   firstByteDelayMs: 0          pause before the status line (a slow service)
//   wavRate: 24000               the sample rate of WAV answers
//   pcmRate: 24000               the sample rate of raw PCM answers; another rate is
//                                announced as openedai-speech's Piper voices do it:
//                                Content-Type audio/pcm;rate=22050
//   alwaysWav: false             Orpheus-FastAPI: a whole WAV file with real sizes,
//                                Content-Type audio/wav, whatever was asked for
//   contentType: undefined       override the Content-Type of the audio
//   httpError: {status, body}    answer with this instead of audio
//   apiKey: undefined            require "Authorization: Bearer <apiKey>" (else 401, OpenAI style)
//   closeAfterChunks: k          after k chunks destroy the socket (dies mid-stream)
//   stallAfterChunks: k          after k chunks send nothing more until the client hangs up
//   voicesStall: false           GET /v1/audio/voices sends nothing until the client hangs up
//   behave: (body) => ({...})    per-request overrides of any option
import http from 'node:http';

const RATE = 24000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** n samples of a tone as 16-bit LE bytes, continuing at sample offset `from`. */
export function tone(hz, n, from = 0, rate = RATE, amp = 8000) {
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(amp * Math.sin((2 * Math.PI * hz * (from + i)) / rate)), i * 2);
  return b;
}

/** A WAV header; sizes 0xFFFFFFFF for a stream, with a LIST chunk first. */
export function wavHeader({ rate = RATE, dataBytes = 0xffffffff, list = true } = {}) {
  const parts = [];
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0);
  riff.write('WAVE', 8);
  parts.push(riff);
  if (list) { // ffmpeg's INFO/ISFT, odd-sized like the real one
    const text = Buffer.from('INFOISFT\x0e\x00\x00\x00Lavf60.16.100\x00', 'latin1');
    const l = Buffer.alloc(8);
    l.write('LIST', 0);
    l.writeUInt32LE(text.length, 4);
    parts.push(l, text, Buffer.alloc(text.length % 2));
  }
  const fmt = Buffer.alloc(24);
  fmt.write('fmt ', 0);
  fmt.writeUInt32LE(16, 4);
  fmt.writeUInt16LE(1, 8);
  fmt.writeUInt16LE(1, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE(rate * 2, 16);
  fmt.writeUInt16LE(2, 20);
  fmt.writeUInt16LE(16, 22);
  const data = Buffer.alloc(8);
  data.write('data', 0);
  data.writeUInt32LE(dataBytes >>> 0, 4);
  parts.push(fmt, data);
  const h = Buffer.concat(parts);
  const total = dataBytes === 0xffffffff ? 0xffffffff : h.length - 8 + dataBytes;
  h.writeUInt32LE(total >>> 0, 4);
  return h;
}

export class FakeTTS {
  constructor(opts = {}) {
    this.defaults = {
      voices: ['af_bella', 'af_sky', 'am_adam'], voicesShape: 'kokoro', aliases: ['alloy', 'nova'],
      models: ['tts-1', 'tts-1-hd', 'kokoro'], toneHz: () => 440, msPerChar: 40, chunkMs: 20, pace: 1,
      firstByteDelayMs: 0, alwaysWav: false, ...opts,
    };
    this.opts = { ...this.defaults };
    this.requests = [];
    this.inflight = 0;
    this.maxInflight = 0;
    this.sockets = new Set();
    this.port = opts.port || 0;
    this.server = null;
  }

  set(opts) { Object.assign(this.opts, opts); }

  reset(opts = {}) { this.opts = { ...this.defaults, ...opts }; }

  speechRequests() { return this.requests.filter((r) => r.path === '/v1/audio/speech'); }

  async up() {
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', resolve);
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Stops listening and drops every connection (the service is down). */
  async down() {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    for (const c of this.sockets) c.destroy();
    await new Promise((r) => s.close(r));
  }

  close() { return this.down(); }

  #json(res, status, obj) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(obj));
  }

  async #handle(req, res) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    const rec = { method: req.method, path: req.url, body, auth: req.headers.authorization || null,
                  aborted: false, start: Date.now(), firstByte: null, end: null, bytes: 0 };
    this.requests.push(rec);
    let finished = false;
    res.on('finish', () => { finished = true; rec.end = Date.now(); });
    res.on('close', () => { if (!finished) { rec.aborted = true; rec.end = Date.now(); } });
    const extra = typeof this.opts.behave === 'function' ? this.opts.behave(body) : null;
    const o = { ...this.opts, ...(extra || {}) };
    try {
      await this.#route(req, res, body, rec, o);
    } catch (e) {
      if (!res.headersSent) this.#json(res, 500, { detail: String(e) });
      else res.destroy();
    }
  }

  async #route(req, res, body, rec, o) {
    if (o.apiKey && req.headers.authorization !== `Bearer ${o.apiKey}`) {
      const given = (req.headers.authorization || '').replace(/^Bearer /, '');
      return this.#json(res, 401, { error: { message: `Incorrect API key provided: ${given || '(none)'}. You can find your API key at https://platform.openai.com/account/api-keys.`, type: 'invalid_request_error', code: 'invalid_api_key' } });
    }
    if (req.method === 'GET' && req.url.startsWith('/v1/audio/voices')) {
      if (o.voicesStall) {
        while (!rec.aborted) await sleep(20);
        return;
      }
      if (o.voicesShape === 'none') return this.#json(res, 404, { detail: 'Not Found' });
      const legacy = o.voicesShape === 'legacy' || req.url.includes('legacy=true');
      if (o.voicesShape === 'orpheus') return this.#json(res, 200, { status: 'ok', voices: o.voices });
      return this.#json(res, 200, { voices: legacy ? o.voices : o.voices.map((v) => ({ id: v, name: v })) });
    }
    if (req.method !== 'POST' || req.url !== '/v1/audio/speech') return this.#json(res, 404, { detail: 'Not Found' });
    if (o.httpError) {
      res.writeHead(o.httpError.status, { 'content-type': 'application/json' });
      res.end(typeof o.httpError.body === 'string' ? o.httpError.body : JSON.stringify(o.httpError.body));
      return;
    }
    // FastAPI's own validation (pydantic): 422 with a list of errors
    if (!body || typeof body !== 'object') {
      return this.#json(res, 422, { detail: [{ type: 'json_invalid', loc: ['body'], msg: 'JSON decode error', input: {} }] });
    }
    if (typeof body.input !== 'string') {
      return this.#json(res, 422, { detail: [{ type: 'missing', loc: ['body', 'input'], msg: 'Field required', input: body }] });
    }
    if (!o.models.includes(body.model)) {
      return this.#json(res, 400, { detail: { error: 'invalid_model', message: `Unsupported model: ${body.model}`, type: 'invalid_request_error' } });
    }
    const voice = body.voice ?? 'af_heart';
    if (![...o.voices, ...o.aliases].includes(voice)) {
      return this.#json(res, 400, { detail: { error: 'validation_error', message: `Voice '${voice}' not found. Available voices: ${[...o.voices].sort().join(', ')}`, type: 'invalid_request_error' } });
    }
    if (!body.input.trim()) {
      return this.#json(res, 400, { detail: { error: 'validation_error', message: 'Text is empty after preprocessing', type: 'invalid_request_error' } });
    }
    const format = body.response_format ?? 'mp3';
    if (!o.alwaysWav && format !== 'pcm' && format !== 'wav') {
      return this.#json(res, 400, { detail: { error: 'validation_error', message: `this fake makes pcm and wav, not ${format}`, type: 'invalid_request_error' } });
    }
    const speed = body.speed ?? 1;
    const wav = o.alwaysWav || format === 'wav';
    const rate = wav ? (o.wavRate || RATE) : (o.pcmRate || RATE);
    const samples = Math.round(Math.max(200, body.input.length * o.msPerChar) / speed * rate / 1000);
    const hz = o.toneHz(body);
    await this.#stream(res, rec, o, { wav, sized: o.alwaysWav, samples, hz, rate });
  }

  async #stream(res, rec, o, { wav, sized, samples, hz, rate }) {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      if (o.firstByteDelayMs) await sleep(o.firstByteDelayMs);
      if (rec.aborted) return;
      res.writeHead(200, {
        'content-type': o.contentType || (wav ? 'audio/wav' : rate !== RATE ? `audio/pcm;rate=${rate}` : 'audio/pcm'),
        'content-disposition': `attachment; filename=speech.${wav ? 'wav' : 'pcm'}`,
        'cache-control': 'no-cache',
      });
      const write = (buf) => { if (!rec.firstByte) rec.firstByte = Date.now(); rec.bytes += buf.length; res.write(buf); };
      let pending = Buffer.alloc(0);
      if (wav) {
        const h = wavHeader({ rate, dataBytes: sized ? samples * 2 : 0xffffffff });
        write(h.subarray(0, 7)); // a header split in the middle of a field
        await sleep(5);
        pending = h.subarray(7);
      }
      const per = Math.round((rate * o.chunkMs) / 1000);
      // Every write but the last ends on an odd byte offset of the body:
      // one byte is held back for the next write when needed.
      let sent = wav ? 7 : 0;
      let chunks = 0;
      for (let at = 0; at < samples; at += per) {
        if (rec.aborted) return;
        if (o.closeAfterChunks === chunks) { res.socket.destroy(); return; }
        if (o.stallAfterChunks === chunks) {
          while (!rec.aborted) await sleep(20);
          return;
        }
        pending = Buffer.concat([pending, tone(hz, Math.min(per, samples - at), at, rate)]);
        let n = pending.length;
        if ((sent + n) % 2 === 0) n -= 1;
        write(pending.subarray(0, n));
        sent += n;
        pending = pending.subarray(n);
        chunks++;
        await sleep(o.chunkMs / o.pace);
      }
      if (pending.length) write(pending);
      res.end();
    } finally {
      this.inflight--;
    }
  }
}

export async function startFakeTTS(opts = {}) { return new FakeTTS(opts).up(); }
