// parley browser client: microphone -> WebSocket -> parley -> spoken answer.
// Speaks parley's native protocol (docs/protocol.md). No framework, no build.
//
// Test hook without test-only behaviour: window.parley.stats exposes the
// counters this page keeps anyway (frames sent, samples played, state, ...).

const $ = (id) => document.getElementById(id);
const ui = {
  connDot: $('conn-dot'), connText: $('conn-text'), badge: $('state-badge'), level: $('level'),
  llm: $('llm-info'), log: $('log'), hint: $('empty-hint'), notices: $('notices'),
  mic: $('mic'), clear: $('clear'), form: $('text-form'), text: $('text'),
  patience: $('patience'), voice: $('voice'), echoBanner: $('echo-banner'),
  echoText: $('echo-text'), insecure: $('insecure-banner'), ns: $('ns'),
  tokenBanner: $('token-banner'), tokenForm: $('token-form'), tokenInput: $('token-input'),
  tokenWhy: $('token-why'),
};

const stats = {
  connected: false, sessionId: null, reconnects: 0, framesSent: 0, samplesPlayed: 0,
  sampleRate: 0, state: 'idle', playing: false, userFinals: 0, assistantFinals: 0,
  interruptions: 0, errors: 0, lastError: null, tokenAsked: 0,
};
window.parley = { stats };

// ---------------------------------------------------------------- audio --

let ctx = null;          // one AudioContext for capture and playback (same rate)
let playback = null;     // AudioWorkletNode
let capture = null;      // {stream, source, node}
let audioReady = null;   // Promise for the worklets
let playedAtStart = 0;   // samples played counter when this answer's audio began

function ensureAudio(rate) {
  if (audioReady && (!rate || rate === ctx.sampleRate)) return audioReady;
  if (ctx) { // a different rate is needed: start over (see startMic)
    flushPlayback();
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
    playback.connect(ctx.destination);
    sendConfig();
  })();
  return audioReady;
}

let progressTimer = null;
function onPlaybackEvent(e) {
  const m = e.data;
  stats.samplesPlayed = m.played;
  if (m.type === 'started') {
    stats.playing = true;
    playedAtStart = m.played;
    send({ type: 'tts_start' });
    setState('speaking');
    clearInterval(progressTimer);
    progressTimer = setInterval(reportPlayback, 250);
  } else if (m.type === 'drained') {
    stats.playing = false;
    reportPlayback();
    clearInterval(progressTimer);
    send({ type: 'tts_stop' });
    setState(capture ? 'listening' : 'idle');
  }
}

function reportPlayback() {
  if (!ctx) return;
  const ms = Math.round(((stats.samplesPlayed - playedAtStart) / ctx.sampleRate) * 1000);
  send({ type: 'playback', played_ms: Math.max(0, ms) });
}

function playPcm(buffer) {
  if (!playback) return;
  playback.port.postMessage({ type: 'audio', pcm: buffer }, [buffer]);
}

function flushPlayback() {
  if (playback) playback.port.postMessage({ type: 'flush' });
}

async function startMic() {
  await ensureAudio();
  await ctx.resume();
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
    await ctx.resume();
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

function sendConfig() {
  if (!ctx) return;
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
  await ctx.resume();
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
