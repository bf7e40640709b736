"""``python -m gtzan.training``: features -> cross-validation or split -> train -> evaluate -> report.

``track`` and ``artist`` are grouped k-fold cross-validations (gtzan.training.crossfit); ``paper`` (the
report's random split of windows) and ``filtered`` (Kereliuk's artist-filtered lists) are single splits.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from gtzan.constants import WINDOW_SAMPLES
from gtzan.gain import LEVEL_RMS

from .dataset import AUDIO_ROWS, DatasetError
from .inputs import load_rows_or_fail, make_split_or_fail
from .keras_net import HIDDEN_HELP
from .orchestrate import RowSpec, cross_fit_rows
from .splits import make_split

__all__ = ["ALL_PROTOCOLS", "main"]

CROSS_VALIDATED = ("track", "artist")
ALL_PROTOCOLS = ("paper", "track", "artist", "filtered")


def _blend_members(text: str | None) -> tuple[str, ...]:
    from .members import parse_blend_members

    try:
        return parse_blend_members(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--blend-members") from None


def _hidden(text: str | None) -> tuple[int, ...] | None:
    from .keras_net import parse_hidden

    try:
        return None if text is None else parse_hidden(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--keras-hidden") from None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--audio-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Audio in GTZAN layout: <genre>/<genre>.NNNNN.<ext>.",
)
@click.option(
    "--features",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Kaggle features CSV (features_3_sec.csv or features_30_sec.csv); with --audio-dir, both.",
)
@click.option(
    "--audio-rows",
    type=click.Choice(AUDIO_ROWS),
    default="train",
    show_default=True,
    help="With both inputs: our windows of the audio are trained on, or only predicted out of fold.",
)
@click.option(
    "--protocol",
    "protocols",
    type=click.Choice([*ALL_PROTOCOLS, "all"]),
    multiple=True,
    default=("track",),
    show_default=True,
    help="Protocol; repeat or use 'all' for several.",
)
@click.option(
    "--folds",
    type=click.IntRange(2, 20),
    default=5,
    show_default=True,
    help="Folds of the cross-validated protocols (track, artist).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for report.md, report.json, plots and features.csv.",
)
@click.option("--quick", is_flag=True, help="Few epochs and small forests (a smoke run, not a result).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--hop-samples",
    "hop",
    type=int,
    default=WINDOW_SAMPLES,
    show_default=True,
    help="Samples between window starts (66149 = the report's ten windows per track).",
)
@click.option("--jobs", "n_jobs", type=int, default=None, help="Processes for feature extraction [all cores].")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Feature cache [$GTZAN_CACHE or ~/.cache/gtzan-listen].",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="GTZAN data folder with splits/ and metadata/ [$GTZAN_DATA].",
)
@click.option(
    "--at-level",
    is_flag=True,
    help="Train and score on every window brought to one level (rms 0.1, gtzan.gain.at_level), as a bundle "
    "exported with gtzan-export --at-level is used (features.csv is then not written).",
)
@click.option(
    "--context-features",
    "context_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A 30 s table (features_30_sec.csv): also measure, in the cross-validation's folds, a 30 s context "
    "model against averaging the 3 s blend over each track (reported, not shipped).",
)
@click.option(
    "--blend-members",
    default=None,
    metavar="NAMES",
    help="Comma-separated members the blend may weight (default: the report's six, "
    "keras1,keras2,keras3,xgb,knn,rf; svm may be added), under every protocol.",
)
@click.option(
    "--fold-refit/--no-fold-refit",
    default=True,
    show_default=True,
    help="Cross-validated protocols: train each fold's members again on all of its training rows, at the "
    "lengths its validation part chose, before they predict the fold (--no-fold-refit: half the time).",
)
@click.option("--keras-hidden", default=None, metavar="WIDTHS", help=HIDDEN_HELP)
@click.option("--no-numpy", is_flag=True, help="Skip the NumPy network.")
@click.option("--sweep/--no-sweep", default=False, help="Also run the NumPy-net Table 1 sweep (first protocol).")
def main(
    audio_dir,
    features,
    audio_rows,
    protocols,
    folds,
    out,
    quick,
    seed,
    hop,
    n_jobs,
    cache_dir,
    data_dir,
    at_level,
    context_csv,
    blend_members,
    fold_refit,
    keras_hidden,
    no_numpy,
    sweep,
) -> None:
    """Train the report's models and blend, evaluate them under each protocol and write a report."""
    from rich.console import Console

    con = Console(stderr=True)
    protocols = ALL_PROTOCOLS if "all" in protocols else tuple(dict.fromkeys(protocols))
    if hop < 1:
        raise click.BadParameter("must be a positive number of samples", param_hint="--hop-samples")
    if audio_dir is None and features is None:
        raise click.UsageError("give --audio-dir, --features, or both")
    candidates = _blend_members(blend_members)
    hidden = _hidden(keras_hidden)
    try:
        from .evaluate import evaluate
        from .pipeline import train_members
        from .report import write_cv_report
    except ImportError as e:  # the [train] extra is missing
        raise click.ClickException(f"training needs the [train] extra ({e.name or e} is not installed)") from e
    t0 = time.perf_counter()
    spec = RowSpec(
        features_csv=features,
        audio_dir=audio_dir,
        audio_rows=audio_rows,
        hop=hop,
        n_jobs=n_jobs,
        cache_dir=cache_dir,
        level_rms=LEVEL_RMS if at_level else None,
        context_csv=context_csv,
    )
    rows = load_rows_or_fail(spec, seed=seed, data_dir=data_dir)
    info = rows.info
    con.print(f"{info['rows']} rows from {info['tracks']} tracks ({info['source']})")
    out.mkdir(parents=True, exist_ok=True)
    if audio_dir is not None and features is None and not at_level:  # levelled rows are not the features
        rows.table.to_csv(out / "features.csv")
    train_table = rows.trainable_table()
    fits, runs, sweep_res = [], [], None
    skipped: list[str] = []
    for proto in protocols:
        try:
            if proto in CROSS_VALIDATED:
                con.print(f"[bold]{proto}[/bold]: {folds}-fold cross-validation")
                fit = cross_fit_rows(
                    rows,
                    proto,
                    n_folds=folds,
                    seed=seed,
                    quick=quick,
                    data_dir=data_dir,
                    refit=False,
                    console=con,
                    blend_members=candidates,
                    fold_refit=fold_refit,
                    keras_hidden=hidden,
                )
                fits.append(fit)
                sc = next(iter(fit.evaluation["by_source"].values()))["scores"]
                con.print(
                    "  out-of-fold accuracy: "
                    + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in sc.items() if k != "per_fold")
                )
                continue
            split = make_split(train_table, proto, seed=seed, data_dir=data_dir)
            con.print(
                f"[bold]{proto}[/bold]: "
                + ", ".join(
                    f"{k} {v['rows']} rows / {v['tracks']} tracks" for k, v in split.summary(train_table).items()
                )
            )
            models = train_members(
                train_table,
                split,
                quick=quick,
                seed=seed,
                include_numpy=not no_numpy,
                blend_members=candidates,
                keras_hidden=hidden,
            )
        except DatasetError as e:
            if len(protocols) == 1:
                raise click.ClickException(str(e)) from e
            con.print(f"[yellow]{proto} protocol skipped:[/yellow] {e}", highlight=False)
            skipped.append(f"{proto}: {e}")
            continue
        res = evaluate(models, train_table)
        runs.append(res)
        t = res["scores"]["test"]
        con.print("  test accuracy: " + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in t.items()))
        if sweep and sweep_res is None:
            from .sweep import print_sweep, run_sweep

            sweep_res = run_sweep(train_table, split, epochs=3 if quick else None, seed=seed)
            print_sweep(sweep_res)
    if sweep and sweep_res is None:  # only cross-validated protocols ran: the sweep takes a track split
        from .sweep import print_sweep, run_sweep

        sweep_res = run_sweep(
            train_table,
            make_split_or_fail(train_table, "track", seed, data_dir),
            epochs=3 if quick else None,
            seed=seed,
        )
        print_sweep(sweep_res)
    if not runs and not fits:
        raise click.ClickException("no protocol could be trained: " + "; ".join(skipped))
    info["seconds"] = time.perf_counter() - t0
    info["protocols_skipped"] = skipped
    md = write_cv_report(fits, out, dataset=info, extra=runs, sweep=sweep_res)
    con.print(f"wrote {md} ({info['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
