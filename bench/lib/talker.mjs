// A simulated user for the latency and capacity steps: a session that
// streams its microphone continuously (silence between sentences, as a
// real microphone does), speaks the sentences it is given with pauses, and
// notes for each utterance when its speech began and ended (on the sending
// clock, as the frames holding those instants were sent),
// when its final transcript arrived and when the answer's first audio
// followed. Everything is driven by one Streamer timer.
import { script, silenceFrames, FRAME_MS } from './client.mjs';
import { RATE } from './audio.mjs';
import { words } from '../../tests/integration/audio.mjs';

/** A small seeded random generator (mulberry32), so runs are repeatable:
 *  the simulated room's (tests/integration/room.mjs). */
export { random as rng } from '../../tests/integration/room.mjs';

export class Talker {
  /**
   * session: an open Session (declared 48 kHz, binary audio out).
   * pick(): the next clip to say, or null to stop; gapMs(): the pause after
   * it; leadMs: silence before the first one; tailMs: silence after the
   * last; lostMs: how long after its speech ended an utterance may still
   * get its final transcript (settle() waits that long at most).
   */
  constructor(session, { pick, gapMs, leadMs = 300, tailMs = 2500, lostMs = 15000 }) {
    this.s = session;
    this.utts = [];
    this.pending = [];
    this.current = null;
    this.unmatched = 0;
    this.lostMs = lostMs;
    let state = 'lead';
    const next = () => {
      if (state === 'lead') { state = 'talk'; return { frames: silenceFrames(RATE, leadMs) }; }
      if (state === 'gap') { state = 'talk'; return { frames: silenceFrames(RATE, gapMs()) }; }
      if (state === 'talk') {
        const c = pick();
        if (c) { state = 'gap'; return { frames: c.frames, speech: c }; }
        state = 'tail';
        return { frames: silenceFrames(RATE, tailMs) };
      }
      return null;
    };
    this.next = script(next, {
      onset: (seg, at) => {
        this.utts.push({ clip: seg.speech, onsetAt: at, endAt: null, finalAt: null, audioAt: null, text: null });
      },
      end: (seg, at) => {
        const u = this.utts.at(-1);
        u.endAt = at;
        this.pending.push(u);
      },
    });
    session.on('final_user_request', (m, now) => this.#final(m.content, now));
    this.audioBeforeFinal = 0; // answer audio while an ended utterance awaited its transcript
    session.on('audio', (bytes, now) => {
      if (this.current && this.current.audioAt == null) this.current.audioAt = now;
      const p = this.pending.at(-1);
      if (p && !p.earlyAudio) {
        p.earlyAudio = true;
        this.audioBeforeFinal++;
      }
    });
  }

  /* A final transcript belongs to the ended utterance whose sentence shares
   * the most words with it (the oldest on a tie): transcripts come in
   * order, but an utterance the server refused (`overloaded`) or skipped
   * has none, so order alone would pin a late transcript on the wrong
   * sentence. Utterances older than the one matched will get none: lost. */
  #final(text, now) {
    const heard = new Set(words(text));
    let best = -1;
    let score = -1;
    for (let i = 0; i < this.pending.length && this.pending[i].endAt <= now + FRAME_MS; i++) {
      const w = words(this.pending[i].clip.text || '');
      const sc = w.filter((x) => heard.has(x)).length / Math.max(1, w.length);
      if (sc > score) { score = sc; best = i; }
    }
    if (best < 0) { this.unmatched++; return; } // no utterance we ended: a split one
    const [u] = this.pending.splice(0, best + 1).slice(-1);
    u.finalAt = now;
    u.text = text;
    this.current = u;
  }

  /** Resolves when every utterance has its final transcript, or is lost. */
  async settle() {
    for (;;) {
      const now = performance.now();
      while (this.pending.length && this.pending[0].endAt < now - this.lostMs) this.pending.shift();
      if (!this.pending.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 300)); // the last answer's first audio
  }
}
