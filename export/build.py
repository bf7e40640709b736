"""The whole export run: features -> grouped cross-validation -> blend -> refit -> report -> ONNX bundle.

The members are cross-validated (folds grouped by the protocol), the blend rule, weights and
temperature are chosen on their out-of-fold predictions, and the members are then refitted on every
row at the lengths the folds chose (:func:`gtzan.training.crossfit.cross_fit`). The metrics in the
manifest are the out-of-fold ones, labelled with their protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gtzan.constants import WINDOW_SAMPLES

from .bundle_writer import ExportedMember, bundle_size, check_target, write_bundle
from .errors import ExportError
from .members import export_members

REPORT_MD = "REPORT.md"
MAX_REPORT_BYTES = 4 * 2**20  # report files copied into the bundle (PNGs are small)
VERIFY_ROWS = 2000  # rows each exported graph is checked on against its original model


@dataclass
class ExportConfig:
    audio_dir: Path | None = None
    features_csv: Path | None = None
    audio_rows: str = "train"  # with both inputs: our windows of the audio join training, or only evaluation
    audio_hop: int = WINDOW_SAMPLES  # samples between the starts of our windows of each track
    out: Path = Path("gtzan-bundle")
    protocol: str = "track"
    folds: int = 5
    quick: bool = False
    seed: int = 0
    quantize: bool = False
    report_dir: Path | None = None
    cache_dir: Path | None = None
    jobs: int | None = None
    provisional: bool = False
    augment: tuple[str, ...] = ()  # gtzan.training.augment.AUGMENT_KINDS
    augment_copies: int = 4  # degraded copies of each audio track
    hold_out_fold: int | None = None  # leave one fold of a 5-fold track-grouped split out of everything
    level_rms: float | None = None  # members learn every window at this level (gtzan.gain.at_level)
    native_log: Path | None = None  # where native libraries' stderr went; copied into the bundle


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


HOLD_OUT_FOLDS = 5


def hold_out(table, sources: np.ndarray, fold: int, seed: int, data_dir) -> tuple[Any, np.ndarray, list[str]]:
    """The table without one fold of a 5-fold track-grouped split, and that fold's tracks (sorted).

    A bundle trained this way can be measured on those tracks' audio (benchmarks/bench_robustness.py
    reads them from the manifest's ``data.held_out_tracks``).
    """
    from gtzan.training.splits import cv_folds

    if not 0 <= fold < HOLD_OUT_FOLDS:
        raise ExportError(f"--hold-out-fold must be 0..{HOLD_OUT_FOLDS - 1}, got {fold}")
    folds, _ = cv_folds(table, "track", n_folds=HOLD_OUT_FOLDS, seed=seed, data_dir=data_dir)
    keep = np.flatnonzero(folds != fold)
    held = sorted(set(map(str, table.tracks[folds == fold])))
    return table.subset(keep), np.asarray(sources)[keep], held


def audio_folder(cfg: ExportConfig) -> Path | None:
    """The audio folder the run reads: ``--audio-dir``, else (without a CSV) the GTZAN data folder's audio."""
    audio = cfg.audio_dir
    if audio is None and cfg.features_csv is None:
        from gtzan.datadir import audio_dir

        audio = audio_dir()
        if audio is None:
            raise ExportError("no audio folder found: pass --audio-dir DIR or --features CSV")
    return audio


def load_table(cfg: ExportConfig, progress: bool = True):
    """The feature table, each row's source (``table`` or ``ours``) and where the data came from."""
    from gtzan.training.dataset import load_sources

    if cfg.features_csv is not None and not Path(cfg.features_csv).is_file():
        raise ExportError(f"features CSV not found: {cfg.features_csv}")
    audio = audio_folder(cfg)
    if audio is not None and not Path(audio).is_dir():
        raise ExportError(f"audio folder not found: {audio}")
    table, sources, info = load_sources(
        cfg.features_csv, audio, hop=cfg.audio_hop, n_jobs=cfg.jobs, cache_dir=cfg.cache_dir, progress=progress
    )
    if len(np.unique(table.y)) < 2:
        raise ExportError("the dataset has fewer than two genres; nothing to learn")
    return table, sources, info


# ------------------------------------------------------------------------------------ evaluation


def _write_report(fit, report_dir: Path, dataset: dict[str, Any]) -> None:
    from gtzan.training.report import write_cv_report

    write_cv_report([fit], report_dir, dataset=dataset)


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
    length = float(np.median(table.X[:, 0]))
    if console is not None and abs(length - WINDOW_SAMPLES) > 1:
        console.print(
            f"[yellow]note:[/] the table's clips are {length:.0f} samples long (median), not the "
            f"{WINDOW_SAMPLES}-sample windows gtzan-listen classifies; its verdicts with this bundle "
            "will be off",
            highlight=False,
        )


# ------------------------------------------------------------------------------------------- run


def run_export(cfg: ExportConfig, console=None) -> ExportResult:
    """Run the whole export; raises ExportError (one line) and leaves cfg.out untouched on any failure."""
    from gtzan.fingerprint import fingerprint

    features_print = fingerprint()  # of the code this process runs, even if the files change meanwhile
    DatasetError = _dataset_error()
    stages = _Stages(console)
    out = Path(cfg.out).expanduser().absolute()
    check_target(out)  # before hours of work, not after
    try:
        table, sources, source = stages.run("features", load_table, cfg)
        _warn_clip_length(table, console)
        from gtzan.datadir import data_dir
        from gtzan.training.crossfit import cross_fit
        from gtzan.training.dataset import add_augmented_rows, trainable_rows

        held_out: list[str] = []
        if cfg.hold_out_fold is not None:
            table, sources, held_out = hold_out(table, sources, cfg.hold_out_fold, cfg.seed, data_dir())
            source["held_out_tracks"] = held_out
        trainable = trainable_rows(sources, cfg.audio_rows)
        tune = trainable.copy()  # the blend is chosen on real rows only
        if cfg.augment:
            table, sources, trainable, source["augmented"] = stages.run(
                "augment",
                add_augmented_rows,
                table,
                sources,
                trainable,
                cfg.augment,
                audio_dir=audio_folder(cfg),
                copies=cfg.augment_copies,
                seed=cfg.seed,
                hop=cfg.audio_hop,
                n_jobs=cfg.jobs,
                cache_dir=cfg.cache_dir,
                progress=console is not None,
            )
            tune = np.concatenate([tune, np.zeros(len(table) - tune.size, dtype=bool)])
        if cfg.level_rms is not None:  # the listener feeds the members the same (gtzan.bundle)
            from gtzan.gain import at_level

            table = dataclasses.replace(table, X=at_level(table.X, cfg.level_rms))
        fit = stages.run(
            "train",
            cross_fit,
            table,
            cfg.protocol,
            sources=sources,
            trainable=trainable,
            tune=tune,
            n_folds=cfg.folds,
            seed=cfg.seed,
            quick=cfg.quick,
            data_dir=data_dir(),
            console=console,
        )
    except DatasetError as e:
        raise ExportError(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__) from None

    weights = {m.name: int(fit.choice.weights.get(m.name, 0)) for m in fit.members}
    shipped = [m for m in fit.members if weights[m.name] > 0]  # a member the blend ignores is not shipped
    if not shipped:
        raise ExportError("every blend weight is zero: nothing would vote")
    rng = np.random.default_rng(cfg.seed)
    rows = np.flatnonzero(trainable)
    x_verify = table.X[np.sort(rng.choice(rows, size=min(VERIFY_ROWS, rows.size), replace=False))]
    dataset = {k: source[k] for k in ("source", "rows", "tracks", "sources")}
    exported: list[ExportedMember] = []

    def export_all():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=console is None,
        ) as prog:
            task = prog.add_task("export + verify", total=len(shipped))

            def done(em: ExportedMember) -> None:
                prog.advance(task)
                if console is not None:
                    p = em.parity
                    q = f" {em.extra['weights_dtype']}" if em.quantized else ""
                    console.print(
                        f"  {em.name:<10} {len(em.onnx_bytes) / 2**20:6.2f} MB{q}  agreement "
                        f"{p['label_agreement']:.4f}  max|dp| {p['max_abs_prob_diff']:.1e}  "
                        f"weight {em.weight}"
                    )

            exported.extend(export_members(shipped, weights, x_verify, quantize=cfg.quantize, on_done=done))

    stages.run("export", export_all)

    staging = Path(tempfile.mkdtemp(prefix=".gtzan-report-", dir=out.parent if out.parent.is_dir() else None))
    try:
        report_dir = Path(cfg.report_dir).expanduser().absolute() if cfg.report_dir is not None else None
        if report_dir is not None and (report_dir == out / "report" or out in report_dir.parents):
            report_dir = None  # inside the bundle: goes in with it (the folder is replaced as a whole)
        external = report_dir is not None
        report_dir = report_dir or staging
        report_dir.mkdir(parents=True, exist_ok=True)
        stages.run("report", _write_report, fit, report_dir, dataset)
        files = _report_files(report_dir)
        extra: dict[str, Path | bytes] = {}
        if not external:
            extra.update({f"report/{k}": v for k, v in files.items()})
        if cfg.native_log is not None and Path(cfg.native_log).is_file():
            extra["report/native.log"] = Path(cfg.native_log).read_bytes()
        md = _main_markdown(files)
        if md is not None:
            text = md.read_text(encoding="utf-8")
            if not external:  # images sit in report/ inside the bundle
                text = _relink_images(text, [k for k in files if "/" not in k and not k.endswith(".md")])
            extra[REPORT_MD] = text.encode("utf-8")
        info = manifest_info(cfg, source, fit, table)
        info["metrics"]["shipped_graphs_on_audio"] = shipped_scores(exported, fit.choice.rule, table, sources)
        info["feature_fingerprint"] = features_print
        info["feature_level_rms"] = cfg.level_rms
        stages.run("write", write_bundle, out, exported, info, extra)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out=out, sizes=bundle_size(out), timings=stages.timings, members=exported)


def _relink_images(text: str, names: list[str]) -> str:
    for n in names:
        text = text.replace(f"]({n})", f"](report/{n})").replace(f'src="{n}"', f'src="report/{n}"')
    return text


# ------------------------------------------------------------------------------------- manifest


def shipped_scores(exported: list[ExportedMember], rule: str, table, sources: np.ndarray) -> dict[str, Any] | None:
    """Accuracy of the graphs as shipped on our windows of the audio tracks.

    These rows were trained on, so this is no measure of accuracy: it lets a test recompute the same
    numbers from the audio (features, members, blend) and so prove the bundle behaves as exported.
    """
    from gtzan.blend import predict

    from .verify import run_onnx

    rows = np.flatnonzero(sources == "ours")
    if rows.size == 0:
        return None
    x, y = table.X[rows], table.y[rows]
    probs = {m.name: run_onnx(m.onnx_bytes, x) for m in exported}
    out: dict[str, Any] = {
        "rows": int(rows.size),
        "tracks": sorted(set(map(str, table.tracks[rows]))),
        "held_out": False,
    }
    out.update({name: float(np.mean(p.argmax(1) == y)) for name, p in probs.items()})
    labels = predict(np.stack([probs[m.name] for m in exported]), [m.weight for m in exported], rule)
    out["blend"] = float(np.mean(labels == y))
    return out


def _scores(evaluation: dict[str, Any]) -> dict[str, Any]:
    """Per source of rows and per model: accuracy, track accuracy, log-loss, recall (no matrices)."""
    keep = ("accuracy", "track_accuracy", "log_loss", "rows", "tracks", "recall")
    out: dict[str, Any] = {}
    for src, ev in evaluation["by_source"].items():
        sc = ev["scores"]
        out[src] = {name: {k: v for k, v in s.items() if k in keep} for name, s in sc.items() if name != "per_fold"}
        out[src]["per_fold"] = sc["per_fold"]
        out[src]["trained_on"] = ev["trained_on"]
    return out


def manifest_info(cfg: ExportConfig, source: dict, fit, table) -> dict[str, Any]:
    """Everything the manifest records beyond the members: blend, metrics, data and training settings."""
    from gtzan.blend import RULES
    from gtzan.training.crossfit import UNCERTAIN_BELOW, protocol_note

    choice = fit.choice
    cal = {k: v for k, v in choice.calibration.items() if not k.startswith("reliability")}
    blend = {
        "rule": choice.rule,
        "weights": {k: v for k, v in choice.weights.items() if v > 0},
        "not_shipped": {
            m.name: "weight 0 in the blend" if m.name in choice.weights else "not a blend member"
            for m in fit.members
            if choice.weights.get(m.name, 0) == 0
        },
        "calibration": cal,
        "uncertain_below": UNCERTAIN_BELOW,
        "weights_source": f"exhaustive integer search on the out-of-fold predictions ({fit.protocol} folds)",
        "searched": {r: {"weights": choice.searched[r], "oof_accuracy": choice.oof_accuracy[r]} for r in RULES},
    }
    tracks = sorted(set(map(str, table.tracks)))
    source = {
        k: v
        for k, v in source.items()
        if k
        in (
            "kind",
            "path",
            "audio_path",
            "hop",
            "features_csv_sha256",
            "audio_fingerprint",
            "held_out_tracks",
            "augmented",
        )
    }
    return {
        "provisional": cfg.provisional or cfg.quick,
        "quick": cfg.quick,
        "blend": blend,
        "metrics": {
            "protocol": fit.protocol,
            "note": protocol_note(fit.protocol, fit.n_folds),
            "held_out": "out-of-fold",
            "n_folds": fit.n_folds,
            "scores": _scores(fit.evaluation),
            "nested_folds": fit.evaluation["nested_folds"],
        },
        "data": {
            **source,
            "n_rows": int(len(table)),
            "n_tracks": len(tracks),
            "rows_by_source": {str(s): int(np.sum(fit.sources == s)) for s in np.unique(fit.sources)},
            "trained_on": sorted({str(s) for s in fit.sources[fit.trainable]}),
            "median_length_samples": float(np.median(table.X[:, 0])),  # 66149 for 3 s windows
            "tracks": tracks,
            "tracks_sha256": hashlib.sha256("\n".join(tracks).encode()).hexdigest(),
            "skipped": [list(map(str, s)) for s in table.skipped],
        },
        "training": {
            "protocol": fit.protocol,
            "folds": fit.n_folds,
            "seed": cfg.seed,
            "quick": cfg.quick,
            "quantize": cfg.quantize,
            "refit_lengths": fit.lengths,
            "lengths_per_fold": fit.evaluation["lengths_per_fold"],
            "timings": fit.timings,
            "members": {
                m.name: {
                    "kind": m.kind,
                    "params": m.params,
                    "seconds": m.seconds,
                    "shipped": choice.weights.get(m.name, 0) > 0,
                }
                for m in fit.members
            },
        },
    }
