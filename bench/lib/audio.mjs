// The benchmark's audio, made at run time: short sentences spoken by
// parley's own flite voices (a typed turn whose fake LLM answers with the
// sentence, audio collected at 48 kHz), Debian's librivox recordings
// resampled by sox (tests/integration/audio.mjs), and where the speech in
// each starts and ends, found from its energy.
import { librivoxClips, soxRaw } from '../../tests/integration/audio.mjs';
import { Session, encodeFrames } from './client.mjs';

export const RATE = 48000;

/** Short requests, as a user would say them to a voice assistant. */
export const SENTENCES = [
  'What is the weather like today?',
  'Please set a timer for ten minutes.',
  'Tell me a short story about a cat.',
  'How far away is the moon?',
  'Can you recommend a good book?',
  'What time is it in London?',
  'Turn on the lights in the kitchen.',
  'Who wrote the play Hamlet?',
];
const VOICES = ['rms', 'slt', 'awb', 'kal16'];

/** The fake LLM's answer that makes parley say sentence i ("say sentence i"). */
export function sayAnswer(body, user) {
  const m = /say sentence (\d+)/.exec(user || '');
  return m ? SENTENCES[Number(m[1])] : 'Okay.';
}

/**
 * Where speech starts and ends in int16 LE PCM: the first and last 10 ms
 * window whose RMS is above 2% of the loudest window's (-34 dB) and at
 * least 100 (flite's background after resampling is 2-70).
 * Returns {onsetMs, endMs}.
 */
export function speechBounds(pcm, rate = RATE) {
  const win = rate / 100;
  const n = Math.floor(pcm.length / 2 / win);
  const rms = new Float64Array(n);
  let peak = 0;
  for (let w = 0; w < n; w++) {
    let e = 0;
    for (let i = 0; i < win; i++) {
      const v = pcm.readInt16LE((w * win + i) * 2);
      e += v * v;
    }
    rms[w] = Math.sqrt(e / win);
    peak = Math.max(peak, rms[w]);
  }
  const thr = Math.max(100, peak * 0.02);
  let first = 0;
  while (first < n && rms[first] < thr) first++;
  let last = n - 1;
  while (last > 0 && rms[last] < thr) last--;
  return { onsetMs: first * 10, endMs: (last + 1) * 10 };
}

/** A clip ready to stream: its frames and where its speech is. */
export function clip(id, pcm, { flags = 0 } = {}) {
  const b = speechBounds(pcm);
  return { id, pcm, frames: encodeFrames(pcm, RATE, { flags }), onsetMs: b.onsetMs, endMs: b.endMs,
           seconds: pcm.length / 2 / RATE };
}

/**
 * Each of SENTENCES (the first `count`) spoken by parley's flite at 48 kHz
 * (voices in turn), through a server whose LLM answers sayAnswer(). Returns
 * [clip] with .text.
 */
export async function synthSentences(port, count = SENTENCES.length) {
  return Promise.all(SENTENCES.slice(0, count).map(async (text, i) => {
    const s = await Session.open(port, { config: { voice: VOICES[i % VOICES.length], output_sample_rate: RATE, audio_out: 'binary' } });
    const parts = [];
    s.ws.on('message', (data, binary) => { if (binary) parts.push(Buffer.from(data)); });
    const done = s.wait('final_assistant_answer', 30000);
    s.sendJson({ type: 'text', content: `say sentence ${i}` });
    await done; // sent after the answer's last audio
    await s.close();
    const pcm = Buffer.concat(parts);
    if (pcm.length < RATE) throw new Error(`flite said "${text}" in ${pcm.length / 2} samples only`);
    return { ...clip(`s${i}`, pcm), text };
  }));
}

/** The librivox clips at 48 kHz (sox), with their 16 kHz source files. */
export function librivox48() {
  return librivoxClips().map((c) => ({ ...clip(c.id, soxRaw(c.file, RATE)), file: c.file, text: c.text }));
}
