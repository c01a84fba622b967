// A browser call (docs: the web-call protocol): POST /calls/web, then a WebSocket carrying raw PCM
// s16le mono 16 kHz in binary frames both ways and JSON events in text frames.
import workletUrl from "./pcm-worklet.js?url";
import { apiBase, session } from "../api/client";

export type TalkEvent =
  | { type: "transcript"; role: "user" | "assistant"; text: string; final: boolean }
  | { type: "speech-update"; role: "user" | "assistant"; status: "started" | "stopped" }
  | { type: "call-ended"; reason?: string }
  | { type: "clear" }
  | { type: string; [k: string]: unknown };

export type WebCallInfo = { call_id: string; websocket_url: string; expires_at?: string };

export async function createWebCall(assistantId: string): Promise<WebCallInfo> {
  const res = await fetch(`${apiBase()}/calls/web`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${session.key ?? ""}` },
    body: JSON.stringify({ assistant_id: assistantId }),
  });
  const body = await res.json().catch(() => ({}));
  if (res.status !== 201) throw new Error(body.message ?? `Could not start the call (${res.status})`);
  return body as WebCallInfo;
}

/** One live browser call: microphone -> socket, socket -> speakers, events -> onEvent. */
export class WebCall {
  private ctx: AudioContext | null = null;
  private ws: WebSocket | null = null;
  private stream: MediaStream | null = null;
  private playback: AudioWorkletNode | null = null;
  bytesIn = 0;

  constructor(private onEvent: (e: TalkEvent) => void, private onClose: (reason: string) => void) {}

  async start(info: WebCallInfo) {
    // The browser's echo canceller keeps the agent's voice out of the microphone on speakers.
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    this.ctx = new AudioContext();
    await this.ctx.audioWorklet.addModule(workletUrl);
    const mic = this.ctx.createMediaStreamSource(this.stream);
    const capture = new AudioWorkletNode(this.ctx, "pcm-capture");
    this.playback = new AudioWorkletNode(this.ctx, "pcm-playback", { outputChannelCount: [1] });
    this.playback.connect(this.ctx.destination);
    mic.connect(capture);

    const ws = new WebSocket(info.websocket_url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("The call socket did not open."));
    });
    capture.port.onmessage = (e: MessageEvent<ArrayBuffer>) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(e.data);
    };
    ws.onmessage = (e: MessageEvent) => {
      if (typeof e.data === "string") {
        const event = JSON.parse(e.data) as TalkEvent;
        if (event.type === "clear") this.playback?.port.postMessage("clear");
        this.onEvent(event);
      } else {
        this.bytesIn += (e.data as ArrayBuffer).byteLength;
        this.playback?.port.postMessage(e.data, [e.data as ArrayBuffer]);
      }
    };
    ws.onclose = (e) => {
      this.teardown();
      this.onClose(e.reason || "closed");
    };
  }

  hangUp() {
    this.ws?.close(1000, "hang-up");
    this.teardown();
  }

  private teardown() {
    this.stream?.getTracks().forEach((t) => t.stop());
    void this.ctx?.close();
    this.stream = null;
    this.ctx = null;
  }
}
