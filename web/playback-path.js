// The answer's way to the loudspeaker, so that the browser's echo canceller
// hears it.
//
// Chromium's echo canceller removes from the microphone only the audio that
// plays out of an RTCPeerConnection (Chromium issue 687574): audio played by
// Web Audio reaches the microphone on laptop speakers. So the page sends its
// playback worklet's output through two RTCPeerConnections inside the page
// (a loopback: no server and no network; they hand each other their SDP and
// ICE candidates directly and connect over the machine's own host addresses)
// and plays the received track in an <audio> element.
//
// Opus is lossy: the receiver's SDP asks for mono at up to 128 kbit/s without
// discontinuous transmission, in 10 ms frames (less delay than 20 ms).
//
// The loopback delays the audio (Opus frames, the jitter buffer): the page
// measures by how much from the onsets the worklet plays and the onsets
// 'parley-heard' (playback-worklet.js) hears in the received track, and from
// the receiver's statistics (see openLoopback's stats()).

export const OPUS_PARAMS = {
  stereo: '0', 'sprop-stereo': '0', maxaveragebitrate: '128000', usedtx: '0',
  useinbandfec: '1', maxplaybackrate: '48000',
};
export const OPUS_PTIME_MS = 10;

/** sdp with OPUS_PARAMS set on the Opus payload's fmtp line and a=ptime (the rest unchanged). */
export function tuneOpus(sdp) {
  const m = /a=rtpmap:(\d+) opus\/48000/i.exec(sdp);
  if (!m) return sdp;
  const pt = m[1];
  const lines = sdp.split('\r\n');
  const fmtp = lines.findIndex((l) => l.startsWith(`a=fmtp:${pt} `));
  const params = new Map();
  if (fmtp >= 0) {
    for (const kv of lines[fmtp].slice(`a=fmtp:${pt} `.length).split(';')) {
      const [k, v = ''] = kv.split('=');
      if (k.trim()) params.set(k.trim(), v.trim());
    }
  }
  for (const [k, v] of Object.entries(OPUS_PARAMS)) params.set(k, v);
  const line = `a=fmtp:${pt} ${[...params].map(([k, v]) => `${k}=${v}`).join(';')}`;
  const rtpmap = lines.findIndex((l) => l.startsWith(`a=rtpmap:${pt} `));
  if (fmtp >= 0) lines[fmtp] = line;
  else lines.splice(rtpmap + 1, 0, line);
  const out = lines.filter((l) => !l.startsWith('a=ptime:'));
  const at = out.findIndex((l) => l.startsWith(`a=fmtp:${pt} `));
  out.splice(at + 1, 0, `a=ptime:${OPUS_PTIME_MS}`);
  return out.join('\r\n');
}

/** Resolves when pc is connected; rejects when it fails, or after ms. */
function connected(pc, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no connection within ${ms} ms (${pc.connectionState})`)), ms);
    function done(err) {
      clearTimeout(timer);
      pc.removeEventListener('connectionstatechange', check);
      if (err) reject(err); else resolve();
    }
    function check() {
      if (pc.connectionState === 'connected') done();
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') done(new Error(`connection ${pc.connectionState}`));
    }
    pc.addEventListener('connectionstatechange', check);
    check();
  });
}

/**
 * Route `source` (an AudioNode of ctx) through a local peer-connection pair
 * into `audioEl`. Resolves to {stream, heard, receiver, stats(), close(),
 * onfail} once the pair is connected; rejects (having closed everything)
 * when RTCPeerConnection is missing, negotiation fails, or the pair does not
 * connect within timeoutMs. `heard` is a 'parley-heard' AudioWorkletNode fed
 * with the received track (its onsets time the loopback). After it
 * resolves, `onfail(reason)` is called if the connection fails later.
 * audioEl.play() may be refused until the user interacts with the page: call
 * it again then.
 */
export async function openLoopback(ctx, source, audioEl, { timeoutMs = 2000 } = {}) {
  if (typeof RTCPeerConnection !== 'function') throw new Error('this browser has no RTCPeerConnection');
  const sink = ctx.createMediaStreamDestination();
  sink.channelCount = 1;
  const tx = new RTCPeerConnection();
  const rx = new RTCPeerConnection();
  let heard = null;
  let mic = null;
  const close = () => {
    tx.close();
    rx.close();
    try { source.disconnect(sink); } catch { /* already */ }
    if (mic) mic.disconnect();
    if (heard) heard.disconnect();
    audioEl.pause();
    audioEl.srcObject = null;
  };
  try {
    tx.onicecandidate = (e) => { if (e.candidate) rx.addIceCandidate(e.candidate).catch(() => {}); };
    rx.onicecandidate = (e) => { if (e.candidate) tx.addIceCandidate(e.candidate).catch(() => {}); };
    const track = new Promise((resolve) => { rx.ontrack = (e) => resolve(e); });
    source.connect(sink);
    tx.addTransceiver(sink.stream.getAudioTracks()[0], { direction: 'sendonly', streams: [sink.stream] });
    const offer = await tx.createOffer();
    await tx.setLocalDescription(offer);
    await rx.setRemoteDescription({ type: 'offer', sdp: tuneOpus(offer.sdp) });
    const answer = await rx.createAnswer();
    await rx.setLocalDescription(answer);
    // The receiver's fmtp tells the sender how to encode.
    await tx.setRemoteDescription({ type: 'answer', sdp: tuneOpus(answer.sdp) });
    const got = await track;
    await connected(rx, timeoutMs);
    const stream = new MediaStream([got.track]);
    audioEl.srcObject = stream;
    audioEl.play().catch(() => { /* autoplay: played again on the next user gesture */ });
    heard = new AudioWorkletNode(ctx, 'parley-heard', { numberOfOutputs: 0 });
    mic = ctx.createMediaStreamSource(stream);
    mic.connect(heard);
  } catch (err) {
    close();
    throw err;
  }
  const loop = {
    stream: audioEl.srcObject, heard, receiver: rx.getReceivers()[0], close, onfail: null,
    stats: () => receiverStats(rx),
  };
  rx.addEventListener('connectionstatechange', () => {
    if (['failed', 'closed', 'disconnected'].includes(rx.connectionState) && loop.onfail) {
      loop.onfail(`the loopback connection is ${rx.connectionState}`);
    }
  });
  return loop;
}

/**
 * The receiving side's statistics: inbound-rtp's packetsReceived,
 * totalSamplesReceived, totalAudioEnergy, jitterBufferDelay (s, summed over
 * samples) and jitterBufferEmittedCount, and media-playout's
 * totalPlayoutDelay (s, summed over samples) and totalSamplesCount (0 where
 * the browser does not report them).
 */
async function receiverStats(rx) {
  const out = {
    packetsReceived: 0, totalSamplesReceived: 0, totalAudioEnergy: 0, jitterBufferDelay: 0,
    jitterBufferEmittedCount: 0, totalPlayoutDelay: 0, totalSamplesCount: 0,
  };
  (await rx.getStats()).forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      for (const k of ['packetsReceived', 'totalSamplesReceived', 'totalAudioEnergy', 'jitterBufferDelay', 'jitterBufferEmittedCount']) out[k] = r[k] || 0;
    } else if (r.type === 'media-playout') {
      out.totalPlayoutDelay = r.totalPlayoutDelay || 0;
      out.totalSamplesCount = r.totalSamplesCount || 0;
    }
  });
  return out;
}
