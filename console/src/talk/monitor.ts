// Listening in on a live call through monitor.listen_url (docs/web-calls.md): a read-only socket with the
// call's JSON events in text frames and both sides' audio in binary frames (one tag byte, 1 caller or
// 2 agent, then PCM s16le mono 16 kHz).
import workletUrl from "./pcm-worklet.js?url";
import type { TalkEvent } from "./webcall";

const CALLER = 1;
const AGENT = 2;

export class MonitorSocket {
  private ws: WebSocket | null = null;
  private ctx: AudioContext | null = null;
  private players = new Map<number, AudioWorkletNode>();
  audioBytes = { caller: 0, agent: 0 };

  constructor(private onEvent: (e: TalkEvent) => void, private onClose: () => void) {}

  connect(url: string) {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") {
        const event = JSON.parse(e.data) as TalkEvent;
        if (event.type === "clear") this.players.get(AGENT)?.port.postMessage("clear");
        this.onEvent(event);
        return;
      }
      const frame = e.data as ArrayBuffer;
      const tag = new Uint8Array(frame, 0, 1)[0];
      if (tag === CALLER) this.audioBytes.caller += frame.byteLength - 1;
      else if (tag === AGENT) this.audioBytes.agent += frame.byteLength - 1;
      const player = this.players.get(tag);
      if (player) {
        const pcm = frame.slice(1); // a copy: Int16 samples must start on an even offset
        player.port.postMessage(pcm, [pcm]);
      }
    };
    ws.onclose = () => this.onClose();
  }

  /** Play both sides (each side its own player, mixed by the AudioContext). Needs a user gesture. */
  async listen() {
    if (this.ctx) return;
    const ctx = new AudioContext();
    this.ctx = ctx;
    await ctx.audioWorklet.addModule(workletUrl);
    for (const tag of [CALLER, AGENT]) {
      const node = new AudioWorkletNode(ctx, "pcm-playback", { outputChannelCount: [1] });
      node.connect(ctx.destination);
      this.players.set(tag, node);
    }
  }

  mute() {
    this.players.clear();
    void this.ctx?.close();
    this.ctx = null;
  }

  get listening() {
    return this.ctx !== null;
  }

  close() {
    this.mute();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000, "left");
    }
    this.ws = null;
  }
}
