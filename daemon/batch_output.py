"""How a batch of files is reported: a JSON summary line per file, a table, a CSV file.

A JSON line is the single-file ``{"summary": ...}`` object with two more keys, ``file`` (the path as
found) and ``error`` (null, or why the file has no verdict), so the same reader handles both modes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from rich.table import Table

    from gtzan.daemon.batch_worker import FileRow

CSV_COLUMNS = ("file", "verdict", "probability", "uncertain", "windows", "error")


def summary_record(row: FileRow) -> dict[str, Any]:
    """The per-file summary object: the run's summary (or an empty one for a file that failed early)."""
    s = row["summary"] or {
        "verdict": None,
        "probability": None,
        "uncertain": None,
        "shares": {},
        "ranking": [],
        "windows": 0,
        "classified": 0,
        "silent": 0,
    }
    return {"file": row["file"], "error": row["error"], **s}


def write_json_line(stream: TextIO, row: FileRow) -> None:
    """One line, in a single write and flushed, so a reader never sees half a file's summary."""
    stream.write(json.dumps({"summary": summary_record(row)}) + "\n")
    stream.flush()


def table_cells(row: FileRow) -> dict[str, Any]:
    """The table's values for one file (also the CSV row)."""
    s = summary_record(row)
    p = s["probability"]
    return {
        "file": s["file"],
        "verdict": s["verdict"] or "",
        "probability": "" if p is None else p,
        "uncertain": "" if s["uncertain"] is None else str(s["uncertain"]).lower(),
        "windows": s["windows"],
        "error": s["error"] or "",
    }


def write_csv(path: Path, rows: list[FileRow]) -> None:
    """The table as CSV, written beside its destination and renamed over it: never half a file."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow(table_cells(row))
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def results_table(rows: list[FileRow]) -> Table:
    """A rich Table: file, verdict (a '?' when uncertain), probability, windows, error."""
    from rich.table import Table
    from rich.text import Text

    from gtzan.daemon.display import genre_style

    t = Table(header_style="bold", show_edge=False, pad_edge=False)
    t.add_column("file", overflow="fold")
    t.add_column("verdict", no_wrap=True)
    t.add_column("probability", justify="right", no_wrap=True)
    t.add_column("windows", justify="right", no_wrap=True)
    t.add_column("error", style="red", overflow="fold")
    for row in rows:
        s = summary_record(row)
        v, p = s["verdict"], s["probability"]
        verdict = "" if v is None else f"[{genre_style(v)}]{v}[/]" + ("?" if s["uncertain"] else "")
        t.add_row(
            Text(s["file"]), verdict, "" if p is None else f"{100 * p:.0f}%", str(s["windows"]), Text(s["error"] or "")
        )  # Text: brackets in a file name are not markup
    return t
