"""The report's first model: a dense network written with NumPy alone (no deep-learning framework).

Hidden layers with ReLU, sigmoid or tanh, a softmax output, cross-entropy loss, backpropagation,
mini-batch gradient descent with momentum (``v <- gamma v - grad``; ``w <- w + lr v``), L2 weight
penalty and early stopping on the validation loss that keeps the best weights.

Loss scaling (documented because it decides whether the report's learning rate 0.2 is stable):
the gradient is the cross-entropy averaged over the mini-batch, and the L2 term is
``l2 / (2 N) * sum(W**2)`` with N the number of training rows, i.e. the penalty of the whole
training objective ``sum_n E_n + l2/2 ||W||^2`` divided by N. Biases are not penalised.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["NumpyNet", "CONFIG_DIR", "list_configs", "load_config"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

_ACT: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    # name: (f(z), f'(z) given z and a = f(z))
    "relu": (lambda z: np.maximum(z, 0.0), lambda z, a: (z > 0).astype(z.dtype)),
    "sigmoid": (lambda z: 0.5 * (1.0 + np.tanh(0.5 * z)), lambda z, a: a * (1.0 - a)),
    "tanh": (np.tanh, lambda z, a: 1.0 - a * a),
}


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _cross_entropy(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(y.size), y], 1e-12, None))))


class NumpyNet:
    """Multi-layer perceptron classifier trained by mini-batch SGD with momentum (scikit-learn style).

    After ``fit``: ``weights`` (list of (in, out) arrays), ``biases``, ``activations`` (one name per
    hidden layer), ``history_`` (per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``),
    ``best_epoch_`` and ``n_epochs_``.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] | list[int] = (256, 256),
        activation: str = "relu",
        *,
        batch_size: int = 16,
        learning_rate: float = 0.2,
        momentum: float = 0.3,
        l2: float = 0.05,
        epochs: int = 100,
        early_stop: int | None = 5,
        n_classes: int | None = None,
        seed: int = 0,
        progress: Callable[[int, dict[str, float]], None] | None = None,
    ):
        if activation not in _ACT:
            raise ValueError(f"activation must be one of {', '.join(_ACT)}, got {activation!r}")
        self.hidden = tuple(int(h) for h in hidden)
        self.activation = activation
        self.batch_size = int(batch_size)
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.l2 = float(l2)
        self.epochs = int(epochs)
        self.early_stop = early_stop
        self.n_classes = n_classes
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ configuration
    @classmethod
    def from_config(cls, config: dict[str, Any] | str | Path, **overrides: Any) -> NumpyNet:
        """Build from a YAML config (report keys: layer_specs, activation, batch_size, ...)."""
        cfg = load_config(config) if not isinstance(config, dict) else config
        specs = list(cfg.get("layer_specs", [58, 256, 256, 10]))
        kw: dict[str, Any] = dict(
            hidden=tuple(specs[1:-1]),
            activation=str(cfg.get("activation", "relu")).lower(),
            batch_size=cfg.get("batch_size", 16),
            learning_rate=cfg.get("learning_rate", 0.2),
            momentum=cfg.get("momentum_gamma", 0.3) if cfg.get("momentum", True) else 0.0,
            l2=cfg.get("L2_penalty", 0.0),
            epochs=cfg.get("epochs", 100),
            early_stop=cfg.get("early_stop_epoch", 5) if cfg.get("early_stop", True) else None,
            n_classes=specs[-1],
        )
        kw.update(overrides)
        return cls(**kw)

    def get_params(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in (
                "hidden",
                "activation",
                "batch_size",
                "learning_rate",
                "momentum",
                "l2",
                "epochs",
                "early_stop",
                "n_classes",
                "seed",
            )
        }

    @property
    def activations(self) -> list[str]:
        return [self.activation] * len(self.hidden)

    # --------------------------------------------------------------------- forward/backward
    def _init(self, n_in: int, n_out: int, rng: np.random.Generator) -> None:
        sizes = [n_in, *self.hidden, n_out]
        self.weights, self.biases = [], []
        for a, b in zip(sizes[:-1], sizes[1:]):
            scale = np.sqrt(2.0 / a) if self.activation == "relu" else np.sqrt(1.0 / a)
            self.weights.append(rng.normal(0.0, scale, (a, b)))
            self.biases.append(np.zeros(b))

    def _forward(self, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        f = _ACT[self.activation][0]
        acts, pre = [X], []
        a = X
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ W + b
            pre.append(z)
            a = _softmax(z) if i == len(self.weights) - 1 else f(z)
            acts.append(a)
        return pre, acts

    def _loss_and_grads(
        self, X: np.ndarray, y: np.ndarray, n_total: int
    ) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
        """Batch loss (mean cross-entropy + scaled L2) and its exact gradients."""
        dfun = _ACT[self.activation][1]
        pre, acts = self._forward(X)
        m = X.shape[0]
        p = acts[-1]
        reg = self.l2 / (2.0 * n_total)
        loss = _cross_entropy(p, y) + reg * sum(float(np.sum(W * W)) for W in self.weights)
        delta = p.copy()
        delta[np.arange(m), y] -= 1.0
        delta /= m  # d loss / d z_L  (softmax + cross-entropy: y_hat - t)
        gW: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        gb: list[np.ndarray] = [np.empty(0)] * len(self.weights)
        for i in range(len(self.weights) - 1, -1, -1):
            gW[i] = acts[i].T @ delta + 2.0 * reg * self.weights[i]
            gb[i] = delta.sum(axis=0)
            if i:
                delta = (delta @ self.weights[i].T) * dfun(pre[i - 1], acts[i])
        return loss, gW, gb

    # ------------------------------------------------------------------------ sklearn API
    def fit(
        self, X: np.ndarray, y: np.ndarray, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None
    ) -> NumpyNet:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64).ravel()
        rng = np.random.default_rng(self.seed)
        n_out = self.n_classes or int(y.max()) + 1
        self.classes_ = np.arange(n_out)
        self._init(X.shape[1], n_out, rng)
        vel_W = [np.zeros_like(W) for W in self.weights]
        vel_b = [np.zeros_like(b) for b in self.biases]
        has_val = X_val is not None and y_val is not None and len(y_val) > 0
        if has_val:
            X_val = np.asarray(X_val, dtype=np.float64)
            y_val = np.asarray(y_val, dtype=np.int64).ravel()
        self.history_: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        best = (np.inf, copy.deepcopy((self.weights, self.biases)), 0)
        since_best = 0
        self.diverged_ = False
        n = X.shape[0]
        for epoch in range(1, self.epochs + 1):
            order = rng.permutation(n)
            for s in range(0, n, self.batch_size):
                idx = order[s : s + self.batch_size]
                _, gW, gb = self._loss_and_grads(X[idx], y[idx], n)
                for i in range(len(self.weights)):
                    vel_W[i] = self.momentum * vel_W[i] - gW[i]
                    vel_b[i] = self.momentum * vel_b[i] - gb[i]
                    self.weights[i] += self.learning_rate * vel_W[i]
                    self.biases[i] += self.learning_rate * vel_b[i]
            p = self.predict_proba(X)
            rec = {"loss": _cross_entropy(p, y), "accuracy": float(np.mean(p.argmax(1) == y))}
            if has_val:
                assert X_val is not None and y_val is not None
                pv = self.predict_proba(X_val)
                rec.update(val_loss=_cross_entropy(pv, y_val), val_accuracy=float(np.mean(pv.argmax(1) == y_val)))
            for k, v in rec.items():
                self.history_[k].append(v)
            if self.progress is not None:
                self.progress(epoch, rec)
            if not all(np.isfinite(W).all() for W in self.weights) or not np.isfinite(rec["loss"]):
                self.diverged_ = True
                break
            watch = rec["val_loss"] if has_val else rec["loss"]
            if watch < best[0]:
                best = (watch, copy.deepcopy((self.weights, self.biases)), epoch)
                since_best = 0
            else:
                since_best += 1
                if has_val and self.early_stop and since_best >= self.early_stop:
                    break
        self.weights, self.biases = best[1]
        self.best_epoch_ = best[2]
        self.n_epochs_ = len(self.history_["loss"])
        if not has_val:
            del self.history_["val_loss"], self.history_["val_accuracy"]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self._forward(np.asarray(X, dtype=np.float64))[1][-1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def score(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == np.asarray(y)))


# ---------------------------------------------------------------------------------- configs


def list_configs() -> list[str]:
    """Names of the shipped configs (``training/configs/*.yaml``)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config(name_or_path: str | Path) -> dict[str, Any]:
    """A config by shipped name ('256-256-relu') or by path to a YAML file."""
    import yaml

    p = Path(name_or_path)
    if not p.suffix:
        p = CONFIG_DIR / f"{name_or_path}.yaml"
    if not p.is_file():
        raise FileNotFoundError(f"no NumPy-net config {name_or_path!r} (shipped: {', '.join(list_configs())})")
    with open(p) as f:
        cfg = yaml.safe_load(f) or {}
    if not isinstance(cfg, dict):
        raise ValueError(f"{p}: a config must be a YAML mapping")
    cfg.setdefault("name", p.stem)
    return cfg
