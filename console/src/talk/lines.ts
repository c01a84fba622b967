// The live transcript of a call as the sockets send it (docs/web-calls.md): the caller's interim line
// (final: false) is revised in place by each later line of the caller until its final line arrives.
export type Line = { role: string; text: string; final: boolean };

export type TranscriptEvent = { type: "transcript"; role: string; text: string; final: boolean };

export function addLine(prev: Line[], e: TranscriptEvent): Line[] {
  const line = { role: e.role, text: e.text, final: e.final };
  for (let i = prev.length - 1; i >= 0; i--) {
    // The open line may not be the last one: the agent can start a line while the caller is still talking.
    if (prev[i].role === e.role && !prev[i].final) return [...prev.slice(0, i), line, ...prev.slice(i + 1)];
  }
  return [...prev, line];
}
