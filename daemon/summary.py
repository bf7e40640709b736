"""The end-of-run verdict: the share of each genre over the classified windows."""

from __future__ import annotations

from typing import Any

import numpy as np

from gtzan.daemon.pipeline import WindowResult


class SummaryBuilder:
    """Counts raw blended verdicts; the track's verdict is the most frequent one.

    Ties go to the genre with the larger summed blended score, then to the lower genre index.
    Silent windows are counted apart and never win.
    """

    def __init__(self, genres: tuple[str, ...]):
        self.genres = genres
        self.counts = np.zeros(len(genres), dtype=np.int64)
        self.score_sum = np.zeros(len(genres))
        self.smoothed_counts = np.zeros(len(genres), dtype=np.int64)
        self.windows = 0
        self.silent = 0
        self.last_end = 0.0

    def add(self, r: WindowResult) -> None:
        self.windows += 1
        self.last_end = r.end
        if r.silent or r.label is None:
            self.silent += 1
            return
        self.counts[r.label] += 1
        self.score_sum += r.scores
        if r.smoothed is not None:
            self.smoothed_counts[r.smoothed] += 1

    @property
    def classified(self) -> int:
        return int(self.counts.sum())

    def verdict(self) -> int | None:
        if self.classified == 0:
            return None
        keys = sorted(range(len(self.genres)), key=lambda k: (-self.counts[k], -self.score_sum[k], k))
        return keys[0]

    def as_dict(self, ended: str, source: dict[str, Any], audio_seconds: float, overflows: int, dropped: int) -> dict[str, Any]:
        n = max(1, self.classified)
        v = self.verdict()
        return {
            "verdict": None if v is None else self.genres[v],
            "shares": {g: round(float(c) / n, 6) for g, c in zip(self.genres, self.counts, strict=False)} if self.classified else {},
            "smoothed_shares": {g: round(float(c) / n, 6) for g, c in zip(self.genres, self.smoothed_counts, strict=False)}
            if self.classified else {},
            "windows": self.windows,
            "classified": self.classified,
            "silent": self.silent,
            "audio_seconds": round(audio_seconds, 3),
            "ended": ended,
            "overflows": overflows,
            "dropped": dropped,
            "source": source,
        }


def render_summary(summary: dict[str, Any]) -> Any:
    """A rich renderable of the summary for the terminal (or stderr)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from gtzan.daemon.display import genre_style

    synthetic = " (synthetic demo audio)" if summary["source"].get("synthetic") else ""
    title = f"verdict: {summary['verdict'] or 'none (no classified window)'}{synthetic}"
    t = Table(title=title, title_style="bold", show_edge=False)
    t.add_column("genre")
    t.add_column("share of windows", justify="right")
    t.add_column("")
    for g, s in sorted(summary["shares"].items(), key=lambda kv: -kv[1]):
        if s > 0:
            t.add_row(f"[{genre_style(g)}]{g}[/]", f"{100 * s:5.1f}%", f"[{genre_style(g)}]" + "█" * int(round(30 * s)) + "[/]")
    note = Text(f"{summary['classified']} classified and {summary['silent']} silent windows over "
                f"{summary['audio_seconds']:.1f} s of audio; overflows {summary['overflows']}, "
                f"dropped blocks {summary['dropped']}", style="grey62")
    return Group(t, note)
