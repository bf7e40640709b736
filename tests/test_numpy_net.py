"""The NumPy network: exact gradients, learning, early stopping, shipped configs."""

from __future__ import annotations

import numpy as np
import pytest

from gtzan.training.numpy_net import NumpyNet, list_configs, load_config


def _blobs(n: int = 300, k: int = 3, d: int = 5, seed: int = 0, spread: float = 0.6):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 2, (k, d))
    y = rng.integers(0, k, n)
    return centres[y] + rng.normal(0, spread, (n, d)), y


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_backprop_matches_finite_differences(activation):
    X, y = _blobs(12, k=4, d=5, seed=1)
    net = NumpyNet((7, 6), activation, l2=0.3, n_classes=4)
    net._init(5, 4, np.random.default_rng(2))
    # keep ReLU away from its kink so the numerical derivative is defined
    _, gW, gb = net._loss_and_grads(X, y, n_total=40)
    eps = 1e-6
    rng = np.random.default_rng(3)
    for params, grads in ((net.weights, gW), (net.biases, gb)):
        for P, G in zip(params, grads):
            for _ in range(6):
                idx = tuple(rng.integers(0, s) for s in P.shape)
                old = P[idx]
                P[idx] = old + eps
                lp = net._loss_and_grads(X, y, 40)[0]
                P[idx] = old - eps
                lm = net._loss_and_grads(X, y, 40)[0]
                P[idx] = old
                num = (lp - lm) / (2 * eps)
                assert G[idx] == pytest.approx(num, rel=1e-4, abs=1e-7), (activation, idx)


def test_learns_a_toy_problem_and_keeps_best_weights():
    X, y = _blobs(400, k=3, d=4, seed=4)
    net = NumpyNet((32,), "relu", learning_rate=0.1, momentum=0.3, l2=0.01, epochs=40, early_stop=5, seed=0)
    net.fit(X[:300], y[:300], X[300:], y[300:])
    assert net.score(X[300:], y[300:]) > 0.9
    h = net.history_
    assert len(h["loss"]) == len(h["val_loss"]) == net.n_epochs_
    assert h["loss"][-1] < h["loss"][0]
    # the kept weights are those of the epoch with the lowest validation loss
    assert net.best_epoch_ == int(np.argmin(h["val_loss"])) + 1
    p = net.predict_proba(X[300:])
    ce = -np.mean(np.log(p[np.arange(100), y[300:]]))
    assert ce == pytest.approx(min(h["val_loss"]), rel=1e-9)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_early_stopping_stops_after_patience():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.integers(0, 3, 200)  # pure noise: validation loss rises soon
    net = NumpyNet((64,), "relu", learning_rate=0.2, epochs=200, early_stop=5).fit(X[:150], y[:150], X[150:], y[150:])
    assert net.n_epochs_ < 200
    assert net.n_epochs_ - net.best_epoch_ == 5


def test_deterministic_given_seed():
    X, y = _blobs(120, seed=5)
    a = NumpyNet((16,), epochs=3, seed=7).fit(X, y).predict_proba(X)
    b = NumpyNet((16,), epochs=3, seed=7).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)


def test_table2_config_and_table1_rows_ship():
    cfg = load_config("256-256-relu")
    assert cfg["layer_specs"] == [58, 256, 256, 10] and cfg["activation"] == "relu"
    assert (cfg["batch_size"], cfg["early_stop_epoch"], cfg["L2_penalty"], cfg["momentum_gamma"],
            cfg["learning_rate"]) == (16, 5, 0.05, 0.3, 0.2)
    net = NumpyNet.from_config(cfg)
    assert (net.hidden, net.batch_size, net.momentum, net.l2, net.early_stop) == ((256, 256), 16, 0.3, 0.05, 5)
    from gtzan.training.sweep import TABLE1

    assert set(TABLE1) <= set(list_configs()) and len(TABLE1) == 8
    acts = [load_config(n)["activation"] for n in TABLE1]
    assert acts.count("relu") == 4 and acts.count("sigmoid") == 2 and acts.count("tanh") == 2


def test_exposes_layers_for_export():
    X, y = _blobs(60, k=3, d=5)
    net = NumpyNet((8, 4), "tanh", epochs=2, n_classes=10).fit(X, y)
    assert [w.shape for w in net.weights] == [(5, 8), (8, 4), (4, 10)]
    assert [b.shape for b in net.biases] == [(8,), (4,), (10,)]
    assert net.activations == ["tanh", "tanh"]
    z = np.tanh(np.tanh(X @ net.weights[0] + net.biases[0]) @ net.weights[1] + net.biases[1]) @ net.weights[2] + net.biases[2]
    e = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(net.predict_proba(X), e / e.sum(1, keepdims=True), rtol=1e-12)
    assert net.predict_proba(X).shape == (60, 10)


def test_rejects_unknown_activation_and_config():
    with pytest.raises(ValueError):
        NumpyNet((4,), "softplus")
    with pytest.raises(FileNotFoundError):
        load_config("no-such-config")


def test_sweep_runs_configs_and_writes_table_and_plot(tmp_path, capsys):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from gtzan.constants import GENRES
    from gtzan.training.dataset import FeatureTable
    from gtzan.training.splits import make_split
    from gtzan.training.sweep import print_sweep, run_sweep, sweep_markdown

    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (10, 58))
    y = np.repeat(np.arange(10), 12)
    tracks = np.array([f"{GENRES[g]}.{i // 3:05d}" for g, i in zip(y, np.tile(np.arange(12), 10))])
    names = np.array([f"{t}.{i % 3}.wav" for t, i in zip(tracks, np.tile(np.arange(12), 10))])
    table = FeatureTable(centres[y] + rng.normal(0, 1, (120, 58)), y, names, tracks)
    split = make_split(table, "track", seed=0, data_dir=tmp_path)
    sweep = run_sweep(table, split, ("128-relu", "128-tanh"), epochs=3, progress=False)
    assert [r["config"] for r in sweep["rows"]] == ["128-relu", "128-tanh"]
    assert all(r["epochs"] <= 3 and 0 <= r["accuracy"] <= 1 for r in sweep["rows"])
    assert sweep["rows"][0]["report_accuracy"] == pytest.approx(0.8571428571428571)
    print_sweep(sweep)
    assert "58-128-10" in capsys.readouterr().out
    md = sweep_markdown(sweep, tmp_path)
    assert (tmp_path / "sweep.png").stat().st_size > 1000 and any("85.71%" in line for line in md)
