// Fake LLM servers for parley's tests: an OpenAI-compatible chat completions
// server (SSE) and an Ollama server (NDJSON), on loopback, behaving like the
// real ones, including their quirks and failures. Each records the requests
// it receives (path, parsed body, whether the client hung up early) and how
// many streams ran at once.
//
//   const fake = await startFakeOpenAI({ answer: 'Hello there.' });
//   fake.url            -> 'http://127.0.0.1:PORT'
//   fake.requests       -> [{ path, body, aborted, start, end }]
//   fake.chatRequests() -> the POSTs to the chat endpoint
//   fake.set({...})     -> change behaviour for later requests
//   await fake.close()
//
// Behaviour options (both fakes unless noted):
//   answer: string | (body) => string   text to stream (split into ~word tokens)
//   tokenDelayMs: 10                    pause between tokens
//   firstTokenDelayMs: 0                pause before the first token
//   model: 'fake-model'                 model the server has (tags, /v1/models)
//   httpError: {status, body}           answer with this instead of a stream
//   errorAfter: k                       after k tokens send an error in-stream
//   dieAfter: k                         after k tokens destroy the socket
//   hangAfter: k                        after k tokens send nothing more (never end)
//   noDone: true                        end the body without the final marker
//   openai quirks: nospace, crlf, splitBytes (write in pieces of N bytes),
//     multiData (JSON split over two data: lines), comments (": ping" lines),
//     usageChunk (final chunk with empty choices), extraFields (unknown
//     fields such as obfuscation), llamacppError (the old 'error: {...}' line
//     instead of data: {"error":...}), errorAfter uses data: {"error":...}
//   ollama: pulled: false (model missing from /api/tags)
//   behave: (body, lastUserText) => ({...})  per-request overrides of any option,
//     e.g. make only the request that mentions "crash" fail
import http from 'node:http';

// Word-sized tokens that concatenate back to the text.
function tokenize(text) {
  return text.match(/\S+\s*/g) || [];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lastUser(body) {
  const msgs = (body && body.messages) || [];
  for (let i = msgs.length - 1; i >= 0; i--) if (msgs[i].role === 'user') return msgs[i].content;
  return '';
}

class FakeBase {
  constructor(opts) {
    this.defaults = { answer: 'Hello from the fake model.', tokenDelayMs: 10, firstTokenDelayMs: 0,
                      model: 'fake-model', ...opts };
    this.opts = { ...this.defaults };
    this.requests = [];
    this.inflight = 0;
    this.maxInflight = 0;
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  set(opts) { Object.assign(this.opts, opts); }

  /** Back to the options the fake was started with, plus `opts`. */
  reset(opts = {}) { this.opts = { ...this.defaults, ...opts }; }

  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  answerFor(body, o = this.opts) {
    const a = o.answer;
    return typeof a === 'function' ? a(body, lastUser(body)) : a;
  }

  async #handle(req, res) {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body = null;
    try { body = raw ? JSON.parse(raw) : null; } catch { body = raw; }
    const rec = { method: req.method, path: req.url, body, aborted: false, start: Date.now(), end: null };
    this.requests.push(rec);
    let finished = false;
    res.on('finish', () => { finished = true; rec.end = Date.now(); });
    res.on('close', () => { if (!finished) { rec.aborted = true; rec.end = Date.now(); } });
    const extra = typeof this.opts.behave === 'function' ? this.opts.behave(body, lastUser(body)) : null;
    const o = { ...this.opts, ...(extra || {}) };
    try {
      await this.route(req, res, body, rec, o);
    } catch (e) {
      if (!res.headersSent) { res.writeHead(500); res.end(String(e)); }
    }
  }

  // Streams `pieces` (strings) honouring delays and the failure options;
  // `errorPiece` is what an in-stream error looks like for this API.
  async stream(o, res, rec, tokens, encode, endPiece, errorPiece) {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      const write = async (s) => {
        if (rec.aborted) return;
        if (o.splitBytes) {
          const buf = Buffer.from(s);
          for (let i = 0; i < buf.length; i += o.splitBytes) {
            res.write(buf.subarray(i, i + o.splitBytes));
            await sleep(1);
          }
        } else {
          res.write(s);
        }
      };
      if (o.firstTokenDelayMs) await sleep(o.firstTokenDelayMs);
      for (let i = 0; i < tokens.length; i++) {
        if (rec.aborted) return;
        if (o.errorAfter === i) { await write(errorPiece()); res.end(); return; }
        if (o.dieAfter === i) { res.socket.destroy(); return; }
        if (o.hangAfter === i) {
          while (!rec.aborted) await sleep(20);
          return;
        }
        await write(encode(tokens[i], i));
        if (o.tokenDelayMs) await sleep(o.tokenDelayMs);
      }
      if (o.noDone) { res.end(); return; }
      await write(endPiece());
      res.end();
    } finally {
      this.inflight--;
    }
  }
}

export class FakeOpenAI extends FakeBase {
  chatRequests() { return this.requests.filter((r) => r.path === '/v1/chat/completions'); }

  async route(req, res, body, rec, o) {
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: o.model, object: 'model' }] }));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `no route ${req.url}`, type: 'invalid_request_error' } }));
      return;
    }
    if (o.httpError) {
      res.writeHead(o.httpError.status, { 'content-type': 'application/json' });
      res.end(typeof o.httpError.body === 'string' ? o.httpError.body : JSON.stringify(o.httpError.body));
      return;
    }
    if (!body || !body.stream) {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'this fake only streams' } }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    const nl = o.crlf ? '\r\n' : '\n';
    const prefix = o.nospace ? 'data:' : 'data: ';
    const id = `chatcmpl-${Math.random().toString(36).slice(2)}`;
    const chunk = (delta, finish) => {
      const c = { id, object: 'chat.completion.chunk', created: 1, model: body.model,
                  choices: [{ index: 0, delta, finish_reason: finish }] };
      if (o.extraFields) { c.obfuscation = 'x7Gq'; c.system_fingerprint = 'fp_1'; c.choices[0].logprobs = null; }
      return c;
    };
    const event = (obj) => {
      const json = JSON.stringify(obj);
      let s = '';
      if (o.comments) s += `: ping${nl}`;
      if (o.multiData && json.length > 20) {
        const cut = json.indexOf(',') + 1;
        s += `${prefix}${json.slice(0, cut)}${nl}${prefix}${json.slice(cut)}${nl}`;
      } else {
        s += `${prefix}${json}${nl}`;
      }
      return s + nl;
    };
    const tokens = tokenize(this.answerFor(body, o));
    await this.stream(o, res, rec, tokens,
      (t, i) => event(chunk(i === 0 ? { role: 'assistant', content: t } : { content: t }, null)),
      () => {
        let s = event(chunk({}, 'stop'));
        if (o.usageChunk) s += event({ id, object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 10, completion_tokens: tokens.length, total_tokens: 10 + tokens.length } });
        return s + `${prefix}[DONE]${nl}${nl}`;
      },
      () => (o.llamacppError
        ? `error: ${JSON.stringify({ code: 500, message: 'llama.cpp exploded', type: 'server_error' })}${nl}${nl}`
        : event({ error: { message: 'The model crashed mid-answer', type: 'server_error', code: 'internal' } })));
  }
}

export class FakeOllama extends FakeBase {
  constructor(opts) { super({ pulled: true, model: 'llama3.2', ...opts }); }

  chatRequests() {
    return this.requests.filter((r) => r.path === '/api/chat' && r.body && r.body.messages && r.body.messages.length);
  }

  loadRequests() {
    return this.requests.filter((r) => r.path === '/api/chat' && r.body && r.body.messages && !r.body.messages.length);
  }

  async route(req, res, body, rec, o) {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('Ollama is running');
      return;
    }
    if (req.method === 'GET' && req.url === '/api/tags') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const models = o.pulled ? [{ name: `${o.model}:latest`, model: `${o.model}:latest`, size: 2019393189 }] : [{ name: 'other:latest', model: 'other:latest' }];
      res.end(JSON.stringify({ models }));
      return;
    }
    if (req.method !== 'POST' || req.url !== '/api/chat') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('404 page not found');
      return;
    }
    const known = o.pulled && body && (body.model === o.model || body.model === `${o.model}:latest`);
    if (!known) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `model "${body && body.model}" not found, try pulling it first` }));
      return;
    }
    if (o.httpError) {
      res.writeHead(o.httpError.status, { 'content-type': 'application/json' });
      res.end(typeof o.httpError.body === 'string' ? o.httpError.body : JSON.stringify(o.httpError.body));
      return;
    }
    if (!body.messages || body.messages.length === 0) { // load request
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done_reason: 'load', done: true }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const line = (obj) => JSON.stringify(obj) + '\n';
    const tokens = tokenize(this.answerFor(body, o));
    await this.stream(o, res, rec, tokens,
      (t) => line({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: t }, done: false }),
      () => line({ model: body.model, created_at: new Date().toISOString(), message: { role: 'assistant', content: '' }, done_reason: 'stop', done: true, total_duration: 1000, eval_count: tokens.length }),
      () => line({ error: 'an error was encountered while running the model: unexpected EOF' }));
  }
}

export async function startFakeOpenAI(opts = {}) { return new FakeOpenAI(opts).listen(); }
export async function startFakeOllama(opts = {}) { return new FakeOllama(opts).listen(); }
