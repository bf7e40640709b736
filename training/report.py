"""Write evaluation results as report.md + report.json + PNG plots (matplotlib, Agg backend)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gtzan.constants import GENRES

from .evaluate import REPORTED
from .members import MEMBER_NAMES
from .plotting import pyplot

__all__ = ["plot_confusion", "plot_curves", "plot_reliability", "write_cv_report", "write_report"]

ORDER = (*MEMBER_NAMES, "blend", "blend_vote", "blend_mean", "blend_test_tuned")  # rows of the tables
_REPORTED_KEY = {
    "keras1": "keras",
    "keras2": "keras",
    "keras3": "keras",
    "xgb": "xgb",
    "knn": "knn",
    "rf": "rf",
    "numpy_net": "numpy_net",
    "blend_test_tuned": "blend",
}


def plot_curves(histories: dict[str, dict[str, list[float]]], path: Path, title: str) -> Path | None:
    """Accuracy and loss per epoch for every network (the report's Figures 5-8)."""
    nets = {k: h for k, h in histories.items() if h and "loss" in h and "accuracy" in h}
    if not nets:
        return None
    plt = pyplot()
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
    plt = pyplot()
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
                ax.text(
                    j,
                    i,
                    int(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if cm[i, j] > cm.max() / 2 else "black",
                )
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_reliability(before: dict[str, list[float]], after: dict[str, list[float]], path: Path, title: str) -> Path:
    """Accuracy against claimed probability per confidence bin, before and after calibration."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.4, 5.0))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfectly calibrated")
    for rel, lab in ((before, "blend probabilities"), (after, "calibrated")):
        conf, acc = np.asarray(rel["confidence"], float), np.asarray(rel["accuracy"], float)
        ok = np.asarray(rel["count"]) > 0
        ax.plot(conf[ok], acc[ok], marker="o", label=lab)
    ax.set_xlabel("probability of the verdict (bin mean)")
    ax.set_ylabel("share of verdicts that were right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="upper left")
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
    lines = [
        f"## Protocol `{proto}`",
        "",
        res["note"] + ".",
        "",
        f"Rows / tracks: train {s['train']['rows']} / {s['train']['tracks']}, "
        f"validation {s['val']['rows']} / {s['val']['tracks']}, test {s['test']['rows']} / {s['test']['tracks']}."
        + (" Quick mode (few epochs, small forests): numbers are not meaningful." if res.get("quick") else ""),
        "",
    ]
    test = res["scores"].get("test", {})
    val = res["scores"].get("val", {})
    lines += [
        "| model | test segment acc. | test log-loss | test track acc. | validation acc. | report |",
        "|---|---|---|---|---|---|",
    ]
    for name in ORDER:
        if name not in test:
            continue
        t = test[name]
        val_acc = val[name]["accuracy"] if name in val else None
        rep = REPORTED.get(_REPORTED_KEY.get(name, ""), None)
        label = {
            "blend": f"**blend ({res['blend_rule']} rule and weights chosen on validation)**",
            "blend_vote": "blend, vote rule (the report's), weights tuned on validation",
            "blend_mean": "blend, probability mean, weights tuned on validation",
            "blend_test_tuned": "blend, vote rule, weights tuned on test (the report's procedure)",
        }.get(name, name)
        lines.append(
            f"| {label} | {_pct(t['accuracy'])} | {t['log_loss']:.4f} | {_pct(t['track_accuracy'])} "
            f"| {_pct(val_acc)} | {_pct(rep)} |"
        )
    wr, wt = res["weights_by_rule"], res["weights_test_tuned"]
    acc = res["rule_val_accuracy"]
    lines += [
        "",
        f"Blend weights ({', '.join(wt)}): tuned on validation, vote rule {tuple(wr['vote'].values())} "
        f"({_pct(acc['vote'])} of the validation rows), mean rule {tuple(wr['mean'].values())} "
        f"({_pct(acc['mean'])}); the better rule is kept, the mean on a tie: **{res['blend_rule']}**. "
        f"Vote weights tuned on test {tuple(wt.values())}. The report's weights were "
        "(1, 3, 5) for its Keras nets, XGB 1, RF 3, KNN 2.",
        f"Weight search time: validation {res['blend_search_seconds'].get('val', 0):.2f} s, "
        f"test {res['blend_search_seconds'].get('test', 0):.2f} s.",
        "",
    ]
    if "blend" in test:
        lines += [
            "Per-genre recall on test (blend chosen on validation):",
            "",
            "| " + " | ".join(GENRES) + " |",
            "|" + "---|" * len(GENRES),
            "| " + " | ".join(_pct(test["blend"]["recall"][g]) for g in GENRES) + " |",
            "",
        ]
    imgs = []
    p = plot_curves(res.get("histories", {}), out / f"curves_{proto}.png", f"Training curves ({proto} protocol)")
    if p:
        imgs.append(("Training curves", p.name))
    for name in ("blend", "keras1", "numpy_net"):
        if name in test:
            p = plot_confusion(
                test[name]["confusion"],
                out / f"confusion_{proto}_{name}.png",
                f"{name}, {proto} protocol, test segments",
            )
            imgs.append((f"Confusion matrix, {name}", p.name))
    lines += [f"![{alt}]({fn})" for alt, fn in imgs] + [""]
    return lines


def write_report(
    results: dict[str, Any] | list[dict[str, Any]],
    out_dir: str | os.PathLike,
    *,
    dataset: dict[str, Any] | None = None,
    sweep: dict[str, Any] | None = None,
) -> Path:
    """report.md, report.json and PNGs for single-split evaluations (see :func:`write_cv_report`)."""
    runs = results if isinstance(results, list) else [results]
    return write_cv_report([], out_dir, dataset=dataset, extra=runs, sweep=sweep)


_CV_ORDER = (*MEMBER_NAMES, "blend_vote", "blend_mean", "blend", "blend_nested")
_SOURCE_NAMES = {"table": "the Kaggle 3-second table's rows", "ours": "our extractor's windows of the audio tracks"}


def _spread(v: list[float]) -> str:
    return f"{100 * np.mean(v):.2f}% ± {100 * np.std(v):.2f}" if v else "-"


def _context_lines(c: dict[str, Any]) -> list[str]:
    """The 30 s context model against averaging the 3 s blend over a track (gtzan.training.context)."""
    names = {
        "averaged": "3 s blend averaged over the track's windows (nested blend, calibrated)",
        "context": "30 s context model alone",
        "combined": "both: (1 - a) x averaged + a x context, a chosen on the other folds",
    }
    lines = [
        "### The 30-second context model",
        "",
        f"Track verdicts of the {c['tracks']} tracks of the 3-second table, out of fold; the context model is "
        f"{c['model']}.",
        "",
        "| verdict from | tracks right | per fold |",
        "|---|---|---|",
    ]
    for k, label in names.items():
        per = ", ".join(f"{100 * v:.1f}" for v in c["per_fold"][k])
        lines.append(f"| {label} | {_pct(c['accuracy'][k])} | {per} |")
    lines += ["", f"Context share a chosen per fold: {', '.join(str(a) for a in c['shares'])}."]
    if "shipped_share" in c:
        lines.append(f"On every track's out-of-fold verdicts: {c['shipped_share']} (what an exported bundle takes).")
    ours = c.get("ours")
    if ours:
        lines += [
            "",
            f"On our windows of the {ours['tracks']} audio tracks, each track's windows pooled into its 30 s row "
            "as gtzan-listen does (gtzan.context), the same folds' models and shares:",
            "",
            "| verdict from | tracks right |",
            "|---|---|",
        ]
        lines += [f"| {names[k]} | {ours['right'][k]} ({_pct(ours['accuracy'][k])}) |" for k in names]
    return lines + [""]


def _cv_section(fit: Any, out: Path) -> list[str]:
    """One cross-validated protocol: out-of-fold scores per source, the blend, calibration, plots."""
    from .crossfit import protocol_note

    proto, ch = fit.protocol, fit.choice
    ev = fit.evaluation
    if getattr(fit, "tracks", None) is not None:
        fit.save_oof(out / f"oof_{proto}.npz")
    lines = [
        f"## Protocol `{proto}` ({fit.n_folds}-fold cross-validation)",
        "",
        protocol_note(proto, fit.n_folds) + ".",
        "",
        (
            "Each fold's members were trained on a part of its training rows (the rest chose their lengths: "
            "epochs, boosting rounds, k) and then again on all of them at those lengths, as the shipped "
            "members are on all rows; those predicted the fold."
            if ev["fold_refit"]
            else "Each fold's members were trained on a part of its training rows (the rest chose their "
            "lengths: epochs, boosting rounds, k) and predicted the fold (no refit within folds)."
        ),
        "",
    ]
    if fit.quick:
        lines += ["Quick mode (few epochs, small forests): the numbers are not meaningful.", ""]
    labels = {
        "blend": f"**blend as shipped** ({ch.rule} rule, weights tuned on all out-of-fold rows)",
        "blend_vote": "blend, vote rule (the report's), weights tuned on all out-of-fold rows",
        "blend_mean": "blend, probability mean, weights tuned on all out-of-fold rows",
        "blend_nested": "**blend, rule and weights chosen on the other folds only** (honest)",
    }
    for src, sev in ev["by_source"].items():
        sc = sev["scores"]
        trained = (
            "trained on" if sev["trained_on"] else "never trained on; predicted by the fold that holds its track out"
        )
        lines += [
            f"### Out-of-fold scores on {_SOURCE_NAMES.get(src, src)} ({sev['rows']} windows, "
            f"{sev['tracks']} tracks; {trained})",
            "",
            "| model | windows | tracks (mean probability) | tracks (majority of windows) | log-loss "
            "| report (random split) |",
            "|---|---|---|---|---|---|",
        ]
        for name in _CV_ORDER:
            if name not in sc:
                continue
            t = sc[name]
            rep = REPORTED.get(_REPORTED_KEY.get(name, ""), None) if name != "blend" else None
            lines.append(
                f"| {labels.get(name, name)} | {_pct(t['accuracy'])} | {_pct(t['track_accuracy'])} "
                f"| {_pct(t.get('track_accuracy_majority'))} | {t['log_loss']:.3f} | {_pct(rep)} |"
            )
        pf = sc["per_fold"]
        lines += [
            "",
            f"Blend window accuracy per fold: shipped {_spread(pf['blend'])}, "
            f"nested {_spread(pf['blend_nested'])} (mean ± standard deviation over folds).",
            "",
            "Per-genre recall of the shipped blend (windows):",
            "",
            "| " + " | ".join(GENRES) + " |",
            "|" + "---|" * len(GENRES),
            "| " + " | ".join(_pct(sc["blend"]["recall"][g]) for g in GENRES) + " |",
            "",
        ]
        p = plot_confusion(
            sc["blend"]["confusion"],
            out / f"confusion_{proto}_{src}_blend.png",
            f"blend, {proto} folds, {src} rows (out-of-fold)",
        )
        lines += [f"![Confusion matrix, blend, {src} rows]({p.name})", ""]
    w = ", ".join(f"{k} {v}" for k, v in ch.weights.items())
    lines += [
        "### Blend",
        "",
        f"Rule **{ch.rule}**, weights {w}. Searched exhaustively on the out-of-fold predictions of the rows "
        "trained on: "
        + "; ".join(f"{r} rule {_pct(a)}" for r, a in ch.oof_accuracy.items())
        + ". The rule with the higher accuracy ships (the mean rule on a tie). Inside each fold the same "
        "choice was made on the other folds' rows: "
        + ", ".join(f"fold {r['fold'] + 1} {r['chosen']}" for r in ev["nested_folds"])
        + ".",
        "",
    ]
    cal = ch.calibration
    p = plot_reliability(
        cal["reliability_before"],
        cal["reliability_after"],
        out / f"reliability_{proto}.png",
        f"Calibration, {proto} folds (out-of-fold)",
    )
    lines += [
        "### Confidence",
        "",
        f"Temperature {cal['temperature']:.3f}, fitted on the out-of-fold blend probabilities: expected "
        f"calibration error {100 * cal['ece_before']:.2f}% before, {100 * cal['ece_after']:.2f}% after "
        f"(10 equal-width bins). Mean calibrated probability of a verdict: {_pct(cal['mean_confidence'])}.",
        "",
        f"![Reliability]({p.name})",
        "",
    ]
    if "context" in ev:
        lines += _context_lines(ev["context"])
    lines += [
        "### Training lengths",
        "",
        "Chosen by early stopping / validation inside each fold, and their median used for the refit on "
        f"all rows: {fit.lengths}.",
        "",
    ]
    curves = plot_curves(
        {m.name: m.history for m in fit.members if m.history},
        out / f"curves_{proto}_refit.png",
        f"Refit on all rows ({proto} protocol): training curves",
    )
    if curves:
        lines += [f"![Training curves]({curves.name})", ""]
    return lines


def write_cv_report(
    fits: list[Any],
    out_dir: str | os.PathLike,
    *,
    dataset: dict[str, Any] | None = None,
    extra: list[dict[str, Any]] | None = None,
    sweep: dict[str, Any] | None = None,
) -> Path:
    """report.md + report.json + PNGs for cross-validated protocols (and single-split ones in ``extra``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# GTZAN genre classification: training report", ""]
    if dataset:
        srcs = ", ".join(f"{n} {_SOURCE_NAMES.get(s, s)}" for s, n in dataset.get("sources", {}).items())
        lines += [
            f"Data: {dataset.get('source', '?')}: {dataset.get('rows', '?')} rows of 58 features from "
            f"{dataset.get('tracks', '?')} tracks" + (f" ({srcs})" if srcs else "") + ".",
            "",
        ]
    lines += [
        "Every accuracy below is held out: a row is predicted by members trained without it, and (except under "
        "`paper`) without its whole track or artist. The report's own numbers (95.85% for its blend) come from a "
        "random 80/20 split of the 10,000 rows with the blend weights tuned on the test rows, which puts windows "
        "of one song on both sides; they are shown for comparison only.",
        "",
        "Window accuracy scores each 3-second window. A track's verdict is the genre of highest mean probability "
        "over its windows (the blend's calibrated probabilities), as gtzan-listen gives it; the majority of the "
        "windows' labels is shown beside it.",
        "",
    ]
    for fit in fits:
        lines += _cv_section(fit, out)
    for res in extra or []:
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
    payload = {
        "dataset": dataset,
        "cross_validated": [_fit_json(f) for f in fits],
        "runs": extra or [],
        "sweep": sweep,
        "reported": REPORTED,
    }
    js = out / "report.json"
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=1, default=_jsonable))
    os.replace(tmp, js)
    return md


def _fit_json(fit: Any) -> dict[str, Any]:
    ch = fit.choice
    return {
        "protocol": fit.protocol,
        "n_folds": fit.n_folds,
        "seed": fit.seed,
        "quick": fit.quick,
        "blend": {
            "rule": ch.rule,
            "weights": ch.weights,
            "temperature": ch.temperature,
            "oof_accuracy": ch.oof_accuracy,
            "searched": ch.searched,
            "calibration": ch.calibration,
        },
        "evaluation": fit.evaluation,
        "refit_lengths": fit.lengths,
        "timings": fit.timings,
    }


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)
