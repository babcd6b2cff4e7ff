// AudioWorklet: microphone -> mono int16 frames of `frameSamples`, with the
// frame's RMS level, posted to the main thread (which adds parley's 8-byte
// header and sends them).
class ParleyCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.frameSamples = options.processorOptions.frameSamples;
    this.buf = new Int16Array(this.frameSamples);
    this.n = 0;
    this.sum = 0;
  }

  process(inputs) {
    const input = inputs[0];
    const ch = input && input[0];
    if (!ch) return true;
    for (let i = 0; i < ch.length; i++) {
      let v = ch[i];
      if (v > 1) v = 1; else if (v < -1) v = -1;
      this.sum += v * v;
      this.buf[this.n++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.n === this.frameSamples) {
        const level = Math.sqrt(this.sum / this.n);
        this.port.postMessage({ pcm: this.buf.buffer, level }, [this.buf.buffer]);
        this.buf = new Int16Array(this.frameSamples);
        this.n = 0;
        this.sum = 0;
      }
    }
    return true;
  }
}

registerProcessor('parley-capture', ParleyCapture);
