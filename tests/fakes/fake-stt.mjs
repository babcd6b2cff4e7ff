// A fake OpenAI-compatible transcription server for parley's tests, on
// loopback, behaving like the real ones (OpenAI, speaches, whisper.cpp's
// server), including their quirks and failures:
//
//   POST /v1/audio/transcriptions   OpenAI / speaches: multipart form with
//       file (a WAV), model (required), language, response_format (json |
//       text | verbose_json); answers {"text": "..."}; errors are 4xx/5xx
//       with {"error": {"message", "type", "param", "code"}} (OpenAI) or
//       422 {"detail": [{"msg": ...}]} for a missing field (speaches).
//   POST /inference                 whisper.cpp's server: the same form
//       (model not needed); answers {"text": " segment\n segment\n"} (a
//       leading space and a newline per segment), text/html for
//       response_format=text, and reports its own failures as 200
//       {"error": "..."}; it accepts 16 kHz WAV only.
//   anything else                   404 ("File Not Found (/x)" as text, like
//       whisper.cpp, or OpenAI's JSON error with flavor 'openai').
//
// Like whisper.cpp's server it works on ONE request at a time (a mutex
// around inference): a request is read in full, then waits its turn. A
// request whose client went away is still processed when its turn comes
// (the real server does not notice), unless it is still waiting.
//
//   const stt = await startFakeSTT({ transcript: 'hello there' });
//   stt.url               -> 'http://127.0.0.1:PORT'
//   stt.requests          -> [{ method, path, fields, file, wav, auth, status,
//                               aborted, queuedMs, start, end, error }]
//   stt.transcriptions()  -> the POSTs to a transcription path
//   stt.set({...}) / stt.reset({...})
//   await stt.stop()      -> stop listening (service down; port kept)
//   await stt.start()     -> listen again on the same port
//   stt.unstall()         -> let stalled requests finish (with their answer)
//   await stt.close()
//
// Behaviour options:
//   transcript: string | string[] (by request index, the last repeated) |
//               ({ index, seconds, fields, path }) => string
//   processMs: 20        time "inference" takes per request (holds the mutex)
//   slowMs: 0            extra processing time (a slow model)
//   concurrency: 1       requests processed at once (whisper.cpp: 1)
//   fail: { status, body }   answer with this instead (body: object or string;
//                            default OpenAI's 500 server_error)
//   stall: true          never answer (holds the mutex until unstall() or
//                        the client goes away)
//   closeMidResponse: true   send the headers and half the body, then cut
//                            the connection
//   key: 'sk-...'        require "Authorization: Bearer <key>" (401 otherwise)
//   flavor: 'openai' | 'speaches' | 'whispercpp'   error shapes (see above)
//   behave: (rec) => ({...})  per-request overrides of any option
import http from 'node:http';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const OPENAI_500 = {
  error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null },
};

function openaiError(message, { type = 'invalid_request_error', param = null, code = null } = {}) {
  return { error: { message, type, param, code } };
}

/** Parses a multipart/form-data body strictly. Throws Error(reason) when malformed.
 *  Returns {fields: {name: string}, files: {name: {filename, contentType, data}}}. */
export function parseMultipart(contentType, body) {
  const m = /^multipart\/form-data\s*;\s*boundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType || '');
  if (!m) throw new Error('Content-Type is not multipart/form-data with a boundary');
  const boundary = m[1] || m[2];
  const delim = Buffer.from(`--${boundary}`);
  const fields = {};
  const files = {};
  if (body.indexOf(delim) !== 0) throw new Error('body does not start with the boundary');
  let pos = delim.length;
  for (;;) {
    if (body.subarray(pos, pos + 2).toString() === '--') {
      const rest = body.subarray(pos + 2).toString('latin1');
      if (rest !== '' && rest !== '\r\n') throw new Error('bytes after the closing boundary');
      return { fields, files };
    }
    if (body.subarray(pos, pos + 2).toString() !== '\r\n') throw new Error('no CRLF after a boundary');
    pos += 2;
    const headEnd = body.indexOf('\r\n\r\n', pos);
    if (headEnd < 0) throw new Error('a part without a blank line after its headers');
    const headers = {};
    for (const line of body.subarray(pos, headEnd).toString('latin1').split('\r\n')) {
      const c = line.indexOf(':');
      if (c <= 0) throw new Error(`a malformed part header: ${JSON.stringify(line)}`);
      headers[line.slice(0, c).trim().toLowerCase()] = line.slice(c + 1).trim();
    }
    const disp = headers['content-disposition'] || '';
    if (!/^form-data\s*;/i.test(disp)) throw new Error('a part without Content-Disposition: form-data');
    const name = /;\s*name="([^"]*)"/i.exec(disp)?.[1];
    if (!name) throw new Error('a part without a name');
    const filename = /;\s*filename="([^"]*)"/i.exec(disp)?.[1];
    const dataStart = headEnd + 4;
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), dataStart);
    if (next < 0) throw new Error('a part that never ends (no closing boundary)');
    const data = body.subarray(dataStart, next);
    if (filename !== undefined) {
      files[name] = { filename, contentType: headers['content-type'] || '', data };
    } else {
      fields[name] = data.toString('utf8');
    }
    pos = next + 2 + delim.length;
  }
}

/** Reads a RIFF/WAVE file: {rate, channels, bits, samples, seconds, pcm} or throws. */
export function parseWav(buf) {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new Error('not a RIFF/WAVE file');
  }
  if (buf.readUInt32LE(4) !== buf.length - 8) throw new Error('RIFF size does not match the file');
  let pos = 12;
  let fmt = null;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('latin1', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const start = pos + 8;
    if (start + size > buf.length) throw new Error(`chunk ${id} runs past the end`);
    if (id === 'fmt ') {
      if (size < 16) throw new Error('fmt chunk too short');
      fmt = {
        format: buf.readUInt16LE(start), channels: buf.readUInt16LE(start + 2), rate: buf.readUInt32LE(start + 4),
        byteRate: buf.readUInt32LE(start + 8), align: buf.readUInt16LE(start + 12), bits: buf.readUInt16LE(start + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data before fmt');
      if (fmt.format !== 1 || fmt.bits !== 16) throw new Error(`not 16-bit PCM (format ${fmt.format}, ${fmt.bits} bits)`);
      if (fmt.channels < 1 || fmt.align !== 2 * fmt.channels || fmt.byteRate !== fmt.rate * fmt.align) {
        throw new Error('inconsistent fmt chunk');
      }
      if (size % fmt.align) throw new Error('data is not a whole number of frames');
      const samples = size / fmt.align;
      return { rate: fmt.rate, channels: fmt.channels, bits: fmt.bits, samples, seconds: samples / fmt.rate,
               pcm: buf.subarray(start, start + size) };
    }
    pos = start + size + (size & 1);
  }
  throw new Error('no data chunk');
}

export class FakeSTT {
  constructor(opts = {}) {
    this.defaults = { transcript: 'hello from the fake transcriber', processMs: 20, slowMs: 0, concurrency: 1,
                      flavor: 'openai', ...opts };
    this.opts = { ...this.defaults };
    this.requests = [];
    this.index = 0;          // transcription requests that reached inference
    this.running = 0;        // processing now
    this.maxRunning = 0;
    this.waiting = [];       // resolvers of requests waiting for the mutex
    this.stalled = new Set();
    this.sockets = new Set();
    this.port = 0;
    this.server = null;
  }

  set(opts) { Object.assign(this.opts, opts); }

  reset(opts = {}) { this.opts = { ...this.defaults, ...opts }; }

  transcriptions() {
    return this.requests.filter((r) => r.method === 'POST' && (r.path === '/v1/audio/transcriptions' || r.path === '/inference'));
  }

  #newServer() {
    const server = http.createServer((req, res) => { this.#handle(req, res).catch((e) => {
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'text/plain' }); res.end(String(e)); }
    }); });
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    return server;
  }

  async start() {
    if (this.server) return this;
    this.server = this.#newServer();
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => { this.server.off('error', reject); resolve(); });
    });
    this.port = this.server.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    return this;
  }

  /** Stops listening and drops every connection: the service is down. */
  async stop() {
    if (!this.server) return;
    const s = this.server;
    this.server = null;
    this.unstall();
    for (const sock of this.sockets) sock.destroy();
    await new Promise((r) => s.close(r));
  }

  /** A port nobody listens on (for a service that is down from the start). */
  async reservePort() {
    const probe = http.createServer();
    await new Promise((r) => probe.listen(0, '127.0.0.1', r));
    this.port = probe.address().port;
    this.url = `http://127.0.0.1:${this.port}`;
    await new Promise((r) => probe.close(r));
    return this;
  }

  async close() { await this.stop(); }

  unstall() {
    for (const release of this.stalled) release();
    this.stalled.clear();
  }

  async #acquire(rec, o) {
    if (this.running < o.concurrency) { this.running++; return true; }
    const t0 = Date.now();
    // Wait for a turn; a client that leaves while waiting gives up its turn.
    const ok = await new Promise((resolve) => {
      const w = { resolve };
      this.waiting.push(w);
      rec.onAbort = () => {
        const i = this.waiting.indexOf(w);
        if (i >= 0) { this.waiting.splice(i, 1); resolve(false); }
      };
    });
    rec.queuedMs = Date.now() - t0;
    return ok;
  }

  #release() {
    const next = this.waiting.shift();
    if (next) next.resolve(true); else this.running--;
  }

  #transcriptFor(o, rec) {
    const t = o.transcript;
    const index = rec.index;
    if (typeof t === 'function') return t({ index, seconds: rec.wav ? rec.wav.seconds : 0, fields: rec.fields, path: rec.path });
    if (Array.isArray(t)) return t[Math.min(index, t.length - 1)];
    return t;
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const rec = { method: req.method, path: req.url, fields: null, file: null, wav: null,
                  auth: req.headers.authorization || null, contentType: req.headers['content-type'] || '',
                  status: null, aborted: false, queuedMs: 0, start: Date.now(), end: null, error: null, index: null };
    this.requests.push(rec);
    let finished = false;
    res.on('finish', () => { finished = true; rec.end = Date.now(); });
    res.on('close', () => {
      if (!finished) { rec.aborted = true; rec.end = Date.now(); if (rec.onAbort) rec.onAbort(); }
    });
    const extra = typeof this.opts.behave === 'function' ? this.opts.behave(rec) : null;
    const o = { ...this.opts, ...(extra || {}) };
    const whisper = req.url === '/inference';
    const send = (status, obj, type = 'application/json') => {
      rec.status = status;
      if (rec.aborted) return;
      const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text),
                              ...(whisper ? { server: 'whisper.cpp' } : {}) });
      res.end(text);
    };

    if (req.method !== 'POST' || (req.url !== '/v1/audio/transcriptions' && !whisper)) {
      if (o.flavor === 'openai') send(404, openaiError(`Invalid URL (${req.method} ${req.url})`));
      else if (o.flavor === 'speaches') send(404, { detail: 'Not Found' });
      else send(404, `File Not Found (${req.url})`, 'text/plain');
      return;
    }
    if (o.key && rec.auth !== `Bearer ${o.key}`) {
      const got = (rec.auth || '').replace(/^Bearer\s+/i, '');
      send(401, got
        ? openaiError(`Incorrect API key provided: ${got}. You can find your API key at https://platform.openai.com/account/api-keys.`, { code: 'invalid_api_key' })
        : openaiError("You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", { code: null }));
      return;
    }

    // Strict form parsing: what the real servers refuse, this one refuses.
    const refuse = (message, param = null) => {
      rec.error = message;
      if (whisper) send(200, { error: message });                       // whisper.cpp: a 200 with "error"
      else if (o.flavor === 'speaches' && param) {
        send(422, { detail: [{ type: 'missing', loc: ['body', param], msg: 'Field required', input: null }] });
      } else send(400, openaiError(message, { param }));
    };
    let form;
    try {
      form = parseMultipart(rec.contentType, body);
    } catch (e) {
      rec.error = e.message;
      if (whisper) send(400, 'Invalid request', 'text/plain');          // httplib's error handler
      else send(400, openaiError(`Could not parse multipart form: ${e.message}`));
      return;
    }
    rec.fields = form.fields;
    const file = form.files.file;
    if (file) rec.file = { filename: file.filename, contentType: file.contentType, bytes: file.data.length };
    if (!file) { refuse(whisper ? "no 'file' field in the request" : "you must provide a file parameter", 'file'); return; }
    if (!whisper && !form.fields.model) { refuse('you must provide a model parameter', 'model'); return; }
    try {
      rec.wav = parseWav(file.data);
      delete rec.wav.pcm;
    } catch (e) {
      rec.error = e.message;
      refuse(whisper ? 'failed to read WAV file'
        : "Invalid file format. Supported formats: ['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']");
      return;
    }
    if (whisper && rec.wav.rate !== 16000) { refuse('failed to read WAV file'); return; }

    // One request at a time: wait for the inference mutex.
    if (!(await this.#acquire(rec, o))) return;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      rec.index = this.index++;
      if (o.stall) {
        await new Promise((resolve) => {
          this.stalled.add(resolve);
          res.on('close', () => { this.stalled.delete(resolve); resolve(); });
        });
        if (rec.aborted) return;
      }
      await sleep((o.processMs || 0) + (o.slowMs || 0));
      if (o.fail) {
        const f = o.fail === true ? {} : o.fail;
        send(f.status || 500, f.body || OPENAI_500, typeof f.body === 'string' ? 'text/plain' : 'application/json');
        return;
      }
      const text = this.#transcriptFor(o, rec);
      rec.transcript = text;
      const format = form.fields.response_format || 'json';
      let out;
      let type = 'application/json';
      if (whisper) {
        // whisper.cpp: one line per segment, each starting with a space.
        const segs = text ? text.split(/(?<=[.!?])\s+/).map((s) => ` ${s}\n`).join('') : '';
        if (format === 'text') { out = segs; type = 'text/html; charset=utf-8'; } else out = JSON.stringify({ text: segs });
      } else if (format === 'text') {
        out = text; type = 'text/plain; charset=utf-8';
      } else if (format === 'verbose_json') {
        out = JSON.stringify({ task: 'transcribe', language: 'english', duration: rec.wav.seconds, text,
                               segments: [{ id: 0, seek: 0, start: 0, end: rec.wav.seconds, text: ` ${text}`, tokens: [],
                                            temperature: 0, avg_logprob: -0.2, compression_ratio: 1.2, no_speech_prob: 0.01 }] });
      } else {
        out = JSON.stringify({ text });
      }
      if (o.closeMidResponse) {
        rec.status = 200;
        if (rec.aborted) return;
        res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(out) + 10 });
        res.write(out.slice(0, Math.max(1, Math.floor(out.length / 2))));
        await sleep(20);
        res.socket?.destroy();
        return;
      }
      send(200, out, type);
    } finally {
      this.#release();
    }
  }
}

/** Starts a fake transcription server; { down: true } reserves a port without listening. */
export async function startFakeSTT(opts = {}) {
  const { down, ...rest } = opts;
  const f = new FakeSTT(rest);
  if (down) await f.reservePort(); else await f.start();
  return f;
}
