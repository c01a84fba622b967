"""Cheap per-process counters for health checks and the benchmark."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Stats:
    """Counters of one media process."""

    frames_out: int = 0
    calls_total: int = 0
    rejected: int = 0
    refused_prepares: int = 0  # at capacity: the control plane tries another task
    refused_streams: int = 0  # at capacity: more live calls than this process can serve
    relayed_listeners: int = 0  # monitor listeners of calls another task holds, served from that task

    def note_frame(self) -> None:
        """One outbound media frame."""
        self.frames_out += 1
