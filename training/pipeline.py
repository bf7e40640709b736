"""Train the report's members and tune the blend weights.

Members: three Keras networks (seeds differ: ``keras1..3``), XGBoost (``xgb``), k-nearest neighbours
(``knn``) and a random forest (``rf``) form the six-member blend; the NumPy network (``numpy_net``)
is trained beside them as the report's first model. Networks and KNN see StandardScaler output
fitted on the training rows only; trees see the raw features. Blend weights are tuned on the
validation part (``weights``); the report's own procedure, tuning on the test part, is kept
separately as ``weights_test_tuned`` and is optimistic by construction.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gtzan.blend import blend_predict, search_weights
from gtzan.constants import GENRES

from .dataset import FeatureTable
from .splits import Split, SplitError

__all__ = ["BLEND_MEMBERS", "MEMBER_NAMES", "TrainedMember", "TrainedModels", "fit_members", "train_members"]

BLEND_MEMBERS = ("keras1", "keras2", "keras3", "xgb", "knn", "rf")
MEMBER_NAMES = (*BLEND_MEMBERS, "numpy_net")
N_CLASSES = len(GENRES)

# Full-run settings, and the quick ones (CI: whole pipeline well under a minute on one core).
SETTINGS: dict[str, dict[str, Any]] = {
    "full": dict(keras_epochs=100, keras_patience=10, keras_batch=128, keras_dropout=0.3, keras_lr=3e-4,
                 numpy_epochs=100,
                 xgb_estimators=500, xgb_early_stop=50, rf_estimators=100, rf_max_depth=12,
                 knn_neighbours=(1, 3, 5, 9, 15, 19), blend_stop_max=10),
    "quick": dict(keras_epochs=3, keras_patience=2, keras_batch=32, keras_dropout=0.5, keras_lr=1e-3,
                  numpy_epochs=3,
                  xgb_estimators=15, xgb_early_stop=None, rf_estimators=8, rf_max_depth=8,
                  knn_neighbours=(5,), blend_stop_max=5),
}


@dataclass
class TrainedMember:
    """One fitted model with what it needs to predict from raw features."""

    name: str  # keras1..3, xgb, knn, rf, numpy_net
    kind: str  # keras, xgboost, sklearn, numpy
    model: Any
    scaler: Any = None  # fitted StandardScaler, or None for trees
    history: dict[str, list[float]] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def predict_proba(self, X_raw: np.ndarray) -> np.ndarray:
        """Probabilities (n, 10) float64 from unscaled features (n, 58)."""
        X = np.atleast_2d(np.asarray(X_raw, dtype=np.float64))
        if self.scaler is not None:
            X = self.scaler.transform(X)
        if self.kind == "keras":
            from .keras_net import keras_predict_proba

            return keras_predict_proba(self.model, X)
        p = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        classes = getattr(self.model, "classes_", np.arange(p.shape[1]))
        if p.shape[1] == N_CLASSES and np.array_equal(classes, np.arange(N_CLASSES)):
            return p
        full = np.zeros((p.shape[0], N_CLASSES))
        full[:, np.asarray(classes, dtype=int)] = p
        return full


@dataclass
class TrainedModels:
    members: list[TrainedMember]
    weights: dict[str, int]  # blend weights tuned on the validation part
    weights_test_tuned: dict[str, int]  # the report's procedure: tuned on the test part itself
    blend_val_accuracy: float
    blend_test_tuned_accuracy: float
    search: dict[str, Any]  # search histories and timings
    split: Split
    seed: int
    quick: bool

    def member(self, name: str) -> TrainedMember:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def blend_members(self) -> list[TrainedMember]:
        return [self.member(n) for n in BLEND_MEMBERS]

    def member_probs(self, X_raw: np.ndarray) -> dict[str, np.ndarray]:
        return {m.name: m.predict_proba(X_raw) for m in self.members}

    def blend_predict(self, X_raw: np.ndarray, weights: dict[str, int] | None = None) -> np.ndarray:
        w = weights or self.weights
        probs = np.stack([self.member(n).predict_proba(X_raw) for n in BLEND_MEMBERS])
        return blend_predict(probs, [w[n] for n in BLEND_MEMBERS])


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), disable=not enabled)


def _threads() -> int:
    """Threads for XGBoost: $GTZAN_TRAIN_THREADS, else every core (its histogram method is deterministic)."""
    return max(1, int(os.environ.get("GTZAN_TRAIN_THREADS", "0")) or os.cpu_count() or 1)


def _fit_xgb(Xtr, ytr, Xva, yva, cfg: dict[str, Any], seed: int, quick: bool,
             rounds: int | None = None) -> tuple[Any, list[float]]:
    """Gradient-boosted trees on raw features, early-stopped on the validation log-loss (or ``rounds``)."""
    from xgboost import XGBClassifier

    params = dict(n_estimators=cfg["xgb_estimators"], learning_rate=0.3 if quick else 0.05, max_depth=6,
                  subsample=0.8, colsample_bytree=0.8, n_jobs=_threads(), random_state=seed, tree_method="hist",
                  eval_metric="mlogloss", early_stopping_rounds=cfg["xgb_early_stop"])
    if rounds is not None:
        params.update(n_estimators=int(rounds), early_stopping_rounds=None)
        return XGBClassifier(**params).fit(Xtr, ytr, verbose=False), []
    xgb = XGBClassifier(**params).fit(Xtr, ytr, eval_set=[(Xva, yva)], verbose=False)
    curve = [float(v) for v in xgb.evals_result()["validation_0"]["mlogloss"]]
    best = getattr(xgb, "best_iteration", None) if cfg["xgb_early_stop"] else None
    if best is not None and best + 1 < cfg["xgb_estimators"]:
        # Refit with exactly the kept rounds so the stored booster (and its ONNX export) holds no
        # trees past the early-stopping point; same seed, so the same first trees.
        params.update(n_estimators=best + 1, early_stopping_rounds=None)
        xgb = XGBClassifier(**params).fit(Xtr, ytr, verbose=False)
    return xgb, curve


def _fit_knn(Ztr, ytr, Zva, yva, candidates: tuple[int, ...]) -> tuple[Any, float]:
    """k-nearest neighbours on scaled features, k chosen on validation accuracy (larger k on a tie)."""
    from sklearn.neighbors import KNeighborsClassifier

    best_k, best_acc = 1, -1.0
    for k in candidates:
        if k > len(ytr):
            continue
        acc = float(np.mean(KNeighborsClassifier(n_neighbors=k).fit(Ztr, ytr).predict(Zva) == yva))
        if acc >= best_acc:
            best_k, best_acc = k, acc
    return KNeighborsClassifier(n_neighbors=best_k).fit(Ztr, ytr), best_acc


def fit_members(
    table: FeatureTable,
    train: np.ndarray,
    val: np.ndarray | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    include_numpy: bool = True,
    numpy_config: str = "256-256-relu",
    fixed: dict[str, Any] | None = None,
) -> list[TrainedMember]:
    """Fit every member on the ``train`` rows.

    With ``val`` rows, the networks and XGBoost stop early on them and KNN picks its k there. With
    ``fixed`` instead (``keras_epochs`` list, ``xgb_rounds``, ``knn_k``, ``numpy_epochs``: what
    cross-validation chose), every member trains for exactly that long on all of ``train``.
    """
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from .numpy_net import NumpyNet

    cfg = SETTINGS["quick" if quick else "full"]
    if (val is None or len(val) == 0) and fixed is None:
        raise SplitError("members need validation rows or fixed training lengths")
    X, y = table.X, table.y
    Xtr, ytr = X[train], y[train]
    Xva, yva = (X[val], y[val]) if fixed is None else (None, None)
    absent = [GENRES[k] for k in range(N_CLASSES) if not np.any(ytr == k)]
    if absent:
        raise SplitError(f"the training part has no rows of {', '.join(absent)}; every genre is needed")
    scaler = StandardScaler().fit(Xtr)
    Ztr = scaler.transform(Xtr)
    Zva = scaler.transform(Xva) if Xva is not None else None
    members: list[TrainedMember] = []

    with _progress(progress) as bar:
        def task(name: str, total: int):
            return bar.add_task(name, total=total, info="")

        def epoch_cb(tid, key="val_accuracy"):
            def cb(epoch: int, logs: dict[str, float]) -> None:
                bar.update(tid, completed=epoch, info=f"{key} {logs.get(key, logs.get('accuracy', float('nan'))):.3f}")
            return cb

        from .keras_net import train_keras

        for i in range(3):
            name = f"keras{i + 1}"
            epochs = cfg["keras_epochs"] if fixed is None else int(fixed["keras_epochs"][i])
            tid = task(name, epochs)
            t0 = time.perf_counter()
            model, hist = train_keras(Ztr, ytr, Zva, yva, seed=seed * 1000 + i + 1, epochs=epochs,
                                      batch_size=cfg["keras_batch"], patience=cfg["keras_patience"],
                                      dropout=cfg["keras_dropout"], learning_rate=cfg["keras_lr"],
                                      eager=quick, on_epoch=epoch_cb(tid))
            bar.update(tid, completed=epochs)
            members.append(TrainedMember(name, "keras", model, scaler, hist,
                                         {"seed": seed * 1000 + i + 1, "epochs_run": len(hist["loss"]),
                                          "best_epoch": _best_epoch(hist)},
                                         time.perf_counter() - t0))

        tid = task("xgb", 1)
        t0 = time.perf_counter()
        xgb, ev = _fit_xgb(Xtr, ytr, Xva, yva, cfg, seed, quick, rounds=None if fixed is None else fixed["xgb_rounds"])
        bar.update(tid, completed=1)
        members.append(TrainedMember("xgb", "xgboost", xgb, None, {"val_loss": ev} if ev else None,
                                     {"n_estimators": int(xgb.n_estimators), "rounds_tried": len(ev)},
                                     time.perf_counter() - t0))

        tid = task("knn", 1)
        t0 = time.perf_counter()
        if fixed is None:
            knn, val_acc = _fit_knn(Ztr, ytr, Zva, yva, cfg["knn_neighbours"])
        else:
            knn, val_acc = KNeighborsClassifier(n_neighbors=int(fixed["knn_k"])).fit(Ztr, ytr), None
        bar.update(tid, completed=1)
        members.append(TrainedMember("knn", "sklearn", knn, scaler, None,
                                     {"n_neighbors": knn.n_neighbors, "val_accuracy": val_acc},
                                     time.perf_counter() - t0))

        tid = task("rf", 1)
        t0 = time.perf_counter()
        rf = RandomForestClassifier(n_estimators=cfg["rf_estimators"], max_depth=cfg["rf_max_depth"],
                                    n_jobs=1, random_state=seed).fit(Xtr, ytr)
        bar.update(tid, completed=1)
        members.append(TrainedMember("rf", "sklearn", rf, None, None,
                                     {"n_estimators": cfg["rf_estimators"], "max_depth": cfg["rf_max_depth"]},
                                     time.perf_counter() - t0))

        if include_numpy:
            t0 = time.perf_counter()
            over: dict[str, Any] = {"epochs": cfg["numpy_epochs"]}
            if fixed is not None:
                over = {"epochs": int(fixed["numpy_epochs"]), "early_stop": None}
            tid = task("numpy_net", over["epochs"])
            net = NumpyNet.from_config(numpy_config, seed=seed, n_classes=N_CLASSES,
                                       progress=epoch_cb(tid), **over)
            net.fit(Ztr, ytr, Zva, yva)
            net.progress = None  # the callback holds the progress bar: keep the model picklable
            bar.update(tid, completed=over["epochs"])
            members.append(TrainedMember("numpy_net", "numpy", net, scaler, dict(net.history_),
                                         {"config": numpy_config, "epochs_run": net.n_epochs_,
                                          "best_epoch": net.best_epoch_}, time.perf_counter() - t0))
    return members


def _best_epoch(hist: dict[str, list[float]]) -> int:
    """1-based epoch of the lowest validation loss (the weights kept), else the last epoch."""
    v = hist.get("val_loss")
    return int(np.argmin(v)) + 1 if v else len(hist.get("loss", []))


def train_members(
    table: FeatureTable,
    split: Split,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    include_numpy: bool = True,
    numpy_config: str = "256-256-relu",
) -> TrainedModels:
    """Fit every member on the training part, then tune blend weights on validation (and test)."""
    cfg = SETTINGS["quick" if quick else "full"]
    X, y = table.X, table.y
    members = fit_members(table, split.train, split.val, quick=quick, seed=seed, progress=progress,
                          include_numpy=include_numpy, numpy_config=numpy_config)
    by_name = {m.name: m for m in members}

    def tune(idx: np.ndarray) -> tuple[dict[str, int], float, dict[str, Any]]:
        probs = np.stack([by_name[n].predict_proba(X[idx]) for n in BLEND_MEMBERS])
        t0 = time.perf_counter()
        w, acc, hist = search_weights(probs, y[idx], start_max=5, step=1, stop_max=cfg["blend_stop_max"])
        return dict(zip(BLEND_MEMBERS, w)), acc, {"history": hist, "seconds": time.perf_counter() - t0}

    w_val, acc_val, s_val = tune(split.val)
    w_test, acc_test, s_test = tune(split.test)
    return TrainedModels(members, w_val, w_test, acc_val, acc_test,
                         {"val": s_val, "test": s_test}, split, seed, quick)
