"""The end-of-run verdict: the genre of highest calibrated probability averaged over the classified windows.

Averaging probabilities rather than counting the windows' labels is what the smoothed live verdict
does too, so the verdict is the genre with the highest probability shown. Out of fold it reads tracks
about as well as the majority of the windows' labels (within a track of 89 either way; the training
report gives both).
``probability`` is that mean for the verdict genre (windows given another genre included), so a track
split between two genres reads lower than one heard the same way throughout; ``uncertain`` says it is
below the bundle's ``uncertain_below``. The share of windows given each genre is kept beside it.

With a bundle that has a 30 s context model (gtzan.context), every 30 s span of classified windows is
pooled into one row for it, and the verdict's probabilities are ``(1 - a) * windows' mean + a * the
spans' mean context probabilities``, ``a`` the bundle's context share; a run shorter than a span (27 s
of classified windows) is read from its windows alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from gtzan.context import ContextSpans
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


@dataclass
class TrackContext:
    """A bundle's 30 s context model as the summary uses it, and the spans pooled for it so far."""

    share: float
    levelled: Callable[[np.ndarray], np.ndarray]  # window features as the members see them
    predict: Callable[[np.ndarray], np.ndarray | None]  # pooled rows -> probabilities
    spans: ContextSpans = field(default_factory=ContextSpans)


def track_context(bundle: Any) -> TrackContext | None:
    """The bundle's context model, or None when it has none."""
    share = getattr(bundle, "context_share", None)
    return None if share is None else TrackContext(float(share), bundle.levelled, bundle.predict_context)


class SummaryBuilder:
    """Sums the windows' calibrated probabilities and counts their labels; the track's verdict is the
    genre of highest summed probability (see :func:`ranking`), the context model's mixed in when there is one.

    Silent windows are counted apart and never count. Windows with a level warning are counted by kind.
    """

    def __init__(self, genres: tuple[str, ...], uncertain_below: float = 0.5, context: TrackContext | None = None):
        self.genres = genres
        self.context = context
        self._context_probs: tuple[int, np.ndarray | None] = (-1, None)  # (windows added, spans' mean)
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
        classified = not (r.silent or r.label is None)
        if self.context is not None:
            row = self.context.levelled(r.features)[0] if classified and r.features is not None else None
            self.context.spans.add(r.start_sample, row)
        if not classified:
            self.silent += 1
            return
        self.counts[r.label] += 1
        self.prob_sum += r.probs
        if r.smoothed is not None:
            self.smoothed_counts[r.smoothed] += 1

    @property
    def classified(self) -> int:
        return int(self.counts.sum())

    def context_probs(self) -> np.ndarray | None:
        """The context model's probabilities averaged over the full 30 s spans; None without any."""
        if self.context is None:
            return None
        if self._context_probs[0] != self.windows:
            pooled = self.context.spans.pooled()
            p = self.context.predict(pooled) if len(pooled) else None
            mean = None if p is None else np.asarray(np.mean(p, axis=0, dtype=np.float64))
            self._context_probs = (self.windows, mean)
        return self._context_probs[1]

    def track_sums(self) -> np.ndarray:
        """Per genre, the classified windows times the verdict's probability: the windows' summed
        probabilities, with the context model's share of them replaced by its probabilities."""
        ctx = self.context_probs()
        if ctx is None or self.context is None:
            return self.prob_sum
        a = self.context.share
        return (1.0 - a) * self.prob_sum + a * self.classified * ctx

    def verdict(self) -> int | None:
        ranked = ranking(self.counts, self.track_sums())
        return ranked[0] if ranked else None

    def probability(self) -> float | None:
        """The verdict's calibrated probability: the windows' mean, mixed with the context model's."""
        v = self.verdict()
        return None if v is None else float(self.track_sums()[v]) / self.classified

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
            "ranking": [self.genres[k] for k in ranking(self.counts, self.track_sums())],
            **self._context_dict(),
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

    def _context_dict(self) -> dict[str, Any]:
        """The context model's part, for a bundle that has one: its share, the spans it read, its mean
        probabilities and the windows' own verdict beside the mixed one."""
        if self.context is None:
            return {}
        ctx = self.context_probs()
        n = max(1, self.classified)
        windows = ranking(self.counts, self.prob_sum)
        return {
            "context": {
                "share": self.context.share,
                "spans": len(self.context.spans),
                "probs": None if ctx is None else {g: round(float(p), 6) for g, p in zip(self.genres, ctx)},
                "windows_verdict": self.genres[windows[0]] if windows else None,
                "windows_probability": round(float(self.prob_sum[windows[0]]) / n, 6) if windows else None,
            }
        }


def verdict_text(summary: dict[str, Any]) -> str:
    """'rock, mean probability 62%', 'uncertain: rock? mean probability 41%' or 'none (...)'; with a 30 s
    span read by the context model, 'rock, probability with the 30 s context 62%'."""
    v, p = summary["verdict"], summary.get("probability")
    if v is None:
        return "none (no classified window)"
    if p is None:
        return v
    with_context = bool((summary.get("context") or {}).get("spans"))
    what = "probability with the 30 s context" if with_context else "mean probability"
    return (f"uncertain: {v}?" if summary.get("uncertain") else f"{v},") + f" {what} {100 * p:.0f}%"


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
            f"of audio; overflows {s['overflows']}, dropped blocks {s['dropped']}{warnings_note(s)}{context_note(s)}",
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


def context_note(summary: dict[str, Any]) -> str:
    """'; the 30 s context model read 2 spans (share 0.3)' for the count line ('' without a context model)."""
    c = summary.get("context")
    if not c:
        return ""
    n = c["spans"]
    read = "no full 30 s span" if n == 0 else f"{n} span{'s' if n != 1 else ''}"
    return f"; the 30 s context model read {read} (share {c['share']:g})"


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
