"""The live terminal view (rich.live.Live): verdict, score bars, members' votes, timeline, level, timings."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from gtzan.daemon.pipeline import WindowResult

GENRE_STYLES = {
    "blues": "blue", "classical": "bright_white", "country": "yellow", "disco": "magenta",
    "hiphop": "bright_red", "jazz": "cyan", "metal": "red", "pop": "bright_magenta",
    "reggae": "green", "rock": "dark_orange",
}
TIMELINE = 48  # windows shown in the strip
METER_DB = 72.0  # the level meter spans -72..0 dBFS


def genre_style(genre: str | None) -> str:
    return GENRE_STYLES.get(genre or "", "grey50")


def _bar(frac: float, width: int, style: str) -> Text:
    full = max(0, min(width, int(round(frac * width))))
    return Text("█" * full, style=style) + Text("·" * (width - full), style="grey23")


class LiveDisplay:
    """Redraws on every window and a few times a second in between (elapsed time, counters)."""

    def __init__(self, genres: tuple[str, ...], members: list[tuple[str, str, int]], console: Console | None = None):
        self.genres = genres
        self.members = members
        self.console = console or Console()
        self.timeline: deque[str | None] = deque(maxlen=TIMELINE)
        self.last: WindowResult | None = None
        self.latency_ms = 0.0
        self._live: Live | None = None
        self._state: Any = None
        self._next_tick = 0.0

    # -- output protocol -------------------------------------------------------------------------
    def start(self, state: Any) -> None:
        self._state = state
        self._live = Live(self._render(), console=self.console, auto_refresh=False, transient=False)
        self._live.start()

    def window(self, r: WindowResult, state: Any) -> float:
        self.last = r
        self.timeline.append(None if r.silent else self.genres[r.label])
        if self._live is not None:
            self._live.update(self._render(), refresh=True)
        self.latency_ms = (time.monotonic() - r.arrival) * 1000.0
        return self.latency_ms

    def tick(self, state: Any) -> None:
        now = time.monotonic()
        if self._live is not None and now >= self._next_tick:
            self._next_tick = now + 0.25
            self._live.update(self._render(), refresh=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- drawing ---------------------------------------------------------------------------------
    def _verdict(self) -> Panel:
        s, r = self._state, self.last
        body, shown = Text(), None
        if r is None:
            need = max(0.0, 3.0 - s.audio_seconds())
            body.append(f"listening... first verdict in {need:.1f} s", style="grey62")
        elif r.silent:
            body.append("  SILENCE  ", style="bold grey70 on grey23")
            body.append(f"   level {r.level_dbfs:.0f} dBFS is below {s.silence_db:.0f} dBFS", style="grey62")
        else:
            shown = self.genres[r.smoothed if r.smoothed is not None else r.label]
            conf = float(r.smoothed_scores[self.genres.index(shown)]) if r.smoothed_scores is not None else 0.0
            body.append(f"  {shown.upper()}  ", style=f"bold black on {genre_style(shown)}")
            body.append(f"   {100 * conf:.0f}% of the weighted votes over the last {s.smooth_n} windows", style="bold")
            raw = self.genres[r.label]
            body.append("\nthis window: ")
            body.append(f"{raw} ({100 * float(r.scores[r.label]):.0f}%)", style=genre_style(raw))
        if r is not None and r.note:
            body.append(f"\n{r.note.upper()} (synthetic audio, not real music)", style="bold yellow")
        title = "genre" + ("  [yellow]SYNTHETIC DEMO[/]" if s.synthetic else "")
        return Panel(body, title=title, padding=(0, 2), border_style=genre_style(shown))

    def _scores(self, top: int | None = None) -> Table:
        r = self.last
        title = "blended scores (vote share)" + ("" if top is None else f", top {top}")
        t = Table(show_header=True, header_style="bold", box=None, padding=(0, 1), title=title)
        t.add_column("genre", no_wrap=True)
        t.add_column("this window", no_wrap=True)
        t.add_column("smoothed", no_wrap=True)
        order = list(range(len(self.genres)))
        if top is not None and r is not None and r.smoothed_scores is not None:
            order = sorted(order, key=lambda k: -float(r.smoothed_scores[k]))[:top]
        elif top is not None:
            order = order[:top]
        for k in order:
            g = self.genres[k]
            raw = 0.0 if r is None or r.scores is None else float(r.scores[k])
            sm = 0.0 if r is None or r.smoothed_scores is None else float(r.smoothed_scores[k])
            st = genre_style(g)
            t.add_row(Text(g, style=st), _bar(raw, 12, st) + Text(f"{100 * raw:4.0f}%"),
                      _bar(sm, 12, st) + Text(f"{100 * sm:4.0f}%"))
        return t

    def _members(self) -> Table:
        r = self.last
        t = Table(box=None, header_style="bold", padding=(0, 1), title="members")
        for c in ("model", "kind", "weight", "vote", "p(vote)"):
            t.add_column(c, justify="right" if c in ("weight", "p(vote)") else "left")
        for name, kind, w in self.members:
            if r is None or name not in r.member_votes:
                t.add_row(name, kind, str(w), "-", "-")
                continue
            v = r.member_votes[name]
            g = self.genres[v]
            t.add_row(name, kind, str(w), Text(g, style=genre_style(g)), f"{float(r.member_probs[name][v]):.2f}")
        return t

    def _timeline(self) -> Text:
        t = Text()
        t.append("recent windows  ", style="bold")
        for g in self.timeline:
            t.append("▇" if g else "·", style=genre_style(g))
        seen = [g for g in dict.fromkeys(self.timeline) if g]
        if seen:
            t.append("   ")
            for g in seen:
                t.append("■ ", style=genre_style(g))
                t.append(f"{g} ", style="grey62")
        return t

    def _status(self) -> Text:
        s, r = self._state, self.last
        lvl = s.input_dbfs
        frac = max(0.0, min(1.0, (lvl + METER_DB) / METER_DB))
        style = "red" if lvl > -3 else ("yellow" if lvl > -12 else "green")
        t = Text()
        t.append("input  ", style="bold")
        t.append_text(_bar(frac, 24, style))
        t.append(f" {lvl:6.1f} dBFS")
        if r is not None:
            t.append(f"   last window {r.level_dbfs:6.1f} dBFS" + (" (silence)" if r.silent else ""))
        t.append("\n")
        t.append("source ", style="bold")
        t.append(s.source_text + "\n")
        el = time.monotonic() - s.started
        t.append(f"elapsed {int(el // 60):02d}:{el % 60:04.1f}   audio {s.audio_seconds():.1f} s   "
                 f"hop {s.hop_seconds:.3f} s   windows {0 if r is None else r.index + 1}\n")
        if r is not None:
            t.append(f"features {r.features_ms:.0f} ms  inference {r.inference_ms:.1f} ms  "
                     f"latency {self.latency_ms:.0f} ms  ")
        ov, dr = s.source.overflows, s.source.dropped
        t.append(f"overflows {ov}  dropped {dr}", style="bold red" if ov or dr else "")
        return t

    def _members_line(self) -> Text:
        """The members' votes on one (wrapping) line, for short terminals."""
        r = self.last
        t = Text()
        t.append("votes ", style="bold")
        for name, _, w in self.members:
            g = self.genres[r.member_votes[name]] if r is not None and name in r.member_votes else None
            t.append(f"{name}(w{w})→")
            t.append(f"{g or '-'}  ", style=genre_style(g))
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
        return Group(self._verdict(), self._scores(top=5), self._members_line(), self._timeline(), self._status())
