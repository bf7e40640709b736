"""The whole export run: rows -> grouped cross-validation -> blend -> refit -> report -> ONNX bundle.

The rows, the cross-validation, the blend choice and the refit are the training package's one run
(:mod:`gtzan.training.orchestrate`), the same that ``python -m gtzan.training`` reports on; this
module adds what a bundle needs: the shipped members converted and verified, the report copied in and
the manifest's records. The metrics in the manifest are the out-of-fold ones, labelled with their protocol.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from gtzan.constants import WINDOW_SAMPLES
from gtzan.training.dataset import FeatureTable
from gtzan.training.members import REPORT_BLEND, TrainedMember
from gtzan.training.orchestrate import RowSpec, cross_fit_rows, load_rows

from .bundle_writer import ExportedMember, bundle_size, check_target, write_bundle
from .errors import ExportError
from .members import export_member
from .records import manifest_info, shipped_scores

REPORT_MD = "REPORT.md"
CONTEXT_FILE = "context.onnx"
MAX_REPORT_BYTES = 4 * 2**20  # report files copied into the bundle (PNGs are small)
VERIFY_ROWS = 2000  # rows each exported graph is checked on against its original model

T = TypeVar("T")


@dataclass
class ExportConfig:
    """What gtzan-export was asked for."""

    rows: RowSpec = field(default_factory=RowSpec)  # the rows trained and scored on (as python -m gtzan.training)
    out: Path = Path("gtzan-bundle")
    protocol: str = "track"
    folds: int = 5
    quick: bool = False
    seed: int = 0
    quantize: bool = False
    report_dir: Path | None = None
    provisional: bool = False
    blend_members: tuple[str, ...] = REPORT_BLEND  # the members the blend may weight
    fold_refit: bool = True  # each fold's members trained again on all its training rows (training.crossval)
    keras_hidden: tuple[int, ...] | None = None  # the Keras networks' hidden widths (None: training.keras_net.HIDDEN)
    native_log: Path | None = None  # where native libraries' stderr went; copied into the bundle


@dataclass
class ExportResult:
    """The bundle written and its files' sizes."""

    out: Path
    sizes: dict[str, int]

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.values())


class _Stages:
    """Prints one line per finished stage with its time (the long stages draw their own progress bars)."""

    def __init__(self, console: Any) -> None:
        self.console = console

    def __call__(self, name: str, fn: Callable[..., T], /, *args: Any, **kw: Any) -> T:
        t = time.perf_counter()
        res = fn(*args, **kw)
        if self.console is not None:
            self.console.print(f"[green]done[/] {name:<9} {time.perf_counter() - t:6.1f} s")
        return res


def audio_folder(rows: RowSpec) -> Path | None:
    """The audio folder the run reads: ``--audio-dir``, else (without a CSV) the GTZAN data folder's audio."""
    if rows.audio_dir is not None or rows.features_csv is not None:
        return rows.audio_dir
    from gtzan.datadir import audio_dir

    audio = audio_dir()
    if audio is None:
        raise ExportError("no audio folder found: pass --audio-dir DIR or --features CSV")
    return audio


def _warn_clip_length(table: FeatureTable, console: Any) -> None:
    """gtzan-listen classifies 3 s windows; a table of other clip lengths trains models it cannot use well."""
    length = float(np.median(table.X[:, 0]))
    if console is not None and abs(length - WINDOW_SAMPLES) > 1:
        console.print(
            f"[yellow]note:[/] the table's clips are {length:.0f} samples long (median), not the "
            f"{WINDOW_SAMPLES}-sample windows gtzan-listen classifies; its verdicts with this bundle "
            "will be off",
            highlight=False,
        )


def run_export(cfg: ExportConfig, console: Any = None) -> ExportResult:
    """Run the whole export; on any failure raises ExportError or DatasetError (one line), cfg.out untouched."""
    from gtzan.fingerprint import fingerprint

    features_print = fingerprint()  # of the code this process runs, even if the files change meanwhile
    stages = _Stages(console)
    out = Path(cfg.out).expanduser().absolute()
    check_target(out)  # before hours of work, not after
    spec = replace(cfg.rows, audio_dir=audio_folder(cfg.rows))
    rows = load_rows(spec, seed=cfg.seed, progress=console is not None, stage=stages)
    _warn_clip_length(rows.table, console)
    fit = stages(
        "train",
        cross_fit_rows,
        rows,
        cfg.protocol,
        n_folds=cfg.folds,
        seed=cfg.seed,
        quick=cfg.quick,
        console=console,
        blend_members=cfg.blend_members,
        fold_refit=cfg.fold_refit,
        keras_hidden=cfg.keras_hidden,
    )
    weights = {m.name: int(fit.choice.weights.get(m.name, 0)) for m in fit.members}
    shipped = [m for m in fit.members if weights[m.name] > 0]  # a member the blend ignores is not shipped
    if not shipped:
        raise ExportError("every blend weight is zero: nothing would vote")
    rng = np.random.default_rng(cfg.seed)
    trainable = np.flatnonzero(rows.trainable)
    x_verify = rows.table.X[np.sort(rng.choice(trainable, size=min(VERIFY_ROWS, trainable.size), replace=False))]
    exported = stages("export", _export_members, shipped, weights, x_verify, cfg.quantize, console)
    context = None
    if fit.context_model is not None and rows.context is not None:
        if context_helps(fit.evaluation["context"]):
            context = _export_context(fit, rows.context, console)
        elif console is not None:
            console.print(
                "[yellow]note:[/] the 30 s context model is not shipped: out of fold it read no more "
                "tracks than the averaged windows (see REPORT.md)",
                highlight=False,
            )

    info = manifest_info(
        fit, rows.info, rows.table, seed=cfg.seed, quick=cfg.quick, quantize=cfg.quantize, provisional=cfg.provisional
    )
    info["metrics"]["shipped_graphs_on_audio"] = shipped_scores(exported, fit.choice.rule, rows.table, rows.sources)
    info["feature_fingerprint"] = features_print
    info["feature_level_rms"] = cfg.rows.level_rms  # the listener brings each window to it (gtzan.bundle)
    if context is not None:
        info["context"] = context[1]
    dataset = {k: rows.info[k] for k in ("source", "rows", "tracks", "sources")}
    staging = Path(tempfile.mkdtemp(prefix=".gtzan-report-", dir=out.parent if out.parent.is_dir() else None))
    try:
        extra = stages("report", _report, fit, dataset, cfg, out, staging)
        if context is not None:
            extra[CONTEXT_FILE] = context[0]
        stages("write", write_bundle, out, exported, info, extra)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportResult(out=out, sizes=bundle_size(out))


def _export_members(
    shipped: list[TrainedMember], weights: dict[str, int], x_verify: np.ndarray, quantize: bool, console: Any
) -> list[ExportedMember]:
    """Convert and verify each shipped member, with a progress bar and one line per member."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    exported: list[ExportedMember] = []
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
        for m in shipped:
            em = export_member(m, weights[m.name], x_verify, quantize=quantize)
            exported.append(em)
            prog.advance(task)
            if console is not None:
                p = em.parity
                q = f" {em.extra['weights_dtype']}" if em.quantized else ""
                console.print(
                    f"  {em.name:<10} {len(em.onnx_bytes) / 2**20:6.2f} MB{q}  agreement "
                    f"{p['label_agreement']:.4f}  max|dp| {p['max_abs_prob_diff']:.1e}  weight {em.weight}"
                )
    return exported


def context_helps(measured: dict[str, Any]) -> bool:
    """Ship the context model only if, with the shares chosen out of fold, it reads more of the table's
    tracks right than averaging the windows does: else it would cost time at every verdict for nothing."""
    acc = measured["accuracy"]
    return bool(acc["combined"] > acc["averaged"]) and float(measured["shipped_share"]) > 0


def _export_context(fit: Any, table: FeatureTable, console: Any) -> tuple[bytes, dict[str, Any]]:
    """The 30 s context model as ONNX, checked on the 30 s rows, and its manifest section."""
    from gtzan.context import CONTEXT_LENGTH, CONTEXT_SAMPLES, with_context_length
    from gtzan.training.context import model_text

    model = fit.context_model
    member = TrainedMember("context", "xgboost", model)
    x = with_context_length(table.X)
    em = export_member(member, 0, x)
    ev = fit.evaluation["context"]
    if console is not None:
        p = em.parity
        console.print(
            f"  {'context':<10} {len(em.onnx_bytes) / 2**20:6.2f} MB  agreement {p['label_agreement']:.4f}  "
            f"max|dp| {p['max_abs_prob_diff']:.1e}  share {ev['shipped_share']}"
        )
    section = {
        "file": CONTEXT_FILE,
        "share": float(ev["shipped_share"]),
        "span_samples": CONTEXT_SAMPLES,
        "length": CONTEXT_LENGTH,
        "model": model_text(fit.quick),
        "trained_on": f"{len(table)} rows of the 30 s table",
        "share_chosen_on": "out-of-fold track verdicts of the 3 s table's tracks (most right; a tie to the smaller)",
        "measured": {k: ev[k] for k in ("tracks", "accuracy", "per_fold", "shares", "ours") if k in ev},
        "bytes": len(em.onnx_bytes),
        "parity": em.parity,
    }
    return em.onnx_bytes, section


def _report(fit: Any, dataset: dict[str, Any], cfg: ExportConfig, out: Path, staging: Path) -> dict[str, Path | bytes]:
    """Write the report and return the files it adds to the bundle.

    The report goes to ``--report-dir`` if that lies outside the bundle (then only REPORT.md is copied
    in), else to ``staging``, whose files go into the bundle under report/.
    """
    from gtzan.training.report import write_cv_report

    report_dir = Path(cfg.report_dir).expanduser().absolute() if cfg.report_dir is not None else None
    if report_dir is not None and (report_dir == out / "report" or out in report_dir.parents):
        report_dir = None  # inside the bundle: goes in with it (the folder is replaced as a whole)
    external = report_dir is not None
    report_dir = report_dir or staging
    md = write_cv_report([fit], report_dir, dataset=dataset)
    text = md.read_text(encoding="utf-8")
    extra: dict[str, Path | bytes] = {}
    if not external:
        files = _report_files(report_dir)
        extra.update({f"report/{k}": v for k, v in files.items()})
        text = _relink_images(text, [k for k in files if "/" not in k and not k.endswith(".md")])
    if cfg.native_log is not None and Path(cfg.native_log).is_file():
        extra["report/native.log"] = Path(cfg.native_log).read_bytes()
    extra[REPORT_MD] = text.encode("utf-8")
    return extra


def _report_files(report_dir: Path) -> dict[str, Path]:
    """Report files to copy into the bundle under report/ (without the PNGs when unreasonably large, and
    never the out-of-fold probabilities, which only the training report keeps)."""
    files = {
        p.relative_to(report_dir).as_posix(): p
        for p in sorted(report_dir.rglob("*"))
        if p.is_file() and p.suffix != ".npz"
    }
    if sum(p.stat().st_size for p in files.values()) > MAX_REPORT_BYTES:
        files = {k: v for k, v in files.items() if not k.endswith(".png")}
    return files


def _relink_images(text: str, names: list[str]) -> str:
    """Point the report's image links into report/, where the bundle keeps them."""
    for n in names:
        text = text.replace(f"]({n})", f"](report/{n})").replace(f'src="{n}"', f'src="report/{n}"')
    return text
