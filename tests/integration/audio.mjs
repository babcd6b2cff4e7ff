// Audio helpers for the speech tests: recorded speech from Debian's
// pocketsphinx-testdata, resampling with sox, synthetic noise, streaming
// PCM into a session at a chosen pace, and word error rate.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sleep } from './harness.mjs';

export const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';

/** [{id, file, text}] from the testdata's transcription file. */
export function librivoxClips() {
  const lines = fs.readFileSync(path.join(LIBRIVOX, 'transcription'), 'utf8').split('\n').filter(Boolean);
  return lines.map((l) => {
    const m = /^<s>\s*(.*?)\s*<\/s>\s*\((.+)\)\s*$/.exec(l);
    return { id: m[2], file: path.join(LIBRIVOX, `${m[2]}.wav`), text: m[1] };
  });
}

/**
 * Converts an audio file to raw int16 LE mono at `rate` with sox, with
 * optional silence padding (seconds) before and after. Returns a Buffer.
 */
export function soxRaw(file, rate, { padBefore = 0, padAfter = 0 } = {}) {
  const args = [file, '-r', String(rate), '-b', '16', '-e', 'signed-integer', '-c', '1', '-t', 'raw', '-'];
  if (padBefore || padAfter) args.push('pad', String(padBefore), String(padAfter));
  const r = spawnSync('sox', args, { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`sox failed: ${r.stderr}`);
  return r.stdout;
}

/** Raw int16 LE (any rate) -> WAV file, for feeding audio back through sox. */
export function writeWav(file, pcm, rate) {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + pcm.length, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
  h.writeUInt32LE(rate, 24); h.writeUInt32LE(rate * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(pcm.length, 40);
  fs.writeFileSync(file, Buffer.concat([h, pcm]));
}

/** Trims leading and trailing quiet from int16 LE audio at rate (10 ms
 *  windows under RMS `floor`; flite pads ~0.2 s each side). */
export function trimQuiet(pcm, rate, floor = 150) {
  const n = pcm.length / 2;
  const win = rate / 100;
  const loud = (w) => {
    let sum = 0;
    for (let k = w * win; k < (w + 1) * win && k < n; k++) { const v = pcm.readInt16LE(k * 2); sum += v * v; }
    return Math.sqrt(sum / win) > floor;
  };
  const wins = Math.floor(n / win);
  let a = 0;
  while (a < wins && !loud(a)) a++;
  let b = wins - 1;
  while (b > a && !loud(b)) b--;
  return pcm.subarray(a * win * 2, Math.min(n, (b + 1) * win) * 2);
}

export function silence(rate, seconds) {
  return Buffer.alloc(Math.round(rate * seconds) * 2);
}

let seed = 1;
export function whiteNoise(rate, seconds, amplitude) {
  const n = Math.round(rate * seconds);
  const b = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    b.writeInt16LE(Math.round(((seed / 0x7fffffff) * 2 - 1) * amplitude), i * 2);
  }
  return b;
}

/** Clicks: a few samples at full scale every `periodMs`. */
export function clickTrain(rate, seconds, periodMs = 250) {
  const n = Math.round(rate * seconds);
  const b = Buffer.alloc(n * 2);
  const period = Math.round((rate * periodMs) / 1000);
  for (let i = 0; i < n; i += period) {
    for (let k = 0; k < 24 && i + k < n; k++) b.writeInt16LE(k % 2 ? -30000 : 30000, (i + k) * 2);
  }
  return b;
}

/**
 * Streams raw PCM into a session as binary frames (8-byte header + samples).
 * pace 1 = real time, 0 = as fast as possible, 2 = twice real time.
 * flags: number or (elapsedSeconds) => number. Resolves when all is sent.
 * Timestamps are the wall clock at sending, or with clockRate the capture
 * clock of a microphone at clockRate (the frame's start, from a start of
 * Date.now()), late by up to clockJitterMs.
 */
export async function streamPcm(client, pcm, rate, {
  frameSamples = 2048, pace = 1, flags = 0, onFrame, clockRate = 0, clockJitterMs = 0,
} = {}) {
  const t0 = Date.now();
  const frameBytes = frameSamples * 2;
  for (let off = 0; off < pcm.length; off += frameBytes) {
    const chunk = pcm.subarray(off, Math.min(off + frameBytes, pcm.length));
    const buf = Buffer.alloc(8 + chunk.length);
    const elapsed = off / 2 / rate;
    const stamp = clockRate
      ? t0 + Math.floor(((off / 2) * 1000) / clockRate + Math.random() * clockJitterMs)
      : Date.now();
    buf.writeUInt32BE(stamp % 0x100000000, 0);
    buf.writeUInt32BE(typeof flags === 'function' ? flags(elapsed) : flags, 4);
    chunk.copy(buf, 8);
    if (!client.isOpen) throw new Error('connection closed while streaming audio');
    client.sendBinary(buf);
    if (onFrame) onFrame(elapsed);
    if (pace > 0) {
      const due = t0 + (((off + frameBytes) / 2 / rate) * 1000) / pace;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
    } else if ((off / frameBytes) % 16 === 15) {
      await sleep(1); // let the socket drain
    }
  }
}

/** Collected assistant audio (tts_chunk base64 or binary frames) as one Buffer. */
export function collectedAudio(client) {
  const parts = client.history.filter((m) => m.type === 'tts_chunk').map((m) => Buffer.from(m.content, 'base64'));
  return Buffer.concat([...parts, ...client.binaries]);
}

const NORMALISE = { mr: 'mister', mrs: 'missus', dr: 'doctor' };

export function words(text) {
  return text.toLowerCase().replace(/[^a-z0-9' ]+/g, ' ').split(/\s+/).filter(Boolean)
    .map((w) => NORMALISE[w] || w);
}

/** Word-level edit distance between reference and hypothesis. */
export function wordErrors(ref, hyp) {
  const r = words(ref);
  const h = words(hyp);
  const d = Array.from({ length: r.length + 1 }, (_, i) => [i, ...Array(h.length).fill(0)]);
  for (let j = 1; j <= h.length; j++) d[0][j] = j;
  for (let i = 1; i <= r.length; i++) {
    for (let j = 1; j <= h.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (r[i - 1] === h[j - 1] ? 0 : 1));
    }
  }
  return { errors: d[r.length][h.length], words: r.length };
}

export function wer(ref, hyp) {
  const { errors, words: n } = wordErrors(ref, hyp);
  return n ? errors / n : 0;
}
