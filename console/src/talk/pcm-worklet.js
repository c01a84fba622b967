// AudioWorklet processors for browser calls: the socket carries PCM s16le mono 16 kHz both ways, the
// AudioContext runs at the device rate (often 48 kHz), so both directions resample here, off the main thread.
const WIRE_RATE = 16000;

// Microphone -> 16 kHz Int16 frames of 20 ms (320 samples), posted to the main thread.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / WIRE_RATE; // input samples per output sample
    this.pos = 0; // fractional read position into the carried-over input
    this.carry = new Float32Array(0);
    this.out = new Int16Array(320);
    this.fill = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (!channel) return true;
    const data = new Float32Array(this.carry.length + channel.length);
    data.set(this.carry);
    data.set(channel, this.carry.length);
    let pos = this.pos;
    while (pos + 1 < data.length) {
      const i = Math.floor(pos);
      const frac = pos - i;
      const s = data[i] * (1 - frac) + data[i + 1] * frac; // linear interpolation
      this.out[this.fill++] = Math.max(-32768, Math.min(32767, Math.round(s * 32767)));
      if (this.fill === this.out.length) {
        this.port.postMessage(this.out.buffer.slice(0));
        this.fill = 0;
      }
      pos += this.step;
    }
    const keep = Math.floor(pos);
    this.carry = data.slice(keep);
    this.pos = pos - keep;
    return true;
  }
}

// 16 kHz Int16 frames from the socket -> device-rate output; "clear" drops what is queued (barge-in).
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.queue = [];
    this.head = null;
    this.offset = 0; // fractional read position in 16 kHz samples
    this.step = WIRE_RATE / sampleRate;
    this.port.onmessage = (e) => {
      if (e.data === "clear") {
        this.queue = [];
        this.head = null;
        this.offset = 0;
      } else {
        const pcm = new Int16Array(e.data);
        const f = new Float32Array(pcm.length);
        for (let i = 0; i < pcm.length; i++) f[i] = pcm[i] / 32768;
        this.queue.push(f);
      }
    };
  }
  next() {
    if (this.head && this.offset < this.head.length - 1) return true;
    if (this.head) this.offset -= this.head.length;
    this.head = this.queue.shift() || null;
    if (this.offset < 0) this.offset = 0;
    return this.head !== null;
  }
  process(_inputs, outputs) {
    const out = outputs[0][0];
    let playing = false;
    for (let n = 0; n < out.length; n++) {
      if (!this.next()) {
        out[n] = 0;
        continue;
      }
      const i = Math.floor(this.offset);
      const frac = this.offset - i;
      const a = this.head[i];
      const b = i + 1 < this.head.length ? this.head[i + 1] : a;
      out[n] = a * (1 - frac) + b * frac;
      this.offset += this.step;
      playing = true;
    }
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (playing !== this.wasPlaying) {
      this.wasPlaying = playing;
      this.port.postMessage({ playing });
    }
    return true;
  }
}

registerProcessor("pcm-capture", CaptureProcessor);
registerProcessor("pcm-playback", PlaybackProcessor);
