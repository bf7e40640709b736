"""The blend's members in one table: each member's kind, whether it sees scaled features, how it is fitted.

Members: three Keras networks (seeds differ: ``keras1..3``), XGBoost (``xgb``), k-nearest neighbours
(``knn``) and a random forest (``rf``) form the report's six-member blend; the NumPy network
(``numpy_net``) is trained beside them as the report's first model. A support-vector machine (``svm``,
not in the report) is trained and scored beside them too: out of fold it is the strongest single member
on the table's windows, which the blend has to beat. Networks, KNN and the SVM see standardised
features with the variances on a log scale (:class:`.scaling.LogVarianceScaler`), fitted on the training
rows only; trees see the raw features.
Each kind's conversion to ONNX is ``gtzan.export.onnx_members.TO_ONNX[kind]`` (kept there: training does
not need the ONNX stack).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from gtzan.constants import GENRES

from .dataset import FeatureTable
from .keras_net import HIDDEN
from .splits import SplitError

Kind = Literal["keras", "xgboost", "knn", "rf", "svm", "numpy"]
KINDS: tuple[Kind, ...] = ("keras", "xgboost", "knn", "rf", "svm", "numpy")
N_CLASSES = len(GENRES)

# Full-run settings, and the quick ones (CI: whole pipeline well under a minute on one core).
# Networks and XGBoost stop on validation ACCURACY (error), not log-loss: in track-grouped folds of the
# table the validation loss bottoms out after 7-8 epochs (150-300 rounds) while accuracy keeps rising
# to about 30 epochs (800+ rounds), 3-4 points higher (Keras fold 0: 69.8% at the loss minimum,
# 73.1% at the accuracy maximum; XGBoost 69.4% at 150 rounds, 72.3% at 800). XGBoost's validation error
# is flat and noisy past a few hundred rounds: with 100 rounds of patience the folds stopped at 183-358,
# while fixed rounds on the folds' whole training parts held out 70.3% at 200, 71.9% at 400, 72.5% at
# 900 and 72.4-72.6% up to 2000 (5 track folds, table + our windows), hence 300 rounds of patience.
SETTINGS: dict[str, dict[str, Any]] = {
    "full": dict(
        keras_epochs=150,
        keras_patience=12,
        keras_batch=512,
        keras_dropout=0.3,
        keras_lr=1e-3,
        keras_hidden=HIDDEN,
        numpy_epochs=100,
        xgb_estimators=1500,
        xgb_early_stop=300,
        rf_estimators=100,
        rf_max_depth=12,
        knn_neighbours=(1, 3, 5, 9, 15, 19),
        svm_c=3.0,
        blend_stop_max=10,
    ),
    "quick": dict(
        keras_epochs=3,
        keras_patience=2,
        keras_batch=32,
        keras_dropout=0.5,
        keras_lr=1e-3,
        keras_hidden=HIDDEN,
        numpy_epochs=3,
        xgb_estimators=15,
        xgb_early_stop=None,
        rf_estimators=8,
        rf_max_depth=8,
        knn_neighbours=(5,),
        svm_c=3.0,
        blend_stop_max=5,
    ),
}


@dataclass
class TrainedMember:
    """One fitted model with what it needs to predict from raw features."""

    name: str  # keras1..3, xgb, knn, rf, numpy_net
    kind: Kind
    model: Any
    scaler: Any = None  # fitted LogVarianceScaler, or None for trees
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
class FitInputs:
    """What every member's fit reads: the rows, their scaled copies, the settings and the progress bar."""

    Xtr: np.ndarray
    ytr: np.ndarray
    Xva: np.ndarray | None
    yva: np.ndarray | None
    scaler: Any
    Ztr: np.ndarray
    Zva: np.ndarray | None
    cfg: dict[str, Any]
    seed: int
    quick: bool
    fixed: dict[str, Any] | None  # training lengths chosen by cross-validation, instead of validation rows
    numpy_config: str
    task: Callable[[str, int], Any]  # a progress-bar task: name, total
    advance: Callable[[Any, int], None]  # task, completed
    epoch_cb: Callable[[Any], Callable[[int, dict[str, float]], None]]
    wtr: np.ndarray | None = None  # a weight per training row (augmented copies may count less); None: all 1
    wva: np.ndarray | None = None  # the same for the validation rows, which stop training and pick k


Fit = Callable[[FitInputs, "MemberSpec"], TrainedMember]


@dataclass(frozen=True)
class MemberSpec:
    """One row of the member table."""

    name: str
    kind: Kind
    scaled: bool  # fitted on LogVarianceScaler output; trees take the raw features
    fit: Fit
    index: int = 0  # which of several members of the same kind (the Keras seeds and lengths)


def _fit_keras(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    from .keras_net import train_keras

    cfg, i = inp.cfg, spec.index
    epochs = cfg["keras_epochs"] if inp.fixed is None else int(inp.fixed["keras_epochs"][i])
    tid = inp.task(spec.name, epochs)
    t0 = time.perf_counter()
    seed = inp.seed * 1000 + i + 1
    model, hist = train_keras(
        inp.Ztr,
        inp.ytr,
        inp.Zva,
        inp.yva,
        seed=seed,
        epochs=epochs,
        batch_size=cfg["keras_batch"],
        patience=cfg["keras_patience"],
        dropout=cfg["keras_dropout"],
        learning_rate=cfg["keras_lr"],
        eager=inp.quick,
        on_epoch=inp.epoch_cb(tid),
        sample_weight=inp.wtr,
        val_weight=inp.wva,
        hidden=tuple(cfg["keras_hidden"]),
    )
    inp.advance(tid, epochs)
    return TrainedMember(
        spec.name,
        spec.kind,
        model,
        inp.scaler,
        hist,
        {
            "seed": seed,
            "epochs_run": len(hist["loss"]),
            "best_epoch": _best_epoch(hist),
            "hidden": list(cfg["keras_hidden"]),
        },
        time.perf_counter() - t0,
    )


def _threads() -> int:
    """Threads for XGBoost: $GTZAN_TRAIN_THREADS, else every core (its histogram method is deterministic)."""
    return max(1, int(os.environ.get("GTZAN_TRAIN_THREADS", "0")) or os.cpu_count() or 1)


# XGBoost's settings besides its rounds (a quick export learns at 0.3 instead); measured around in
# benchmarks/bench_member_settings.py xgb --xgb-param NAME=VALUE
XGB_SETTINGS: dict[str, float] = {"learning_rate": 0.05, "max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.8}


def _fit_xgb(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    """Gradient-boosted trees on raw features, early-stopped on the validation error (or fixed rounds)."""
    from xgboost import XGBClassifier

    tid = inp.task(spec.name, 1)
    t0 = time.perf_counter()
    cfg = inp.cfg
    params = dict(
        n_estimators=cfg["xgb_estimators"],
        **(XGB_SETTINGS | ({"learning_rate": 0.3} if inp.quick else {})),
        n_jobs=_threads(),
        random_state=inp.seed,
        tree_method="hist",
        eval_metric=["mlogloss", "merror"],  # early stopping watches the last one
        early_stopping_rounds=cfg["xgb_early_stop"],
    )
    curve: list[float] = []
    if inp.fixed is not None:
        params.update(n_estimators=int(inp.fixed["xgb_rounds"]), early_stopping_rounds=None)
        xgb = XGBClassifier(**params).fit(inp.Xtr, inp.ytr, sample_weight=inp.wtr, verbose=False)
    else:
        xgb = XGBClassifier(**params).fit(
            inp.Xtr,
            inp.ytr,
            sample_weight=inp.wtr,
            eval_set=[(inp.Xva, inp.yva)],
            sample_weight_eval_set=None if inp.wva is None else [inp.wva],
            verbose=False,
        )
        curve = [float(v) for v in xgb.evals_result()["validation_0"]["mlogloss"]]
        best = getattr(xgb, "best_iteration", None) if cfg["xgb_early_stop"] else None
        if best is not None and best + 1 < cfg["xgb_estimators"]:
            # Refit with exactly the kept rounds so the stored booster (and its ONNX export) holds no
            # trees past the early-stopping point; same seed, so the same first trees.
            params.update(n_estimators=best + 1, early_stopping_rounds=None)
            xgb = XGBClassifier(**params).fit(inp.Xtr, inp.ytr, sample_weight=inp.wtr, verbose=False)
    inp.advance(tid, 1)
    return TrainedMember(
        spec.name,
        spec.kind,
        xgb,
        None,
        {"val_loss": curve} if curve else None,
        {"n_estimators": int(params["n_estimators"]), "rounds_tried": len(curve)},
        time.perf_counter() - t0,
    )


def _fit_knn(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    """k-nearest neighbours on scaled features, k chosen on validation accuracy (larger k on a tie)."""
    from sklearn.neighbors import KNeighborsClassifier

    tid = inp.task(spec.name, 1)
    t0 = time.perf_counter()
    val_acc: float | None = None
    if inp.fixed is None:
        best_k, best_acc = 1, -1.0
        for k in inp.cfg["knn_neighbours"]:
            if k > len(inp.ytr):
                continue
            pred = KNeighborsClassifier(n_neighbors=k).fit(inp.Ztr, inp.ytr).predict(inp.Zva)
            acc = float(np.average(pred == inp.yva, weights=inp.wva))
            if acc >= best_acc:
                best_k, best_acc = k, acc
        knn, val_acc = KNeighborsClassifier(n_neighbors=best_k).fit(inp.Ztr, inp.ytr), best_acc
    else:
        knn = KNeighborsClassifier(n_neighbors=int(inp.fixed["knn_k"])).fit(inp.Ztr, inp.ytr)
    inp.advance(tid, 1)
    return TrainedMember(
        spec.name,
        spec.kind,
        knn,
        inp.scaler,
        None,
        {"n_neighbors": knn.n_neighbors, "val_accuracy": val_acc},
        time.perf_counter() - t0,
    )


def _fit_rf(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    from sklearn.ensemble import RandomForestClassifier

    tid = inp.task(spec.name, 1)
    t0 = time.perf_counter()
    cfg = inp.cfg
    rf = RandomForestClassifier(
        n_estimators=cfg["rf_estimators"], max_depth=cfg["rf_max_depth"], n_jobs=1, random_state=inp.seed
    ).fit(inp.Xtr, inp.ytr, sample_weight=inp.wtr)
    inp.advance(tid, 1)
    return TrainedMember(
        spec.name,
        spec.kind,
        rf,
        None,
        None,
        {"n_estimators": cfg["rf_estimators"], "max_depth": cfg["rf_max_depth"]},
        time.perf_counter() - t0,
    )


def _fit_svm(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    """RBF support-vector machine on scaled features, with Platt-scaled pairwise probabilities.

    C = 3 and gamma = 1 / (58 x the scaled rows' variance) ("scale"): in 5 track-grouped folds of the
    table plus our windows, C in 3-30 and gamma in 0.01-0.03 moved its window accuracy by less than
    half a point. ``probability=True`` (libsvm's own 5-fold Platt fit, pairwise coupling) converts to one
    ONNX SVMClassifier node; scikit-learn 1.9 deprecates it for CalibratedClassifierCV, whose ONNX graph
    ran three times slower per row in onnxruntime.
    """
    import warnings

    from sklearn.svm import SVC

    tid = inp.task(spec.name, 1)
    t0 = time.perf_counter()
    svm = SVC(C=inp.cfg["svm_c"], kernel="rbf", gamma="scale", probability=True, random_state=inp.seed)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*probability.*deprecated", category=FutureWarning)
        svm.fit(inp.Ztr, inp.ytr, sample_weight=inp.wtr)
    inp.advance(tid, 1)
    return TrainedMember(
        spec.name,
        spec.kind,
        svm,
        inp.scaler,
        None,
        {"C": float(svm.C), "gamma": float(svm._gamma), "support_vectors": int(svm.n_support_.sum())},
        time.perf_counter() - t0,
    )


def _fit_numpy(inp: FitInputs, spec: MemberSpec) -> TrainedMember:
    from .numpy_net import NumpyNet

    t0 = time.perf_counter()
    over: dict[str, Any] = {"epochs": inp.cfg["numpy_epochs"]}
    if inp.fixed is not None:
        over = {"epochs": int(inp.fixed["numpy_epochs"]), "early_stop": None}
    tid = inp.task(spec.name, over["epochs"])
    net = NumpyNet.from_config(inp.numpy_config, seed=inp.seed, n_classes=N_CLASSES, progress=inp.epoch_cb(tid), **over)
    net.fit(inp.Ztr, inp.ytr, inp.Zva, inp.yva)
    net.progress = None  # the callback holds the progress bar: keep the model picklable
    inp.advance(tid, over["epochs"])
    return TrainedMember(
        spec.name,
        spec.kind,
        net,
        inp.scaler,
        dict(net.history_),
        {"config": inp.numpy_config, "epochs_run": net.n_epochs_, "best_epoch": net.best_epoch_},
        time.perf_counter() - t0,
    )


MEMBERS: tuple[MemberSpec, ...] = (
    MemberSpec("keras1", "keras", True, _fit_keras, 0),
    MemberSpec("keras2", "keras", True, _fit_keras, 1),
    MemberSpec("keras3", "keras", True, _fit_keras, 2),
    MemberSpec("xgb", "xgboost", False, _fit_xgb),
    MemberSpec("knn", "knn", True, _fit_knn),
    MemberSpec("rf", "rf", False, _fit_rf),
    MemberSpec("svm", "svm", True, _fit_svm),
    MemberSpec("numpy_net", "numpy", True, _fit_numpy),
)
# Members a blend may weight, and the default candidates: the report's six (its single-split protocols
# tune these, as it did). The SVM is a candidate only when named (``--blend-members``): in 5 grouped folds
# it is the strongest single member on the table's windows, yet it moved the nested blend by 0 to 1.1
# points (README "Accuracy"), and each further candidate multiplies the exhaustive weight search by 7-11.
BLEND_MEMBERS: tuple[str, ...] = ("keras1", "keras2", "keras3", "xgb", "knn", "rf", "svm")
REPORT_BLEND: tuple[str, ...] = ("keras1", "keras2", "keras3", "xgb", "knn", "rf")
MEMBER_NAMES: tuple[str, ...] = tuple(s.name for s in MEMBERS)
# members whose training length validation chooses (epochs, rounds, k); the forest and the SVM have none
LENGTH_KINDS: frozenset[Kind] = frozenset({"keras", "xgboost", "knn", "numpy"})
assert set(REPORT_BLEND) <= set(BLEND_MEMBERS) <= set(MEMBER_NAMES)
assert {s.kind for s in MEMBERS} == set(KINDS)


def blend_candidates(names: Iterable[str]) -> tuple[str, ...]:
    """Some of BLEND_MEMBERS, in their order: the members a blend search may weight; ValueError otherwise."""
    names = tuple(names)
    if not names or not set(names) <= set(BLEND_MEMBERS):
        raise ValueError(f"blend members must be some of {', '.join(BLEND_MEMBERS)}; got {', '.join(names) or 'none'}")
    return tuple(n for n in BLEND_MEMBERS if n in names)


def parse_blend_members(text: str | None) -> tuple[str, ...]:
    """A ``--blend-members`` value ("keras1,xgb,svm") as blend candidates; None: the report's six."""
    if text is None:
        return REPORT_BLEND
    return blend_candidates(n.strip() for n in text.split(",") if n.strip())


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        disable=not enabled,
    )


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
    sample_weight: np.ndarray | None = None,
    keras_hidden: tuple[int, ...] | None = None,
    kinds: Iterable[Kind] | None = None,
) -> list[TrainedMember]:
    """Fit every member of the table on the ``train`` rows, in table order.

    ``sample_weight`` (one per row of ``table``) weighs the training rows for the networks, XGBoost, the
    forest and the SVM, and the validation rows wherever they stop training or pick KNN's k; KNN's
    neighbours and the NumPy network count every row once.

    With ``val`` rows, the networks and XGBoost stop early on them and KNN picks its k there. With
    ``fixed`` instead (``keras_epochs`` list, ``xgb_rounds``, ``knn_k``, ``numpy_epochs``: what
    cross-validation chose), every member trains for exactly that long on all of ``train``.
    ``keras_hidden`` replaces the settings' hidden layer widths of the Keras networks. ``kinds`` fits only
    the members of those kinds (default: all).
    """
    from .scaling import LogVarianceScaler

    cfg = SETTINGS["quick" if quick else "full"]
    if keras_hidden is not None:
        cfg = {**cfg, "keras_hidden": tuple(keras_hidden)}
    if (val is None or len(val) == 0) and fixed is None:
        raise SplitError("members need validation rows or fixed training lengths")
    X, y = table.X, table.y
    Xtr, ytr = X[train], y[train]
    Xva, yva = (X[val], y[val]) if fixed is None and val is not None else (None, None)
    absent = [GENRES[k] for k in range(N_CLASSES) if not np.any(ytr == k)]
    if absent:
        raise SplitError(f"the training part has no rows of {', '.join(absent)}; every genre is needed")
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    scaler = LogVarianceScaler().fit(Xtr)
    Ztr = scaler.transform(Xtr)
    Zva = scaler.transform(Xva) if Xva is not None else None

    with _progress(progress) as bar:

        def epoch_cb(tid: Any, key: str = "val_accuracy") -> Callable[[int, dict[str, float]], None]:
            def cb(epoch: int, logs: dict[str, float]) -> None:
                bar.update(tid, completed=epoch, info=f"{key} {logs.get(key, logs.get('accuracy', float('nan'))):.3f}")

            return cb

        inputs = FitInputs(
            Xtr,
            ytr,
            Xva,
            yva,
            scaler,
            Ztr,
            Zva,
            cfg,
            seed,
            quick,
            fixed,
            numpy_config,
            task=lambda name, total: bar.add_task(name, total=total, info=""),
            advance=lambda tid, done: bar.update(tid, completed=done),
            epoch_cb=epoch_cb,
            wtr=None if weight is None else weight[train],
            wva=None if weight is None or Xva is None else weight[val],
        )
        wanted = set(KINDS if kinds is None else kinds) - (set() if include_numpy else {"numpy"})
        return [spec.fit(inputs, spec) for spec in MEMBERS if spec.kind in wanted]


def _best_epoch(hist: dict[str, list[float]]) -> int:
    """1-based epoch of the highest validation accuracy (the weights kept; the first on a tie), else the last."""
    v = hist.get("val_accuracy")
    return int(np.argmax(v)) + 1 if v else len(hist.get("loss", []))
