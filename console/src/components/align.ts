// Aligns transcript lines to a stereo recording (caller left, agent right) from the audio itself: the
// call record keeps the transcript without timestamps, so each side's speech turns are found by energy
// and the n-th turn of a role in the transcript is placed at the n-th speech turn of that channel.

export type Segment = { channel: 0 | 1; start: number; end: number };

const FRAME_S = 0.03;
const MERGE_GAP_S = 0.9; // pauses shorter than this stay inside one turn
const MIN_SPEECH_S = 0.15;

export function speechSegments(buffer: AudioBuffer): Segment[] {
  const out: Segment[] = [];
  const channels = Math.min(buffer.numberOfChannels, 2);
  for (let c = 0; c < channels; c++) {
    const data = buffer.getChannelData(c);
    const frame = Math.max(1, Math.round(buffer.sampleRate * FRAME_S));
    const energies: number[] = [];
    for (let i = 0; i < data.length; i += frame) {
      let sum = 0;
      const end = Math.min(data.length, i + frame);
      for (let j = i; j < end; j++) sum += data[j] * data[j];
      energies.push(Math.sqrt(sum / (end - i)));
    }
    const peak = Math.max(...energies, 1e-6);
    const threshold = Math.max(0.01, peak * 0.08);
    let start: number | null = null;
    let last = 0;
    energies.forEach((e, k) => {
      const t = k * FRAME_S;
      if (e >= threshold) {
        if (start === null) start = t;
        else if (t - last > MERGE_GAP_S) {
          if (last - start >= MIN_SPEECH_S) out.push({ channel: c as 0 | 1, start, end: last });
          start = t;
        }
        last = t + FRAME_S;
      }
    });
    if (start !== null && last - start >= MIN_SPEECH_S) out.push({ channel: c as 0 | 1, start, end: last });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Start time (s) for each message, or null where the audio has no matching turn. */
export function alignMessages(roles: string[], segments: Segment[]): (number | null)[] {
  // Consecutive segments of one channel form one turn (an agent reply may hold several sentences).
  const turns: Segment[] = [];
  for (const s of segments) {
    const prev = turns[turns.length - 1];
    if (prev && prev.channel === s.channel) prev.end = Math.max(prev.end, s.end);
    else turns.push({ ...s });
  }
  const byChannel: Segment[][] = [turns.filter((t) => t.channel === 0), turns.filter((t) => t.channel === 1)];
  const next = [0, 0];
  let prevRole = "";
  let prevTime: number | null = null;
  return roles.map((role) => {
    const ch = role === "user" ? 0 : role === "assistant" || role === "bot" ? 1 : -1;
    if (ch < 0) return null;
    if (role === prevRole) return prevTime; // several lines in one turn share its start
    prevRole = role;
    const seg = byChannel[ch][next[ch]++];
    prevTime = seg ? seg.start : null;
    return prevTime;
  });
}
