"""The live terminal view (rich.live.Live): verdict, probability bars, members' votes, timeline, level, timings.

The verdict is the smoothed genre with its calibrated probability (averaged over the last N windows);
below the bundle's ``uncertain_below`` it reads "uncertain: rock? 41%". Under it, a window too quiet or
clipping (gtzan.daemon.level) says so with the level measured. Vote shares are not shown: they
jump between a few values and read 100% whenever the members agree. Members with weight 0 are listed
greyed as "not used" (they are not run).

Every part fits the terminal's width (bars shrink, then go; explanations are dropped on narrow
terminals) and the verdict comes first, so a short terminal crops the least useful lines. With
--fast, windows arrive hundreds of times a second: the view is redrawn at most REFRESH_PER_SECOND
times a second (a redraw per window added about half the CPU of a whole --fast --json run) and shows
the speed instead of latencies, which mean nothing when nothing is waited for.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gtzan.daemon.level import warning_text
from gtzan.daemon.pipeline import WindowResult

if TYPE_CHECKING:
    from gtzan.daemon.run import RunState

GENRE_STYLES = {
    "blues": "blue",
    "classical": "bright_white",
    "country": "yellow",
    "disco": "magenta",
    "hiphop": "bright_red",
    "jazz": "cyan",
    "metal": "red",
    "pop": "bright_magenta",
    "reggae": "green",
    "rock": "dark_orange",
}
TIMELINE = 48  # windows shown in the strip, at most
METER_DB = 72.0  # the level meter spans -72..0 dBFS
REFRESH_PER_SECOND = 4  # redraws a second between windows, and at all with --fast
NARROW = 60  # columns below which explanations are left out
BAR = 12  # width of a probability bar where there is room


def genre_style(genre: str | None) -> str:
    return GENRE_STYLES.get(genre or "", "grey50")


def _bar(frac: float, width: int, style: str) -> Text:
    full = max(0, min(width, int(round(frac * width))))
    return Text("█" * full, style=style) + Text("·" * (width - full), style="grey23")


def bar_width(columns: int) -> int:
    """Width of each of the two probability bars that lets a row ('classical', two bars, two
    percentages, padding: 25 columns besides the bars) fit; 0 (no bars) when fewer than 4 would."""
    w = min(BAR, (columns - 25) // 2)
    return w if w >= 4 else 0


class LiveDisplay:
    """Redraws on every window (real time) and a few times a second in between; with --fast
    (``realtime=False``) only a few times a second."""

    def __init__(
        self,
        genres: tuple[str, ...],
        members: list[tuple[str, str, int]],
        console: Console | None = None,
        realtime: bool = True,
    ):
        self.genres = genres
        self.members = members
        self.console = console or Console()
        self.realtime = realtime
        self.timeline: deque[str | None] = deque(maxlen=TIMELINE)
        self.last: WindowResult | None = None
        self.latency_ms = 0.0
        self._live: Live | None = None
        self._state: RunState | None = None
        self._next_draw = 0.0

    @property
    def state(self) -> RunState:
        assert self._state is not None, "drawn before start()"
        return self._state

    # -- output protocol (gtzan.daemon.interfaces.Output) ------------------------------------------
    def start(self, state: RunState) -> None:
        self._state = state
        self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
        self._live.start()

    def window(self, r: WindowResult, state: RunState) -> float:
        self.last = r
        self.timeline.append(None if r.silent else self.genres[r.label])
        if self.realtime:
            self._draw()
        else:
            self._draw_if_due()
        self.latency_ms = (time.monotonic() - r.arrival) * 1000.0
        return self.latency_ms

    def tick(self, state: RunState) -> None:
        self._draw_if_due()

    def close(self) -> None:
        if self._live is not None:
            self._live.update(self._render())  # stop() draws this last frame
            self._live.stop()
            self._live = None

    def summary(self, summary: dict[str, Any]) -> None:
        """The summary under the last frame, when there were windows (gtzan.daemon.summary.SummaryView)."""
        if summary["windows"]:
            from gtzan.daemon.summary import render_summary

            self.console.print(render_summary(summary))

    def _draw_if_due(self) -> None:
        if time.monotonic() >= self._next_draw:
            self._draw()

    def _draw(self) -> None:
        if self._live is not None:
            self._next_draw = time.monotonic() + 1.0 / REFRESH_PER_SECOND
            self._live.update(self._render(), refresh=True)

    # -- drawing ---------------------------------------------------------------------------------
    def _verdict(self) -> Panel:
        s, r = self.state, self.last
        body, shown = Text(), None
        if r is None:
            need = max(0.0, 3.0 - s.audio_seconds())
            body.append(f"listening... first verdict in {need:.1f} s", style="grey62")
        elif r.silent:
            body.append("  SILENCE  ", style="bold grey70 on grey23")
            body.append(f"   level {r.level_dbfs:.0f} dBFS is below {s.silence_db:.0f} dBFS", style="grey62")
        else:
            smoothed = r.smoothed is not None
            shown = self.genres[r.smoothed if smoothed else r.label]
            prob = float((r.smoothed_probability if smoothed else r.probability) or 0.0)
            over = f"mean of the last {s.smooth_n} windows" if s.smooth_n > 1 else "this window"
            explain = self.console.width >= NARROW
            if r.smoothed_uncertain if smoothed else r.uncertain:
                body.append(f" uncertain: {shown}? {100 * prob:.0f}% ", style=f"bold {genre_style(shown)} on grey23")
                if explain:
                    body.append(f"   {over}, below {100 * s.uncertain_below:.0f}%", style="grey62")
            else:
                body.append(f"  {shown.upper()}  ", style=f"bold black on {genre_style(shown)}")
                body.append(f" {100 * prob:.0f}%", style="bold")
                if explain:
                    body.append(f"   calibrated probability, {over}", style="grey62")
            raw = self.genres[r.label]
            body.append("\nthis window: ")
            body.append(
                f"{raw}{'?' if r.uncertain else ''} ({100 * float(r.probability or 0.0):.0f}%)", style=genre_style(raw)
            )
        if r is not None and r.level_warning is not None:
            text = warning_text(
                r.level_warning, r.level_dbfs, r.peak_dbfs, r.clipped, short=self.console.width < NARROW
            )
            body.append("\n" + text, style="bold red" if r.level_warning == "clipping" else "bold yellow")
        if r is not None and r.note:
            body.append(f"\n{r.note.upper()} (synthetic audio, not real music)", style="bold yellow")
        title = "genre" + ("  [yellow]SYNTHETIC DEMO[/]" if s.synthetic else "")
        return Panel(
            body, title=title, padding=(0, 2 if self.console.width >= NARROW else 0), border_style=genre_style(shown)
        )

    def _scores(self, top: int | None = None) -> Table:
        r = self.last
        width = bar_width(self.console.width)
        title = ("blended probabilities (calibrated)" if self.console.width >= NARROW else "probabilities") + (
            "" if top is None else f", top {top}"
        )
        t = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), title=title)
        t.add_column("genre", no_wrap=True)
        t.add_column("this window", no_wrap=True)
        t.add_column("smoothed", no_wrap=True)
        order = list(range(len(self.genres)))
        if top is not None and r is not None and r.smoothed_probs is not None:
            order = sorted(order, key=lambda k: -float(r.smoothed_probs[k]))[:top]
        elif top is not None:
            order = order[:top]
        for k in order:
            g = self.genres[k]
            raw = 0.0 if r is None or r.probs is None else float(r.probs[k])
            sm = 0.0 if r is None or r.smoothed_probs is None else float(r.smoothed_probs[k])
            st = genre_style(g)
            t.add_row(
                Text(g, style=st),
                _bar(raw, width, st) + Text(f"{100 * raw:4.0f}%"),
                _bar(sm, width, st) + Text(f"{100 * sm:4.0f}%"),
            )
        return t

    def _members(self) -> Table:
        r = self.last
        t = Table(box=None, header_style="bold", padding=(0, 1), title="members")
        for c in ("model", "kind", "weight", "vote", "p(vote)"):
            t.add_column(c, justify="right" if c in ("weight", "p(vote)") else "left")
        for name, kind, w in self.members:
            if w == 0:
                t.add_row(name, kind, "0", "not used", "", style="grey42")
                continue
            if r is None or name not in r.member_votes:
                t.add_row(name, kind, str(w), "-", "-")
                continue
            v = r.member_votes[name]
            g = self.genres[v]
            t.add_row(name, kind, str(w), Text(g, style=genre_style(g)), f"{float(r.member_probs[name][v]):.2f}")
        return t

    def _timeline(self) -> Text:
        """The strip of recent windows' genres, as long as the width allows, and its colour legend
        on a line of its own (most frequent genres first; '+N' for those that do not fit)."""
        width = self.console.width
        label = "recent windows  " if width >= NARROW else "recent "
        t = Text()
        t.append(label, style="bold")
        for g in list(self.timeline)[-max(1, width - len(label) - 1) :]:
            t.append("▇" if g else "·", style=genre_style(g))
        counts: dict[str, int] = {}
        for g in self.timeline:
            if g:
                counts[g] = counts.get(g, 0) + 1
        seen = sorted(counts, key=lambda g: -counts[g])
        if seen:
            legend, used = Text(), 0
            for i, g in enumerate(seen):
                more = f"+{len(seen) - i - 1}" if i < len(seen) - 1 else ""
                entry = f"■ {g}  "
                if used + len(entry) + len(more) > width - 1 and i > 0:
                    legend.append(f"+{len(seen) - i}", style="grey62")
                    break
                legend.append("■ ", style=genre_style(g))
                legend.append(f"{g}  ", style="grey62")
                used += len(entry)
            t.append("\n")
            t.append_text(legend)
        return t

    def _status(self) -> Text:
        """Input level, source, progress, and the timings (real time) or the speed (--fast)."""
        s, r = self.state, self.last
        width = self.console.width
        narrow = width < NARROW
        lvl = s.input_dbfs
        frac = max(0.0, min(1.0, (lvl + METER_DB) / METER_DB))
        style = "red" if lvl > -3 else ("yellow" if lvl > -12 else "green")
        t = Text()
        t.append("input " if narrow else "input  ", style="bold")
        t.append_text(_bar(frac, max(4, min(24, width - 18)), style))
        t.append(f" {lvl:6.1f} dBFS")
        if r is not None and not narrow:
            t.append(f"   last window {r.level_dbfs:6.1f} dBFS" + (" (silence)" if r.silent else ""))
        t.append("\n")
        t.append("source ", style="bold")
        room = max(8, width - len("source ") - 1)
        t.append((s.source_text if len(s.source_text) <= room else s.source_text[: room - 1] + "…") + "\n")
        el = time.monotonic() - s.started
        windows = 0 if r is None else r.index + 1
        clock = f"{int(el // 60):02d}:{el % 60:04.1f}"
        if narrow:
            t.append(f"{clock}  audio {s.audio_seconds():.1f} s  windows {windows}\n")
        else:
            t.append(
                f"elapsed {clock}   audio {s.audio_seconds():.1f} s   hop {s.hop_seconds:.3f} s   windows {windows}\n"
            )
        if not self.realtime:
            t.append(f"speed {s.audio_seconds() / max(el, 1e-3):.0f}x real time  ")
        elif r is not None and not narrow:
            t.append(
                f"features {r.features_ms:.0f} ms  inference {r.inference_ms:.1f} ms  "
                f"latency {self.latency_ms:.0f} ms  "
            )
        elif r is not None:
            t.append(f"latency {self.latency_ms:.0f} ms  ")
        ov, dr = s.source.overflows, s.source.dropped
        if ov or dr or not narrow:
            t.append(f"overflows {ov}  dropped {dr}", style="bold red" if ov or dr else "")
        return t

    def _members_line(self) -> Text:
        """The members' votes on one (wrapping) line, for short terminals."""
        r = self.last
        narrow = self.console.width < NARROW
        t = Text()
        t.append("votes ", style="bold")
        for name, _, w in self.members:
            if w == 0:
                continue
            g = self.genres[r.member_votes[name]] if r is not None and name in r.member_votes else None
            t.append(f"{name}→" if narrow else f"{name}(w{w})→")
            t.append(f"{g or '-'}  ", style=genre_style(g))
        idle = [name for name, _, w in self.members if w == 0]
        if idle:
            t.append(f"{len(idle)} not used" if narrow else "not used: " + " ".join(idle), style="grey42")
        return t

    def _render(self) -> Group:
        """Side by side on wide terminals, stacked on narrow ones, compact where the height is short."""
        wide, height = self.console.width >= 100, self.console.height
        if wide and height >= 26:
            tables = Table.grid(padding=(0, 4))
            tables.add_row(self._scores(), self._members())
            return Group(self._verdict(), tables, self._timeline(), self._status())
        if not wide and height >= 36:
            return Group(self._verdict(), self._scores(), self._members(), self._timeline(), self._status())
        top = 5 if height >= 22 else 3
        return Group(self._verdict(), self._scores(top=top), self._members_line(), self._timeline(), self._status())
