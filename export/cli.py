"""``gtzan-export``: rebuild the model bundle end to end (features -> split -> train -> report -> ONNX)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click

from gtzan.bundle import BundleError

from .errors import ExportError

PROTOCOLS = ("paper", "track", "filtered")


def _fail(msg: str) -> None:
    click.echo(f"gtzan-export: error: {msg}", err=True)
    sys.exit(1)


def _one_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--audio-dir", type=click.Path(path_type=Path), default=None,
              help="GTZAN-layout audio folder (<genre>/<genre>.NNNNN.ext). Default: the GTZAN data folder.")
@click.option("--features", "features_csv", type=click.Path(path_type=Path), default=None,
              help="Train from a Kaggle-format features CSV instead of audio.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("gtzan-bundle"), show_default=True,
              help="Bundle folder to write (replaced only once the new bundle is complete and verified).")
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="track", show_default=True,
              help="paper: random 80/20 over windows (leaky, as in the report); track: split by track; "
                   "filtered: Kereliuk's artist-filtered split.")
@click.option("--quick", is_flag=True, help="Small, fast models (for CI and smoke tests).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quantize/--no-quantize", default=False, show_default=True,
              help="Store the Keras members' weights as int8 (else float16), kept only where the compressed "
                   "graph agrees with float32 on >= 99.5% of the test rows; about 4x smaller.")
@click.option("--report-dir", type=click.Path(path_type=Path), default=None,
              help="Where the evaluation report goes. Default: OUT/report (inside the bundle).")
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None,
              help="Feature cache folder (default: $GTZAN_CACHE or ~/.cache/gtzan-listen).")
@click.option("--jobs", "-j", type=int, default=None, help="Processes for feature extraction (default: all cores).")
@click.option("--provisional", is_flag=True, hidden=True, help="Mark the bundle as provisional in the manifest.")
def main(audio_dir, features_csv, out, protocol, quick, seed, quantize, report_dir, cache_dir, jobs,
         provisional) -> None:
    """Train the blend and write a verified ONNX model bundle to OUT.

    Every member is checked against the original model on the held-out test rows (label agreement
    >= 99.9%, max probability difference <= 1e-4) before anything is written.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow is imported
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from rich.console import Console

    console = Console(stderr=True)
    try:
        from .build import ExportConfig, run_export
    except ImportError as e:
        _fail(f"the training extra is not installed ({_one_line(e)}): pip install 'gtzan-listen[train]'")
    cfg = ExportConfig(audio_dir=audio_dir, features_csv=features_csv, out=out, protocol=protocol, quick=quick,
                       seed=seed, quantize=quantize, report_dir=report_dir, cache_dir=cache_dir, jobs=jobs,
                       provisional=provisional)
    t0 = time.perf_counter()
    try:
        result = run_export(cfg, console=console)
    except (ExportError, BundleError) as e:
        _fail(_one_line(e))
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written")
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, never a traceback
        if os.environ.get("GTZAN_DEBUG"):
            raise
        _fail(f"{type(e).__name__}: {_one_line(e)}")
    console.print(f"[green]bundle written[/] {result.out}  ({result.total_bytes / 2**20:.1f} MB, "
                  f"{time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":  # pragma: no cover
    main()
