"""The report's Table 1: the NumPy network over topologies and activations.

``python -m gtzan.training.sweep --audio-dir DIR | --features CSV [--protocol track] [--out DIR]``
prints the table (ours beside the report's) and writes ``sweep.png`` and ``sweep.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from .dataset import FeatureTable
from .numpy_net import NumpyNet, load_config
from .plotting import pyplot
from .splits import Split

__all__ = ["TABLE1", "run_sweep", "sweep_markdown", "print_sweep", "plot_sweep", "main"]

TABLE1 = (
    "258-258-relu",
    "128-128-relu",
    "128-256-relu",
    "128-relu",
    "128-128-sigmoid",
    "128-sigmoid",
    "128-128-tanh",
    "128-tanh",
)


def run_sweep(
    table: FeatureTable,
    split: Split,
    configs: tuple[str, ...] = TABLE1,
    *,
    epochs: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train each config on the training part (early stopping on validation), score on test."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from sklearn.preprocessing import StandardScaler

    sc = StandardScaler().fit(table.X[split.train])
    Z = sc.transform(table.X)
    tr, va, te = split.train, split.val, split.test
    rows = []
    with Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
    ) as bar:
        tid = bar.add_task("Table 1 sweep", total=len(configs))
        for name in configs:
            cfg = load_config(name)
            bar.update(tid, description=name)
            over = {"seed": seed, "n_classes": 10}
            if epochs is not None:
                over["epochs"] = epochs
            t0 = time.perf_counter()
            net = NumpyNet.from_config(cfg, **over).fit(Z[tr], table.y[tr], Z[va], table.y[va])
            p = net.predict_proba(Z[te])
            y = table.y[te]
            loss = float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-15, None))))
            rep = cfg.get("report", {}) or {}
            rows.append(
                {
                    "config": name,
                    "layer_specs": list(cfg["layer_specs"]),
                    "activation": cfg["activation"],
                    "accuracy": float(np.mean(p.argmax(1) == y)),
                    "loss": loss,
                    "val_accuracy": float(max(net.history_["val_accuracy"])),
                    "epochs": net.n_epochs_,
                    "best_epoch": net.best_epoch_,
                    "diverged": bool(net.diverged_),
                    "seconds": time.perf_counter() - t0,
                    "report_accuracy": rep.get("accuracy"),
                    "report_loss": rep.get("loss"),
                }
            )
            bar.advance(tid)
    return {"protocol": split.protocol, "seed": seed, "rows": rows}


def print_sweep(sweep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"NumPy network sweep (report Table 1), {sweep['protocol']} protocol, test part")
    for col in ("topology", "act.", "acc", "loss", "ep", "report acc", "report loss"):
        t.add_column(col, justify="left" if col in ("topology", "act.") else "right", no_wrap=True)
    for r in sweep["rows"]:
        t.add_row(
            "-".join(map(str, r["layer_specs"])),
            r["activation"],
            f"{r['accuracy']:.4f}",
            f"{r['loss']:.4f}",
            str(r["epochs"]),
            "-" if r["report_accuracy"] is None else f"{r['report_accuracy']:.4f}",
            "-" if r["report_loss"] is None else f"{r['report_loss']:.4f}",
        )
    Console().print(t)


def plot_sweep(sweep: dict[str, Any], path: Path) -> Path:
    plt = pyplot()
    rows = sweep["rows"]
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.bar(x - 0.2, [r["accuracy"] for r in rows], 0.4, label=f"ours ({sweep['protocol']} protocol)")
    ax.bar(x + 0.2, [r["report_accuracy"] or 0 for r in rows], 0.4, label="report (random 80/20)")
    ax.set_xticks(x, [f"{'-'.join(map(str, r['layer_specs'][1:-1]))}\n{r['activation']}" for r in rows], fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1.15)
    ax.legend(loc="upper right", ncols=2, fontsize=8)
    ax.set_title("NumPy network: topology and activation (Table 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def sweep_markdown(sweep: dict[str, Any], out: Path) -> list[str]:
    png = plot_sweep(sweep, Path(out) / "sweep.png")
    lines = [
        f"## NumPy network sweep (report Table 1), `{sweep['protocol']}` protocol",
        "",
        "| topology | activation | test acc. | test loss | epochs | report acc. | report loss |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sweep["rows"]:
        ra = "-" if r["report_accuracy"] is None else f"{100 * r['report_accuracy']:.2f}%"
        rl = "-" if r["report_loss"] is None else f"{r['report_loss']:.4f}"
        lines.append(
            f"| {r['layer_specs']} | {r['activation']} | {100 * r['accuracy']:.2f}% | {r['loss']:.4f} "
            f"| {r['epochs']} | {ra} | {rl} |"
        )
    return lines + ["", f"![Table 1 sweep]({png.name})", ""]


@click.command()
@click.option("--audio-dir", type=click.Path(file_okay=False, path_type=Path), help="GTZAN-layout audio folder.")
@click.option("--features", type=click.Path(dir_okay=False, path_type=Path), help="Kaggle-format features CSV.")
@click.option("--protocol", type=click.Choice(["paper", "track", "filtered"]), default="track", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("sweep-out"), show_default=True)
@click.option("--epochs", type=int, default=None, help="Cap the epochs of every config.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--jobs", "n_jobs", type=int, default=None, help="Processes for feature extraction.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
def main(audio_dir, features, protocol, out, epochs, seed, n_jobs, cache_dir) -> None:
    """Run the report's Table 1 sweep of the NumPy network and print the table."""
    from .inputs import load_rows_or_fail, make_split_or_fail
    from .orchestrate import RowSpec

    table = load_rows_or_fail(
        RowSpec(features_csv=features, audio_dir=audio_dir, n_jobs=n_jobs, cache_dir=cache_dir)
    ).table
    split = make_split_or_fail(table, protocol, seed)
    sweep = run_sweep(table, split, epochs=epochs, seed=seed)
    print_sweep(sweep)
    out.mkdir(parents=True, exist_ok=True)
    plot_sweep(sweep, out / "sweep.png")
    (out / "sweep.json").write_text(json.dumps(sweep, indent=1))
    click.echo(f"wrote {out / 'sweep.png'} and {out / 'sweep.json'}")


if __name__ == "__main__":
    main()
