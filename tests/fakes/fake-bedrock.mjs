// A fake AWS Bedrock runtime endpoint (ConverseStream) for parley's tests,
// on loopback. Like the real service it
//   - checks authentication: a SigV4 signature, recomputed here with this
//     file's own implementation from what arrives (the raw path, whose model
//     id holds %3A, encoded again to %253A in the canonical request; the
//     signed headers; the body's SHA-256), or a Bedrock API key as a bearer
//     token; a mismatch gets 403 and Bedrock's error JSON;
//   - validates the Converse body (turns start with the user and alternate,
//     text blocks are not blank, the model exists): 400 ValidationException;
//   - streams real event-stream frames (eventstream.mjs, correct CRCs):
//     messageStart, contentBlockDelta per token, contentBlockStop,
//     messageStop, metadata.
//
//   const fake = await startFakeBedrock({ region: 'eu-west-3', ... });
//   fake.url                -> 'http://127.0.0.1:PORT' (parley's --llm-url)
//   fake.requests           -> [{ method, path, modelId, body, headers, auth, status,
//                                 canonicalRequest, aborted }]
//   fake.converseRequests() -> the converse-stream POSTs that passed authentication
//   fake.set({...}) / fake.reset({...}); await fake.close()
//
// Options:
//   region, accessKeyId, secretAccessKey, sessionToken (required when set),
//   bearerToken (when set, only "Authorization: Bearer <it>" is accepted),
//   model ('anthropic.claude-3-haiku-20240307-v1:0'), answer (string or
//   (body, lastUserText) => string), tokenDelayMs (10), firstTokenDelayMs (0),
//   splitBytes (write frames in pieces of N bytes),
//   faults: exceptionAfter: k (+ exception: {type, message}), corruptCrcAfter: k
//   (frame k+1 has a wrong message CRC), hangAfter: k (nothing more after k
//   tokens, until the client hangs up), httpError: {status, type, message}.
import http from 'node:http';
import crypto from 'node:crypto';
import { bedrockEvent, bedrockException } from './eventstream.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

export const SIGNATURE_MISMATCH = 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';
export const INVALID_TOKEN = 'The security token included in the request is invalid.';

// RFC 3986 unreserved characters stay; every other byte becomes %XX.
function awsEncode(str, keepSlash) {
  let out = '';
  for (const b of Buffer.from(str, 'latin1')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function canonicalUri(rawPath) {
  // Non-S3 services: normalise the path, then encode it (again).
  const segs = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') segs.pop(); else segs.push(s);
  }
  let p = `/${segs.join('/')}`;
  if (segs.length && rawPath.endsWith('/')) p += '/';
  return awsEncode(p, true);
}

function canonicalQuery(raw) {
  if (!raw) return '';
  const dec = (s) => { try { return Buffer.from(decodeURIComponent(s), 'utf8').toString('latin1'); } catch { return s; } };
  return raw.split('&').filter(Boolean).map((kv) => {
    const i = kv.indexOf('=');
    const k = i < 0 ? kv : kv.slice(0, i);
    const v = i < 0 ? '' : kv.slice(i + 1);
    return [awsEncode(dec(k), false), awsEncode(dec(v), false)];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`).join('&');
}

// Returns null when the signature checks out, else {status, type, message}.
function checkSigV4(req, raw, o, rec) {
  const auth = req.headers.authorization || '';
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { status: 403, type: 'MissingAuthenticationTokenException', message: 'Missing Authentication Token' };
  const [, keyId, date, region, service, signedList, signature] = m;
  if (keyId !== o.accessKeyId) return { status: 403, type: 'UnrecognizedClientException', message: INVALID_TOKEN };
  const amzDate = req.headers['x-amz-date'] || '';
  if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date) {
    return { status: 403, type: 'InvalidSignatureException', message: 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP.' };
  }
  const when = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(Date.now() - when) > 5 * 60 * 1000) {
    return { status: 403, type: 'InvalidSignatureException', message: `Signature expired: ${amzDate} is now earlier than the allowed window.` };
  }
  if (region !== o.region || service !== 'bedrock') {
    return { status: 403, type: 'InvalidSignatureException', message: `Credential should be scoped to a valid region and service 'bedrock', not '${region}/${service}'.` };
  }
  const signed = signedList.split(';');
  if (!signed.includes('host') || !signed.includes('x-amz-date')) {
    return { status: 403, type: 'InvalidSignatureException', message: "'Host' or 'x-amz-date' must be a signed header." };
  }
  if (o.sessionToken && (req.headers['x-amz-security-token'] !== o.sessionToken || !signed.includes('x-amz-security-token'))) {
    return { status: 403, type: 'UnrecognizedClientException', message: INVALID_TOKEN };
  }
  const [rawPath, rawQuery] = req.url.split('?');
  const headerLines = signed.map((h) => `${h}:${String(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const creq = [req.method, canonicalUri(rawPath), canonicalQuery(rawQuery), headerLines, signedList, sha256(raw)].join('\n');
  rec.canonicalRequest = creq;
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(creq)].join('\n');
  let k = hmac(`AWS4${o.secretAccessKey}`, date);
  k = hmac(k, region);
  k = hmac(k, service);
  k = hmac(k, 'aws4_request');
  const want = crypto.createHmac('sha256', k).update(sts).digest('hex');
  if (want !== signature) return { status: 403, type: 'InvalidSignatureException', message: SIGNATURE_MISMATCH };
  return null;
}

function lastUser(body) {
  const msgs = (body && body.messages) || [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    if (msgs[i].role === 'user') return (msgs[i].content || []).map((c) => c.text || '').join(' ');
  }
  return '';
}

// Bedrock's own validation of a Converse body; a message or null.
function validate(body) {
  if (!body || typeof body !== 'object') return 'Malformed input request, please reformat your input and try again.';
  const msgs = body.messages;
  if (!Array.isArray(msgs) || msgs.length === 0) return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  if (msgs[0].role !== 'user') return 'A conversation must start with a user message. Try again with a conversation that starts with a user message.';
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role !== 'user' && m.role !== 'assistant') return `Malformed input request: #/messages/${i}/role: ${m.role} is not a valid enum value`;
    if (i > 0 && msgs[i - 1].role === m.role) return 'A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.';
    if (!Array.isArray(m.content) || m.content.length === 0) return `Malformed input request: #/messages/${i}/content: expected minimum item count: 1`;
    for (const c of m.content) if (typeof c.text !== 'string' || !c.text.trim()) return 'The text field in the ContentBlock object is blank. Add text to the text field, and try again.';
  }
  for (const s of body.system || []) if (typeof s.text !== 'string' || !s.text.trim()) return 'The text field in the SystemContentBlock object is blank.';
  const ic = body.inferenceConfig || {};
  if (ic.maxTokens !== undefined && !(Number.isInteger(ic.maxTokens) && ic.maxTokens >= 1)) return 'Malformed input request: #/inferenceConfig/maxTokens: must be at least 1';
  return null;
}

export class FakeBedrock {
  constructor(opts = {}) {
    this.defaults = {
      region: 'us-east-1',
      accessKeyId: 'AKIAFAKEEXAMPLE12345',
      secretAccessKey: 'fakeSecretK7MDENG/bPxRfiCYEXAMPLEKEY+abc',
      sessionToken: null,
      bearerToken: null,
      model: 'anthropic.claude-3-haiku-20240307-v1:0',
      answer: 'Hello from the fake Bedrock model.',
      tokenDelayMs: 10,
      firstTokenDelayMs: 0,
      ...opts,
    };
    this.opts = { ...this.defaults };
    this.requests = [];
    this.sockets = new Set();
    this.server = http.createServer((req, res) => this.#handle(req, res));
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
  }

  set(opts) { Object.assign(this.opts, opts); }
  reset(opts = {}) { this.opts = { ...this.defaults, ...opts }; }
  converseRequests() { return this.requests.filter((r) => r.status === 200); }

  async listen() {
    await new Promise((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }

  #error(res, rec, status, type, message) {
    rec.status = status;
    rec.error = { type, message };
    res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, 'x-amzn-requestid': crypto.randomUUID() });
    res.end(JSON.stringify({ message }));
  }

  async #handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    let body = null;
    try { body = JSON.parse(raw.toString('utf8')); } catch { body = null; }
    const m = /^\/model\/([^/?]+)\/converse-stream$/.exec(req.url.split('?')[0]);
    let modelId = null;
    if (m) { try { modelId = decodeURIComponent(m[1]); } catch { modelId = m[1]; } }
    const rec = { method: req.method, path: req.url, modelId, body, headers: req.headers, auth: null, status: null, canonicalRequest: null, aborted: false };
    this.requests.push(rec);
    let finished = false;
    res.on('finish', () => { finished = true; });
    res.on('close', () => { if (!finished) rec.aborted = true; });
    const o = { ...this.opts };

    if (o.bearerToken) {
      rec.auth = 'bearer';
      if (req.headers.authorization !== `Bearer ${o.bearerToken}`) {
        return this.#error(res, rec, 403, 'AccessDeniedException', 'Authentication failed: Please make sure your API Key is valid.');
      }
    } else {
      rec.auth = 'sigv4';
      const bad = checkSigV4(req, raw, o, rec);
      if (bad) return this.#error(res, rec, bad.status, bad.type, bad.message);
    }
    if (req.method !== 'POST' || !m) return this.#error(res, rec, 404, 'UnknownOperationException', 'The requested operation is not recognized by the service.');
    if (modelId !== o.model) return this.#error(res, rec, 400, 'ValidationException', 'The provided model identifier is invalid.');
    const invalid = validate(body);
    if (invalid) return this.#error(res, rec, 400, 'ValidationException', invalid);
    if (o.httpError) return this.#error(res, rec, o.httpError.status, o.httpError.type || 'ValidationException', o.httpError.message);

    rec.status = 200;
    res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': crypto.randomUUID() });
    const write = async (buf) => {
      if (rec.aborted) return;
      if (o.splitBytes) {
        for (let i = 0; i < buf.length; i += o.splitBytes) {
          res.write(buf.subarray(i, i + o.splitBytes));
          await sleep(1);
        }
      } else {
        res.write(buf);
      }
    };
    const answer = typeof o.answer === 'function' ? o.answer(body, lastUser(body)) : o.answer;
    const tokens = answer.match(/\S+\s*/g) || [];
    const p = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJ'.slice(0, 1 + (tokens.length % 30)); // Bedrock pads events
    await write(bedrockEvent('messageStart', { p, role: 'assistant' }));
    if (o.firstTokenDelayMs) await sleep(o.firstTokenDelayMs);
    for (let i = 0; i < tokens.length; i++) {
      if (rec.aborted) return;
      if (o.exceptionAfter === i) {
        const ex = o.exception || { type: 'modelStreamErrorException', message: 'The model stream failed mid-answer.' };
        await write(bedrockException(ex.type, ex.message));
        res.end();
        return;
      }
      if (o.hangAfter === i) {
        while (!rec.aborted) await sleep(20);
        return;
      }
      const frame = bedrockEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: tokens[i] }, p });
      if (o.corruptCrcAfter === i) {
        frame[frame.length - 1] ^= 0xff;
        await write(frame);
        res.end();
        return;
      }
      await write(frame);
      if (o.tokenDelayMs) await sleep(o.tokenDelayMs);
    }
    await write(bedrockEvent('contentBlockStop', { contentBlockIndex: 0, p }));
    await write(bedrockEvent('messageStop', { p, stopReason: 'end_turn' }));
    await write(bedrockEvent('metadata', { metrics: { latencyMs: 42 }, p, usage: { inputTokens: 20, outputTokens: tokens.length, totalTokens: 20 + tokens.length } }));
    res.end();
  }
}

export async function startFakeBedrock(opts = {}) { return new FakeBedrock(opts).listen(); }
