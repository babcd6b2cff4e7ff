// AudioWorklet: plays int16 chunks from a small jitter buffer. Playback
// starts once `prebufferSamples` are queued (or the queue has waited
// `maxWaitFrames` render quanta), reports 'started', progress (samples
// played) and 'drained', and flushes at once on {type: 'flush'}.
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
    this.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'audio') {
        const pcm = new Int16Array(m.pcm);
        if (pcm.length) { this.queue.push(pcm); this.queued += pcm.length; }
      } else if (m.type === 'flush') {
        this.queue = [];
        this.offset = 0;
        this.queued = 0;
        if (this.playing) {
          this.playing = false;
          this.port.postMessage({ type: 'drained', played: this.played, flushed: true });
        }
      }
    };
  }

  process(_inputs, outputs) {
    const out = outputs[0][0];
    if (!out) return true;
    if (!this.playing) {
      if (this.queued === 0) { this.waited = 0; out.fill(0); return true; }
      this.waited++;
      if (this.queued < this.prebuffer && this.waited < this.maxWait) { out.fill(0); return true; }
      this.playing = true;
      this.port.postMessage({ type: 'started', played: this.played });
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
    this.played += i;
    this.sinceReport += i;
    for (; i < out.length; i++) out[i] = 0;
    if (this.sinceReport >= 2048) {
      this.sinceReport = 0;
      this.port.postMessage({ type: 'progress', played: this.played });
    }
    if (this.queued === 0) {
      this.playing = false;
      this.waited = 0;
      this.port.postMessage({ type: 'drained', played: this.played });
    }
    return true;
  }
}

registerProcessor('parley-playback', ParleyPlayback);
