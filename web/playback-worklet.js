// AudioWorklets of the answer's playback.
//
// 'parley-playback' plays int16 chunks from a small jitter buffer. Playback
// starts once `prebufferSamples` are queued (or the queue has waited
// `maxWaitFrames` render quanta), reports 'started', progress (samples
// played) and 'drained', and flushes at once on {type: 'flush', epoch}. Every
// report carries `epoch` (of the last flush) and `frame`, the context's
// sample frame at which it happened, so the page can tell when the listener
// hears it (the page's playback path adds a delay). It also reports each
// onset ('onset'), the first loud sample after a stretch of quiet, so the
// page can time the same onset where the audio comes out.
//
// 'parley-heard' watches the audio where it comes out (the stream the page's
// <audio> element plays) and reports the same onsets, plus how much it has
// heard ({type: 'heard', samples, loud, energy} on request).

const ONSET_LEVEL = 0.02;   // about -34 dBFS
const QUIET_SECONDS = 0.1;  // quiet needed before an onset

/** Onsets in a mono signal: calls report(frame) at the first loud sample after QUIET_SECONDS of quiet. */
class OnsetDetector {
  constructor(report) {
    this.quietNeeded = Math.round(sampleRate * QUIET_SECONDS);
    this.quiet = this.quietNeeded; // the start counts as quiet
    this.report = report;
  }

  feed(x, n, frame) {
    for (let i = 0; i < n; i++) {
      if (Math.abs(x[i]) >= ONSET_LEVEL) {
        if (this.quiet >= this.quietNeeded) this.report(frame + i);
        this.quiet = 0;
      } else {
        this.quiet++;
      }
    }
  }

  /** n samples of silence. */
  silence(n) { this.quiet += n; }
}

class ParleyPlayback extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions;
    this.prebuffer = o.prebufferSamples;
    this.maxWait = o.maxWaitFrames;
    this.queue = [];      // Int16Array chunks
    this.offset = 0;      // read position in queue[0]
    this.queued = 0;      // samples waiting
    this.playing = false;
    this.waited = 0;
    this.played = 0;      // samples played since the page loaded
    this.sinceReport = 0;
    this.epoch = 0;       // the page's count of flushes, echoed in every report
    this.onsets = new OnsetDetector((frame) => this.report({ type: 'onset', frame }));
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'audio') {
        const pcm = new Int16Array(m.pcm);
        if (pcm.length) { this.queue.push(pcm); this.queued += pcm.length; }
      } else if (m.type === 'flush') {
        this.epoch = m.epoch;
        this.queue = [];
        this.offset = 0;
        this.queued = 0;
        if (this.playing) {
          this.playing = false;
          this.report({ type: 'drained', played: this.played, frame: currentFrame, flushed: true });
        }
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!out) return true;
    if (!this.playing) {
      if (this.queued === 0) this.waited = 0;
      else if (++this.waited >= this.maxWait || this.queued >= this.prebuffer) {
        this.playing = true;
        this.report({ type: 'started', played: this.played, frame: currentFrame });
      }
      if (!this.playing) {
        out.fill(0);
        this.onsets.silence(out.length);
        return true;
      }
    }
    let i = 0;
    while (i < out.length && this.queue.length) {
      const head = this.queue[0];
      const take = Math.min(out.length - i, head.length - this.offset);
      for (let k = 0; k < take; k++) out[i + k] = head[this.offset + k] / 32768;
      i += take;
      this.offset += take;
      this.queued -= take;
      if (this.offset === head.length) { this.queue.shift(); this.offset = 0; }
    }
    this.onsets.feed(out, i, currentFrame);
    this.played += i;
    this.sinceReport += i;
    const end = currentFrame + i; // the frame after the last sample played
    out.fill(0, i);
    this.onsets.silence(out.length - i);
    if (this.sinceReport >= 2048) {
      this.sinceReport = 0;
      this.report({ type: 'progress', played: this.played, frame: end });
    }
    if (this.queued === 0) {
      this.playing = false;
      this.waited = 0;
      this.report({ type: 'drained', played: this.played, frame: end });
    }
    return true;
  }

  report(m) {
    m.epoch = this.epoch;
    this.port.postMessage(m);
  }
}

class ParleyHeard extends AudioWorkletProcessor {
  constructor() {
    super();
    this.samples = 0;   // samples seen
    this.loud = 0;      // of which at or above ONSET_LEVEL
    this.energy = 0;    // sum of squares
    this.onsets = new OnsetDetector((frame) => this.port.postMessage({ type: 'onset', frame }));
    this.port.onmessage = (e) => {
      if (e.data.type === 'heard') {
        this.port.postMessage({ type: 'heard', samples: this.samples, loud: this.loud, energy: this.energy });
      }
    };
  }

  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    if (!x) return true;
    this.onsets.feed(x, x.length, currentFrame);
    for (let i = 0; i < x.length; i++) {
      const a = x[i] * x[i];
      this.energy += a;
      if (a >= ONSET_LEVEL * ONSET_LEVEL) this.loud++;
    }
    this.samples += x.length;
    return true;
  }
}

registerProcessor('parley-playback', ParleyPlayback);
registerProcessor('parley-heard', ParleyHeard);
