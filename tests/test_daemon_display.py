"""The terminal view and the end-of-run summary, rendered into rich consoles of given sizes."""

from __future__ import annotations

import pytest
from rich.console import Console

from gtzan.constants import GENRES
from gtzan.daemon.summary import SummaryBuilder, render_summary, verdict_text
from tests.helpers import run_display, window


@pytest.mark.parametrize("width,height", [(80, 24), (40, 20), (120, 50)])
def test_the_verdict_is_on_the_screen_at_the_end(width: int, height: int) -> None:
    """What a terminal of this size shows after the run: the last frame of the view, then the summary."""
    console, d, b = run_display(width, height)
    summary = b.as_dict("end", {"kind": "file"}, 30.0, 0, 0)
    console.print(d._render())
    console.print(render_summary(summary))
    screen = console.export_text().splitlines()[-height:]
    assert verdict_text(summary) == "uncertain: rock? mean probability 18%"
    want = "verdict: uncertain: rock? mean probability 18%" if width >= 46 else "verdict: uncertain: rock? 18%"
    assert screen[-1].rstrip() == want, "\n".join(screen)  # the last line: the last thing to scroll away
    assert all(len(line) <= width for line in screen)


@pytest.mark.parametrize("width,height", [(80, 24), (40, 20)])
def test_the_summary_fits_the_height(width: int, height: int) -> None:
    console, _, b = run_display(width, height)
    console.print(render_summary(b.as_dict("end", {"kind": "file"}, 30.0, 0, 0)))
    text = console.export_text().splitlines()
    assert len(text) <= height
    short = Console(width=width, height=10, record=True, color_system=None)
    short.print(render_summary(b.as_dict("end", {"kind": "file"}, 30.0, 0, 0)))
    text = short.export_text().splitlines()
    assert len(text) <= 10 and "more" in "\n".join(text) and text[-1].startswith("verdict:")


def test_percentages_are_numbers_at_40_columns() -> None:
    console, d, _ = run_display(40, 20)
    console.print(d._render())
    text = console.export_text()
    assert "…" not in "".join(line for line in text.splitlines() if "%" in line), text
    assert text.count("64%") >= 3  # the verdict, and both columns of the leading genre
    assert all(len(line) <= 40 for line in text.splitlines())


def test_the_colour_legend_keeps_to_one_line() -> None:
    """A full strip of windows and every genre seen: the strip and its legend do not wrap at 80 columns."""
    console, d, _ = run_display(80, 24)
    console.print(d._timeline())
    text = console.export_text().splitlines()
    assert len(text) == 2, text
    strip, legend = text
    assert strip.startswith("recent windows") and strip.count("▇") == 48
    assert legend.startswith("■ rock") and legend.rstrip().endswith(("+1", "+2", "+3", "+4", "+5", "+6"))


def test_summary_order_and_verdict_agree_on_a_tie() -> None:
    """1 window country and 1 rock: the verdict goes to rock (the larger summed probability) and the
    table lists rock first, though country comes first in the genre order."""
    b = SummaryBuilder(GENRES)
    b.add(window(0, GENRES.index("country"), p=0.55))
    b.add(window(1, GENRES.index("rock"), p=0.9))
    s = b.as_dict("end", {"kind": "file"}, 4.0, 0, 0)
    assert s["verdict"] == "rock" and s["shares"]["rock"] == s["shares"]["country"] == 0.5
    assert s["ranking"] == ["rock", "country"]
    console = Console(width=80, height=24, record=True, color_system=None)
    console.print(render_summary(s))
    rows = [line.split()[0] for line in console.export_text().splitlines() if "50.0%" in line]
    assert rows == ["rock", "country"]


def test_fast_runs_redraw_at_a_fixed_low_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    """--fast: hundreds of windows a second, a few redraws a second, and no latency readouts."""
    console, d, _ = run_display(100, 40, labels=[9], realtime=False)
    draws = []
    d.start(d._state)
    monkeypatch.setattr(d._live, "refresh", lambda: draws.append(1))
    for i in range(500):
        d.window(window(i, 9), d._state)
        d.tick(d._state)
    assert len(draws) <= 2  # 500 windows in well under half a second
    status = d._status().plain
    assert "real time" in status and "latency" not in status and "inference" not in status
    d.close()
    _, live, _ = run_display(100, 40, labels=[9], realtime=True)  # a live input shows its latency
    assert "latency" in live._status().plain
