"""The XGBoost member's trees rewritten as TreeEnsemble (ai.onnx.ml 5): the same probabilities, fewer bytes."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("onnx")
pytest.importorskip("onnxmltools")
xgboost = pytest.importorskip("xgboost")

from gtzan.constants import GENRES  # noqa: E402
from gtzan.features import FEATURE_NAMES  # noqa: E402

N_F, N_K = len(FEATURE_NAMES), len(GENRES)


def _rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % N_K
    x = rng.normal(size=(n, N_F)) * np.linspace(0.01, 3000.0, N_F) + y[:, None] * np.linspace(0.5, 40.0, N_F)
    return x.astype(np.float32), y


def _old_graph(model):
    """onnxmltools' own graph (TreeEnsembleClassifier), as the export wrote it before."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    from gtzan.export.onnx_members import XGB_OPSET, uniform_io

    proto = onnxmltools.convert_xgboost(
        model, initial_types=[("features", FloatTensorType([None, N_F]))], target_opset=XGB_OPSET
    )
    return uniform_io(proto, prob_output="probabilities")


@pytest.fixture(scope="module")
def booster():
    x, y = _rows(600, 0)
    return xgboost.XGBClassifier(n_estimators=40, max_depth=4, n_jobs=1, random_state=0).fit(x, y)


def test_the_export_writes_tree_ensemble_with_the_same_probabilities(booster) -> None:
    from gtzan.export.onnx_members import xgboost_to_onnx
    from gtzan.export.verify import run_onnx

    new = xgboost_to_onnx(booster)
    old = _old_graph(booster)
    # 400 trees in groups of TREES_PER_NODE, summed
    assert [n.op_type for n in new.graph.node] == ["TreeEnsemble", "TreeEnsemble", "Sum", "Add", "Softmax"]
    assert [o.name for o in new.graph.output] == ["probabilities"]
    x, _ = _rows(500, 1)
    x[::7, 3] = np.nan  # a missing value takes the branch the booster learned for it
    p_new = run_onnx(new.SerializeToString(), x)
    p_old = run_onnx(old.SerializeToString(), x)
    np.testing.assert_allclose(p_new, p_old, atol=1e-6)
    np.testing.assert_allclose(p_new, booster.predict_proba(x), atol=1e-5)
    assert new.ByteSize() < 0.6 * old.ByteSize()


def test_a_tree_that_is_one_leaf_still_adds_its_weight() -> None:
    """Boosting grows single-leaf trees when no split gains enough; TreeEnsemble roots must be nodes."""
    from gtzan.export.onnx_members import xgboost_to_onnx
    from gtzan.export.verify import run_onnx

    x, y = _rows(300, 2)
    model = xgboost.XGBClassifier(n_estimators=30, max_depth=3, gamma=50.0, n_jobs=1, random_state=0).fit(x, y)
    old = _old_graph(model)
    (node,) = old.graph.node
    attrs = {a.name: a for a in node.attribute}
    tree_ids, node_ids = list(attrs["nodes_treeids"].ints), list(attrs["nodes_nodeids"].ints)
    modes = list(attrs["nodes_modes"].strings)
    lone = [t for t, n, m in zip(tree_ids, node_ids, modes) if n == 0 and m == b"LEAF"]
    assert lone, "the fixture must grow single-leaf trees"
    new = xgboost_to_onnx(model)
    np.testing.assert_allclose(run_onnx(new.SerializeToString(), x), run_onnx(old.SerializeToString(), x), atol=1e-6)


def test_a_forest_whose_leaves_hold_every_class_is_refused() -> None:
    from onnx import helper

    from gtzan.export.errors import ExportError
    from gtzan.export.tree_ensemble import compact_tree_classifier

    node = helper.make_node(
        "TreeEnsembleClassifier",
        ["features"],
        ["label", "probabilities"],
        domain="ai.onnx.ml",
        classlabels_int64s=[0, 1],
        nodes_treeids=[0, 0, 0],
        nodes_nodeids=[0, 1, 2],
        nodes_featureids=[0, 0, 0],
        nodes_values=[0.5, 0.0, 0.0],
        nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
        nodes_truenodeids=[1, 0, 0],
        nodes_falsenodeids=[2, 0, 0],
        class_treeids=[0, 0, 0, 0],
        class_nodeids=[1, 1, 2, 2],
        class_ids=[0, 1, 0, 1],
        class_weights=[0.9, 0.1, 0.2, 0.8],
    )
    from onnx import TensorProto

    graph = helper.make_graph(
        [node],
        "forest",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 3)])
    with pytest.raises(ExportError, match="several classes"):
        compact_tree_classifier(model, opset=17)


@pytest.mark.parametrize("per_node", [1, 7, 400, 1000])
def test_any_grouping_of_the_trees_gives_the_same_probabilities(booster, monkeypatch, per_node: int) -> None:
    from gtzan.export import tree_ensemble
    from gtzan.export.onnx_members import xgboost_to_onnx
    from gtzan.export.verify import run_onnx

    monkeypatch.setattr(tree_ensemble, "TREES_PER_NODE", per_node)
    new = xgboost_to_onnx(booster)
    groups = sum(n.op_type == "TreeEnsemble" for n in new.graph.node)
    assert groups == -(-400 // per_node)
    x, _ = _rows(200, 3)
    np.testing.assert_allclose(
        run_onnx(new.SerializeToString(), x), run_onnx(_old_graph(booster).SerializeToString(), x), atol=1e-6
    )
