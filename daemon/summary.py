"""The end-of-run verdict: the genre of highest calibrated probability averaged over the classified windows.

Averaging probabilities rather than counting the windows' labels is what the smoothed live verdict
does too, so the verdict is the genre with the highest probability shown. Out of fold it reads tracks
about as well as the majority of the windows' labels (within a track of 89 either way; the training
report gives both).
``probability`` is that mean for the verdict genre (windows given another genre included), so a track
split between two genres reads lower than one heard the same way throughout; ``uncertain`` says it is
below the bundle's ``uncertain_below``. The share of windows given each genre is kept beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gtzan.daemon.pipeline import WindowResult

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


def ranking(counts: np.ndarray, prob_sum: np.ndarray) -> list[int]:
    """Indices of the genres given at least one window, and of the verdict, by the verdict rule: the
    larger summed calibrated probability first, ties to more windows, then to the lower index. The
    verdict is the first, and the summary lists the genres in this order, so a tie reads the same in both."""
    if not np.any(counts > 0):
        return []
    order = sorted(range(len(counts)), key=lambda k: (-prob_sum[k], -counts[k], k))
    return [k for i, k in enumerate(order) if i == 0 or counts[k] > 0]


class SummaryBuilder:
    """Sums the windows' calibrated probabilities and counts their labels; the track's verdict is the
    genre of highest summed probability (see :func:`ranking`).

    Silent windows are counted apart and never count. Windows with a level warning are counted by kind.
    """

    def __init__(self, genres: tuple[str, ...], uncertain_below: float = 0.5):
        self.genres = genres
        self.uncertain_below = float(uncertain_below)
        self.counts = np.zeros(len(genres), dtype=np.int64)
        self.prob_sum = np.zeros(len(genres))
        self.smoothed_counts = np.zeros(len(genres), dtype=np.int64)
        self.windows = 0
        self.silent = 0
        self.warnings = {"quiet": 0, "clipping": 0}  # windows with each level warning
        self.last_end = 0.0

    def add(self, r: WindowResult) -> None:
        self.windows += 1
        self.last_end = r.end
        if r.level_warning is not None:
            self.warnings[r.level_warning] += 1
        if r.silent or r.label is None:
            self.silent += 1
            return
        self.counts[r.label] += 1
        self.prob_sum += r.probs
        if r.smoothed is not None:
            self.smoothed_counts[r.smoothed] += 1

    @property
    def classified(self) -> int:
        return int(self.counts.sum())

    def verdict(self) -> int | None:
        ranked = ranking(self.counts, self.prob_sum)
        return ranked[0] if ranked else None

    def probability(self) -> float | None:
        """The verdict's calibrated probability, averaged over the classified windows."""
        v = self.verdict()
        return None if v is None else float(self.prob_sum[v]) / self.classified

    def as_dict(
        self, ended: str, source: dict[str, Any], audio_seconds: float, overflows: int, dropped: int
    ) -> dict[str, Any]:
        n = max(1, self.classified)
        v = self.verdict()
        p = self.probability()
        return {
            "verdict": None if v is None else self.genres[v],
            "probability": None if p is None else round(p, 6),
            "uncertain": None if p is None else p < self.uncertain_below,
            "shares": {g: round(float(c) / n, 6) for g, c in zip(self.genres, self.counts, strict=False)}
            if self.classified
            else {},
            "smoothed_shares": {
                g: round(float(c) / n, 6) for g, c in zip(self.genres, self.smoothed_counts, strict=False)
            }
            if self.classified
            else {},
            "ranking": [self.genres[k] for k in ranking(self.counts, self.prob_sum)],
            "windows": self.windows,
            "classified": self.classified,
            "silent": self.silent,
            "level_warnings": dict(self.warnings),
            "audio_seconds": round(audio_seconds, 3),
            "ended": ended,
            "overflows": overflows,
            "dropped": dropped,
            "source": source,
        }


def verdict_text(summary: dict[str, Any]) -> str:
    """'rock, mean probability 62%', 'uncertain: rock? mean probability 41%' or 'none (...)'."""
    v, p = summary["verdict"], summary.get("probability")
    if v is None:
        return "none (no classified window)"
    if p is None:
        return v
    return (f"uncertain: {v}?" if summary.get("uncertain") else f"{v},") + f" mean probability {100 * p:.0f}%"


def render_summary(summary: dict[str, Any]) -> SummaryView:
    """A rich renderable of the summary for the terminal, sized to it when drawn (see SummaryView)."""
    return SummaryView(summary)


class SummaryView:
    """The summary as the last thing on the screen: genre shares in ``ranking`` order, a line of counts,
    and the verdict on the last line, so that it is the last thing to scroll away. It stays within the
    console's height (the least frequent genres give way, counted as '+N more') and width (the bars
    shrink, then go; a short form of the verdict replaces one that would wrap)."""

    def __init__(self, summary: dict[str, Any]):
        self.summary = summary

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table
        from rich.text import Text

        from gtzan.daemon.display import genre_style

        s = self.summary
        width = options.max_width
        height = options.height or console.height
        note = Text(
            f"{s['classified']} classified and {s['silent']} silent windows over {s['audio_seconds']:.1f} s "
            f"of audio; overflows {s['overflows']}, dropped blocks {s['dropped']}{warnings_note(s)}",
            style="grey62",
        )
        note_lines = len(note.wrap(console, width))
        ranked = list(s["ranking"])
        room = max(1, height - note_lines - 4)  # header, verdict, a '+N more' line, a spare
        shown = ranked if len(ranked) <= room else ranked[: room - 1]
        bar = min(30, width - 20)
        t = Table(show_edge=False, box=None, padding=(0, 1), show_header=bool(ranked), header_style="bold")
        t.add_column("genre", no_wrap=True)
        t.add_column("share", justify="right", no_wrap=True)
        if bar >= 4:
            t.add_column("", no_wrap=True)
        for g in shown:
            share = s["shares"][g]
            cells = [f"[{genre_style(g)}]{g}[/]", f"{100 * share:5.1f}%"]
            if bar >= 4:
                cells.append(f"[{genre_style(g)}]" + "█" * int(round(bar * share)) + "[/]")
            t.add_row(*cells)
        if len(shown) < len(ranked):
            t.add_row(f"+{len(ranked) - len(shown)} more", "")
        yield t
        yield note
        yield Text(verdict_line(s, width), style="bold")


def warnings_note(summary: dict[str, Any]) -> str:
    """'; 3 too quiet, 2 clipping windows' for the summary's count line ('' when there were none)."""
    w = summary.get("level_warnings") or {}
    parts = [f"{w[k]} {label}" for k, label in (("quiet", "too quiet"), ("clipping", "clipping")) if w.get(k)]
    return f"; {', '.join(parts)} windows" if parts else ""


def verdict_line(summary: dict[str, Any], width: int = 1000) -> str:
    """'verdict: rock, mean probability 62%' or, where that would not fit in ``width``, 'verdict: rock 62%'."""
    synthetic = " (synthetic demo audio)" if summary["source"].get("synthetic") else ""
    full = f"verdict: {verdict_text(summary)}{synthetic}"
    if len(full) <= width:
        return full
    v, p = summary["verdict"], summary.get("probability")
    if v is None or p is None:
        short = "verdict: none" if v is None else f"verdict: {v}"
    else:
        short = f"verdict: {'uncertain: ' + v + '?' if summary.get('uncertain') else v} {100 * p:.0f}%"
    return short + (" (synthetic)" if synthetic and len(short) + 12 <= width else "")
