"""What a bundle's manifest records beyond its members: blend, out-of-fold metrics, data, training settings.

Kept apart from the run (:mod:`gtzan.export.build`) so that what a bundle says about its training is
assembled in one place; the typed part of the manifest (members, features, blend) is :mod:`gtzan.manifest`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from gtzan.blend import RULES, predict
from gtzan.training.crossfit import UNCERTAIN_BELOW, CrossFit, protocol_note
from gtzan.training.dataset import FeatureTable

from .bundle_writer import ExportedMember
from .verify import run_onnx


def shipped_scores(
    exported: list[ExportedMember], rule: str, table: FeatureTable, sources: np.ndarray
) -> dict[str, Any] | None:
    """Accuracy of the graphs as shipped on our windows of the audio tracks.

    These rows were trained on, so this is no measure of accuracy: it lets a test recompute the same
    numbers from the audio (features, members, blend) and so prove the bundle behaves as exported.
    """
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
    keep = ("accuracy", "track_accuracy", "track_accuracy_majority", "log_loss", "rows", "tracks", "recall")
    out: dict[str, Any] = {}
    for src, ev in evaluation["by_source"].items():
        sc = ev["scores"]
        out[src] = {name: {k: v for k, v in s.items() if k in keep} for name, s in sc.items() if name != "per_fold"}
        out[src]["per_fold"] = sc["per_fold"]
        out[src]["trained_on"] = ev["trained_on"]
    return out


def manifest_info(
    fit: CrossFit,
    source: dict[str, Any],
    table: FeatureTable,
    *,
    seed: int,
    quick: bool,
    quantize: bool,
    provisional: bool,
) -> dict[str, Any]:
    """Everything the manifest records beyond the members: blend, metrics, data and training settings."""
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
            "augment_weight",
        )
    }
    return {
        "provisional": provisional or quick,
        "quick": quick,
        "blend": blend,
        "metrics": {
            "protocol": fit.protocol,
            "note": protocol_note(fit.protocol, fit.n_folds),
            "held_out": "out-of-fold",
            "n_folds": fit.n_folds,
            "scores": _scores(fit.evaluation),
            "nested_folds": fit.evaluation["nested_folds"],
            **({"context_model": fit.evaluation["context"]} if "context" in fit.evaluation else {}),
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
            "seed": seed,
            "quick": quick,
            "quantize": quantize,
            "fold_refit": fit.evaluation["fold_refit"],
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
