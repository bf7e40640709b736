"""Model bundle loading, validation and the blended prediction (needs only numpy + onnxruntime)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from gtzan.bundle import (
    BundleError,
    Prediction,
    default_bundle_dir,
    load_bundle,
    sha256_file,
)
from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.features.sources import feature_code_sha256

N_F, N_K = len(FEATURE_NAMES), len(GENRES)


@pytest.fixture()
def shipped(tmp_path: Path) -> Path:
    """A private copy of the shipped default bundle, free to corrupt."""
    src = default_bundle_dir()
    if not (src / "manifest.json").is_file():
        pytest.skip("no shipped bundle in gtzan/models/default")
    dst = tmp_path / "bundle"
    shutil.copytree(src, dst)
    return dst


def _manifest(p: Path) -> dict:
    return json.loads((p / "manifest.json").read_text())


def _write_manifest(p: Path, man: dict) -> None:
    (p / "manifest.json").write_text(json.dumps(man))


def _rehash(p: Path, name: str) -> None:
    """Update the manifest checksums of one file after editing it on purpose."""
    man = _manifest(p)
    digest = sha256_file(p / name)
    man["files"][name] = digest
    for m in man["members"]:
        if m["file"] == name:
            m["sha256"] = digest
    _write_manifest(p, man)


def _first_member_file(p: Path) -> str:
    return _manifest(p)["members"][0]["file"]


# --------------------------------------------------------------------------- the shipped bundle

def test_shipped_bundle_loads_and_predicts():
    b = load_bundle()
    assert b.genres == GENRES
    assert len(b.members) >= 1 and len(b.blend_weights) == len(b.members)
    assert all(isinstance(w, int) and w >= 0 for w in b.blend_weights) and sum(b.blend_weights) > 0
    x = np.random.default_rng(0).normal(size=(7, N_F)) * 0.1 + 1.0
    pred = b.predict(x)
    assert isinstance(pred, Prediction)
    assert pred.scores.shape == (7, N_K) and pred.labels.shape == (7,)
    assert pred.weighted_probs.shape == (7, N_K) and pred.probs.shape == (7, N_K)
    np.testing.assert_allclose(pred.scores.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(pred.weighted_probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(pred.probs.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(pred.confidence, pred.probs[np.arange(7), pred.labels])
    for m in b.members:
        p = pred.member_probs[m.name]
        assert p.shape == (7, N_K) and p.dtype == np.float32
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-4)
        np.testing.assert_array_equal(pred.member_votes[m.name], p.argmax(axis=1))
    one = b.predict(x[0])
    assert one.labels.shape == (1,) and one.labels[0] == pred.labels[0]


def test_format_1_bundle_reads_as_a_vote_of_its_weighted_members(shipped: Path):
    man = _manifest(shipped)  # as gtzan-export wrote format 1: the rule in prose, no calibration, no threshold
    man["format_version"] = 1
    man["blend"] = {"rule": "each member votes for the argmax of its probabilities; ...",
                    "weights": man["blend"]["weights"]}
    man["members"][0]["weight"] = 0
    man["blend"]["weights"][man["members"][0]["name"]] = 0
    _write_manifest(shipped, man)
    b = load_bundle(shipped)
    weights = {m.name: m.weight for m in b.manifest.members}
    assert (b.rule, b.temperature, b.uncertain_below) == ("vote", 1.0, 0.5)
    assert [m.name for m in b.members] == [n for n, w in weights.items() if w > 0]
    assert set(b.idle_members) == {n for n, w in weights.items() if w == 0}
    assert all(m.weight > 0 for m in b.members)
    pred = b.predict(np.ones((2, N_F)))
    assert set(pred.member_probs) == {m.name for m in b.members}
    np.testing.assert_allclose(pred.probs, pred.weighted_probs, atol=1e-9)  # T = 1


def test_shipped_manifest_records_provenance():
    man = load_bundle().manifest
    assert man.features.names == FEATURE_NAMES
    assert man.features.code_sha256 is not None and len(man.features.code_sha256) == 64
    fp = man.features.fingerprint
    if fp is not None:
        assert len(fp["values"]) == len(fp["rtol"]) == len(fp["atol"]) == N_F
    for m in man.members:
        assert m.records["input"]["name"] == "features" and m.records["output"]["name"] == "probabilities"
        parity = m.records["parity"]
        assert parity["label_agreement"] >= 0.999 and parity["max_abs_prob_diff"] <= 1e-4
    total = sum(f.stat().st_size for f in default_bundle_dir().iterdir() if f.is_file())
    assert total <= 25 * 2**20


def test_predict_rejects_wrong_width_and_nan():
    b = load_bundle()
    with pytest.raises(ValueError, match="58"):
        b.predict(np.zeros((2, N_F - 1)))
    x = np.ones((2, N_F))
    x[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        b.predict(x)


# --------------------------------------------------------------------------- corruption cases

def test_missing_folder(tmp_path: Path):
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope")


def test_missing_manifest(shipped: Path):
    (shipped / "manifest.json").unlink()
    with pytest.raises(BundleError, match="no manifest.json"):
        load_bundle(shipped)


def test_bad_json(shipped: Path):
    (shipped / "manifest.json").write_text('{"format_version": 1, "members": [')
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(shipped)


def test_wrong_format_version(shipped: Path):
    man = _manifest(shipped)
    man["format_version"] = 999
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="format_version 999"):
        load_bundle(shipped)


def test_wrong_feature_names(shipped: Path):
    man = _manifest(shipped)
    man["features"]["names"] = man["features"]["names"][::-1]
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="feature names"):
        load_bundle(shipped)


def test_wrong_genres(shipped: Path):
    man = _manifest(shipped)
    man["genres"] = sorted(man["genres"], reverse=True)
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="genres"):
        load_bundle(shipped)


def test_missing_member_file(shipped: Path):
    name = _first_member_file(shipped)
    (shipped / name).unlink()
    with pytest.raises(BundleError, match=f"{name} is missing"):
        load_bundle(shipped)


def test_sha_mismatch(shipped: Path):
    name = _first_member_file(shipped)
    data = bytearray((shipped / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (shipped / name).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        load_bundle(shipped)


def test_truncated_onnx_with_matching_checksum(shipped: Path):
    name = _first_member_file(shipped)
    data = (shipped / name).read_bytes()
    (shipped / name).write_bytes(data[: len(data) // 3])
    _rehash(shipped, name)
    with pytest.raises(BundleError, match="onnxruntime cannot load"):
        load_bundle(shipped)


def test_a_graph_an_older_onnxruntime_cannot_load_says_which_version_made_it(shipped: Path, monkeypatch):
    import onnxruntime

    made_with = _manifest(shipped)["packages"]["onnxruntime"]
    name = _first_member_file(shipped)
    (shipped / name).write_bytes((shipped / name).read_bytes()[:100])
    _rehash(shipped, name)
    monkeypatch.setattr(onnxruntime, "__version__", "1.20.1")
    with pytest.raises(BundleError, match=f"made with onnxruntime {re.escape(made_with)}; this is 1.20.1: upgrade"):
        load_bundle(shipped)
    monkeypatch.setattr(onnxruntime, "__version__", made_with)  # the same version: no such hint
    with pytest.raises(BundleError) as e:
        load_bundle(shipped)
    assert "upgrade" not in str(e.value)


def test_negative_weight_and_all_zero(shipped: Path):
    man = _manifest(shipped)
    man["members"][0]["weight"] = -1
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="non-negative integer"):
        load_bundle(shipped)
    for m in man["members"]:
        m["weight"] = 0
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="all blend weights are zero"):
        load_bundle(shipped)


def test_member_path_outside_bundle(shipped: Path):
    man = _manifest(shipped)
    man["members"][0]["file"] = "../evil.onnx"
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="plain file name"):
        load_bundle(shipped)


def test_errors_are_one_line(shipped: Path):
    (shipped / "manifest.json").write_text("not json\n\n")
    with pytest.raises(BundleError) as ei:
        load_bundle(shipped)
    assert "\n" not in str(ei.value)


# --------------------------------------------------------------------------- hand-built graphs

def _const_probs_model(p: np.ndarray, n_in: int = N_F, n_out: int = N_K, out_name: str = "probabilities",
                       w: np.ndarray | None = None):
    """A graph that returns softmax(x @ w + log p); with w None (zeros) it ignores its input."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = np.zeros((n_in, n_out), dtype=np.float32) if w is None else np.asarray(w, dtype=np.float32)
    b = np.log(np.asarray(p, dtype=np.float32))
    g = helper.make_graph(
        [helper.make_node("Gemm", ["features", "W", "b"], ["z"]),
         helper.make_node("Softmax", ["z"], [out_name], axis=1)],
        "const",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["N", n_out])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m.SerializeToString()


def _onehotish(k: int, hi: float = 0.6) -> np.ndarray:
    p = np.full(N_K, (1 - hi) / (N_K - 1))
    p[k] = hi
    return p


def _hand_bundle(path: Path, probs: list[np.ndarray], weights: list[int], blend: dict | None = None,
                 format_version: int = 1, **model_kw) -> Path:
    path.mkdir()
    members, files = [], {}
    for i, (p, w) in enumerate(zip(probs, weights)):
        f = f"m{i}.onnx"
        (path / f).write_bytes(_const_probs_model(p, **model_kw))
        files[f] = sha256_file(path / f)
        members.append({"name": f"m{i}", "kind": "const", "file": f, "sha256": files[f], "weight": w,
                        "quantized": False})
    man = {"format_version": format_version,
           "features": {"names": list(FEATURE_NAMES), "code_sha256": feature_code_sha256()},
           "genres": list(GENRES), "members": members, "files": files}
    if blend is not None:
        man["blend"] = blend
    _write_manifest(path, man)
    return path


def test_blend_rule_votes_then_weighted_probs(tmp_path: Path):
    # votes: genre 2 gets 3 (weights 1 + 2), genre 5 gets 3: tie -> weighted probabilities decide
    probs = [_onehotish(2, 0.5), _onehotish(2, 0.5), _onehotish(5, 0.9)]
    b = load_bundle(_hand_bundle(tmp_path / "b", probs, [1, 2, 3]))
    assert b.blend_weights == (1, 2, 3)
    pred = b.predict(np.zeros((4, N_F)))
    np.testing.assert_allclose(pred.scores[0, [2, 5]], [0.5, 0.5])
    assert set(pred.labels) == {5}  # 3*0.9 beats 1*0.5 + 2*0.5
    expect = (1 * probs[0] + 2 * probs[1] + 3 * probs[2]) / 6
    np.testing.assert_allclose(pred.weighted_probs[0], expect, atol=1e-6)


def test_blend_rule_majority_beats_confidence(tmp_path: Path):
    probs = [_onehotish(1, 0.3), _onehotish(1, 0.3), _onehotish(7, 0.99)]
    b = load_bundle(_hand_bundle(tmp_path / "b", probs, [1, 1, 1]))
    assert b.predict(np.zeros(N_F)).labels.tolist() == [1]


def test_zero_weight_member_is_not_run(tmp_path: Path):
    probs = [_onehotish(3), _onehotish(4)]
    b = load_bundle(_hand_bundle(tmp_path / "b", probs, [0, 1]))
    pred = b.predict(np.zeros((2, N_F)))
    assert pred.labels.tolist() == [4, 4]
    assert [m.name for m in b.members] == ["m1"] and b.blend_weights == (1,) and b.idle_members == ("m0",)
    assert set(pred.member_votes) == set(pred.member_probs) == {"m1"}


def test_wrong_input_width_rejected(tmp_path: Path):
    with pytest.raises(BundleError, match="input must be features"):
        load_bundle(_hand_bundle(tmp_path / "b", [_onehotish(0, 0.5)], [1], n_in=N_F - 1))


def test_wrong_output_rejected(tmp_path: Path):
    p = np.full(N_K - 1, 1 / (N_K - 1))
    with pytest.raises(BundleError, match="output must be probabilities"):
        load_bundle(_hand_bundle(tmp_path / "b", [p], [1], n_out=N_K - 1))
    with pytest.raises(BundleError, match="output must be probabilities"):
        load_bundle(_hand_bundle(tmp_path / "c", [_onehotish(0)], [1], out_name="scores"))


def test_feature_fingerprint_checked_at_load(tmp_path: Path, monkeypatch):
    from gtzan.fingerprint import fingerprint

    monkeypatch.setenv("GTZAN_CACHE", str(tmp_path / "cache"))
    path = _hand_bundle(tmp_path / "b", [_onehotish(0)], [1])
    b = load_bundle(path)
    assert b.feature_code_matches is None and b.feature_mismatches is None  # only code_sha256: unknown
    man = _manifest(path)
    man["features"]["fingerprint"] = fp = fingerprint()
    _write_manifest(path, man)
    b = load_bundle(path)
    assert b.feature_code_matches is True and b.feature_mismatches == []
    i = FEATURE_NAMES.index("spectral_bandwidth_mean")
    fp["values"][i] *= 1.001
    _write_manifest(path, man)
    b = load_bundle(path)
    assert b.feature_code_matches is False
    assert [m.name for m in b.feature_mismatches] == ["spectral_bandwidth_mean"]


def test_feature_sources_are_the_feature_package_and_its_constants():
    from gtzan.features.sources import feature_sources

    names = {p.name for p in feature_sources()}
    assert {"recipe.py", "frames.py", "filters.py", "medians.py", "stream.py", "constants.py"} <= names
    assert "bundle.py" not in names and "audio.py" not in names


# --------------------------------------------------------------------------- held-out metrics are real

@pytest.mark.gtzan
@pytest.mark.slow
def test_shipped_bundle_reproduces_its_recorded_scores_from_audio(gtzan_audio: Path):
    """From the audio to the verdicts: our windows of the audio tracks, the ONNX members and the blend give
    exactly the scores the export recorded for the shipped graphs; the held-out scores cover the same rows."""
    from gtzan.audio import load_audio
    from gtzan.constants import WINDOW_SAMPLES
    from gtzan.features import clip_features, window_starts

    b = load_bundle()
    man = b.manifest.to_json()
    if b.feature_mismatches is None:
        pytest.skip("the shipped bundle records no feature fingerprint: it was exported before fingerprints")
    assert not b.feature_mismatches, f"this feature code computes the shipped bundle's features differently: " \
        f"{b.feature_mismatches}"
    shipped = man["metrics"].get("shipped_graphs_on_audio")
    if not shipped:
        pytest.skip("the shipped bundle was not trained on audio")
    hop = int(man["data"]["hop"])
    rows, labels = [], []
    for track in shipped["tracks"]:
        genre = track.split(".")[0]
        files = sorted((gtzan_audio / genre).glob(f"{track}.*"))
        if not files:
            pytest.skip(f"{track} is not in {gtzan_audio}")
        y = load_audio(files[0])
        for s in window_starts(len(y), hop=hop):
            rows.append(clip_features(y[s : s + WINDOW_SAMPLES]))
            labels.append(GENRES.index(genre))
    x, y = np.stack(rows), np.asarray(labels)
    assert len(y) == shipped["rows"] == man["metrics"]["scores"]["ours"]["blend"]["rows"]
    pred = b.predict(x)
    assert np.mean(pred.labels == y) == shipped["blend"]
    for name, votes in pred.member_votes.items():
        assert np.mean(votes == y) == shipped[name], name
    held_out = man["metrics"]["scores"]["ours"]["blend"]
    assert held_out["accuracy"] < shipped["blend"]  # trained-on rows score higher than out-of-fold ones
    for name in pred.member_votes:
        # every shipped graph does at least as well on the rows it trained on as its own out-of-fold
        # predictions did on them: a graph that computes something else (a scaler that amplifies the
        # rounding of float32 input, say) scores near chance here and fails
        oof = man["metrics"]["scores"]["ours"][name]["accuracy"]
        assert shipped[name] > oof, (name, shipped[name], oof)


# --------------------------------------------------------------------------- blend section (format 2)

def _set_blend(p: Path, version: int = 2, **blend) -> None:
    """Rewrite the manifest's blend section (manifest.json is not in the checksum table)."""
    man = _manifest(p)
    man["format_version"] = version
    man["blend"].update(blend)
    _write_manifest(p, man)


def test_format_2_mean_bundle_with_temperature(shipped: Path):
    from gtzan.blend import calibrate, mean_predict, weighted_probs

    _set_blend(shipped, rule="mean", calibration={"method": "temperature", "temperature": 1.7}, uncertain_below=0.4)
    b = load_bundle(shipped)
    assert (b.rule, b.temperature, b.uncertain_below) == ("mean", 1.7, 0.4)
    x = np.random.default_rng(1).normal(size=(9, N_F)) * 0.1 + 1.0
    pred = b.predict(x)
    stack = np.stack([pred.member_probs[m.name] for m in b.members])
    w = list(b.blend_weights)
    np.testing.assert_array_equal(pred.labels, mean_predict(stack, w))
    np.testing.assert_allclose(pred.probs, calibrate(weighted_probs(stack, w), 1.7))
    np.testing.assert_array_equal(pred.labels, pred.probs.argmax(axis=1))
    np.testing.assert_allclose(pred.confidence, pred.probs.max(axis=1))
    assert np.all(pred.probs.max(axis=1) < pred.weighted_probs.max(axis=1) + 1e-12)  # T > 1 flattens


def test_format_2_vote_bundle_keeps_the_vote(shipped: Path):
    _set_blend(shipped, rule="vote", calibration={"method": "temperature", "temperature": 1.0})
    base = load_bundle(shipped).predict(np.ones((3, N_F)))
    _set_blend(shipped, rule="vote", calibration={"method": "temperature", "temperature": 2.0})
    pred = load_bundle(shipped).predict(np.ones((3, N_F)))
    np.testing.assert_array_equal(pred.labels, base.labels)
    np.testing.assert_array_equal(pred.scores, base.scores)
    assert np.all(pred.probs.max(axis=1) < base.probs.max(axis=1))  # calibrated, not the vote share
    np.testing.assert_array_equal(pred.confidence, pred.probs[np.arange(3), pred.labels])


def test_mean_and_vote_rules_on_hand_built_members(tmp_path: Path):
    probs = [_onehotish(1, 0.3), _onehotish(1, 0.3), _onehotish(7, 0.99)]
    vote = load_bundle(_hand_bundle(tmp_path / "v", probs, [1, 1, 1], {"rule": "vote"}, format_version=2))
    mean = load_bundle(_hand_bundle(tmp_path / "m", probs, [1, 1, 1], {"rule": "mean"}, format_version=2))
    assert vote.predict(np.zeros(N_F)).labels.tolist() == [1]
    pm = mean.predict(np.zeros(N_F))
    assert pm.labels.tolist() == [7]
    assert pm.confidence[0] == pytest.approx((0.99 + 2 * 0.7 / 9) / 3, rel=1e-5)


def test_members_with_weight_0_get_no_session(shipped: Path, monkeypatch: pytest.MonkeyPatch):
    import onnxruntime as ort

    opened: list[str] = []
    real = ort.InferenceSession

    def counting(path, *a, **kw):
        opened.append(Path(path).name)
        return real(path, *a, **kw)

    weights = {m["name"]: m["weight"] for m in _manifest(shipped)["members"]}
    first, second = list(weights)[:2]
    weights.update({first: 0, second: 3})
    man = _manifest(shipped)
    for m in man["members"]:
        m["weight"] = weights[m["name"]]
    man["blend"]["weights"] = weights
    _write_manifest(shipped, man)
    monkeypatch.setattr(ort, "InferenceSession", counting)
    b = load_bundle(shipped)
    used = [n for n, w in weights.items() if w > 0]
    assert sorted(opened) == sorted(f"{n}.onnx" for n in used)
    assert [m.name for m in b.members] == used
    assert set(b.idle_members) == {n for n, w in weights.items() if w == 0}
    assert set(b.predict(np.ones(N_F)).member_probs) == set(used)


def test_background_bundle_offers_the_same_members_and_blend(shipped: Path):
    from gtzan.daemon.loading import BackgroundBundle, member_rows

    _set_blend(shipped, rule="mean", calibration={"method": "temperature", "temperature": 1.3}, uncertain_below=0.6)
    bg = BackgroundBundle(shipped)
    assert (bg.rule, bg.temperature, bg.uncertain_below) == ("mean", 1.3, 0.6)  # before the sessions exist
    b = bg.loaded()
    assert [m.name for m in bg.members] == [m.name for m in b.members]
    assert bg.blend_weights == b.blend_weights and bg.idle_members == b.idle_members
    assert bg.blend == b.blend
    assert member_rows(bg) == member_rows(b)
    assert {n for n, _, w in member_rows(b) if w == 0} == set(b.idle_members)


def test_weights_that_disagree_are_refused(shipped: Path):
    man = _manifest(shipped)
    name = next(m["name"] for m in man["members"] if m["weight"] > 0)
    man["blend"]["weights"][name] += 1
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match=f"member '{name}' has weight") as ei:
        load_bundle(shipped)
    assert "\n" not in str(ei.value)


def test_weights_of_unknown_members_are_refused(shipped: Path):
    man = _manifest(shipped)
    man["blend"]["weights"]["ghost"] = 1
    _write_manifest(shipped, man)
    with pytest.raises(BundleError, match="'ghost', which is not a member"):
        load_bundle(shipped)


def test_members_weights_alone_are_enough(shipped: Path):
    man = _manifest(shipped)
    del man["blend"]["weights"]
    _write_manifest(shipped, man)
    b = load_bundle(shipped)
    assert b.blend_weights == tuple(m["weight"] for m in man["members"] if m["weight"] > 0)


@pytest.mark.parametrize("t", [0, -1.5, "1.7", None, True, float("inf"), float("nan")])
def test_bad_temperature_is_refused(shipped: Path, t):
    _set_blend(shipped, rule="mean", calibration={"method": "temperature", "temperature": t})
    with pytest.raises(BundleError, match="temperature .* is not a positive finite number") as ei:
        load_bundle(shipped)
    assert "\n" not in str(ei.value)


def test_unknown_calibration_method_is_refused(shipped: Path):
    _set_blend(shipped, rule="mean", calibration={"method": "isotonic"})
    with pytest.raises(BundleError, match="calibration 'isotonic' is not supported"):
        load_bundle(shipped)


@pytest.mark.parametrize("rule", ["median", "each member votes for the argmax of its probabilities", 3])
def test_unknown_rule_is_refused_in_format_2(shipped: Path, rule):
    _set_blend(shipped, rule=rule)
    with pytest.raises(BundleError, match="blend rule .* is not supported") as ei:
        load_bundle(shipped)
    assert "\n" not in str(ei.value) and len(str(ei.value)) < 200


@pytest.mark.parametrize("below", [-0.1, 1.5, "0.5", None, float("nan")])
def test_threshold_outside_0_1_is_refused(shipped: Path, below):
    _set_blend(shipped, rule="vote", uncertain_below=below)
    with pytest.raises(BundleError, match="uncertain_below .* is not a number in"):
        load_bundle(shipped)


def test_background_bundle_refuses_what_load_bundle_refuses(shipped: Path):
    from gtzan.daemon.loading import BackgroundBundle

    _set_blend(shipped, rule="mean", calibration={"method": "temperature", "temperature": -1})
    with pytest.raises(BundleError, match="temperature"):
        BackgroundBundle(shipped)


def test_a_provisional_bundle_says_what_that_means(shipped: Path):
    from gtzan.daemon.loading import load_models

    man = _manifest(shipped)
    man["provisional"] = True
    _write_manifest(shipped, man)
    said: list[str] = []

    class Console:
        def print(self, line: str, **_: object) -> None:
            said.append(line)

    load_models(shipped, Console())
    note = next(line for line in said if "provisional" in line)
    assert "quick or test export" in note and "gtzan-export (without --quick)" in note and "\n" not in note


def test_a_bundle_at_one_level_gives_the_same_answer_at_any_volume(tmp_path: Path):
    from gtzan.gain import apply_gain

    w = np.zeros((N_F, N_K))
    w[FEATURE_NAMES.index("rms_mean"), 0] = 40.0  # louder windows lean to genre 0
    path = _hand_bundle(tmp_path / "b", [np.full(N_K, 1 / N_K)], [1], w=w)
    x = np.abs(np.random.default_rng(0).normal(size=(3, N_F))) * 0.1
    quiet, loud = apply_gain(x, 0.25), apply_gain(x, 2.0)
    raw = load_bundle(path)
    assert not np.allclose(raw.predict(quiet).probs, raw.predict(loud).probs, atol=1e-3)
    man = _manifest(path)
    man["features"]["level_rms"] = 0.1
    _write_manifest(path, man)
    levelled = load_bundle(path)
    assert levelled.manifest.features.level_rms == 0.1
    assert levelled.manifest.features.to_json()["raw"] is False
    np.testing.assert_allclose(levelled.predict(quiet).probs, levelled.predict(loud).probs, atol=1e-5)
    man["features"]["level_rms"] = -1
    _write_manifest(path, man)
    with pytest.raises(BundleError, match="level_rms"):
        load_bundle(path)


_RSS_AFTER_LOAD = """
import sys
import gtzan.bundle
from gtzan.memory import keep_freed_blocks
keep_freed_blocks()  # as gtzan-listen runs
if sys.argv[1] == "keep":
    gtzan.bundle.release_free_memory = lambda: False
members = gtzan.bundle.load_bundle().members
rss = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmRSS")][0]
print(rss // 1024, ",".join(m.name for m in members))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc (Linux) to read the resident set")
def test_loading_gives_the_sessions_parse_memory_back():
    """Each session's parse temporaries go back to the system, and the members keep the manifest's order."""
    import subprocess
    import sys

    from gtzan.memory import release_free_memory

    if not release_free_memory():
        pytest.skip("no glibc malloc_trim here")
    runs = {
        mode: subprocess.run([sys.executable, "-c", _RSS_AFTER_LOAD, mode], capture_output=True, text=True, check=True)
        for mode in ("trim", "keep")
    }
    (trim_mb, names), (keep_mb, names_keep) = (runs[m].stdout.split() for m in ("trim", "keep"))
    shipped = [m.name for m in load_bundle().manifest.members if m.weight > 0]
    assert names.split(",") == names_keep.split(",") == shipped
    # about 11 MB with the shipped bundle (its trees as TreeEnsemble; 40-60 MB with TreeEnsembleClassifier)
    assert int(trim_mb) < int(keep_mb) - 5, (trim_mb, keep_mb)


# --------------------------------------------------------------------------- the 30 s context model


def _add_context(p: Path, share=0.3, listed: bool = True) -> None:
    """Give a bundle a context model: a copy of its XGBoost member's graph (the same input and output)."""
    man = _manifest(p)
    xgb = next(m for m in man["members"] if m["kind"] == "xgboost")
    shutil.copyfile(p / xgb["file"], p / "context.onnx")
    if listed:
        man["files"]["context.onnx"] = sha256_file(p / "context.onnx")
    man["context"] = {"file": "context.onnx", "share": share}
    _write_manifest(p, man)


def test_a_bundle_with_a_context_model_predicts_pooled_rows_with_it(shipped: Path):
    _add_context(shipped)
    b = load_bundle(shipped)
    assert b.context_share == 0.3 and b.context is not None
    x = np.random.default_rng(3).uniform(0.01, 1.0, size=(4, N_F)).astype(np.float32)
    xgb = next(m for m in b.members if m.kind == "xgboost")
    np.testing.assert_allclose(b.predict_context(x), xgb.predict_proba(b.levelled(x)), atol=1e-6)
    assert b.predict_context(np.zeros((0, N_F))).shape == (0, N_K)


def test_a_bundle_without_a_context_model_says_so(shipped: Path):
    b = load_bundle(shipped)
    if _manifest(shipped).get("context") is not None:
        pytest.skip("the shipped bundle has a context model")
    assert b.context_share is None and b.predict_context(np.ones((1, N_F))) is None


@pytest.mark.parametrize(
    ("share", "listed", "message"),
    [(1.5, True, "context share 1.5 is not a number in [0, 1]"), ("a", True, "context share 'a'"),
     (0.3, False, "context file 'context.onnx' is not a plain file name listed in 'files'")],
)
def test_a_bad_context_section_is_refused(shipped: Path, share, listed: bool, message: str):
    _add_context(shipped, share=share, listed=listed)
    with pytest.raises(BundleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_bundle(shipped)


def test_a_corrupt_context_model_is_refused(shipped: Path):
    _add_context(shipped)
    (shipped / "context.onnx").write_bytes(b"not a graph")
    with pytest.raises(BundleError, match="context.onnx is corrupt"):
        load_bundle(shipped)
    _rehash(shipped, "context.onnx")
    with pytest.raises(BundleError, match="onnxruntime cannot load context.onnx"):
        load_bundle(shipped)


@pytest.mark.parametrize("mode", [["--fast"], []])
def test_the_listeners_track_verdict_takes_the_context_model_in(shipped: Path, tmp_path: Path, mode: list[str]):
    """A 31 s file is one 30 s span: with share 1 the verdict is the context model's own argmax."""
    from tests import wavgen
    from tests.helpers import lines, listen

    _add_context(shipped, share=1.0)
    song = wavgen.write(tmp_path / "song.wav", wavgen.music_like(seconds=31.0))
    res = listen("--file", str(song), "--json", "--models", str(shipped), *mode)
    assert res.returncode == 0, res.stderr
    windows, summary = lines(res.stdout)
    c = summary["context"]
    assert c["spans"] == 1 and c["share"] == 1.0
    assert summary["verdict"] == max(c["probs"], key=c["probs"].get)
    assert summary["probability"] == pytest.approx(max(c["probs"].values()), abs=1e-5)
    assert c["windows_verdict"] in GENRES and len(windows) == summary["classified"]
