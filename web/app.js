// parley browser client: microphone -> WebSocket -> parley -> spoken answer.
// Speaks parley's native protocol (docs/protocol.md). No framework, no build.
//
// Test hook without test-only behaviour: window.parley.stats exposes the
// counters this page keeps anyway (frames sent, samples played, state, ...).

import { openLoopback } from './playback-path.js';

const $ = (id) => document.getElementById(id);
const ui = {
  connDot: $('conn-dot'), connText: $('conn-text'), badge: $('state-badge'), level: $('level'),
  llm: $('llm-info'), log: $('log'), hint: $('empty-hint'), notices: $('notices'),
  mic: $('mic'), clear: $('clear'), form: $('text-form'), text: $('text'),
  patience: $('patience'), voice: $('voice'), echoBanner: $('echo-banner'),
  echoText: $('echo-text'), insecure: $('insecure-banner'), ns: $('ns'),
  tokenBanner: $('token-banner'), tokenForm: $('token-form'), tokenInput: $('token-input'),
  tokenWhy: $('token-why'), playbackInfo: $('playback-info'), player: $('player'),
};

const stats = {
  connected: false, sessionId: null, reconnects: 0, framesSent: 0, samplesPlayed: 0,
  sampleRate: 0, state: 'idle', playing: false, userFinals: 0, assistantFinals: 0,
  interruptions: 0, errors: 0, lastError: null, tokenAsked: 0,
  // how the answer reaches the loudspeaker: 'pending', 'webrtc' (the local
  // peer-connection pair, which the echo canceller hears) or 'direct' (with
  // playbackWhy); the delay the reports allow for: the loopback's (measured
  // at onsets: the median of the last five, and the last 20 seen) and the
  // sound card's
  playbackPath: 'pending', playbackWhy: null, micEchoCancellation: null, echoCancelled: false, playbackDelayMs: 0, loopbackMs: null, loopbackMsSeen: [],
  playbackOutputMs: 0,
};
const heardReplies = [];
window.parley = {
  stats,
  /** The loopback receiver's statistics (playback-path.js), or null on the direct path. */
  playbackStats: () => (route && route.loop ? route.loop.stats() : Promise.resolve(null)),
  /** What 'parley-heard' has heard of the received track ({samples, loud, energy}), or null. */
  heardStats: () => new Promise((resolve) => {
    if (!route || !route.loop) { resolve(null); return; }
    heardReplies.push(resolve);
    route.loop.heard.port.postMessage({ type: 'heard' });
  }),
};

// ---------------------------------------------------------------- audio --
//
// The answer plays from a small jitter buffer in an AudioWorklet
// ('parley-playback') and reaches the loudspeaker through a local
// RTCPeerConnection pair and an <audio> element (playback-path.js), so the
// browser's echo canceller hears it and keeps it out of the microphone.
// Where that is impossible the worklet plays into the context's destination,
// and the page says so. Either way the listener hears a sample some time
// after the worklet plays it: the loopback's delay (measured from onsets:
// `delay.loopS`) plus the sound card's own buffer (`delay.deviceS`). The
// playback reports (tts_start, tts_stop, playback.played_ms) wait for it, so
// they tell the server what the listener has heard.

const LOOPBACK_TIMEOUT_MS = 2000;
// The loopback's delay before its first onset is measured: an upper bound,
// so the first tts_start waits for that onset to come out of the loopback
// (onHeardEvent measures it and acts on what is due at once). Measured
// 58-96 ms on a quiet machine, 227 ms with five other pages playing
// (docs/performance.md); a guess below the truth would report audio as
// heard before the listener heard it.
const LOOPBACK_UNMEASURED_S = 0.3;

let ctx = null;          // one AudioContext for capture and playback (same rate)
let playback = null;     // the jitter buffer's AudioWorkletNode
let route = null;        // how the answer reaches the loudspeaker: {path, loop}
let waitingPcm = [];     // answer audio that came before the route was chosen
let capture = null;      // {stream, source, node}
let audioReady = null;   // Promise for the worklets and the route
const delay = { loopS: 0, deviceS: 0 };
let lastPlayout = null;  // the receiver's statistics when measureDevice last ran
let unmuteTimer = null;

function ensureAudio(rate) {
  if (audioReady && (!rate || rate === ctx.sampleRate)) return audioReady;
  if (ctx) { // a different rate is needed: start over (see startMic)
    flushPlayback();
    closeRoute();
    ctx.close();
  }
  ctx = new AudioContext(rate ? { latencyHint: 'interactive', sampleRate: rate } : { latencyHint: 'interactive' });
  stats.sampleRate = ctx.sampleRate;
  audioReady = (async () => {
    await ctx.audioWorklet.addModule('/capture-worklet.js');
    await ctx.audioWorklet.addModule('/playback-worklet.js');
    playback = new AudioWorkletNode(ctx, 'parley-playback', {
      numberOfInputs: 0, outputChannelCount: [1],
      processorOptions: { prebufferSamples: Math.round(ctx.sampleRate * 0.06), maxWaitFrames: 40 },
    });
    playback.port.onmessage = onPlaybackEvent;
    sendConfig();
    await openRoute(playback);
  })();
  return audioReady;
}

/** Resume audio after a user gesture (browsers start both paused). */
async function resumeAudio() {
  await ctx.resume();
  if (route && route.loop) ui.player.play().catch(() => {});
}

async function openRoute(node) {
  setRoute('pending');
  let loop;
  try {
    loop = await openLoopback(ctx, node, ui.player, { timeoutMs: LOOPBACK_TIMEOUT_MS });
  } catch (err) {
    if (node === playback) useDirect(err.message || String(err));
    return;
  }
  if (node !== playback) { loop.close(); return; } // the context was rebuilt meanwhile
  route = { path: 'webrtc', loop };
  loop.heard.port.onmessage = onHeardEvent;
  loop.onfail = (why) => { if (route && route.loop === loop) useDirect(why); };
  delay.loopS = LOOPBACK_UNMEASURED_S;
  delay.deviceS = ctx.outputLatency || 0;
  lastPlayout = null;
  stats.loopbackMs = null;
  stats.loopbackMsSeen = [];
  setRoute('webrtc');
}

function useDirect(why) {
  closeRoute();
  playback.connect(ctx.destination);
  route = { path: 'direct', loop: null };
  delay.loopS = 0;
  delay.deviceS = (ctx.baseLatency || 0) + (ctx.outputLatency || 0);
  console.warn(`parley: the answer plays straight to the loudspeaker, not through a peer connection (${why}): `
    + "the browser's echo canceller cannot hear it, so the assistant may hear itself; use headphones");
  setRoute('direct', why);
}

function closeRoute() {
  if (route && route.loop) route.loop.close();
  route = null;
}

function setRoute(path, why = null) {
  const changed = stats.playbackPath !== path;
  stats.playbackPath = path;
  if (changed) sendEchoState();
  stats.playbackWhy = why;
  stats.playbackDelayMs = Math.round((delay.loopS + delay.deviceS) * 1000);
  stats.playbackOutputMs = Math.round(delay.deviceS * 1000);
  ui.playbackInfo.dataset.path = path;
  if (path === 'webrtc') {
    const added = stats.loopbackMs === null ? 'delay not yet measured' : `+${Math.round(delay.loopS * 1000)} ms`;
    ui.playbackInfo.textContent = `Playback: through WebRTC, so echo cancellation hears it (${added})`;
  } else if (path === 'direct') {
    ui.playbackInfo.textContent = `Playback: direct; echo cancellation cannot hear it (${why}). Use headphones.`;
  } else {
    ui.playbackInfo.textContent = 'Playback: starting…';
  }
  if (path !== 'pending' && waitingPcm.length) {
    for (const b of waitingPcm) playback.port.postMessage({ type: 'audio', pcm: b }, [b]);
    waitingPcm = [];
  }
}

// The worklet's events, and when the listener hears them. `events` holds
// the recent 'started', 'progress' and 'drained' events (to tell how much the
// worklet had played at a given frame); `due` the ones of the current epoch
// (flushes so far) that the listener has not heard yet, in order.
let epoch = 0;
let events = [];
const due = [];
let dueTimer = null;
let progressTimer = null;
let newAnswer = true;    // the next playback starts a new answer
let playedAtStart = 0;   // samples the worklet had played when this answer's audio began
let reportedMs = 0;      // the last played_ms sent for this answer
let onsets = [];         // frames of the worklet's onsets not yet heard back

function onPlaybackEvent(e) {
  const m = e.data;
  if (m.type === 'onset') {
    if (route && route.loop) onsets = [...onsets.slice(-15), m.frame];
    return;
  }
  events.push(m);
  const keep = m.frame - 5 * ctx.sampleRate;
  while (events.length > 2 && events[1].frame < keep) events.shift();
  if (m.epoch !== epoch || m.flushed) return; // flushPlayback accounts for a flush
  if (m.type === 'progress') return;
  due.push(m);
  hearDue();
}

function lagFrames() { return (delay.loopS + delay.deviceS) * ctx.sampleRate; }
function nowFrame() { return ctx.currentTime * ctx.sampleRate; }

/** Samples the worklet had played by `frame`. */
function playedAt(frame) {
  let ev = null;
  let next = null;
  for (const h of events) {
    if (h.frame <= frame) ev = h;
    else { next = h; break; }
  }
  if (!ev) return next ? next.played : 0;
  let p = ev.played + (ev.type === 'drained' ? 0 : Math.floor(frame - ev.frame));
  if (next) p = Math.min(p, next.played);
  return p;
}

/** Act on the due events the listener has heard by now; wake up for the next one. */
function hearDue() {
  clearTimeout(dueTimer);
  dueTimer = null;
  if (!ctx) return;
  const lag = lagFrames();
  while (due.length && due[0].frame + lag <= nowFrame()) heard(due.shift());
  if (due.length) {
    const ms = ((due[0].frame + lag - nowFrame()) / ctx.sampleRate) * 1000;
    dueTimer = setTimeout(hearDue, Math.max(2, ms));
  }
}

function heard(m) {
  if (m.type === 'started') {
    if (stats.playing) return;
    stats.playing = true;
    if (newAnswer) { playedAtStart = m.played; reportedMs = 0; newAnswer = false; }
    send({ type: 'tts_start' });
    setState('speaking');
    clearInterval(progressTimer);
    progressTimer = setInterval(reportPlayback, 250);
    if (route && route.loop) measureDevice();
  } else if (m.type === 'drained') {
    if (!stats.playing) return;
    stats.playing = false;
    reportPlayback(m.played);
    clearInterval(progressTimer);
    send({ type: 'tts_stop' });
    setState(capture ? 'listening' : 'idle');
  }
}

/** Send how much of this answer the listener has heard (`played`: the worklet's count at that moment). */
function reportPlayback(played) {
  if (!ctx) return;
  const p = played ?? playedAt(nowFrame() - lagFrames());
  stats.samplesPlayed = p;
  // A new measurement of the delay may move the heard position back a little: never report less.
  const ms = Math.max(reportedMs, Math.round(((p - playedAtStart) / ctx.sampleRate) * 1000));
  reportedMs = ms;
  send({ type: 'playback', played_ms: ms });
}

function onHeardEvent(e) {
  const m = e.data;
  if (m.type === 'heard') { const r = heardReplies.shift(); if (r) r(m); return; }
  if (m.type !== 'onset') return;
  // The worklet's latest onset before this one is the same sound.
  let i = onsets.length - 1;
  while (i >= 0 && onsets[i] > m.frame) i--;
  if (i < 0) return;
  const d = (m.frame - onsets[i]) / ctx.sampleRate;
  onsets = onsets.slice(i + 1);
  if (d <= 0 || d >= 0.5) return;
  stats.loopbackMsSeen = [...stats.loopbackMsSeen.slice(-19), Math.round(d * 10000) / 10];
  // The median of the last five: an onset the received audio blurred pairs
  // the wrong two sounds now and then.
  const recent = stats.loopbackMsSeen.slice(-5).sort((a, b) => a - b);
  stats.loopbackMs = recent[(recent.length - 1) >> 1];
  delay.loopS = stats.loopbackMs / 1000;
  setRoute(stats.playbackPath, stats.playbackWhy);
  hearDue();
}

/** The <audio> element's own output delay, from the receiver's statistics (media-playout). */
async function measureDevice() {
  const loop = route && route.loop;
  if (!loop) return;
  const s = await loop.stats();
  if (lastPlayout && s.totalSamplesCount > lastPlayout.totalSamplesCount && route && route.loop === loop) {
    delay.deviceS = (s.totalPlayoutDelay - lastPlayout.totalPlayoutDelay) / (s.totalSamplesCount - lastPlayout.totalSamplesCount);
    stats.playbackDelayMs = Math.round((delay.loopS + delay.deviceS) * 1000);
    stats.playbackOutputMs = Math.round(delay.deviceS * 1000);
  }
  lastPlayout = s;
}

function playPcm(buffer) {
  if (!playback) return;
  if (stats.playbackPath === 'pending') { waitingPcm.push(buffer); return; }
  playback.port.postMessage({ type: 'audio', pcm: buffer }, [buffer]);
}

/**
 * Stop the answer now. Through the loopback, the audio still in it is muted
 * at the <audio> element; the sound card's buffer still plays out. The
 * listener has heard the worklet's samples up to `cut`.
 */
function flushPlayback() {
  waitingPcm = [];
  newAnswer = true;
  if (!playback) return;
  epoch++;
  playback.port.postMessage({ type: 'flush', epoch });
  const cut = nowFrame() - delay.loopS * ctx.sampleRate;
  if (route && route.loop) {
    ui.player.muted = true;
    clearTimeout(unmuteTimer);
    unmuteTimer = setTimeout(() => { ui.player.muted = false; }, delay.loopS * 1000 + 30);
  }
  while (due.length && due.at(-1).frame > cut) due.pop();
  const playingAtCut = due.length ? due.at(-1).type === 'started' : stats.playing;
  if (playingAtCut) due.push({ type: 'drained', played: playedAt(cut), frame: cut });
  hearDue();
}

async function startMic() {
  await ensureAudio();
  await resumeAudio();
  // Echo cancellation keeps the assistant's own voice out of the microphone;
  // noise suppression (a setting, on by default) helps in noisy rooms but
  // distorts clean speech a little. Automatic gain stays off: it pumps the
  // noise floor that parley's voice detection adapts to.
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {
      echoCancellation: true, noiseSuppression: ui.ns.checked, autoGainControl: false, channelCount: 1,
    },
  });
  let source;
  try {
    source = ctx.createMediaStreamSource(stream);
  } catch (err) {
    // Firefox cannot connect a microphone whose rate differs from the
    // context's: rebuild the audio graph at the microphone's rate.
    const rate = stream.getAudioTracks()[0].getSettings().sampleRate;
    if (!rate || rate === ctx.sampleRate) throw err;
    await ensureAudio(rate);
    await resumeAudio();
    source = ctx.createMediaStreamSource(stream);
  }
  const node = new AudioWorkletNode(ctx, 'parley-capture', {
    numberOfOutputs: 0,
    processorOptions: { frameSamples: Math.round(ctx.sampleRate / 50) }, // 20 ms
  });
  node.port.onmessage = (e) => {
    const { pcm, level } = e.data;
    ui.level.value = Math.min(1, level * 4);
    sendAudio(pcm);
  };
  source.connect(node);
  capture = { stream, source, node };
  stats.micEchoCancellation = stream.getAudioTracks()[0].getSettings().echoCancellation === true;
  sendEchoState();
  ui.mic.textContent = 'Stop talking';
  ui.mic.setAttribute('aria-pressed', 'true');
  if (!stats.playing) setState('listening');
}

function stopMic() {
  if (!capture) return;
  capture.source.disconnect();
  capture.node.port.onmessage = null;
  capture.stream.getTracks().forEach((t) => t.stop());
  capture = null;
  ui.level.value = 0;
  ui.mic.textContent = 'Start talking';
  ui.mic.setAttribute('aria-pressed', 'false');
  if (!stats.playing) setState('idle');
}

// ---------------------------------------------------------- access token --
// A server started with --auth-token wants a token on /ws. The page takes
// it from the URL fragment (/#token=…: fragments never reach a server or
// its logs), removes it from the address bar, keeps it for this tab in
// sessionStorage, and offers it as the subprotocol "parley.token.TOKEN"
// (browsers cannot set an Authorization header on a WebSocket). Without a
// token, or when /auth.json says the server refused it, it asks for one.

const TOKEN_KEY = 'parley.token';
let token = null;

function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    let t = m[1];
    try { t = decodeURIComponent(t); } catch { /* keep it as it came */ }
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    history.replaceState(null, '', location.pathname + location.search);
  }
  token = sessionStorage.getItem(TOKEN_KEY);
}

/** The server's /auth.json: {token_required, token_valid} (checks our token when we have one). */
async function authInfo() {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch('/auth.json', { headers, cache: 'no-store' });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

function askToken(why) {
  clearTimeout(reconnectTimer);
  stats.tokenAsked++;
  if (why) ui.tokenWhy.textContent = why;
  ui.tokenBanner.hidden = false;
  setConn('off', 'access token needed');
  ui.tokenInput.focus();
}

/** After a failed connect: true when the reason is the token (and the page now asks for one). */
async function tokenProblem() {
  let info;
  try { info = await authInfo(); } catch { return false; } // server unreachable: just retry
  if (!info.token_required || info.token_valid === true) return false;
  if (token) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    askToken('The server did not accept that token; check it and try again.');
  } else {
    askToken();
  }
  return true;
}

ui.tokenForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = ui.tokenInput.value.trim();
  if (!t) return;
  token = t;
  sessionStorage.setItem(TOKEN_KEY, t);
  ui.tokenInput.value = '';
  ui.tokenBanner.hidden = true;
  backoffMs = 500;
  connect();
});

// ------------------------------------------------------------ WebSocket --

let ws = null;
let backoffMs = 500;
let reconnectTimer = null;

function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function send(obj) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
}

/** The server's echo guard is needed unless the browser cancels the
 *  assistant's echo itself: its playback goes through the peer connection
 *  (the echo canceller hears it) and the microphone has echoCancellation. */
function sendEchoState() {
  stats.echoCancelled = stats.playbackPath === 'webrtc' && stats.micEchoCancellation === true;
  send({ type: 'session.config', echo_cancelled: stats.echoCancelled });
}

function sendConfig() {
  if (!ctx) return;
  sendEchoState();
  send({
    type: 'session.config', input_sample_rate: ctx.sampleRate,
    output_sample_rate: ctx.sampleRate, audio_out: 'binary',
  });
  if (ui.voice.value !== 'default') send({ type: 'session.config', voice: ui.voice.value });
  send({ type: 'set_speed', speed: Number(ui.patience.value) });
}

function sendAudio(pcmBuffer) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const frame = new Uint8Array(8 + pcmBuffer.byteLength);
  const view = new DataView(frame.buffer);
  view.setUint32(0, Date.now() % 0x100000000);
  view.setUint32(4, stats.playing ? 1 : 0);
  frame.set(new Uint8Array(pcmBuffer), 8);
  ws.send(frame.buffer);
  stats.framesSent++;
}

function connect() {
  clearTimeout(reconnectTimer);
  setConn('connecting', stats.reconnects ? 'reconnecting…' : 'connecting…');
  try {
    ws = new WebSocket(wsUrl(), token ? ['parley', `parley.token.${token}`] : undefined);
  } catch (err) { // a token with characters a subprotocol cannot carry
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    ws = null;
    askToken('That is not a valid token (letters, digits and . _ ~ - only).');
    return;
  }
  ws.binaryType = 'arraybuffer';
  ws.onopen = () => {
    backoffMs = 500;
    stats.connected = true;
    setConn('on', 'connected');
    sendConfig();
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') { playPcm(e.data); return; }
    let msg;
    try { msg = JSON.parse(e.data); } catch { return; }
    handle(msg);
  };
  ws.onclose = async () => {
    const was = stats.connected;
    stats.connected = false;
    flushPlayback();
    // A refused upgrade (401) looks like any failed connect: ask the server.
    if (!was && await tokenProblem()) return;
    const secs = (backoffMs / 1000).toFixed(1);
    setConn('off', `${was ? 'connection lost' : 'cannot connect'}: reconnecting in ${secs} s…`);
    reconnectTimer = setTimeout(() => { stats.reconnects++; connect(); }, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 8000);
  };
}

// -------------------------------------------------------- conversation --

let userMsg = null;       // the user bubble being spoken
let assistantMsg = null;  // the assistant bubble being answered

function bubble(role, text, partial) {
  ui.hint.hidden = true;
  const li = document.createElement('li');
  li.className = `msg ${role}${partial ? ' partial' : ''}`;
  const who = document.createElement('span');
  who.className = 'who';
  who.textContent = role === 'user' ? 'You' : 'Assistant';
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  li.append(who, body);
  ui.log.append(li);
  ui.log.scrollTop = ui.log.scrollHeight;
  return li;
}

function setText(li, text, partial) {
  li.querySelector('.text').textContent = text;
  li.classList.toggle('partial', partial);
  ui.log.scrollTop = ui.log.scrollHeight;
}

function markInterrupted(li) {
  if (!li || li.dataset.interrupted) return;
  li.dataset.interrupted = 'true';
  li.classList.add('interrupted');
  const mark = document.createElement('span');
  mark.className = 'mark';
  mark.textContent = '(interrupted)';
  li.append(mark);
}

function notice(text, kind = 'error') {
  const div = document.createElement('div');
  div.className = `notice ${kind}`;
  div.textContent = text;
  ui.notices.append(div);
  while (ui.notices.children.length > 3) ui.notices.firstChild.remove();
  setTimeout(() => div.remove(), 15000);
}

function setState(s) {
  stats.state = s;
  ui.badge.dataset.state = s;
  ui.badge.textContent = { idle: 'idle', listening: 'listening', hearing: 'hearing you', thinking: 'thinking', speaking: 'speaking' }[s] || s;
}

function setConn(kind, text) {
  ui.connDot.className = `dot ${kind === 'on' ? 'on' : kind === 'off' ? 'off' : ''}`;
  ui.connText.textContent = text;
}

function showStatus(c) {
  stats.sessionId = c.session_id;
  const llm = c.llm || {};
  const parts = [`LLM: ${llm.backend || '?'}`];
  if (llm.model) parts.push(llm.model);
  if (llm.state === 'ready' && llm.first_token_ms >= 0) parts.push(`first token ${Math.round(llm.first_token_ms)} ms`);
  if (llm.state === 'ready' && llm.tokens_per_s > 0) parts.push(`${llm.tokens_per_s.toFixed(1)} tokens/s`);
  if (llm.state === 'warming') parts.push('warming up…');
  if (llm.state === 'unavailable') parts.push(`unavailable: ${llm.reason || ''}`);
  if (llm.backend === 'echo') parts.splice(1, parts.length - 1, 'no model');
  ui.llm.textContent = parts.join(' · ');
  ui.echoBanner.hidden = !llm.warning;
  if (llm.warning) ui.echoText.textContent = llm.warning;
  if (Array.isArray(c.voices) && ui.voice.options.length <= 1) {
    // English voices first (flite's, espeak-ng's en-*); espeak-ng's other
    // languages in a group of their own: the recogniser hears English only.
    const FLITE = ['slt', 'rms', 'awb', 'kal16'];
    const english = (v) => FLITE.includes(v) || /^en(-|$)/.test(v);
    const others = document.createElement('optgroup');
    others.label = 'other languages (speech input is English)';
    for (const v of c.voices) {
      const o = document.createElement('option');
      o.value = v;
      o.textContent = v === c.default_voice ? `${v} (default)` : v;
      (english(v) ? ui.voice : others).append(o);
    }
    if (others.children.length) ui.voice.append(others);
  }
}

function handle(msg) {
  const c = msg.content;
  switch (msg.type) {
    case 'status':
      showStatus(c);
      break;
    case 'partial_user_request':
      if (!userMsg) userMsg = bubble('user', c, true);
      else setText(userMsg, c, true);
      setState('hearing');
      break;
    case 'final_user_request':
      if (!userMsg) userMsg = bubble('user', c, false);
      else setText(userMsg, c, false);
      userMsg = null;
      assistantMsg = null;
      newAnswer = true;
      stats.userFinals++;
      setState('thinking');
      break;
    case 'partial_assistant_answer':
      if (!assistantMsg) assistantMsg = bubble('assistant', c, true);
      else setText(assistantMsg, c, true);
      break;
    case 'final_assistant_answer':
      if (!assistantMsg) assistantMsg = bubble('assistant', c, false);
      else setText(assistantMsg, c, false);
      if (msg.interrupted) markInterrupted(assistantMsg);
      stats.assistantFinals++;
      if (!msg.interrupted) assistantMsg = null;
      if (!stats.playing && stats.state === 'thinking') setState(capture ? 'listening' : 'idle');
      break;
    case 'tts_chunk': {
      const bin = atob(c);
      const bytes = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
      playPcm(bytes.buffer);
      break;
    }
    case 'stop_tts':
      flushPlayback();
      break;
    case 'tts_interruption':
      flushPlayback();
      stats.interruptions++;
      markInterrupted(assistantMsg);
      break;
    case 'error':
      stats.errors++;
      stats.lastError = c;
      notice(`${c.message} (${c.code})`);
      break;
    default:
      break;
  }
}

// ------------------------------------------------------------ controls --

ui.mic.addEventListener('click', async () => {
  try {
    if (capture) stopMic();
    else await startMic();
  } catch (err) {
    notice(`Microphone: ${err.message || err}`);
  }
});

ui.clear.addEventListener('click', () => {
  send({ type: 'clear_history' });
  flushPlayback();
  ui.log.replaceChildren();
  ui.hint.hidden = false;
  userMsg = assistantMsg = null;
});

ui.form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const text = ui.text.value.trim();
  if (!text) return;
  await ensureAudio();
  await resumeAudio();
  flushPlayback();
  bubble('user', text, false);
  assistantMsg = null;
  send({ type: 'text', content: text });
  ui.text.value = '';
  setState('thinking');
});

ui.ns.checked = localStorage.getItem('parley.noiseSuppression') !== 'off';
ui.ns.addEventListener('change', async () => {
  localStorage.setItem('parley.noiseSuppression', ui.ns.checked ? 'on' : 'off');
  if (capture) { stopMic(); await startMic(); } // apply to the running microphone
});

ui.patience.addEventListener('change', () => send({ type: 'set_speed', speed: Number(ui.patience.value) }));
ui.voice.addEventListener('change', () => send({ type: 'session.config', voice: ui.voice.value }));

if (!window.isSecureContext || !navigator.mediaDevices) {
  ui.insecure.hidden = false;
  ui.mic.disabled = true;
}

ensureAudio().catch((err) => notice(`Audio: ${err.message || err}`));
takeTokenFromFragment();
(async () => {
  let info = { token_required: false };
  try { info = await authInfo(); } catch { /* the first connect will tell */ }
  if (info.token_required && !token) askToken();
  else connect();
})();
