"""Rewrite a boosted-tree classifier graph from TreeEnsembleClassifier to TreeEnsemble (ai.onnx.ml 5).

onnxmltools writes XGBoost as TreeEnsembleClassifier, which lists every node, leaves included, each
with its tree id, node id and mode as a string, and every leaf's class weight again with its tree and
node ids. onnxruntime parses all of it into temporaries while it builds the session: for the shipped
member (4,510 trees, 334,000 nodes) that took 158 MB for a moment and kept 59 MB. TreeEnsemble keeps
interior nodes and leaves apart, addresses them by position, and stores modes and thresholds as
tensors: the same trees and outputs in 4.2 MB instead of 10.8, built in 44 MB at the peak, 31 MB kept
and half the CPU (BENCHMARKS.md, "The boosted trees as TreeEnsemble").

Only ensembles whose leaves each add to one class are rewritten (boosting: one tree per class and
round); forests that spread a leaf over several classes keep the older operator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ExportError

ML_DOMAIN = "ai.onnx.ml"
TREE_ENSEMBLE_OPSET = 5  # onnxruntime >= 1.21 runs it
# Trees per TreeEnsemble node. onnxruntime turns each node into its older layout when it builds the
# session, in time and memory that grow faster than the node: the shipped member's 4,510 trees in one
# node took 0.9-1.1 s of CPU and peaked at +116 MB; in 18 groups of 256, 0.11 s and +44 MB, and a row
# costs the same (benchmarks/bench_members.py --build).
TREES_PER_NODE = 256

# TreeEnsemble's nodes_modes codes (ONNX operator spec)
_MODES = {b"BRANCH_LEQ": 0, b"BRANCH_LT": 1, b"BRANCH_GTE": 2, b"BRANCH_GT": 3, b"BRANCH_EQ": 4, b"BRANCH_NEQ": 5}
_POST: dict[bytes, tuple[str, dict[str, Any]]] = {
    b"SOFTMAX": ("Softmax", {"axis": 1}),
    b"LOGISTIC": ("Sigmoid", {}),
    b"NONE": ("Identity", {}),
}


def _attributes(node) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _locator(tree_ids: np.ndarray, node_ids: np.ndarray):
    """Map (tree id, node id) pairs to row numbers of the node lists."""
    width = int(node_ids.max()) + 1
    keys = tree_ids * width + node_ids
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    if np.any(sorted_keys[1:] == sorted_keys[:-1]):
        raise ExportError("tree ensemble: a (tree, node) pair appears twice")

    def rows(t: np.ndarray, n: np.ndarray) -> np.ndarray:
        wanted = np.asarray(t, dtype=np.int64) * width + np.asarray(n, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_keys, wanted), 0, len(sorted_keys) - 1)
        if np.any(sorted_keys[pos] != wanted) or np.any(np.asarray(n) >= width):
            raise ExportError("tree ensemble: a node refers to a node that does not exist")
        return order[pos]

    return rows


@dataclass
class FlatTrees:
    """A classifier's trees as TreeEnsemble lays them out: interior nodes and leaves in two lists, children
    addressed by position in one or the other, each entry tagged with its tree (to cut the list into groups)."""

    n_classes: int
    roots: np.ndarray  # position of each tree's root among the interior nodes
    root_trees: np.ndarray
    node_trees: np.ndarray
    features: np.ndarray
    splits: np.ndarray
    modes: np.ndarray
    missing: np.ndarray
    true_ids: np.ndarray
    true_leaf: np.ndarray
    false_ids: np.ndarray
    false_leaf: np.ndarray
    leaf_trees: np.ndarray
    leaf_targets: np.ndarray
    leaf_weights: np.ndarray
    base_values: np.ndarray
    post_transform: bytes


def flatten_classifier(node) -> FlatTrees:
    """Read a TreeEnsembleClassifier node whose leaves each add to one class."""
    a = _attributes(node)
    tree_ids = np.asarray(a["nodes_treeids"], dtype=np.int64)
    node_ids = np.asarray(a["nodes_nodeids"], dtype=np.int64)
    modes = np.asarray(a["nodes_modes"], dtype=object)
    n_classes = len(a.get("classlabels_int64s") or a.get("classlabels_strings") or [])
    if n_classes < 2 or not len(tree_ids):
        raise ExportError("tree ensemble: no classes or no nodes")
    is_leaf = modes == b"LEAF"
    unknown = set(modes[~is_leaf].tolist()) - set(_MODES)
    if unknown:
        raise ExportError(f"tree ensemble: node modes {sorted(unknown)} have no TreeEnsemble equivalent")
    if "nodes_values_as_tensor" in a or "class_weights_as_tensor" in a:
        raise ExportError("tree ensemble: double-precision thresholds or weights are not rewritten")
    rows = _locator(tree_ids, node_ids)
    # position of every row among the interior nodes, and among the leaves
    branch_pos = np.cumsum(~is_leaf) - 1
    leaf_pos = np.cumsum(is_leaf) - 1

    # leaves: one class and weight each (a leaf without an entry adds nothing)
    leaf_rows = rows(np.asarray(a["class_treeids"]), np.asarray(a["class_nodeids"]))
    if not np.all(is_leaf[leaf_rows]):
        raise ExportError("tree ensemble: a class weight sits on an interior node")
    if len(np.unique(leaf_rows)) != len(leaf_rows):
        raise ExportError("tree ensemble: a leaf adds to several classes (a forest, not boosting)")
    n_leaves = int(is_leaf.sum())
    leaf_targets = np.zeros(n_leaves, dtype=np.int64)
    leaf_weights = np.zeros(n_leaves, dtype=np.float32)
    leaf_targets[leaf_pos[leaf_rows]] = np.asarray(a["class_ids"], dtype=np.int64)
    leaf_weights[leaf_pos[leaf_rows]] = np.asarray(a["class_weights"], dtype=np.float32)
    if np.any((leaf_targets < 0) | (leaf_targets >= n_classes)):
        raise ExportError("tree ensemble: a leaf adds to a class that does not exist")

    # interior nodes: children addressed by position among nodes or leaves
    branch = np.flatnonzero(~is_leaf)
    kids = []
    for ids in (a["nodes_truenodeids"], a["nodes_falsenodeids"]):
        child = rows(tree_ids[branch], np.asarray(ids, dtype=np.int64)[branch])
        kids.append((np.where(is_leaf[child], leaf_pos[child], branch_pos[child]), is_leaf[child].astype(np.int64)))
    missing = a.get("nodes_missing_value_tracks_true") or np.zeros(len(tree_ids))
    columns = {
        "node_trees": tree_ids[branch],
        "features": np.asarray(a["nodes_featureids"], dtype=np.int64)[branch],
        "splits": np.asarray(a["nodes_values"], dtype=np.float32)[branch],
        "modes": np.array([_MODES[m] for m in modes[branch]], dtype=np.uint8),
        "missing": np.asarray(missing, dtype=np.int64)[branch],
        "true_ids": kids[0][0],
        "true_leaf": kids[0][1],
        "false_ids": kids[1][0],
        "false_leaf": kids[1][1],
    }
    # roots: each tree's node 0; a tree that is one leaf gets a split (feature 0 <= 0) whose two sides
    # are that leaf
    root_trees = np.unique(tree_ids)
    root_rows = rows(root_trees, np.zeros(len(root_trees), dtype=np.int64))
    roots = branch_pos[root_rows].copy()
    lone = np.flatnonzero(is_leaf[root_rows])
    if len(lone):
        roots[lone] = len(branch) + np.arange(len(lone))
        leaf = leaf_pos[root_rows[lone]]
        extra = {"node_trees": root_trees[lone], "true_ids": leaf, "false_ids": leaf, "true_leaf": 1, "false_leaf": 1}
        columns = {
            k: np.concatenate([v, np.broadcast_to(np.asarray(extra.get(k, 0), dtype=v.dtype), (len(lone),))])
            for k, v in columns.items()
        }
    return FlatTrees(
        n_classes=n_classes,
        roots=roots,
        root_trees=root_trees,
        **columns,
        leaf_trees=tree_ids[is_leaf],
        leaf_targets=leaf_targets,
        leaf_weights=leaf_weights,
        base_values=np.asarray(a.get("base_values") or np.zeros(n_classes), dtype=np.float32).reshape(1, n_classes),
        post_transform=a.get("post_transform", b"NONE"),
    )


def tree_group_node(flat: FlatTrees, trees: np.ndarray, *, name: str, output: str, source: str) -> Any:
    """One TreeEnsemble node over some of the trees, their margins per class summed (no base, no transform)."""
    from onnx import helper, numpy_helper

    nodes = np.isin(flat.node_trees, trees)
    leaves = np.isin(flat.leaf_trees, trees)
    node_index = np.cumsum(nodes) - 1  # global position -> position within the group
    leaf_index = np.cumsum(leaves) - 1

    def local(ids: np.ndarray, is_leaf: np.ndarray) -> list[int]:
        out = np.empty_like(ids)
        leaf = is_leaf == 1
        out[leaf], out[~leaf] = leaf_index[ids[leaf]], node_index[ids[~leaf]]
        return out.tolist()

    roots = flat.roots[np.isin(flat.root_trees, trees)]
    return helper.make_node(
        "TreeEnsemble",
        [source],
        [output],
        domain=ML_DOMAIN,
        name=name,
        aggregate_function=1,  # SUM, as TreeEnsembleClassifier does
        post_transform=0,  # NONE: base values and the transform follow the sum of all groups
        n_targets=flat.n_classes,
        tree_roots=node_index[roots].tolist(),
        nodes_featureids=flat.features[nodes].tolist(),
        nodes_splits=numpy_helper.from_array(flat.splits[nodes], "nodes_splits"),
        nodes_modes=numpy_helper.from_array(flat.modes[nodes], "nodes_modes"),
        nodes_truenodeids=local(flat.true_ids[nodes], flat.true_leaf[nodes]),
        nodes_trueleafs=flat.true_leaf[nodes].tolist(),
        nodes_falsenodeids=local(flat.false_ids[nodes], flat.false_leaf[nodes]),
        nodes_falseleafs=flat.false_leaf[nodes].tolist(),
        nodes_missing_value_tracks_true=flat.missing[nodes].tolist(),
        leaf_targetids=flat.leaf_targets[leaves].tolist(),
        leaf_weights=numpy_helper.from_array(flat.leaf_weights[leaves], "leaf_weights"),
    )


def compact_tree_classifier(model, *, opset: int) -> Any:
    """The same model with its TreeEnsembleClassifier node replaced by TreeEnsemble + Add + the post-transform.

    The classifier's label output is dropped (it must not be read by any node or be a graph output);
    the probabilities output keeps its name. ``opset``: the standard domain's version for Add and the
    post-transform, where the graph had none (onnxmltools' XGBoost graphs use only ai.onnx.ml).
    """
    import onnx
    from onnx import helper, numpy_helper

    g = model.graph
    found = [i for i, n in enumerate(g.node) if n.op_type == "TreeEnsembleClassifier" and n.domain == ML_DOMAIN]
    if len(found) != 1:
        raise ExportError(f"expected one TreeEnsembleClassifier node, found {len(found)}")
    index = found[0]
    old = g.node[index]
    if len(old.output) != 2:
        raise ExportError("TreeEnsembleClassifier without its label and probabilities outputs")
    label, probs = old.output
    read = {name for n in g.node for name in n.input} | {o.name for o in g.output}
    if label in read:
        raise ExportError("the classifier's label output is used; it cannot be rewritten")
    flat = flatten_classifier(old)
    if flat.post_transform not in _POST:
        raise ExportError(f"tree ensemble: post-transform {flat.post_transform!r} is not rewritten")
    groups = [flat.root_trees[i : i + TREES_PER_NODE] for i in range(0, len(flat.root_trees), TREES_PER_NODE)]
    margins = [f"tree_margins_{i}" for i in range(len(groups))]
    new_nodes = [
        tree_group_node(flat, trees, name=f"trees_{i}", output=out, source=old.input[0])
        for i, (trees, out) in enumerate(zip(groups, margins, strict=True))
    ]
    if len(groups) > 1:
        new_nodes.append(helper.make_node("Sum", margins, ["tree_margins"], name="sum_groups"))
    else:
        margins = ["tree_margins"]
        new_nodes[0].output[:] = margins
    op, kwargs = _POST[flat.post_transform]
    post = helper.make_node(op, ["tree_scores"], [probs], name="post_transform")
    post.attribute.extend(helper.make_attribute(k, v) for k, v in kwargs.items())
    new_nodes += [
        helper.make_node("Add", ["tree_margins", "tree_base_values"], ["tree_scores"], name="base_values"),
        post,
    ]
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(nodes[:index] + new_nodes + nodes[index + 1 :])
    g.initializer.append(numpy_helper.from_array(flat.base_values, "tree_base_values"))
    for value in list(g.value_info):
        if value.name == label:
            g.value_info.remove(value)
    versions = {o.domain: o for o in model.opset_import}
    if ML_DOMAIN in versions:
        versions[ML_DOMAIN].version = max(versions[ML_DOMAIN].version, TREE_ENSEMBLE_OPSET)
    else:
        model.opset_import.append(helper.make_opsetid(ML_DOMAIN, TREE_ENSEMBLE_OPSET))
    if "" in versions:
        versions[""].version = max(versions[""].version, 13)  # Softmax over one axis
    else:
        model.opset_import.append(helper.make_opsetid("", opset))
    onnx.checker.check_model(model)
    return model
