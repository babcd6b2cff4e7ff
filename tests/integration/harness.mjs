// Shared harness for parley's black-box integration tests.
//
// Run from the repo root:   PARLEY_BIN=build-test/parley node --test tests/integration/
// PARLEY_BIN defaults to build-test/parley, then build/parley (relative to the repo root).
//
// Every wait here has a timeout, and every server started is SIGKILLed when the
// test process exits, so a broken server fails a test instead of hanging it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export { WebSocket, sleep };

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const LISTEN_RE = /listening on https?:\/\/[^:\s]+:(\d+)/;

/** Absolute path of the server binary under test. */
export function serverBin() {
  const env = process.env.PARLEY_BIN;
  if (env) return path.resolve(REPO_ROOT, env);
  for (const rel of ['build-test/parley', 'build/parley']) {
    const p = path.join(REPO_ROOT, rel);
    if (existsSync(p)) return p;
  }
  return path.join(REPO_ROOT, 'build-test/parley');
}

/** process.env without any PARLEY_* variable, LLM API key or AWS_* setting,
 *  plus `extra` (a key in the environment must never send a test to a real
 *  service). */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('PARLEY_') && !k.startsWith('AWS_') && k !== 'OPENAI_API_KEY') env[k] = v;
  }
  return { ...env, ...extra };
}

// Every child we spawn, so none outlives the test process.
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try { p.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function track(proc) {
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  return proc;
}

/**
 * Run the binary to completion (for CLI tests). Kills it after timeoutMs.
 * Resolves {code, signal, stdout, stderr, timedOut, ms}.
 */
export function runBin(args, { env = {}, timeoutMs = 5000 } = {}) {
  const bin = serverBin();
  if (!existsSync(bin)) throw new Error(`server binary not found: ${bin} (set PARLEY_BIN)`);
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const proc = track(spawn(bin, args, { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { timedOut = true; proc.kill('SIGKILL'); }, timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 });
    });
  });
}

/**
 * Start the server on 127.0.0.1 with a free port.
 * Returns {port, url, wsUrl, proc, stderr(), stdout(), exited, stop(signal)}.
 * stop() sends SIGTERM (or `signal`), waits for exit (SIGKILL after 5 s) and
 * resolves {code, signal, ms} where ms is signal → exit.
 */
export async function startServer(args = [], env = {}, { timeoutMs = 10000, hostPort = true } = {}) {
  const bin = serverBin();
  if (!existsSync(bin)) throw new Error(`server binary not found: ${bin} (set PARLEY_BIN)`);
  // Speech decoders cost ~93 MB and ~0.3 s each: servers of tests that do not
  // speak keep none warm (one is still created on demand).
  const warm = args.includes('--stt-warm') ? [] : ['--stt-warm', '0'];
  const fullArgs = hostPort ? ['--host', '127.0.0.1', '--port', '0', ...warm, ...args] : [...warm, ...args];
  const proc = track(spawn(bin, fullArgs, { cwd: REPO_ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  let stdout = '';
  let exitInfo = null;
  let stopping = false;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal, at: Date.now() };
      if (!stopping && (code !== 0 || signal)) {
        // A crash: show why, since the test will only see a closed socket.
        console.error(`# parley exited unexpectedly (code ${code}, signal ${signal}); stderr tail:\n` +
          stderr.slice(-4000).split('\n').map((l) => `#   ${l}`).join('\n'));
      }
      resolve(exitInfo);
    });
  });
  proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  proc.stderr.setEncoding('utf8');

  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      proc.kill('SIGKILL');
      reject(new Error(`server did not log "listening on http://HOST:PORT" on stderr within ${timeoutMs} ms\n` +
        `args: ${fullArgs.join(' ')}\nstderr:\n${stderr}\nstdout:\n${stdout}`));
    }, timeoutMs);
    const onData = (d) => {
      stderr += d;
      const m = LISTEN_RE.exec(stderr);
      if (m) { cleanup(); resolve(Number(m[1])); }
    };
    const onExit = (code, signal) => {
      cleanup();
      reject(new Error(`server exited (code ${code}, signal ${signal}) before listening\n` +
        `args: ${fullArgs.join(' ')}\nstderr:\n${stderr}\nstdout:\n${stdout}`));
    };
    const onError = (e) => { cleanup(); reject(e); };
    function cleanup() {
      clearTimeout(timer);
      proc.stderr.off('data', onData);
      proc.off('exit', onExit);
      proc.off('error', onError);
    }
    proc.stderr.on('data', onData);
    proc.once('exit', onExit);
    proc.once('error', onError);
  });
  // keep collecting stderr after the port is known
  proc.stderr.on('data', (d) => { stderr += d; });

  async function stop(signal = 'SIGTERM', { killAfterMs = 5000 } = {}) {
    if (exitInfo) return { code: exitInfo.code, signal: exitInfo.signal, ms: 0, alreadyExited: true };
    stopping = true;
    const t0 = Date.now();
    proc.kill(signal);
    let timer;
    const killed = new Promise((resolve) => {
      timer = setTimeout(() => { proc.kill('SIGKILL'); resolve(); }, killAfterMs);
    });
    await Promise.race([exited, killed]);
    const info = await exited;
    clearTimeout(timer);
    return { code: info.code, signal: info.signal, ms: info.at - t0 };
  }

  const tls = /listening on https:/.test(stderr);
  return {
    port,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    wsUrl: `${tls ? 'wss' : 'ws'}://127.0.0.1:${port}/ws`,
    proc,
    exited,
    stderr: () => stderr,
    stdout: () => stdout,
    stop,
  };
}

/** Sanitizer / crash reports in a server's stderr (ASan, UBSan, LSan). */
export function sanitizerReports(text) {
  const lines = text.split('\n');
  return lines.filter((l) => /ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer)|runtime error:|SUMMARY: \w+Sanitizer/.test(l));
}

/** Stops srv and asserts a clean exit (status 0) with no sanitizer report;
 *  removes it from `list` (the test file's servers to kill in after()) if given. */
export async function stopClean(srv, list) {
  const r = await srv.stop();
  if (list && list.includes(srv)) list.splice(list.indexOf(srv), 1);
  assert.deepEqual(sanitizerReports(srv.stderr()), [], 'no sanitizer reports');
  assert.equal(r.code, 0, `clean exit; stderr tail:\n${srv.stderr().slice(-2000)}`);
}

// ---------------------------------------------------------------- WebSocket

/** A ws client that buffers incoming messages. Use connect() to make one. */
export class Client {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];      // parsed JSON messages not yet consumed by next()
    this.history = [];    // every parsed JSON message ever received
    this.binaries = [];   // binary frames received
    this.badFrames = [];  // text frames that were not a JSON object with a string "type"
    this.waiters = [];
    this.closeInfo = null;
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new Error(`connection closed (code ${code}) while waiting for ${w.what}; received so far: ${this.summary()}`));
        }
        resolve(this.closeInfo);
      });
    });
    ws.on('error', () => { /* surfaced through close */ });
    ws.on('message', (data, isBinary) => {
      if (isBinary) { this.binaries.push(data); return; }
      const raw = data.toString('utf8');
      let msg;
      try { msg = JSON.parse(raw); } catch { msg = undefined; }
      if (!msg || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
        this.badFrames.push(raw);
        return;
      }
      this.history.push(msg);
      this.queue.push(msg);
      this.pump();
    });
  }

  summary() {
    return JSON.stringify(this.history.map((m) => (m.type === 'error' ? `error:${m.content?.code}` : m.type)));
  }

  pump() {
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      const idx = this.queue.findIndex(w.pred);
      if (idx >= 0) {
        const [msg] = this.queue.splice(idx, 1);
        this.waiters.splice(i, 1);
        i--;
        clearTimeout(w.timer);
        w.resolve(msg);
      }
    }
  }

  /** Next buffered message (of `type` if given); rejects after timeoutMs or on close. */
  next(type, timeoutMs = 3000) {
    const pred = type === undefined ? () => true : (m) => m.type === type;
    const what = type === undefined ? 'any message' : `a "${type}" message`;
    const idx = this.queue.findIndex(pred);
    if (idx >= 0) return Promise.resolve(this.queue.splice(idx, 1)[0]);
    if (this.closeInfo) {
      return Promise.reject(new Error(`connection already closed (code ${this.closeInfo.code}) while waiting for ${what}; received: ${this.summary()}`));
    }
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject, what };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received: ${this.summary()}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Messages of `type` received so far (whether consumed or not). */
  received(type) {
    return this.history.filter((m) => m.type === type);
  }

  /** Waits until no `type` message came for quietMs, after at least one
   *  (returns quietly after maxMs). */
  async waitQuiet(type, quietMs = 800, maxMs = 15000) {
    const t0 = Date.now();
    let last = this.received(type).length;
    let since = Date.now();
    while (Date.now() - t0 < maxMs) {
      await sleep(100);
      const n = this.received(type).length;
      if (n !== last) { last = n; since = Date.now(); }
      if (n > 0 && Date.now() - since >= quietMs) return;
    }
  }

  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }

  sendJson(obj) { this.ws.send(JSON.stringify(obj)); }
  sendText(str) { this.ws.send(str, { binary: false }); }
  sendBinary(buf) { this.ws.send(buf, { binary: true }); }

  /** Wait for the connection to close; resolves {code, reason}. */
  async waitClose(timeoutMs = 3000) {
    let timer;
    const t = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connection not closed within ${timeoutMs} ms; received: ${this.summary()}`)), timeoutMs);
    });
    try { return await Promise.race([this.closed, t]); } finally { clearTimeout(timer); }
  }

  /** Close politely; terminate if the close handshake does not finish in time. */
  async close(code = 1000, timeoutMs = 2000) {
    if (this.closeInfo) return this.closeInfo;
    try { this.ws.close(code); } catch { /* ignore */ }
    try { return await this.waitClose(timeoutMs); } catch {
      this.ws.terminate();
      return this.closed;
    }
  }
}

/**
 * Open a WebSocket to the server; resolves a Client once open.
 * Rejects on a refused upgrade, a network error, or after timeoutMs.
 */
export function connect(port, { path: p = '/ws', timeoutMs = 5000, protocols } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`, protocols, {
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
      maxPayload: 64 * 1024 * 1024,
    });
    const client = new Client(ws);
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      ws.terminate();
      reject(new Error(`WebSocket to ${p} did not open within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(client);
    });
    ws.once('error', (e) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(e);
    });
    ws.once('close', (code) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new Error(`WebSocket to ${p} closed (code ${code}) before opening`));
    });
  });
}

/** Connect and consume the first message, which must be `status`. */
export async function connectReady(port, opts) {
  const c = await connect(port, opts);
  const first = await c.next(undefined, 5000);
  if (first.type !== 'status') {
    await c.close();
    throw new Error(`first message was ${JSON.stringify(first)}, expected status`);
  }
  c.status = first;
  return c;
}

/** connectReady, then final_user_request at once (session.config hold_final
 *  false; it is held until the answer is heard by default): for tests that
 *  time the final transcript. */
export async function connectAtOnce(port, opts) {
  const c = await connectReady(port, opts);
  c.sendJson({ type: 'session.config', hold_final: false });
  await c.next('session.configured', 5000);
  return c;
}

/**
 * A binary audio frame: 8-byte header (BE uint32 timestamp, BE uint32 flags),
 * then `samples` int16 LE samples of a quiet sine wave.
 */
export function audioFrame(samples, { timestamp = Date.now(), flags = 0, extraBytes = 0 } = {}) {
  const buf = Buffer.alloc(8 + samples * 2 + extraBytes);
  buf.writeUInt32BE(Number(BigInt(timestamp) & 0xffffffffn), 0);
  buf.writeUInt32BE(flags >>> 0, 4);
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(Math.round(3000 * Math.sin((2 * Math.PI * 440 * i) / 48000)), 8 + i * 2);
  }
  return buf;
}

// --------------------------------------------------------------------- HTTP

/**
 * HTTP request with a raw, un-normalised path (for traversal tests).
 * Resolves {status, headers, body: Buffer, text}.
 */
export function httpRequest(port, rawPath, { method = 'GET', headers = {}, body, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body: b, text: b.toString('utf8') });
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`HTTP ${method} ${rawPath} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export const httpGet = (port, rawPath, opts = {}) => httpRequest(port, rawPath, { ...opts, method: 'GET' });

/** GET a JSON endpoint; resolves {status, headers, json, text}. */
export async function getJson(port, rawPath) {
  const r = await httpGet(port, rawPath);
  let json;
  try { json = JSON.parse(r.text); } catch { json = undefined; }
  return { ...r, json };
}

// ------------------------------------------------------------------ metrics

function metricKey(name, labels) {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}`;
}

function parseValue(s) {
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN') return NaN;
  return Number(s);
}

/**
 * Parse Prometheus text exposition into {"name{k=\"v\",...}": number}, labels
 * sorted by name. Lines that are not valid samples are listed in `.badLines`
 * (a non-enumerable property).
 */
export function parseMetrics(text) {
  const out = {};
  const bad = [];
  for (const line of text.split('\n')) {
    const l = line.trim();
    if (!l || l.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(l);
    if (!m) { bad.push(line); continue; }
    const labels = {};
    if (m[2] !== undefined && m[2].trim() !== '') {
      const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?/gy;
      let lm;
      let consumed = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels[lm[1]] = lm[2];
        consumed = re.lastIndex;
      }
      if (consumed !== m[2].length) { bad.push(line); continue; }
    }
    const v = parseValue(m[3]);
    if (Number.isNaN(v) && m[3] !== 'NaN') { bad.push(line); continue; }
    out[metricKey(m[1], labels)] = v;
  }
  Object.defineProperty(out, 'badLines', { value: bad, enumerable: false });
  return out;
}

/** GET /metrics; resolves {status, contentType, text, values}. */
/** Waits until /readyz answers 200 (every shared engine warm); throws with
 *  its last answer after timeoutMs. Resolves the 200 response. */
export async function waitReady(port, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await getJson(port, '/readyz');
    if (r.status === 200) return r;
    if (Date.now() > deadline) throw new Error(`/readyz still ${r.status}: ${r.text}`);
    await sleep(50);
  }
}

export async function fetchMetrics(port) {
  const r = await httpGet(port, '/metrics');
  return { status: r.status, contentType: r.headers['content-type'] || '', text: r.text, values: parseMetrics(r.text) };
}

/** Poll /metrics until pred(values) is true; returns the last values or throws after timeoutMs. */
export async function waitForMetrics(port, pred, { timeoutMs = 5000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fetchMetrics(port);
    if (pred(last.values)) return last.values;
    if (Date.now() > deadline) {
      throw new Error(`metrics ${what} not reached within ${timeoutMs} ms; last /metrics:\n${last.text}`);
    }
    await sleep(intervalMs);
  }
}

/** Run fn with a timeout (for any await that might hang). */
export async function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms); });
  try { return await Promise.race([promise, t]); } finally { clearTimeout(timer); }
}
