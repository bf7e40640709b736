"""``python -m gtzan.training``: features -> split -> train -> evaluate -> report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gtzan.features import WINDOW_SAMPLES

from .dataset import DatasetError, FeatureTable, audio_fingerprint, build_feature_table, read_features_csv
from .splits import PROTOCOLS, Split, make_split

__all__ = ["load_table", "main", "make_split_or_fail"]


def load_table(audio_dir: Path | None, features: Path | None, *, hop: int = WINDOW_SAMPLES,
               n_jobs: int | None = None, cache_dir: Path | None = None,
               progress: bool = True) -> tuple[FeatureTable, dict[str, Any]]:
    """The feature table from exactly one of an audio folder or a Kaggle CSV, plus a description."""
    if (audio_dir is None) == (features is None):
        raise click.UsageError("give exactly one of --audio-dir or --features")
    try:
        if features is not None:
            table = read_features_csv(features)
            info = {"source": f"features CSV {features}", "path": str(features)}
        else:
            table = build_feature_table(audio_dir, hop=hop, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
            info = {"source": f"audio folder {audio_dir}", "path": str(audio_dir), "hop": hop,
                    "audio_sha256": audio_fingerprint(audio_dir), "skipped": table.skipped}
    except DatasetError as e:
        raise click.ClickException(str(e)) from e
    info.update(rows=len(table), tracks=int(len(set(table.tracks.tolist()))), counts=table.counts())
    return table, info


def make_split_or_fail(table: FeatureTable, protocol: str, seed: int, data_dir: Path | None = None) -> Split:
    try:
        return make_split(table, protocol, seed=seed, data_dir=data_dir)
    except DatasetError as e:
        raise click.ClickException(str(e)) from e


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--audio-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Audio in GTZAN layout: <genre>/<genre>.NNNNN.<ext>.")
@click.option("--features", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A Kaggle features CSV (features_3_sec.csv or features_30_sec.csv) instead of audio.")
@click.option("--protocol", "protocols", type=click.Choice([*PROTOCOLS, "all"]), multiple=True,
              default=("track",), show_default=True, help="Split protocol; repeat or use 'all' for several.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for report.md, report.json, plots and features.csv.")
@click.option("--quick", is_flag=True, help="Few epochs and small forests (a smoke run, not a result).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--hop", type=int, default=WINDOW_SAMPLES, show_default=True,
              help="Samples between window starts (66149 = the report's ten windows per track).")
@click.option("--jobs", "n_jobs", type=int, default=None, help="Processes for feature extraction [all cores].")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Feature cache [$GTZAN_CACHE or ~/.cache/gtzan-listen].")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="GTZAN data folder with splits/ and metadata/ [$GTZAN_DATA].")
@click.option("--no-numpy", is_flag=True, help="Skip the NumPy network.")
@click.option("--sweep/--no-sweep", default=False, help="Also run the NumPy-net Table 1 sweep (first protocol).")
def main(audio_dir, features, protocols, out, quick, seed, hop, n_jobs, cache_dir, data_dir, no_numpy, sweep) -> None:
    """Train the report's models and blend, evaluate them and write a report."""
    from rich.console import Console

    con = Console(stderr=True)
    protocols = PROTOCOLS if "all" in protocols else tuple(dict.fromkeys(protocols))
    if hop < 1:
        raise click.BadParameter("must be a positive number of samples", param_hint="--hop")
    try:
        from .evaluate import evaluate
        from .pipeline import train_members
        from .report import write_report
    except ImportError as e:  # the [train] extra is missing
        raise click.ClickException(f"training needs the [train] extra ({e.name or e} is not installed)") from e
    t0 = time.perf_counter()
    table, info = load_table(audio_dir, features, hop=hop, n_jobs=n_jobs, cache_dir=cache_dir)
    con.print(f"{info['rows']} rows from {info['tracks']} tracks ({info['source']})")
    out.mkdir(parents=True, exist_ok=True)
    if audio_dir is not None:
        table.to_csv(out / "features.csv")
    runs, sweep_res = [], None
    skipped: list[str] = []
    for proto in protocols:
        try:
            split = make_split(table, proto, seed=seed, data_dir=data_dir)
            con.print(f"[bold]{proto}[/bold]: " + ", ".join(f"{k} {v['rows']} rows / {v['tracks']} tracks"
                                                             for k, v in split.summary(table).items()))
            models = train_members(table, split, quick=quick, seed=seed, include_numpy=not no_numpy)
        except DatasetError as e:
            if len(protocols) == 1:
                raise click.ClickException(str(e)) from e
            con.print(f"[yellow]{proto} protocol skipped:[/yellow] {e}", highlight=False)
            skipped.append(f"{proto}: {e}")
            continue
        res = evaluate(models, table)
        runs.append(res)
        t = res["scores"]["test"]
        con.print("  test accuracy: " + ", ".join(f"{k} {v['accuracy']:.3f}" for k, v in t.items()))
        if sweep and sweep_res is None:
            from .sweep import print_sweep, run_sweep

            sweep_res = run_sweep(table, split, epochs=3 if quick else None, seed=seed)
            print_sweep(sweep_res)
    if not runs:
        raise click.ClickException("no protocol could be trained: " + "; ".join(skipped))
    info["seconds"] = time.perf_counter() - t0
    info["protocols_skipped"] = skipped
    md = write_report(runs, out, dataset=info, sweep=sweep_res)
    con.print(f"wrote {md} ({info['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
