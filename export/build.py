"""The whole export run: features -> split -> train -> evaluate/report -> ONNX -> verified bundle."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gtzan.bundle import sha256_file

from .bundle_writer import ExportedMember, bundle_size, check_target, write_bundle
from .errors import ExportError
from .members import export_member

BLEND_RULE = ("each member votes for the argmax of its probabilities; votes[n,k] = sum_i w_i onehot_i[n,k]; "
              "scores = votes / sum(w); label = argmax votes, ties by sum_i w_i p_i[n,k], then lowest genre index")
REPORT_MD = "REPORT.md"
MAX_REPORT_BYTES = 4 * 2**20  # report files copied into the bundle (PNGs are small)


@dataclass
class ExportConfig:
    audio_dir: Path | None = None
    features_csv: Path | None = None
    out: Path = Path("gtzan-bundle")
    protocol: str = "track"
    quick: bool = False
    seed: int = 0
    quantize: bool = False
    report_dir: Path | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    provisional: bool = False


@dataclass
class ExportResult:
    out: Path
    sizes: dict[str, int]
    timings: dict[str, float] = field(default_factory=dict)
    members: list[ExportedMember] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


class _Stages:
    """Prints one line per finished stage with its time (the long stages draw their own progress bars)."""

    def __init__(self, console):
        self.console = console
        self.timings: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kw):
        t = time.perf_counter()
        res = fn(*args, **kw)
        self.timings[name] = time.perf_counter() - t
        if self.console is not None:
            self.console.print(f"[green]done[/] {name:<9} {self.timings[name]:6.1f} s")
        return res


# ------------------------------------------------------------------------------------------ inputs

def _dataset_error():
    from gtzan.training.dataset import DatasetError

    return DatasetError


def load_table(cfg: ExportConfig, progress: bool = True):
    """The feature table and a description of where it came from (for the manifest)."""
    from gtzan.training import dataset as ds

    if cfg.features_csv is not None and cfg.audio_dir is not None:
        raise ExportError("give either --audio-dir or --features, not both")
    if cfg.features_csv is not None:
        p = Path(cfg.features_csv)
        if not p.is_file():
            raise ExportError(f"features CSV not found: {p}")
        table = ds.read_features_csv(p)
        source = {"kind": "features_csv", "path": p.name, "features_csv_sha256": sha256_file(p)}
    else:
        from gtzan.datadir import audio_dir

        d = Path(cfg.audio_dir) if cfg.audio_dir is not None else audio_dir()
        if d is None:
            raise ExportError("no audio folder found: pass --audio-dir DIR or --features CSV")
        if not d.is_dir():
            raise ExportError(f"audio folder not found: {d}")
        build = getattr(ds, "build_table", None) or ds.build_feature_table
        res = build(d, cache_dir=cfg.cache_dir, n_jobs=cfg.jobs, progress=progress)
        table = res[0] if isinstance(res, tuple) else res
        source = {"kind": "audio", "path": d.name, "audio_fingerprint": ds.audio_fingerprint(d)}
    if len(table) == 0:
        raise ExportError("the dataset is empty: no feature rows")
    if len(np.unique(table.y)) < 2:
        raise ExportError("the dataset has fewer than two genres; nothing to learn")
    return table, source


# ------------------------------------------------------------------------------------ evaluation

def _evaluate(trained, table) -> dict[str, Any]:
    from gtzan.training.evaluate import evaluate

    return evaluate(trained, table, ("val", "test"))


def _write_report(results: dict[str, Any], report_dir: Path, dataset: dict[str, Any]) -> None:
    from gtzan.training.report import write_report

    write_report(results, report_dir, dataset=dataset)


def _report_files(report_dir: Path) -> dict[str, Path]:
    """Report files to copy into the bundle under report/ (skipped when unreasonably large)."""
    files = {p.relative_to(report_dir).as_posix(): p for p in sorted(report_dir.rglob("*")) if p.is_file()}
    if sum(p.stat().st_size for p in files.values()) > MAX_REPORT_BYTES:
        files = {k: v for k, v in files.items() if not k.endswith(".png")}
    return files


def _main_markdown(files: dict[str, Path]) -> Path | None:
    md = [k for k in files if k.lower().endswith(".md") and "/" not in k]
    if not md:
        return None
    pref = [k for k in md if k.lower() in ("report.md", "readme.md")]
    return files[(pref or md)[0]]


def _warn_clip_length(table, console) -> None:
    """gtzan-listen classifies 3 s windows; a table of other clip lengths trains models it cannot use well."""
    from gtzan.features import WINDOW_SAMPLES

    length = float(np.median(table.X[:, 0]))
    if console is not None and abs(length - WINDOW_SAMPLES) > 1:
        console.print(f"[yellow]note:[/] the table's clips are {length:.0f} samples long (median), not the "
                      f"{WINDOW_SAMPLES}-sample windows gtzan-listen classifies; its verdicts with this bundle "
                      "will be off", highlight=False)


# ------------------------------------------------------------------------------------------- run

def run_export(cfg: ExportConfig, console=None) -> ExportResult:
    """Run the whole export; raises ExportError (one line) and leaves cfg.out untouched on any failure."""
    from gtzan.bundle import feature_code_sha256

    code_hash = feature_code_sha256()  # the code this process imported, even if the files change meanwhile
    DatasetError = _dataset_error()
    stages = _Stages(console)
    out = Path(cfg.out).expanduser().absolute()
    check_target(out)  # before hours of work, not after
    try:
        table, source = stages.run("features", load_table, cfg)
        _warn_clip_length(table, console)
        from gtzan.datadir import data_dir
        from gtzan.training.pipeline import train_members
        from gtzan.training.splits import make_split

        split = stages.run("split", make_split, table, cfg.protocol, seed=cfg.seed, data_dir=data_dir())
        if len(split.test) == 0:
            raise ExportError(f"the {cfg.protocol} split has no test rows; need more tracks")
        trained = stages.run("train", train_members, table, split, quick=cfg.quick, seed=cfg.seed)
        results = stages.run("evaluate", _evaluate, trained, table)
    except DatasetError as e:
        raise ExportError(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None

    weights = {k: int(v) for k, v in dict(trained.weights).items()}
    x_test = table.X[split.test]
    label = "audio folder" if source["kind"] == "audio" else "features CSV"
    dataset = {"source": f"{label} {source.get('path', '?')}", "rows": int(len(table)),
               "tracks": int(len(set(map(str, table.tracks))))}
    exported: list[ExportedMember] = []

    def export_all():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True, disable=console is None) as prog:
            task = prog.add_task("export + verify", total=len(trained.members))
            for m in trained.members:
                prog.update(task, description=f"export + verify {m.name}")
                em = export_member(m, weights.get(m.name, 0), x_test, quantize=cfg.quantize)
                exported.append(em)
                prog.advance(task)
                if console is not None:
                    p = em.parity
                    q = f" {em.extra['weights_dtype']}" if em.quantized else ""
                    console.print(f"  {em.name:<10} {len(em.onnx_bytes) / 2**20:6.2f} MB{q}  agreement "
                                  f"{p['label_agreement']:.4f}  max|dp| {p['max_abs_prob_diff']:.1e}  "
                                  f"weight {em.weight}")
        if sum(e.weight for e in exported) <= 0:
            raise ExportError("every blend weight is zero: nothing would vote")

    stages.run("export", export_all)

    staging = Path(tempfile.mkdtemp(prefix=".gtzan-report-", dir=out.parent if out.parent.is_dir() else None))
    try:
        report_dir = Path(cfg.report_dir).expanduser().absolute() if cfg.report_dir is not None else None
        if report_dir is not None and (report_dir == out / "report" or out in report_dir.parents):
            report_dir = None  # inside the bundle: goes in with it (the folder is replaced as a whole)
        external = report_dir is not None
        report_dir = report_dir or staging
        report_dir.mkdir(parents=True, exist_ok=True)
        stages.run("report", _write_report, results, report_dir, dataset)
        files = _report_files(report_dir)
        extra: dict[str, Path | bytes] = {}
        if not external:
            extra.update({f"report/{k}": v for k, v in files.items()})
        md = _main_markdown(files)
        if md is not None:
            text = md.read_text(encoding="utf-8")
            if not external:  # images sit in report/ inside the bundle
                text = _relink_images(text, [k for k in files if "/" not in k and not k.endswith(".md")])
            extra[REPORT_MD] = text.encode("utf-8")
        info = manifest_info(cfg, source, split, trained, results, table)
        info["metrics"]["shipped_graphs_test"] = shipped_scores(exported, x_test, table.y[split.test])
        info["feature_code_sha256"] = code_hash
        stages.run("write", write_bundle, out, exported, info, extra)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out=out, sizes=bundle_size(out), timings=stages.timings, members=exported)


def _relink_images(text: str, names: list[str]) -> str:
    for n in names:
        text = text.replace(f"]({n})", f"](report/{n})").replace(f'src="{n}"', f'src="report/{n}"')
    return text


# ------------------------------------------------------------------------------------- manifest

def shipped_scores(exported: list[ExportedMember], x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Test accuracy of the graphs as shipped (int8/float16 weights can move a row or two)."""
    from gtzan.blend import blend_predict

    from .verify import run_onnx

    probs = {m.name: run_onnx(m.onnx_bytes, x) for m in exported}
    out: dict[str, Any] = {"rows": int(len(y))}
    out.update({name: float(np.mean(p.argmax(1) == y)) for name, p in probs.items()})
    w = [m.weight for m in exported]
    out["blend"] = float(np.mean(blend_predict(np.stack([probs[m.name] for m in exported]), w) == y))
    return out


def _member_metrics(results: dict[str, Any]) -> dict[str, Any]:
    """Per-model and blend scores per part (accuracy, track accuracy, log-loss, rows)."""
    keep = ("accuracy", "track_accuracy", "log_loss", "rows", "tracks", "recall")
    return {part: {name: {k: v for k, v in sc.items() if k in keep} for name, sc in by_name.items()}
            for part, by_name in results.get("scores", {}).items()}


def manifest_info(cfg: ExportConfig, source: dict, split, trained, results: dict, table) -> dict[str, Any]:
    """Everything the manifest records beyond the members: blend, metrics, data and training settings."""
    scores = results.get("scores", {})

    def acc(part: str, name: str) -> float | None:
        return scores.get(part, {}).get(name, {}).get("accuracy")

    blend = {
        "rule": BLEND_RULE,
        "weights": {k: int(v) for k, v in dict(trained.weights).items()},
        "weights_source": "validation",
        "validation_tuned": {
            "weights": dict(trained.weights),
            "val_accuracy": trained.blend_val_accuracy,
            "test_accuracy": acc("test", "blend"),
        },
        "test_tuned": {
            "weights": dict(trained.weights_test_tuned),
            "test_accuracy": trained.blend_test_tuned_accuracy,
            "note": "the report's procedure (weights tuned on the test rows): optimistic, for comparison only",
        },
        "search_seconds": results.get("blend_search_seconds"),
    }
    tracks = sorted(set(map(str, table.tracks)))
    full = {k: v for k, v in results.items() if k not in ("histories",)}
    return {
        "provisional": cfg.provisional or cfg.quick,
        "quick": cfg.quick,
        "blend": blend,
        "metrics": {
            "protocol": split.protocol,
            "note": split.note,
            "held_out": "test",
            "scores": _member_metrics(results),
            "evaluation": full,
        },
        "data": {
            **source,
            "n_rows": int(len(table)),
            "n_tracks": len(tracks),
            "median_length_samples": float(np.median(table.X[:, 0])),  # 66149 for 3 s windows
            "tracks": tracks,
            "tracks_sha256": hashlib.sha256("\n".join(tracks).encode()).hexdigest(),
            "split_sizes": split.summary(table),
            "test_tracks": sorted(set(map(str, table.tracks[split.test]))),
            "skipped": [list(map(str, s)) for s in getattr(table, "skipped", [])],
        },
        "training": {"protocol": split.protocol, "seed": cfg.seed, "quick": cfg.quick, "quantize": cfg.quantize,
                     "members": {m.name: {"kind": m.kind, "params": m.params, "seconds": m.seconds}
                                 for m in trained.members}},
    }
