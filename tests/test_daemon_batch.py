"""gtzan-listen PATH...: many files and folders, one verdict per file, run as a user runs it (a subprocess)."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests import wavgen
from tests.helpers import CLI, listen


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """a.wav, b.wav, bad.wav, short.wav and a folder: c.wav, notes.txt, sub/e.flac."""
    d = tmp_path_factory.mktemp("batch")
    wavgen.write(d / "a.wav", wavgen.music_like(10.0))
    wavgen.write(d / "b.wav", wavgen.music_like(8.0, seed=3))
    wavgen.corrupt_header(d / "bad.wav")
    wavgen.write(d / "short.wav", wavgen.music_like(2.0))
    (d / "folder" / "sub").mkdir(parents=True)
    wavgen.write(d / "folder" / "c.wav", wavgen.chirp(seconds=6.0))
    (d / "folder" / "notes.txt").write_text("not audio\n")
    wavgen.write(d / "folder" / "sub" / "e.flac", wavgen.music_like(7.0, seed=5))
    return d


def run_in(d: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=d)


def summaries(stdout: str) -> list[dict]:
    """Every stdout line is one {"summary": ...} object."""
    objs = [json.loads(line) for line in stdout.splitlines()]
    assert all(set(o) == {"summary"} for o in objs)
    return [o["summary"] for o in objs]


def test_files_and_a_folder_recursively(lib: Path) -> None:
    r = run_in(lib, "a.wav", "b.wav", "folder", "--json")
    assert r.returncode == 0, r.stderr
    ss = summaries(r.stdout)
    assert [s["file"] for s in ss] == ["a.wav", "b.wav", "folder/c.wav", "folder/sub/e.flac"]
    for s in ss:
        assert s["error"] is None and s["verdict"] in s["shares"] and 0 < s["probability"] <= 1
        assert s["windows"] > 0 and abs(sum(s["shares"].values()) - 1) < 1e-5
    assert "skipped 1 non-audio file" in r.stderr
    assert "4 of 4 files classified" in r.stderr


def test_file_option_is_repeatable(lib: Path) -> None:
    r = run_in(lib, "--file", "a.wav", "--file", "b.wav")
    assert r.returncode == 0, r.stderr
    assert [s["file"] for s in summaries(r.stdout)] == ["a.wav", "b.wav"]


def test_one_file_keeps_the_window_stream(lib: Path) -> None:
    r = run_in(lib, "a.wav", "--fast")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert "window" in objs[0] and set(objs[-1]) == {"summary"} and "file" not in objs[-1]["summary"]


def test_bad_file_among_good_ones(lib: Path, tmp_path: Path) -> None:
    out = tmp_path / "verdicts.csv"
    r = run_in(lib, "a.wav", "bad.wav", "short.wav", "b.wav", "--csv", str(out))
    assert r.returncode == 2, r.stderr
    ss = summaries(r.stdout)
    assert [s["file"] for s in ss] == ["a.wav", "bad.wav", "short.wav", "b.wav"]
    assert ss[0]["verdict"] and ss[3]["verdict"] and ss[0]["error"] is None and ss[3]["error"] is None
    assert "not readable as audio" in ss[1]["error"] and ss[1]["verdict"] is None
    assert "no complete 3 s window" in ss[2]["error"] and ss[2]["verdict"] is None
    assert "2 of 4 files classified, 2 failed" in r.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["file", "verdict", "probability", "uncertain", "windows", "error"]
    assert [row["file"] for row in rows] == ["a.wav", "bad.wav", "short.wav", "b.wav"]
    for row, s in zip(rows, ss, strict=True):
        assert row["verdict"] == (s["verdict"] or "") and row["windows"] == str(s["windows"])
        assert row["error"] == (s["error"] or "")
        assert (float(row["probability"]) if row["probability"] else None) == s["probability"]
    assert not [p for p in tmp_path.iterdir() if p.name != "verdicts.csv"]  # no temporary file left


def test_verdicts_equal_single_file_fast_runs(lib: Path) -> None:
    r = run_in(lib, "a.wav", "b.wav", "folder")
    assert r.returncode == 0, r.stderr
    for s in summaries(r.stdout)[:3]:
        one = run_in(lib, "--file", s["file"], "--fast", "--json")
        assert one.returncode == 0, one.stderr
        single = json.loads(one.stdout.splitlines()[-1])["summary"]
        assert s["verdict"] == single["verdict"]
        assert s["probability"] == pytest.approx(single["probability"], abs=2e-6)
        assert s["shares"] == single["shares"] and s["windows"] == single["windows"]


def test_jobs_do_not_change_the_output(lib: Path, tmp_path: Path) -> None:
    outs = []
    for jobs in ("1", "2"):
        r = run_in(lib, "folder", "a.wav", "bad.wav", "b.wav", "--jobs", jobs, "--csv", str(tmp_path / f"{jobs}.csv"))
        assert r.returncode == 2, r.stderr
        outs.append((r.stdout, (tmp_path / f"{jobs}.csv").read_text()))
    assert outs[0] == outs[1]


def test_folder_without_audio_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "readme.txt").write_text("hello\n")
    (tmp_path / "y").mkdir()
    r = listen(str(tmp_path / "x"), str(tmp_path / "y"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("gtzan-listen: error: no audio files")


def test_jobs_and_csv_need_several_files(lib: Path) -> None:
    r = run_in(lib, "--jobs", "2")
    assert r.returncode == 2 and "--jobs and --csv apply to several files" in r.stderr


def test_ctrl_c_keeps_the_finished_rows(tmp_path: Path) -> None:
    names = [f"t{i:02d}.wav" for i in range(16)]
    for i, name in enumerate(names):
        wavgen.write(tmp_path / name, wavgen.music_like(60.0, seed=i))
    out = tmp_path / "out.csv"
    p = subprocess.Popen([*CLI, *names, "--jobs", "1", "--csv", str(out)], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = p.stdout.readline()  # the first file is done
    time.sleep(0.2)
    os.killpg(p.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    ss = summaries(first + rest)
    assert 1 <= len(ss) < len(names)
    assert [s["file"] for s in ss] == names[: len(ss)] and all(s["error"] is None for s in ss)
    assert [row["file"] for row in csv.DictReader(out.open())] == [s["file"] for s in ss]
    assert "interrupted" in err and "Traceback" not in err


def test_terminal_shows_progress_and_a_table(lib: Path) -> None:
    from tests.terminal import run_on_pty

    env = {**os.environ, "COLUMNS": "400", "LINES": "40"}  # wide enough that no cell wraps, whatever tmp_path is
    code, screen = run_on_pty([*CLI, str(lib / "a.wav"), str(lib / "bad.wav"), "--file", str(lib / "folder")],
                              env=env)
    assert code == 2
    assert "classifying" in screen and "4/4" in screen  # the progress bar over the files, at its end
    for header in ("file", "verdict", "probability", "windows", "error"):
        assert header in screen
    assert "not readable as audio" in screen and "e.flac" in screen
    assert "3 of 4 files classified, 1 failed" in screen


def test_one_file_on_several_cores_is_split_and_equals_one_job(lib: Path, tmp_path: Path) -> None:
    """Fewer files than cores: a file's later windows go to a second process; the row does not change."""
    outs = []
    for jobs in ("1", "4"):
        r = run_in(lib, "a.wav", "--jobs", jobs, "--csv", str(tmp_path / f"{jobs}.csv"))
        assert r.returncode == 0, r.stderr
        outs.append(((tmp_path / f"{jobs}.csv").read_text(), r.stdout))
    assert outs[0] == outs[1]


def test_forked_workers_use_the_bundle_loaded_once(lib: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With fork, the bundle is loaded once, in the parent, and every worker classifies with that copy."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("processes are spawned here: each worker loads the bundle")
    import gtzan.bundle
    import gtzan.daemon.batch_worker as batch_worker
    from gtzan.daemon.batch import run_batch
    from gtzan.daemon.errors import Stderr

    loads = tmp_path / "loads.txt"
    real = gtzan.bundle.load_bundle

    def counted(*args, **kwargs):
        with loads.open("a") as f:
            f.write(f"{os.getpid()}\n")
        return real(*args, **kwargs)

    monkeypatch.setattr(gtzan.bundle, "load_bundle", counted)
    monkeypatch.setattr(batch_worker, "_BUNDLE", None)
    monkeypatch.setattr(batch_worker, "_BUNDLE_ERROR", None)
    monkeypatch.setattr(batch_worker, "_BUNDLE_PATH", None)
    out = tmp_path / "rows.csv"
    code = run_batch([lib / "a.wav", lib / "b.wav", lib / "folder"], models=None, hop_frames=22, smooth=3.0,
                     silence_db=-60.0, duration=None, block_frames=None, jobs=2, as_json=False, csv_path=out,
                     errc=Stderr())
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 4 and all(r["verdict"] and not r["error"] for r in rows)
    assert loads.read_text().split() == [str(os.getpid())]
