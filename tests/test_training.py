"""The training pipeline in quick mode on a small synthetic table, evaluation, report and CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.training.dataset import FeatureTable

pytest.importorskip("sklearn")
pytest.importorskip("xgboost")
pytest.importorskip("tensorflow")
pytestmark = pytest.mark.train


def _table(tracks: int = 5, windows: int = 4, seed: int = 0) -> FeatureTable:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, (10, 58)) * np.linspace(1, 1000, 58)  # features on very different scales
    X, y, names, trk = [], [], [], []
    for g in range(10):
        for t in range(tracks):
            track_shift = rng.normal(0, 0.3, 58) * np.linspace(1, 1000, 58)
            for w in range(windows):
                X.append(centres[g] + track_shift + rng.normal(0, 0.5, 58) * np.linspace(1, 1000, 58))
                y.append(g)
                names.append(f"{GENRES[g]}.{t:05d}.{w}.wav")
                trk.append(f"{GENRES[g]}.{t:05d}")
    return FeatureTable(np.array(X), np.array(y), np.array(names), np.array(trk))


@pytest.fixture(scope="module")
def trained():
    from gtzan.training.pipeline import train_members
    from gtzan.training.splits import make_split

    table = _table()
    split = make_split(table, "track", seed=0, data_dir=None)
    return table, train_members(table, split, quick=True, seed=0, progress=False)


def test_all_members_predict_ten_probabilities_from_raw_features(trained):
    table, tm = trained
    from gtzan.training.members import MEMBER_NAMES

    assert [m.name for m in tm.members] == list(MEMBER_NAMES)
    kinds = {m.name: m.kind for m in tm.members}
    assert kinds == {"keras1": "keras", "keras2": "keras", "keras3": "keras", "xgb": "xgboost",
                     "knn": "knn", "rf": "rf", "svm": "svm", "numpy_net": "numpy"}
    for m in tm.members:
        p = m.predict_proba(table.X[:7])
        assert p.shape == (7, 10) and p.dtype == np.float64
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
        # trees take raw features, networks, KNN and the SVM a scaler fitted on the training rows only
        assert (m.scaler is None) == (m.name in ("xgb", "rf"))
    sc = tm.member("knn").scaler
    var = np.array([n.endswith("_var") for n in FEATURE_NAMES])
    Xtr = table.X[tm.split.train]
    np.testing.assert_allclose(sc.mean_, np.where(var, np.log(np.maximum(Xtr, 0) + 1e-10), Xtr).mean(axis=0))
    for name in ("keras1", "numpy_net"):
        h = tm.member(name).history
        assert len(h["loss"]) == len(h["val_accuracy"]) >= 1
    # the easy synthetic genres are learnt even in quick mode
    for name in ("xgb", "knn", "rf", "svm", "numpy_net"):
        acc = np.mean(tm.member(name).predict_proba(table.X[tm.split.test]).argmax(1) == table.y[tm.split.test])
        assert acc > 0.6, name


def test_blend_rule_and_weights_are_chosen_on_validation(trained):
    table, tm = trained
    from gtzan.blend import predict
    from gtzan.training.members import REPORT_BLEND as BLEND_MEMBERS

    # the single-split protocols tune the report's six, as the report did
    assert set(tm.weights) == set(BLEND_MEMBERS) == set(tm.weights_test_tuned)
    assert all(isinstance(v, int) and 0 <= v for v in tm.weights.values()) and any(tm.weights.values())
    val = tm.split.val
    probs = np.stack([tm.member(n).predict_proba(table.X[val]) for n in BLEND_MEMBERS])
    ch = tm.choice
    for rule in ("vote", "mean"):  # each rule's weights score what the search says, on validation
        acc = np.mean(predict(probs, [ch.searched[rule][n] for n in BLEND_MEMBERS], rule) == table.y[val])
        assert acc == pytest.approx(ch.oof_accuracy[rule])
    # the better rule is kept (the mean on a tie), as in the cross-validated protocols
    assert ch.rule == max(("vote", "mean"), key=lambda r: (ch.oof_accuracy[r], r == "mean"))
    assert tm.weights == ch.searched[ch.rule] and tm.blend_val_accuracy == ch.oof_accuracy[ch.rule]
    test = tm.split.test
    tprobs = np.stack([tm.member(n).predict_proba(table.X[test]) for n in BLEND_MEMBERS])
    np.testing.assert_array_equal(tm.blend_predict(table.X[test]),
                                  predict(tprobs, [tm.weights[n] for n in BLEND_MEMBERS], ch.rule))
    assert tm.blend_test_tuned_accuracy >= np.mean(predict(tprobs, [ch.searched["vote"][n] for n in BLEND_MEMBERS],
                                                           "vote") == table.y[test])


def test_evaluate_and_report(trained, tmp_path):
    table, tm = trained
    from gtzan.training.evaluate import evaluate
    from gtzan.training.report import write_report

    res = evaluate(tm, table)
    t = res["scores"]["test"]
    assert set(t) >= {"keras1", "xgb", "knn", "rf", "svm", "numpy_net", "blend", "blend_vote", "blend_mean",
                      "blend_test_tuned"}
    assert t["blend"] == t[f"blend_{tm.choice.rule}"]
    b = t["blend"]
    cm = np.array(b["confusion"])
    assert cm.sum() == tm.split.test.size and np.trace(cm) / cm.sum() == pytest.approx(b["accuracy"])
    assert b["tracks"] == len(set(table.tracks[tm.split.test])) and 0 <= b["track_accuracy"] <= 1
    md = write_report(res, tmp_path, dataset={"source": "synthetic", "rows": len(table), "tracks": 50})
    text = md.read_text()
    assert "87.74%" in text and "Protocol `track`" in text
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["runs"][0]["weights"] == tm.weights
    assert (tmp_path / "curves_track.png").stat().st_size > 1000
    assert (tmp_path / "confusion_track_blend.png").is_file()


def test_track_vote_breaks_ties_by_probability():
    from gtzan.training.evaluate import track_votes

    tracks = np.array(["a", "a", "b", "b", "b"])
    pred = np.array([1, 2, 0, 0, 3])
    probs = np.zeros((5, 4))
    probs[0, 1], probs[1, 2] = 0.5, 0.9
    names, tp, _ = track_votes(tracks, pred, probs)
    assert names.tolist() == ["a", "b"] and tp.tolist() == [2, 0]


def test_track_accuracy_reads_a_track_by_its_mean_probability_as_the_listener_does():
    from gtzan.training.evaluate import score_predictions, track_means

    tracks = np.array(["a", "a", "a", "b", "b"])
    probs = np.array([[0.5, 0.4, 0.1], [0.5, 0.4, 0.1], [0.05, 0.95, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    pred = probs.argmax(axis=1)
    names, tp, first = track_means(tracks, probs)
    assert names.tolist() == ["a", "b"] and tp.tolist() == [1, 1] and first.tolist() == [0, 3]
    s = score_predictions(np.array([1, 1, 1, 1, 1]), pred, probs, tracks)
    assert s["track_accuracy"] == 1.0 and s["track_accuracy_majority"] == 0.5  # "a": two windows say 0


def test_cli_measures_a_30_second_context_model_in_the_same_folds(tmp_path):
    from click.testing import CliRunner

    from gtzan.training.cli import main
    from tests.helpers import write_tables

    table = _table(tracks=5, windows=3, seed=4)
    csv, ctx_csv, _ = write_tables(table, tmp_path)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["--features", str(csv), "--context-features", str(ctx_csv), "--protocol",
                                  "track", "--folds", "3", "--out", str(out), "--quick", "--no-numpy"])
    assert r.exit_code == 0, r.output
    assert "The 30-second context model" in (out / "report.md").read_text()
    c = json.loads((out / "report.json").read_text())["cross_validated"][0]["evaluation"]["context"]
    assert c["tracks"] == 50 and c["tracks_without_context_row"] == 0 and len(c["shares"]) == 3
    assert set(c["accuracy"]) == {"averaged", "context", "combined"}
    assert all(0 <= a <= 1 for a in c["accuracy"].values())
    oof = np.load(out / "oof_track.npz")  # what later comparisons of track rules start from
    assert oof["tracks"].tolist() == table.tracks.tolist() and oof["y"].tolist() == table.y.tolist()
    assert oof["member_probs"].shape == (len(oof["members"]), len(table), 10)
    assert oof["nested_probs"].shape == (len(table), 10) and set(oof["folds"].tolist()) == {0, 1, 2}


@pytest.mark.slow
def test_cli_quick_run_reproduces_the_pipeline(trained, tmp_path):
    """Same table and seed through CSV and the command line: the seeded members give the same scores."""
    from click.testing import CliRunner

    from gtzan.training.cli import main
    from gtzan.training.evaluate import evaluate
    from gtzan.training.pipeline import train_members
    from gtzan.training.splits import make_split

    table, _ = trained
    csv = tmp_path / "features.csv"
    table.to_csv(csv)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["--features", str(csv), "--protocol", "paper", "--out", str(out), "--quick"])
    assert r.exit_code == 0, r.output
    assert "Protocol `paper`" in (out / "report.md").read_text()
    cli = json.loads((out / "report.json").read_text())["runs"][0]["scores"]["test"]
    tm = train_members(table, make_split(table, "paper", seed=0, data_dir=None), quick=True, seed=0, progress=False)
    ref = evaluate(tm, table, parts=("test",))["scores"]["test"]
    for name in ("xgb", "knn", "rf", "numpy_net"):
        assert cli[name]["log_loss"] == ref[name]["log_loss"], name
        assert cli[name]["confusion"] == ref[name]["confusion"], name


def test_single_split_blend_searches_the_named_members(trained):
    """--blend-members reaches the single-split protocols: weights only for the named members, and the
    blend row scores their blend alone."""
    from gtzan.blend import predict
    from gtzan.training.evaluate import evaluate
    from gtzan.training.members import REPORT_BLEND
    from gtzan.training.pipeline import train_members

    table, tm = trained
    assert tm.blend_members == REPORT_BLEND and tuple(tm.weights) == REPORT_BLEND
    two = train_members(table, tm.split, quick=True, seed=0, progress=False, include_numpy=False,
                        blend_members=("svm", "xgb"))
    assert two.blend_members == ("xgb", "svm")
    assert tuple(two.weights) == tuple(two.weights_test_tuned) == ("xgb", "svm")
    res = evaluate(two, table, parts=("test",))
    assert res["blend_members"] == ["xgb", "svm"]
    test = tm.split.parts()["test"]
    probs = np.stack([two.member(n).predict_proba(table.X[test]) for n in ("xgb", "svm")])
    labels = predict(probs, [two.weights["xgb"], two.weights["svm"]], two.choice.rule)
    assert res["scores"]["test"]["blend"]["accuracy"] == pytest.approx(np.mean(labels == table.y[test]))


def test_row_weights_reach_every_member_that_takes_them(monkeypatch):
    """fit_members passes each training row's weight to the networks, XGBoost, the forest and the SVM."""
    import sklearn.ensemble
    import sklearn.svm
    import xgboost

    from gtzan.training import keras_net
    from gtzan.training.members import fit_members

    table = _table(tracks=3, windows=3)
    seen: dict[str, list] = {}

    keras_seen: list = []
    xgb_seen: list = []

    def spy(name, fit):
        def wrapped(*a, **k):
            seen.setdefault(name, []).append(k.get("sample_weight"))
            if name == "keras":
                keras_seen.append(k.get("val_weight"))
            if name == "xgb" and k.get("eval_set"):
                xgb_seen.append(k.get("sample_weight_eval_set"))
            return fit(*a, **k)

        return wrapped

    monkeypatch.setattr(keras_net, "train_keras", spy("keras", keras_net.train_keras))
    for name, cls in (("xgb", xgboost.XGBClassifier), ("rf", sklearn.ensemble.RandomForestClassifier),
                      ("svm", sklearn.svm.SVC)):
        monkeypatch.setattr(cls, "fit", spy(name, cls.fit))
    rng = np.random.default_rng(0)
    weight = rng.uniform(0.1, 1.0, len(table))
    train, val = np.arange(0, len(table), 2), np.arange(1, len(table), 2)
    fit_members(table, train, val, quick=True, progress=False, include_numpy=False, sample_weight=weight)
    assert len(seen["keras"]) == 3 and set(seen) == {"keras", "xgb", "rf", "svm"}
    for name, calls in seen.items():
        for w in calls:
            np.testing.assert_array_equal(w, weight[train], err_msg=name)
    for name, call in (("keras", keras_seen), ("xgb", xgb_seen)):  # validation rows weigh as they do in training
        assert all(np.array_equal(np.ravel(v), weight[val]) for v in call), name
    assert len(keras_seen) == 3 and len(xgb_seen) == 1
    seen.clear()
    fit_members(table, train, val, quick=True, progress=False, include_numpy=False)
    assert all(w is None for calls in seen.values() for w in calls)


def test_keras_hidden_widths_reach_the_networks_and_their_record():
    """The default topology is HIDDEN; --keras-hidden (here the report's) builds every network with it."""
    pytest.importorskip("tensorflow")
    from gtzan.training.keras_net import HIDDEN, REPORT_HIDDEN
    from gtzan.training.members import fit_members

    table = _table(tracks=3, windows=3)
    train, val = np.arange(0, len(table), 2), np.arange(1, len(table), 2)
    for hidden, want in ((None, HIDDEN), ((16, 8), (16, 8))):
        members = [m for m in fit_members(table, train, val, quick=True, progress=False, include_numpy=False,
                                          keras_hidden=hidden) if m.kind == "keras"]
        assert len(members) == 3
        for m in members:
            dense = [layer.units for layer in m.model.layers if type(layer).__name__ == "Dense"]
            assert tuple(dense) == (*want, 10) and tuple(m.params["hidden"]) == want
    assert REPORT_HIDDEN == (2048, 1024, 512, 256, 128, 64) and HIDDEN == (512, 256, 128, 64)


def test_fit_members_fits_only_the_kinds_asked_for():
    from gtzan.training.members import fit_members

    table = _table(tracks=3, windows=3)
    train, val = np.arange(0, len(table), 2), np.arange(1, len(table), 2)
    got = fit_members(table, train, val, quick=True, progress=False, kinds={"knn", "rf"})
    assert [m.name for m in got] == ["knn", "rf"]
    assert [m.name for m in fit_members(table, train, val, quick=True, progress=False, kinds={"numpy"},
                                        include_numpy=False)] == []


def test_parse_hidden_reads_widths_or_the_report_and_refuses_the_rest():
    from gtzan.training.keras_net import REPORT_HIDDEN, parse_hidden

    assert parse_hidden("512,256, 128,64") == (512, 256, 128, 64)
    assert parse_hidden("report") == REPORT_HIDDEN
    for bad in ("", "512,,64", "wide", "512,0"):
        with pytest.raises(ValueError, match="hidden layers"):
            parse_hidden(bad)


def test_augment_weight_outside_0_1_is_refused(tmp_path):
    from gtzan.training.dataset import DatasetError
    from gtzan.training.orchestrate import RowSpec, load_rows

    csv = tmp_path / "f.csv"
    _table().to_csv(csv)
    for w in (0.0, 1.5):
        with pytest.raises(DatasetError, match="augmented rows' weight"):
            load_rows(RowSpec(features_csv=csv, augment_weight=w), progress=False)
    assert load_rows(RowSpec(features_csv=csv), progress=False).weight is None


def test_cli_bad_input(tmp_path):
    from click.testing import CliRunner

    from gtzan.training.cli import main

    bad = tmp_path / "bad.csv"
    bad.write_text("filename,label\nblues.00000.wav,blues\n")
    r = CliRunner().invoke(main, ["--features", str(bad), "--out", str(tmp_path / "o2")])
    assert r.exit_code == 1 and "not a Kaggle GTZAN features table" in r.output
    assert "Traceback" not in r.output and not (tmp_path / "o2").exists()
    r = CliRunner().invoke(main, ["--out", str(tmp_path / "o3")])
    assert r.exit_code == 2 and "give --audio-dir, --features, or both" in r.output
    r = CliRunner().invoke(main, ["--features", str(bad), "--out", str(tmp_path / "o4"), "--hop-samples", "0"])
    assert r.exit_code == 2 and "positive number of samples" in r.output
    r = CliRunner().invoke(main, ["--features", str(bad), "--out", str(tmp_path / "o5"), "--blend-members", "xgb,numpy_net"])
    assert r.exit_code == 2 and "blend members must be some of" in r.output and not (tmp_path / "o5").exists()


@pytest.mark.slow
def test_cli_track_protocol_is_a_grouped_cross_validation(tmp_path):
    """Every row is predicted out of fold, by members that never saw its track; the blend is chosen on those."""
    from click.testing import CliRunner

    from gtzan.training.cli import main

    table = _table(tracks=5, windows=3, seed=3)
    csv = tmp_path / "features.csv"
    table.to_csv(csv)
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["--features", str(csv), "--protocol", "track", "--folds", "3", "--out", str(out),
                                  "--quick", "--no-numpy"])
    assert r.exit_code == 0, r.output
    md = (out / "report.md").read_text()
    assert "Protocol `track` (3-fold cross-validation)" in md and "(honest)" in md
    fit = json.loads((out / "report.json").read_text())["cross_validated"][0]
    sc = fit["evaluation"]["by_source"]["table"]["scores"]
    assert sc["blend"]["rows"] == len(table) and sc["blend"]["tracks"] == 50
    assert len(sc["per_fold"]["blend_nested"]) == 3
    assert fit["blend"]["rule"] in ("mean", "vote") and fit["blend"]["temperature"] > 0
    assert (out / "reliability_track.png").stat().st_size > 1000
    assert (out / "confusion_track_table_blend.png").is_file()


@pytest.mark.slow
def test_cli_at_level_does_not_see_the_volume(trained, tmp_path):
    """The same table with every row at its own gain (-20..+6 dB), trained and scored at one level, gives the
    same members' answers; without the level it does not."""
    from click.testing import CliRunner

    from gtzan.gain import apply_gain
    from gtzan.training.cli import main

    table, _ = trained
    gains = 10 ** (np.random.default_rng(3).uniform(-20, 6, size=len(table)) / 20)
    scores = {}
    for name, g, level in (("as-is", 1.0, ["--at-level"]), ("gains", gains, ["--at-level"]), ("raw", gains, [])):
        csv = tmp_path / f"{name}.csv"
        FeatureTable(apply_gain(table.X, g), table.y, table.filenames, table.tracks).to_csv(csv)
        out = tmp_path / name
        args = ["--features", str(csv), "--protocol", "paper", "--out", str(out), "--quick", *level]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
        scores[name] = json.loads((out / "report.json").read_text())["runs"][0]["scores"]["test"]
    for name in ("knn", "rf", "xgb"):
        assert scores["as-is"][name]["confusion"] == scores["gains"][name]["confusion"], name
    assert any(scores["as-is"][n]["confusion"] != scores["raw"][n]["confusion"] for n in ("knn", "rf", "xgb"))
