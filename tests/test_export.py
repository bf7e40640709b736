"""ONNX export parity, verification failures, atomic bundle writes and the gtzan-export command."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("onnx")
pytest.importorskip("sklearn")
pytest.importorskip("skl2onnx")

from gtzan.bundle import BundleError, load_bundle  # noqa: E402
from gtzan.constants import GENRES  # noqa: E402
from gtzan.features import FEATURE_NAMES  # noqa: E402

N_F, N_K = len(FEATURE_NAMES), len(GENRES)


# --------------------------------------------------------------------------- a small synthetic table

@pytest.fixture(scope="module")
def table():
    """300 rows in 10 overlapping clusters, with feature scales like the real table (1 .. 1e6)."""
    rng = np.random.default_rng(0)
    n = 300
    y = np.arange(n) % N_K
    centres = rng.normal(size=(N_K, N_F))
    X = centres[y] * 0.8 + rng.normal(size=(n, N_F))
    scales = 10.0 ** rng.integers(-3, 6, size=N_F)
    X = X * scales + scales * 3
    X[:, 0] = 66149
    return X, y


@pytest.fixture(scope="module")
def scaler(table):
    """What training puts in front of networks and KNN: the variances on a log scale, then standardised."""
    from gtzan.training.scaling import LogVarianceScaler

    return LogVarianceScaler().fit(table[0][:200])


@pytest.fixture(scope="module")
def standard_scaler(table):
    """What bundles made before the log scale carry."""
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit(table[0][:200])


def _member(name, kind, model, scaler, pp):
    return SimpleNamespace(name=name, kind=kind, model=model, scaler=scaler, predict_proba=pp)


def _check_parity(member, X):
    from gtzan.export.members import export_member
    from gtzan.export.verify import run_onnx

    em = export_member(member, 1, X[200:])
    assert em.parity["label_agreement"] >= 0.999 and em.parity["max_abs_prob_diff"] <= 1e-4
    # checked independently of the exporter's own verification
    p = run_onnx(em.onnx_bytes, X[200:])
    ref = member.predict_proba(X[200:])
    assert p.shape == (100, N_K) and p.dtype == np.float32
    assert np.mean(p.argmax(1) == ref.argmax(1)) >= 0.999
    assert np.max(np.abs(p - ref)) <= 1e-4
    return em


# --------------------------------------------------------------------------- parity per member kind

def test_parity_knn_with_scaler(table, scaler):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = table
    knn = KNeighborsClassifier(5).fit(scaler.transform(X[:200]), y[:200])
    em = _check_parity(_member("knn", "knn", knn, scaler, lambda x: knn.predict_proba(scaler.transform(x))), X)
    assert em.scaler_in_graph


def test_parity_knn_with_a_plain_standard_scaler(table, standard_scaler):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = table
    sc = standard_scaler
    knn = KNeighborsClassifier(5).fit(sc.transform(X[:200]), y[:200])
    _check_parity(_member("knn", "knn", knn, sc, lambda x: knn.predict_proba(sc.transform(x))), X)


def test_the_graphs_log_scale_is_the_scalers(table, scaler):
    """The logged columns matter: a graph given a plain standardisation of the same rows disagrees."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.preprocessing import StandardScaler

    from gtzan.export.onnx_members import knn_to_onnx
    from gtzan.export.verify import run_onnx

    X, y = table
    assert scaler.log_columns_.sum() == sum(n.endswith("_var") for n in FEATURE_NAMES)
    knn = KNeighborsClassifier(1).fit(scaler.transform(X[:200]), y[:200])
    graph = knn_to_onnx(knn, scaler).SerializeToString()
    np.testing.assert_array_equal(run_onnx(graph, X[200:]).argmax(1), knn.predict(scaler.transform(X[200:])))
    plain = StandardScaler().fit(X[:200])
    assert np.mean(knn.predict(plain.transform(X[200:])) != run_onnx(graph, X[200:]).argmax(1)) > 0.05


def test_a_model_that_hangs_on_float32_rounding_is_refused(table, scaler):
    """A scaler dividing a near-constant column by its ~1e-17 spread passes graph-vs-original parity (both
    see float32 rows) but is wrong in the listener; the export refuses it."""
    import copy

    from sklearn.neighbors import KNeighborsClassifier

    from gtzan.export.errors import ExportError
    from gtzan.export.members import export_member

    X, y = table
    X = X.copy()
    X[:, 1] = 0.1 + np.random.default_rng(0).normal(size=len(X)) * 1e-17  # constant up to rounding
    bad = copy.deepcopy(scaler).fit(X[:200])
    bad.scale_[1] = 1e-17
    knn = KNeighborsClassifier(5).fit(bad.transform(X[:200]), y[:200])
    member = _member("knn", "knn", knn, bad, lambda x: knn.predict_proba(bad.transform(x)))
    with pytest.raises(ExportError, match="float32"):
        export_member(member, 1, X[200:])


def test_parity_svm_with_scaler(table, scaler):
    import warnings

    from sklearn.svm import SVC

    X, y = table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # probability=True: deprecated in scikit-learn 1.9
        svm = SVC(C=3.0, probability=True, random_state=0).fit(scaler.transform(X[:200]), y[:200])
    em = _check_parity(_member("svm", "svm", svm, scaler, lambda x: svm.predict_proba(scaler.transform(x))), X)
    assert em.scaler_in_graph and em.parity["max_abs_prob_diff"] > 0  # float32 kernels: close, not equal


def test_parity_random_forest_raw_features(table):
    from sklearn.ensemble import RandomForestClassifier

    X, y = table
    rf = RandomForestClassifier(30, max_depth=8, random_state=0, n_jobs=1).fit(X[:200], y[:200])
    em = _check_parity(_member("rf", "rf", rf, None, rf.predict_proba), X)
    assert not em.scaler_in_graph


def test_parity_xgboost(table):
    xgboost = pytest.importorskip("xgboost")
    pytest.importorskip("onnxmltools")
    X, y = table
    xg = xgboost.XGBClassifier(n_estimators=20, max_depth=3, n_jobs=1).fit(X[:200], y[:200])
    _check_parity(_member("xgb", "xgboost", xg, None, xg.predict_proba), X)


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_parity_numpy_style_mlp(table, scaler):
    from sklearn.neural_network import MLPClassifier

    X, y = table
    mlp = MLPClassifier((32,), max_iter=50, random_state=0).fit(scaler.transform(X[:200]), y[:200])
    net = SimpleNamespace(weights=mlp.coefs_, biases=mlp.intercepts_, activations=["relu", "softmax"])
    _check_parity(_member("numpy_net", "numpy", net, scaler, lambda x: mlp.predict_proba(scaler.transform(x))), X)


def test_parity_keras_and_int8(table, scaler):
    pytest.importorskip("tf2onnx")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    keras = pytest.importorskip("keras")
    from gtzan.export.members import export_member

    X, y = table
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((N_F,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dropout(0.5), keras.layers.Dense(N_K, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(scaler.transform(X[:200]).astype("float32"), y[:200], epochs=3, verbose=0)

    def pp(x):
        return m.predict(scaler.transform(x).astype("float32"), verbose=0)

    _check_parity(_member("keras1", "keras", m, scaler, pp), X)
    em = export_member(_member("keras1", "keras", m, scaler, pp), 2, X[200:], quantize=True)
    if em.quantized:
        q = em.extra["quantization"]
        assert q["vs_float32"]["label_agreement"] >= 0.995
        assert q["bytes"] == len(em.onnx_bytes) < em.extra["float32_bytes"] / 1.9
        assert em.extra["weights_dtype"] in ("int8", "float16")
    else:  # both compressions were rejected and the float32 graph kept, with the reasons
        assert len(em.extra["quantization_rejected"]) == 2


def test_compressed_weights_follow_float32(table):
    from gtzan.export.onnx_members import mlp_to_onnx
    from gtzan.export.verify import compare, compress_weights, run_onnx

    X, _ = table
    rng = np.random.default_rng(1)
    ws = [rng.normal(0, 0.1, (N_F, 256)), rng.normal(0, 0.1, (256, N_K))]
    bs = [rng.normal(0, 0.1, 256), np.zeros(N_K)]
    f32 = mlp_to_onnx(ws, bs, ["relu"]).SerializeToString()
    sd = X.std(0)
    x = (X - X.mean(0)) / np.where(sd > 0, sd, 1.0)
    ref = run_onnx(f32, x)
    for method, ratio in (("int8", 3.0), ("float16", 1.8)):
        q = compress_weights(f32, method)
        assert len(q) < len(f32) / ratio
        par = compare(ref, run_onnx(q, x), "f32")
        assert par.label_agreement >= 0.99 and par.max_abs_prob_diff < 0.02


# --------------------------------------------------------------------------- failures write nothing

def test_verification_failure_raises(table):
    from sklearn.ensemble import RandomForestClassifier

    from gtzan.export.errors import ExportError
    from gtzan.export.members import export_member

    X, y = table
    rf = RandomForestClassifier(10, max_depth=4, random_state=0).fit(X[:200], y[:200])
    wrong = _member("rf", "rf", rf, None, lambda x: rf.predict_proba(x)[:, ::-1])  # not what the model computes
    with pytest.raises(ExportError, match="failed verification") as ei:
        export_member(wrong, 1, X[200:])
    assert "\n" not in str(ei.value)


def _tiny_members(table, weight=1):
    from sklearn.ensemble import RandomForestClassifier

    from gtzan.export.members import export_member

    X, y = table
    rf = RandomForestClassifier(5, max_depth=3, random_state=0).fit(X[:200], y[:200])
    return [export_member(_member("rf", "rf", rf, None, rf.predict_proba), weight, X[200:])]


def test_write_bundle_roundtrip_and_atomic_replace(table, tmp_path: Path):
    from gtzan.export.bundle_writer import write_bundle

    out = tmp_path / "bundle"
    members = _tiny_members(table)
    write_bundle(out, members, {"note": "first"}, {"REPORT.md": b"# r\n", "report/a.png": b"\x89PNG"})
    b1 = load_bundle(out)
    assert b1.manifest.records["note"] == "first" and (out / "report" / "a.png").is_file()
    assert set(b1.manifest.files) == {"rf.onnx", "REPORT.md", "report/a.png"}
    write_bundle(out, members, {"note": "second"})
    assert load_bundle(write_bundle(tmp_path / "deep" / "er" / "b", members, {})).manifest.files
    shutil.rmtree(tmp_path / "deep")
    assert load_bundle(out).manifest.records["note"] == "second"
    assert not (out / "REPORT.md").exists()  # the old folder was replaced, not merged
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]  # no temp or old folders left


def test_failed_write_keeps_old_bundle(table, tmp_path: Path):
    from gtzan.export.bundle_writer import write_bundle
    from gtzan.export.errors import ExportError

    out = tmp_path / "bundle"
    members = _tiny_members(table)
    write_bundle(out, members, {"note": "good"})
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    broken = _tiny_members(table)
    broken[0].onnx_bytes = broken[0].onnx_bytes[:100]  # cannot be loaded by onnxruntime
    with pytest.raises(ExportError, match="does not load"):
        write_bundle(out, broken, {"note": "bad"})
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]
    with pytest.raises(ExportError, match="nothing would vote|all blend weights"):
        write_bundle(tmp_path / "zero", _tiny_members(table, weight=0), {})
    assert not (tmp_path / "zero").exists()


def test_refuses_to_replace_a_non_bundle_folder(table, tmp_path: Path):
    from gtzan.export.bundle_writer import write_bundle
    from gtzan.export.errors import ExportError

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ExportError, match="refusing to replace"):
        write_bundle(tmp_path, _tiny_members(table), {})
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_loader_rejects_tampered_written_bundle(table, tmp_path: Path):
    from gtzan.export.bundle_writer import write_bundle

    out = write_bundle(tmp_path / "b", _tiny_members(table), {}, {"REPORT.md": b"# r\n"})
    (out / "REPORT.md").write_text("# changed\n")
    with pytest.raises(BundleError, match="REPORT.md is corrupt"):
        load_bundle(out)
    man = json.loads((out / "manifest.json").read_text())
    assert man["members"][0]["input"]["shape"] == [None, N_F]
    shutil.rmtree(out)


# --------------------------------------------------------------------------- the command line

def _run_cli(args: list[str]):
    from click.testing import CliRunner

    from gtzan.export.cli import main

    return CliRunner().invoke(main, args, catch_exceptions=False)


def _assert_one_line_error(res, pattern: str) -> None:
    assert res.exit_code != 0
    err = res.stderr.strip()
    assert "Traceback" not in res.output and "Traceback" not in err
    lines = err.splitlines()
    assert sum("error" in ln for ln in lines) == 1, err
    assert lines[-1].startswith("gtzan-export: error:") and pattern in lines[-1], err


def test_cli_bad_audio_dir(tmp_path: Path):
    res = _run_cli(["--audio-dir", str(tmp_path / "missing"), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "audio folder not found")
    assert not (tmp_path / "b").exists()


def test_cli_bad_csv(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("filename,a,b\nx.wav,1,2\n")
    res = _run_cli(["--features", str(bad), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "bad.csv")
    assert not (tmp_path / "b").exists()


def test_cli_missing_context_csv(tmp_path: Path):
    good = tmp_path / "good.csv"
    good.write_text(",".join(["filename", *FEATURE_NAMES, "label"]) + "\n")
    res = _run_cli(["--features", str(good), "--context-features", str(tmp_path / "no30.csv"), "--out",
                    str(tmp_path / "b")])
    _assert_one_line_error(res, "30-second features CSV not found")
    assert not (tmp_path / "b").exists()


def test_cli_bad_keras_hidden(tmp_path: Path):
    good = tmp_path / "good.csv"
    good.write_text(",".join(["filename", *FEATURE_NAMES, "label"]) + "\n")
    res = _run_cli(["--features", str(good), "--keras-hidden", "512,wide", "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "--keras-hidden")
    assert not (tmp_path / "b").exists()


def test_cli_empty_csv(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(["filename", *FEATURE_NAMES, "label"]) + "\n")
    res = _run_cli(["--features", str(empty), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "empty")
    assert not (tmp_path / "b").exists()


def test_cli_missing_csv_and_both_inputs(tmp_path: Path):
    res = _run_cli(["--features", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "not found")
    res = _run_cli(["--features", str(tmp_path / "nope.csv"), "--audio-dir", str(tmp_path), "--out",
                    str(tmp_path / "b")])
    _assert_one_line_error(res, "not found")
    good = tmp_path / "good.csv"  # both inputs are taken together: a readable CSV and an audio folder with no audio
    good.write_text(",".join(["filename", *FEATURE_NAMES, "label"]) + "\n" + "".join(
        ",".join([f"{g}.00000.0.wav", *["1.0"] * len(FEATURE_NAMES), g]) + "\n" for g in GENRES))
    (tmp_path / "noaudio").mkdir()
    res = _run_cli(["--features", str(good), "--audio-dir", str(tmp_path / "noaudio"), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "no audio")
    assert not (tmp_path / "b").exists()


def _link_tracks(gtzan_audio: Path, audio: Path, n: int) -> Path:
    """A GTZAN-layout folder of links to the first ``n`` tracks of every genre (skips if there are fewer)."""
    for g in GENRES:
        tracks = sorted((gtzan_audio / g).glob(f"{g}.*"))[:n]
        if len(tracks) < n:
            pytest.skip(f"fewer than {n} {g} tracks in {gtzan_audio}")
        (audio / g).mkdir(parents=True)
        for t in tracks:
            (audio / g / t.name).symlink_to(t)
    return audio


@pytest.mark.gtzan
@pytest.mark.slow
def test_cli_end_to_end_quick_then_failed_rerun_keeps_bundle(gtzan_audio: Path, tmp_path: Path, monkeypatch):
    """gtzan-export --quick on two real tracks per genre; then a rerun that fails verification changes nothing."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("xgboost")
    audio = _link_tracks(gtzan_audio, tmp_path / "audio", 2)
    from gtzan.training import orchestrate

    fitted = []
    real_fit = orchestrate.cross_fit

    def fit_once(*a, **kw):  # the rerun below reuses the models: only the export step is under test there
        if not fitted:
            fitted.append(real_fit(*a, **kw))
        return fitted[0]

    monkeypatch.setattr(orchestrate, "cross_fit", fit_once)
    out = tmp_path / "bundle"
    cache = tmp_path / "cache"  # features computed here with the current feature code
    args = ["--audio-dir", str(audio), "--out", str(out), "--quick", "--protocol", "paper", "--folds", "3",
            "--seed", "1", "--cache-dir", str(cache)]
    res = _run_cli(args)
    assert res.exit_code == 0, res.stderr[-2000:]
    b = load_bundle(out)
    man = b.manifest.to_json()
    assert man["provisional"] and man["quick"] and man["data"]["n_tracks"] == 20
    assert man["data"]["audio_fingerprint"] and man["metrics"]["protocol"] == "paper"
    assert man["metrics"]["held_out"] == "out-of-fold" and man["metrics"]["n_folds"] == 3
    assert man["data"]["median_length_samples"] == 66149
    assert man["training"]["fold_refit"] is True  # the default: each fold's members refitted on all its rows
    scores = man["metrics"]["scores"]["ours"]
    assert scores["blend"]["rows"] == 200 and {"keras1", "rf", "blend_nested", "blend_vote"} <= set(scores)
    assert len(scores["per_fold"]["blend"]) == 3
    used = {k for k, w in man["blend"]["weights"].items() if w > 0}
    assert {m.name for m in b.members} == used and not b.idle_members  # only the members the blend uses ship
    assert used | set(man["blend"]["not_shipped"]) == {"keras1", "keras2", "keras3", "xgb", "knn", "rf", "svm", "numpy_net"}
    assert all(m["weight"] > 0 for m in man["members"])
    for m in man["members"]:
        assert m["parity"]["label_agreement"] >= 0.999 and m["parity"]["max_abs_prob_diff"] <= 1e-4
    assert (out / "REPORT.md").is_file() and "report/report.md" in man["files"]
    assert "report/reliability_paper.png" in man["files"]
    assert set(man["blend"]) >= {"weights", "rule", "calibration", "uncertain_below", "searched"}
    assert man["blend"]["rule"] == b.rule and man["blend"]["calibration"]["temperature"] == b.temperature > 0
    pred = b.predict(np.ones((3, N_F)))
    assert pred.labels.shape == (3,)

    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    from gtzan.export import verify

    monkeypatch.setattr(verify, "MAX_PROB_DIFF", -1.0)  # no export can pass: verification must fail
    res = _run_cli(args)
    _assert_one_line_error(res, "failed verification")
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "bundle", "cache"]


def test_cli_refuses_non_bundle_out_before_any_work(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    res = _run_cli(["--audio-dir", str(tmp_path / "missing"), "--out", str(tmp_path)])
    _assert_one_line_error(res, "refusing to replace")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_compare_excuses_only_numerical_ties():
    from gtzan.export.verify import compare

    ref = np.array([[0.50004, 0.49996] + [0.0] * 8, [0.9, 0.1] + [0.0] * 8])
    new = np.array([[0.49999, 0.50001] + [0.0] * 8, [0.9, 0.1] + [0.0] * 8])  # tie row flips
    par = compare(ref, new, "t")
    assert par.raw_label_agreement == 0.5 and par.near_tie_flips == 1 and par.label_agreement == 1.0
    new2 = np.array([[0.5, 0.5] + [0.0] * 8, [0.1, 0.9] + [0.0] * 8])  # a real flip
    par2 = compare(ref, new2, "t")
    assert par2.label_agreement == 0.5 and par2.max_abs_prob_diff == pytest.approx(0.8)


def test_cli_ctrl_c_exits_130_and_writes_nothing(tmp_path: Path, monkeypatch):
    from gtzan.export import build

    def interrupted(cfg, console=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "run_export", interrupted)
    res = _run_cli(["--features", str(tmp_path / "x.csv"), "--out", str(tmp_path / "b")])
    assert res.exit_code == 130
    _assert_one_line_error(res, "interrupted; nothing was written")
    assert not (tmp_path / "b").exists()


def test_cli_native_library_lines_go_to_a_log_not_the_terminal(tmp_path: Path, monkeypatch, capfd):
    """TensorFlow's absl/oneDNN lines are written by C++ to file descriptor 2: they must not reach the terminal."""
    import os

    from gtzan.export import build
    from gtzan.export.errors import ExportError

    seen = {}

    def noisy(cfg, console=None):
        os.write(2, b"I0000 00:00 port.cc:153] oneDNN custom operations are on\n")
        seen["log"] = cfg.native_log
        seen["text"] = Path(cfg.native_log).read_text()
        raise ExportError("stopped")

    monkeypatch.setattr(build, "run_export", noisy)
    res = _run_cli(["--features", str(tmp_path / "x.csv"), "--out", str(tmp_path / "b")])
    _assert_one_line_error(res, "stopped")
    assert "oneDNN" in seen["text"] and str(seen["log"]) in res.stderr  # the error names the log
    assert "oneDNN" not in capfd.readouterr().err
    Path(seen["log"]).unlink()


def test_every_member_kind_has_one_converter():
    from gtzan.export.errors import ExportError
    from gtzan.export.onnx_members import TO_ONNX, member_to_onnx
    from gtzan.training.members import KINDS, MEMBERS

    assert set(TO_ONNX) == set(KINDS) == {m.kind for m in MEMBERS}
    with pytest.raises(ExportError, match="member kind 'sklearn'"):
        member_to_onnx("sklearn", object())


@pytest.mark.gtzan
@pytest.mark.slow
def test_cli_augmented_bundle_holds_out_a_fold_and_records_its_rows(gtzan_audio: Path, tmp_path: Path):
    """--augment gain/degraded add training rows by source; --hold-out-fold leaves a fold's tracks out of all."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("xgboost")
    audio = _link_tracks(gtzan_audio, tmp_path / "audio", 3)
    out = tmp_path / "bundle"
    res = _run_cli(["--audio-dir", str(audio), "--out", str(out), "--quick", "--folds", "2", "--cache-dir",
                    str(tmp_path / "cache"), "--protocol", "paper", "--augment", "gain", "--augment", "degraded",
                    "--augment-copies", "1", "--augment-weight", "0.5",
                    "--hold-out-fold", "0", "--no-fold-refit"])
    assert res.exit_code == 0, res.stderr[-2000:]
    man = load_bundle(out).manifest.to_json()
    data = man["data"]
    held = set(data["held_out_tracks"])
    assert 3 <= len(held) <= 9 and not held & set(data["tracks"]) and len(held) + data["n_tracks"] == 30
    rows = data["rows_by_source"]
    assert set(rows) == {"ours", "gain", "degraded"} and rows["gain"] == rows["ours"] == rows["degraded"]
    assert data["trained_on"] == ["degraded", "gain", "ours"]
    assert data["augmented"]["degraded"]["copies"] == 1 and data["augmented"]["gain"]["rows"] == rows["gain"]
    assert data["augment_weight"] == 0.5
    assert man["training"]["fold_refit"] is False
    scores = man["metrics"]["scores"]
    assert {"ours", "gain", "degraded"} <= set(scores)  # out-of-fold scores on the augmented rows too


def _context_run(tmp_path: Path, informative: bool):
    """A quick export of a table whose windows say little about the genre, with 30 s rows that say it
    plainly (``informative``) or say nothing."""
    from gtzan.training.dataset import FeatureTable
    from tests.helpers import write_tables

    rng = np.random.default_rng(7)
    rows, names, tracks, labels = [], [], [], []
    for g in range(len(GENRES)):
        for t in range(6):
            for w in range(3):
                rows.append(rng.normal(0, 1, len(FEATURE_NAMES)) + 0.05 * g)
                names.append(f"{GENRES[g]}.{t:05d}.{w}.wav")
                tracks.append(f"{GENRES[g]}.{t:05d}")
                labels.append(g)
    table = FeatureTable(np.array(rows), np.array(labels), np.array(names), np.array(tracks))
    table.X[:, 0] = 66149
    csv, ctx_csv, means = write_tables(table, tmp_path)
    if informative:
        means[:, 1] = 3.0 * table.y[np.unique(table.tracks, return_index=True)[1]]
    else:
        means[:, 1:] = rng.normal(0, 1, means[:, 1:].shape)
    t_names, first = np.unique(table.tracks, return_index=True)
    FeatureTable(means, table.y[first], np.array([f"{t}.wav" for t in t_names]), t_names).to_csv(ctx_csv)
    out = tmp_path / "bundle"
    res = _run_cli(["--features", str(csv), "--context-features", str(ctx_csv), "--protocol", "track", "--folds",
                    "2", "--quick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, means, json.loads((out / "manifest.json").read_text())


def test_cli_ships_the_30_second_context_model_with_its_share(tmp_path: Path):
    """--context-features: a context model that reads tracks better goes into the bundle as context.onnx,
    checked against the fitted model, with the share its out-of-fold comparison chose."""
    from gtzan.context import with_context_length

    out, means, man = _context_run(tmp_path, informative=True)
    c = man["context"]
    assert c["file"] == "context.onnx" and c["file"] in man["files"] and c["share"] > 0
    m = c["measured"]["accuracy"]
    assert m["combined"] > m["averaged"] and len(c["measured"]["shares"]) == 2
    assert c["parity"]["label_agreement"] == 1.0
    b = load_bundle(out)
    assert b.context_share == c["share"]
    p = b.predict_context(with_context_length(means[:4]))
    assert p.shape == (4, len(GENRES)) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_cli_leaves_out_a_context_model_that_does_not_help(tmp_path: Path):
    out, _, man = _context_run(tmp_path, informative=False)
    m = man["metrics"]["context_model"]["accuracy"]
    assert "context" not in man and not (out / "context.onnx").exists()
    assert not list(out.rglob("*.npz"))  # the out-of-fold probabilities stay out of the bundle
    assert not m["combined"] > m["averaged"] and load_bundle(out).context_share is None
