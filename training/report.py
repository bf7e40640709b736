"""Write evaluation results as report.md + report.json + PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gtzan.features import GENRES

from .evaluate import REPORTED

__all__ = ["plot_confusion", "plot_curves", "write_report"]

ORDER = ("keras1", "keras2", "keras3", "xgb", "knn", "rf", "numpy_net", "blend", "blend_test_tuned")
_REPORTED_KEY = {"keras1": "keras", "keras2": "keras", "keras3": "keras", "xgb": "xgb", "knn": "knn",
                 "rf": "rf", "numpy_net": "numpy_net", "blend_test_tuned": "blend"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(histories: dict[str, dict[str, list[float]]], path: Path, title: str) -> Path | None:
    """Accuracy and loss per epoch for every network (the report's Figures 5-8)."""
    nets = {k: h for k, h in histories.items() if h and "loss" in h and "accuracy" in h}
    if not nets:
        return None
    plt = _plt()
    fig, axes = plt.subplots(len(nets), 2, figsize=(10, 2.6 * len(nets)), squeeze=False)
    for row, (name, h) in enumerate(nets.items()):
        for col, metric in enumerate(("accuracy", "loss")):
            ax = axes[row, col]
            ep = np.arange(1, len(h[metric]) + 1)
            ax.plot(ep, h[metric], label="train")
            if h.get(f"val_{metric}"):
                ax.plot(ep, h[f"val_{metric}"], label="validation")
            ax.set_title(f"{name}: {metric}")
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_confusion(cm: list[list[int]] | np.ndarray, path: Path, title: str) -> Path:
    plt = _plt()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(6.2, 5.4))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(GENRES)), GENRES, rotation=45, ha="right")
    ax.set_yticks(range(len(GENRES)), GENRES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def _protocol_section(res: dict[str, Any], out: Path) -> list[str]:
    proto = res["protocol"]
    s = res["split"]
    lines = [f"## Protocol `{proto}`", "", res["note"] + ".", "",
             f"Rows / tracks: train {s['train']['rows']} / {s['train']['tracks']}, "
             f"validation {s['val']['rows']} / {s['val']['tracks']}, test {s['test']['rows']} / {s['test']['tracks']}."
             + (" Quick mode (few epochs, small forests): numbers are not meaningful." if res.get("quick") else ""),
             ""]
    test = res["scores"].get("test", {})
    val = res["scores"].get("val", {})
    lines += ["| model | test segment acc. | test log-loss | test track acc. | validation acc. | report |",
              "|---|---|---|---|---|---|"]
    for name in ORDER:
        if name not in test:
            continue
        t = test[name]
        rep = REPORTED.get(_REPORTED_KEY.get(name, ""), None)
        label = {"blend": "blend (weights tuned on validation)",
                 "blend_test_tuned": "blend (weights tuned on test, report's procedure)"}.get(name, name)
        lines.append(f"| {label} | {_pct(t['accuracy'])} | {t['log_loss']:.4f} | {_pct(t['track_accuracy'])} "
                     f"| {_pct(val.get(name, {}).get('accuracy'))} | {_pct(rep)} |")
    w, wt = res["weights"], res["weights_test_tuned"]
    lines += ["", "Blend weights (keras1, keras2, keras3, xgb, knn, rf): tuned on validation "
              f"{tuple(w.values())}; tuned on test {tuple(wt.values())}. The report's weights were "
              "(1, 3, 5) for its Keras nets, XGB 1, RF 3, KNN 2.",
              f"Weight search time: validation {res['blend_search_seconds'].get('val', 0):.2f} s, "
              f"test {res['blend_search_seconds'].get('test', 0):.2f} s.", ""]
    if "blend" in test:
        lines += ["Per-genre recall on test (blend, validation-tuned):", "",
                  "| " + " | ".join(GENRES) + " |", "|" + "---|" * len(GENRES),
                  "| " + " | ".join(_pct(test["blend"]["recall"][g]) for g in GENRES) + " |", ""]
    imgs = []
    p = plot_curves(res.get("histories", {}), out / f"curves_{proto}.png", f"Training curves ({proto} protocol)")
    if p:
        imgs.append(("Training curves", p.name))
    for name in ("blend", "keras1", "numpy_net"):
        if name in test:
            p = plot_confusion(test[name]["confusion"], out / f"confusion_{proto}_{name}.png",
                               f"{name}, {proto} protocol, test segments")
            imgs.append((f"Confusion matrix, {name}", p.name))
    lines += [f"![{alt}]({fn})" for alt, fn in imgs] + [""]
    return lines


def write_report(results: dict[str, Any] | list[dict[str, Any]], out_dir: str | os.PathLike, *,
                 dataset: dict[str, Any] | None = None, sweep: dict[str, Any] | None = None) -> Path:
    """Write report.md, report.json and PNGs for one or more evaluated protocols; returns report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = results if isinstance(results, list) else [results]
    lines = ["# GTZAN genre classification: training report", ""]
    if dataset:
        lines += [f"Data: {dataset.get('source', '?')}: {dataset.get('rows', '?')} rows of 58 features from "
                  f"{dataset.get('tracks', '?')} tracks.", ""]
    lines += [
        "The report's numbers come from the full GTZAN set (1000 tracks, 10,000 three-second rows) with a random "
        "80/20 split of rows and the blend weights tuned on the test rows themselves. Differences here: the data "
        "may be a subset (e.g. 89 tracks, 8-12 per genre); the `track` and `filtered` protocols keep all windows "
        "of a track on one side (the `paper` protocol does not, which makes it optimistic); blend weights are "
        "tuned on a validation part, and the test-tuned blend is shown only for comparison with the report.",
        "",
        "Segment accuracy scores each 3-second row; track accuracy takes the majority vote of a track's windows. "
        "The blend's log-loss uses its weighted probabilities (sum of w_i p_i / sum of w); KNN with a small k gives "
        "near one-hot probabilities and so a large log-loss.",
        "",
    ]
    for res in runs:
        lines += _protocol_section(res, out)
    for why in (dataset or {}).get("protocols_skipped", []):
        lines += [f"Protocol skipped: {why}.", ""]
    if sweep:
        from .sweep import sweep_markdown

        lines += sweep_markdown(sweep, out)
    md = out / "report.md"
    tmp = md.with_suffix(".md.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, md)
    payload = {"dataset": dataset, "runs": runs, "sweep": sweep, "reported": REPORTED}
    js = out / "report.json"
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=_jsonable))
    os.replace(tmp, js)
    return md


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
