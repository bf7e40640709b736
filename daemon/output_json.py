"""JSON lines on stdout: one object per window and, last, one ``{"summary": ...}`` object.

Nothing else is written to stdout in this mode (messages go to stderr), so the output can be
piped straight into ``jq`` or a program. Window object keys:

``window`` index, ``start``/``end`` seconds of the stream, ``level_dbfs``, ``peak_dbfs`` (the largest
|sample|), ``clipped`` (share of the samples at full scale, |x| >= 0.999), ``level_warning`` (null,
``"quiet"`` or ``"clipping"``: see gtzan.daemon.level), ``silence`` (bool),
``genre`` (raw blended verdict by the bundle's rule, null when silent), ``probability`` (the
calibrated probability of ``genre``), ``probs`` (calibrated blend probability per genre),
``uncertain`` (``probability`` is below the bundle's ``uncertain_below``), ``scores`` (weighted vote
share per genre: coarse, 100% whenever the members agree), ``smoothed`` ({``genre``,
``probability``, ``probs``, ``uncertain``}: moving average of ``probs`` + hysteresis, see
gtzan.daemon.smoothing), ``members`` ({name: {``vote``, ``weight``, ``probs``}}, only the members
that run: weight above 0), ``timings`` ({``features_ms``, ``inference_ms``, ``latency_ms``}: the only
keys that vary between identical runs; latency is from the window's last sample arriving to the line
being written), and ``synthetic`` (the pattern's name, only for ``--demo``). Every verdict key is
null in a silent window. After the summary, the verdict is one plain line on stderr.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from gtzan.daemon.pipeline import WindowResult

if TYPE_CHECKING:
    from gtzan.daemon.progress import StderrProgress
    from gtzan.daemon.run import RunState


def _scores(genres: tuple[str, ...], v: np.ndarray | None) -> dict[str, float] | None:
    # tolist() gives the same Python floats as float() of each element, at a fraction of the cost
    return None if v is None else dict(zip(genres, [round(x, 6) for x in v.tolist()], strict=False))


def _prob(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def window_record(r: WindowResult, genres: tuple[str, ...], weights: dict[str, int]) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "window": r.index,
        "start": round(r.start, 6),
        "end": round(r.end, 6),
        "level_dbfs": round(r.level_dbfs, 2),
        "peak_dbfs": round(r.peak_dbfs, 2),
        "clipped": round(r.clipped, 6),
        "level_warning": r.level_warning,
        "silence": r.silent,
        "genre": None if r.label is None else genres[r.label],
        "probability": _prob(r.probability),
        "probs": _scores(genres, r.probs),
        "uncertain": r.uncertain,
        "scores": _scores(genres, r.scores),
        "smoothed": {
            "genre": None if r.smoothed is None else genres[r.smoothed],
            "probability": _prob(r.smoothed_probability),
            "probs": _scores(genres, r.smoothed_probs),
            "uncertain": r.smoothed_uncertain,
        },
        "members": {
            m: {
                "vote": genres[r.member_votes[m]],
                "weight": weights.get(m),
                "probs": _scores(genres, r.member_probs[m]),
            }
            for m in r.member_probs
        },
        "timings": {
            "features_ms": round(r.features_ms, 3),
            "inference_ms": round(r.inference_ms, 3),
            "latency_ms": None,
        },
    }
    if r.note is not None:
        rec["synthetic"] = r.note
    return rec


class JsonOutput:
    """Writes the lines of the windows delivered together (one window live, many with --fast) in a
    single write, flushed at once: never a torn line, and one system call per batch, not per window.

    ``progress`` (gtzan.daemon.progress.StderrProgress), when given, shows the run on stderr.
    """

    def __init__(
        self,
        genres: tuple[str, ...],
        weights: dict[str, int],
        stream: TextIO | None = None,
        progress: StderrProgress | None = None,
    ):
        self.genres, self.weights = genres, weights
        self.stream = stream or sys.stdout
        self.progress = progress
        self._lines: list[str] = []

    def start(self, state: RunState) -> None:
        if self.progress is not None:
            self.progress.start(state)

    def _write(self) -> None:
        if self._lines:
            self.stream.write("".join(self._lines))
            self.stream.flush()
            self._lines.clear()

    def tick(self, state: RunState) -> None:
        """After the windows delivered together: write their lines."""
        self._write()
        if self.progress is not None:
            self.progress.tick(state)

    def window(self, r: WindowResult, state: RunState) -> float:
        rec = window_record(r, self.genres, self.weights)
        latency = (time.monotonic() - r.arrival) * 1000.0
        rec["timings"]["latency_ms"] = round(latency, 3)
        self._lines.append(json.dumps(rec) + "\n")
        if self.progress is not None:
            self.progress.window(r, state)
        return latency

    def close(self) -> None:
        self._write()
        if self.progress is not None:
            self.progress.close()

    def summary(self, summary: dict[str, Any]) -> None:
        """The ``{"summary": ...}`` line on stdout and, when there were windows, the verdict on stderr."""
        self.stream.write(json.dumps({"summary": summary}) + "\n")
        self.stream.flush()
        if summary["windows"]:
            import click

            from gtzan.daemon.summary import verdict_text

            n = summary["classified"]
            share = summary["shares"].get(summary["verdict"], 0.0) if summary["verdict"] else 0.0
            # plain text: importing rich for this one unstyled line would be the last 12 ms of a --fast run
            verdict = verdict_text(summary) if summary["verdict"] else "none"
            click.echo(
                f"verdict: {verdict} ({100 * share:.0f}% of {n} classified windows, {summary['silent']} silent)",
                err=True,
            )
