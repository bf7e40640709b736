"""The report's Keras network, by default without its two widest layers: 58 -> 512 -> 256 -> 128 -> 64 -> 10.

The report's 58 -> 2048 -> 1024 -> 512 -> 256 -> 128 -> 64 -> 10 (``REPORT_HIDDEN``) held out 1.5-3 points
worse in 5 track-grouped folds of the table (two seeds, at most 60 epochs; ``HIDDEN`` 69.4 / 68.9% of the
table's windows against 67.8 / 66.2%, 71.7 / 73.0% of our windows against 70.2 / 68.5%;
benchmarks/bench_member_settings.py) and costs 14 times the weights.
ReLU hidden layers each followed by Dropout (the report's 0.5; the full runs use 0.3, which held out
better in grouped cross-validation: gtzan.training.members.SETTINGS), softmax output, Adam, sparse categorical
cross-entropy, early stopping on the validation accuracy (best weights restored; the loss bottoms out
epochs before the accuracy peaks). TensorFlow is
imported only inside these functions, so the rest of the package never pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "HIDDEN",
    "HIDDEN_HELP",
    "REPORT_HIDDEN",
    "build_model",
    "configure_tensorflow",
    "parse_hidden",
    "train_keras",
]

HIDDEN = (512, 256, 128, 64)
REPORT_HIDDEN = (2048, 1024, 512, 256, 128, 64)
HIDDEN_HELP = (  # --keras-hidden of both command lines
    "The Keras networks' hidden layer widths, comma-separated, or 'report' for the report's "
    "2048,1024,512,256,128,64 [512,256,128,64]."
)


def parse_hidden(text: str) -> tuple[int, ...]:
    """``512,256,128,64`` (or ``report``: the report's topology) as layer widths; ValueError if malformed."""
    if text.strip().lower() == "report":
        return REPORT_HIDDEN
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise ValueError(f"hidden layers must be comma-separated widths or 'report', got {text!r}") from None
    if not widths or any(w < 1 for w in widths):
        raise ValueError(f"hidden layers must be positive widths, got {text!r}")
    return widths


_configured = False


def configure_tensorflow(threads: int | None = None) -> None:
    """Quiet logs and pin TF's thread pools (default: $GTZAN_TF_THREADS, else 1) before first use."""
    global _configured
    if _configured:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    n = int(threads or os.environ.get("GTZAN_TF_THREADS", "1"))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # already initialised by someone else: keep their setting
        pass
    _configured = True


def build_model(
    n_features: int = 58,
    n_classes: int = 10,
    *,
    hidden: tuple[int, ...] = HIDDEN,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    seed: int = 0,
    eager: bool = False,
) -> Any:
    """A compiled keras.Sequential with the report's topology."""
    configure_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    layers: list[Any] = [keras.Input(shape=(n_features,), name="features")]
    for i, units in enumerate(hidden):
        layers += [
            keras.layers.Dense(units, activation="relu", name=f"dense{i}"),
            keras.layers.Dropout(dropout, name=f"dropout{i}"),
        ]
    layers.append(keras.layers.Dense(n_classes, activation="softmax", name="probabilities"))
    model = keras.Sequential(layers, name="gtzan_keras")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["accuracy"],  # the plain accuracy unless rows carry weights, then the weighted one
        jit_compile=False,
        run_eagerly=eager,
    )
    return model


def train_keras(
    X: np.ndarray,
    y: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray | None,
    *,
    seed: int = 0,
    epochs: int = 100,
    batch_size: int = 32,
    patience: int = 10,
    dropout: float = 0.5,
    learning_rate: float = 1e-3,
    n_classes: int = 10,
    eager: bool = False,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    sample_weight: np.ndarray | None = None,
    val_weight: np.ndarray | None = None,
    hidden: tuple[int, ...] = HIDDEN,
) -> tuple[Any, dict[str, list[float]]]:
    """Fit one network (scaled features in); returns (model, history with loss/accuracy/val_*).

    Without validation rows it trains exactly ``epochs`` epochs (a refit at a length chosen before).

    ``eager`` skips graph tracing, which costs seconds and only pays off over many steps (quick runs).
    """
    configure_tensorflow()
    import keras

    model = build_model(
        X.shape[1], n_classes, hidden=hidden, seed=seed, dropout=dropout, learning_rate=learning_rate, eager=eager
    )
    has_val = X_val is not None and y_val is not None and len(y_val) > 0
    callbacks: list[Any] = (
        [
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
            )
        ]
        if has_val
        else []
    )
    if on_epoch is not None:
        callbacks.append(
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: on_epoch(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})
            )
        )
    hist = model.fit(
        np.asarray(X, np.float32),
        np.asarray(y, np.int64),
        sample_weight=None if sample_weight is None else np.asarray(sample_weight, np.float32),
        validation_data=_validation(X_val, y_val, val_weight) if has_val else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    history = {
        k: [float(v) for v in vals]
        for k, vals in hist.history.items()
        if k in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    return model, history


def _validation(X: Any, y: Any, w: np.ndarray | None) -> tuple[np.ndarray, ...]:
    data = (np.asarray(X, np.float32), np.asarray(y, np.int64))
    return data if w is None else (*data, np.asarray(w, np.float32))


def keras_predict_proba(model: Any, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
    """Probabilities (n, classes) float64 in inference mode (dropout off).

    Calls the model directly in batches: ``model.predict`` traces a graph per call, which costs
    more than the arithmetic for the few thousand rows used here.
    """
    X = np.asarray(X, np.float32)
    out = [np.asarray(model(X[s : s + batch_size], training=False)) for s in range(0, len(X), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, model.output_shape[-1]))
