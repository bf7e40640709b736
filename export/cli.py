"""``gtzan-export``: rebuild the model bundle end to end (features -> cross-validation -> blend -> refit ->
report -> ONNX)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

import click

from gtzan.bundle import BundleError
from gtzan.constants import WINDOW_SAMPLES
from gtzan.gain import LEVEL_RMS
from gtzan.training.augment import AUGMENT_KINDS
from gtzan.training.dataset import AUDIO_ROWS, DatasetError
from gtzan.training.keras_net import HIDDEN_HELP

from .errors import ExportError

PROTOCOLS = ("track", "artist", "paper")


def _fail(msg: str, code: int = 1) -> None:
    click.echo(f"gtzan-export: error: {msg}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def _native_log(path: Path):
    """Send what native libraries write to file descriptor 2 (TensorFlow's absl and oneDNN lines) to ``path``.

    Those lines bypass Python's logging and would break into the progress bars; the text stream that
    gtzan-export itself writes to keeps the terminal. Yields that stream.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab", buffering=0) as log:
        os.dup2(log.fileno(), 2)
        term = os.fdopen(os.dup(saved), "w", buffering=1, encoding="utf-8", errors="replace")
        try:
            yield term
        finally:
            term.flush()
            os.dup2(saved, 2)
            os.close(saved)
            term.close()


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _member_list(text: str | None) -> tuple[str, ...]:
    from gtzan.training.members import parse_blend_members

    try:
        return parse_blend_members(text)
    except ValueError as e:
        raise ExportError(f"--blend-members: {e}") from None


def _hidden(text: str | None) -> tuple[int, ...] | None:
    from gtzan.training.keras_net import parse_hidden

    try:
        return None if text is None else parse_hidden(text)
    except ValueError as e:
        raise ExportError(f"--keras-hidden: {e}") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--audio-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="GTZAN-layout audio folder (<genre>/<genre>.NNNNN.ext), whose windows our feature code "
    "computes. Default without --features: the GTZAN data folder's audio.",
)
@click.option(
    "--features",
    "features_csv",
    type=click.Path(path_type=Path),
    default=None,
    help="A Kaggle-format features CSV (e.g. features_3_sec.csv); with --audio-dir as well, both.",
)
@click.option(
    "--audio-rows",
    type=click.Choice(AUDIO_ROWS),
    default="train",
    show_default=True,
    help="With both inputs: our windows of the audio join the training rows, or are only predicted "
    "(out of fold) to measure how the models fare on our extractor's features.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("gtzan-bundle"),
    show_default=True,
    help="Bundle folder to write (replaced only once the new bundle is complete and verified).",
)
@click.option(
    "--audio-hop-samples",
    "audio_hop",
    type=click.IntRange(1, None),
    default=WINDOW_SAMPLES,
    show_default=True,
    help="Samples between the starts of our windows of each audio track (66149: the "
    "report's ten windows; 22050: one a second, which helps the models learn "
    "our extractor's features).",
)
@click.option(
    "--protocol",
    type=click.Choice(PROTOCOLS),
    default="track",
    show_default=True,
    help="How the cross-validation folds are grouped: track (a track and its duplicates in one "
    "fold), artist (Sturm's artist index), or paper (random windows, leaky, as in the report).",
)
@click.option(
    "--folds",
    type=click.IntRange(2, 20),
    default=5,
    show_default=True,
    help="Cross-validation folds (out-of-fold predictions tune the blend and the calibration).",
)
@click.option("--quick", is_flag=True, help="Small, fast models (for CI and smoke tests).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--quantize/--no-quantize",
    default=False,
    show_default=True,
    help="Store the Keras members' weights as int8 (else float16), kept only where the compressed "
    "graph agrees with float32 on >= 99.5% of the test rows; about 4x smaller.",
)
@click.option(
    "--report-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the evaluation report goes. Default: OUT/report (inside the bundle).",
)
@click.option(
    "--cache-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Feature cache folder (default: $GTZAN_CACHE or ~/.cache/gtzan-listen).",
)
@click.option("--jobs", "-j", type=int, default=None, help="Processes for feature extraction (default: all cores).")
@click.option(
    "--augment",
    type=click.Choice(AUGMENT_KINDS),
    multiple=True,
    help="Add training rows for music that reaches the listener changed (repeatable): gain (every "
    "row at a random gain, -24..+6 dB, by the exact feature transform) and degraded (our windows "
    "of randomly degraded copies of the audio: noise, room, band limits, MP3/Ogg, gain) and severe "
    "(copies with strong noise or a phone-like low-pass). The blend is still chosen on the real rows.",
)
@click.option(
    "--augment-copies",
    type=click.IntRange(1, 50),
    default=4,
    show_default=True,
    help="Copies of each audio track for each of --augment degraded and severe.",
)
@click.option(
    "--augment-weight",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="What an augmented row counts for in the members' fits (a real row counts 1; KNN counts every row once).",
)
@click.option(
    "--hold-out-fold",
    type=click.IntRange(0, 4),
    default=None,
    help="Leave one fold of a 5-fold track-grouped split out of everything (listed in the manifest "
    "as data.held_out_tracks) so that benchmarks can measure the bundle on those tracks.",
)
@click.option(
    "--at-level",
    is_flag=True,
    help="Train the members on every window brought to one level (rms 0.1; the listener does the same): "
    "the volume can no longer change the answer, at the price of what loudness says about the genre.",
)
@click.option(
    "--blend-members",
    default=None,
    metavar="NAMES",
    help="Comma-separated members the blend may give a weight, of keras1, keras2, keras3, xgb, knn, rf "
    "and svm (default: the report's six, all but svm); the others get 0 and are not shipped. Leaving out "
    "rf keeps a bundle small; each one more multiplies the weight search's time by 7-11.",
)
@click.option(
    "--context-features",
    "context_csv",
    type=click.Path(path_type=Path),
    default=None,
    help="A 30 s table (features_30_sec.csv): also measure, in the cross-validation's folds, a 30 s context "
    "model against averaging the 3 s blend over each track (in the report; not shipped).",
)
@click.option(
    "--fold-refit/--no-fold-refit",
    default=True,
    show_default=True,
    help="Train each fold's members again on all of its training rows, at the lengths its validation part "
    "chose, before they predict the fold (as the shipped members are trained on all rows); "
    "--no-fold-refit halves the cross-validation's time.",
)
@click.option("--keras-hidden", default=None, metavar="WIDTHS", help=HIDDEN_HELP)
@click.option("--provisional", is_flag=True, hidden=True, help="Mark the bundle as provisional in the manifest.")
def main(
    audio_dir,
    features_csv,
    audio_rows,
    audio_hop,
    out,
    protocol,
    folds,
    quick,
    seed,
    quantize,
    report_dir,
    cache_dir,
    jobs,
    augment,
    augment_copies,
    augment_weight,
    hold_out_fold,
    at_level,
    blend_members,
    context_csv,
    fold_refit,
    keras_hidden,
    provisional,
) -> None:
    """Train the blend and write a verified ONNX model bundle to OUT.

    The members are cross-validated, the blend rule, weights and calibration are tuned on their
    out-of-fold predictions, and the members are refitted on all rows. Every exported graph is checked
    against the original model (label agreement >= 99.9%, max probability difference <= 1e-4) before
    anything is written.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    fd, log_name = tempfile.mkstemp(prefix="gtzan-export-", suffix=".log")
    os.close(fd)
    log_path = Path(log_name)
    code, message, result, t0 = 0, "", None, time.perf_counter()
    with _native_log(log_path) as term:
        from rich.console import Console

        console = Console(file=term, stderr=True)
        try:
            from gtzan.training.orchestrate import RowSpec

            from .build import ExportConfig, run_export

            rows = RowSpec(
                features_csv=features_csv,
                audio_dir=audio_dir,
                audio_rows=audio_rows,
                hop=audio_hop,
                n_jobs=jobs,
                cache_dir=cache_dir,
                augment=tuple(augment),
                augment_copies=augment_copies,
                augment_weight=augment_weight,
                hold_out_fold=hold_out_fold,
                level_rms=LEVEL_RMS if at_level else None,
                context_csv=context_csv,
            )
            cfg = ExportConfig(
                rows=rows,
                out=out,
                protocol=protocol,
                folds=folds,
                quick=quick,
                seed=seed,
                quantize=quantize,
                report_dir=report_dir,
                provisional=provisional,
                blend_members=_member_list(blend_members),
                fold_refit=fold_refit,
                keras_hidden=_hidden(keras_hidden),
                native_log=log_path,
            )
            result = run_export(cfg, console=console)
        except ImportError as e:
            hint = "pip install 'gtzan-listen[train]'"
            code, message = 1, f"the training extra is not installed ({_one_line(e)}): {hint}"
        except (ExportError, BundleError, DatasetError) as e:
            code, message = 1, _one_line(e)
        except KeyboardInterrupt:
            code, message = 130, "interrupted; nothing was written"
        except Exception as e:  # the CLI promises one line, never a traceback
            if os.environ.get("GTZAN_DEBUG"):
                raise
            code, message = 1, f"{type(e).__name__}: {_one_line(e)}"
    if code:
        if log_path.stat().st_size:
            message += f" (native library messages: {log_path})"
        else:
            log_path.unlink(missing_ok=True)
        _fail(message, code)
    log_path.unlink(missing_ok=True)
    assert result is not None
    Console(stderr=True).print(
        f"[green]bundle written[/] {result.out}  ({result.total_bytes / 2**20:.1f} MB, "
        f"{time.perf_counter() - t0:.0f} s)"
    )


if __name__ == "__main__":  # pragma: no cover
    main()
