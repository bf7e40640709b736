"""Convert each kind of trained member to one ONNX graph with a uniform interface.

Every graph takes ``features`` float32 [N, 58] of RAW features (any scaler is folded into the graph)
and returns exactly one output, ``probabilities`` float32 [N, 10]. Label outputs that converters
add (skl2onnx, onnxmltools) are dropped from the graph outputs; the bundle derives each member's
vote as the argmax of its probabilities.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.manifest import INPUT_NAME, OUTPUT_NAME

from .errors import ExportError
from .tree_ensemble import compact_tree_classifier

N_FEATURES = len(FEATURE_NAMES)
N_CLASSES = len(GENRES)
OPSET = 17
ML_OPSET = 3
XGB_OPSET = 15  # highest onnxmltools 1.16 accepts for XGBoost
IR_VERSION = 8  # readable by any onnxruntime >= 1.11


def _onnx():
    import onnx

    return onnx


# ---------------------------------------------------------------- graph surgery


def _rename_value(graph, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for coll in (graph.input, graph.output, graph.value_info):
        for v in coll:
            if v.name == old:
                v.name = new


def _set_2d(value_info, cols: int) -> None:
    dims = value_info.type.tensor_type.shape.dim
    del dims[:]
    d0, d1 = dims.add(), dims.add()
    d0.dim_param = "N"
    d1.dim_value = cols


def uniform_io(model, *, prob_output: str | None = None):
    """Rename the single input to ``features`` and keep only the probabilities output, named ``probabilities``."""
    onnx = _onnx()
    g = model.graph
    init_names = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in init_names]
    if len(inputs) != 1:
        raise ExportError(f"expected one graph input, found {[i.name for i in inputs]}")
    if inputs[0].name != INPUT_NAME:
        _rename_value(g, inputs[0].name, INPUT_NAME)
    _set_2d(inputs[0], N_FEATURES)
    outs = list(g.output)
    if prob_output is None:
        cands = [o for o in outs if o.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
        named = [o for o in cands if "prob" in o.name.lower()]
        cands = named or cands
        if len(cands) != 1:
            raise ExportError(f"cannot tell the probabilities output among {[o.name for o in outs]}")
        prob_output = cands[0].name
    keep = [o for o in outs if o.name == prob_output]
    if not keep:
        raise ExportError(f"output {prob_output!r} not in graph")
    del g.output[:]
    g.output.extend(keep)
    if prob_output != OUTPUT_NAME:
        _rename_value(g, prob_output, OUTPUT_NAME)
    _set_2d(g.output[0], N_CLASSES)
    return model


def _scaler_nodes(src: str, dst: str, scaler: Any):
    """Nodes + initializers computing the scaler's transform in float64, as scikit-learn does.

    ``dst = (x - mean) / scale`` where ``x`` is the raw feature, or ``log(max(feature, 0) + floor)`` on the
    columns a :class:`gtzan.training.scaling.LogVarianceScaler` logs.
    """
    from onnx import TensorProto, helper, numpy_helper

    mean, scale = _scaler_arrays(scaler)
    inits = [
        numpy_helper.from_array(mean, "scaler_mean"),
        numpy_helper.from_array(scale, "scaler_scale"),
    ]
    nodes = [helper.make_node("Cast", [src], ["features_f64"], to=TensorProto.DOUBLE, name="scaler_cast_in")]
    x = "features_f64"
    log_cols = getattr(scaler, "log_columns_", None)
    if log_cols is not None and np.any(log_cols):
        inits += [
            numpy_helper.from_array(np.zeros(1, dtype=np.float64), "log_zero"),
            numpy_helper.from_array(np.array([float(scaler.floor)], dtype=np.float64), "log_floor"),
            numpy_helper.from_array(np.asarray(log_cols, dtype=bool), "log_columns"),
        ]
        nodes += [
            helper.make_node("Max", [x, "log_zero"], ["log_nonneg"], name="log_nonneg"),
            helper.make_node("Add", ["log_nonneg", "log_floor"], ["log_floored"], name="log_floored"),
            helper.make_node("Log", ["log_floored"], ["log_values"], name="log_values"),
            helper.make_node("Where", ["log_columns", "log_values", x], ["features_logged"], name="log_select"),
        ]
        x = "features_logged"
    nodes += [
        helper.make_node("Sub", [x, "scaler_mean"], ["centred_features"], name="scaler_sub"),
        helper.make_node("Div", ["centred_features", "scaler_scale"], ["scaled_f64"], name="scaler_div"),
        helper.make_node("Cast", ["scaled_f64"], [dst], to=TensorProto.FLOAT, name="scaler_cast_out"),
    ]
    return nodes, inits


def prepend_scaler(model, scaler: Any):
    """Insert the scaler's transform in front of the graph so it takes raw features (float64 like scikit-learn)."""
    onnx = _onnx()

    g = model.graph
    inner = "scaled_features"
    _rename_value(g, INPUT_NAME, inner)
    # _rename_value renamed the graph input as well: give it back its public name
    for v in g.input:
        if v.name == inner:
            v.name = INPUT_NAME
    nodes, inits = _scaler_nodes(INPUT_NAME, inner, scaler)
    g.initializer.extend(inits)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(model)
    return model


def _with_scaler(model, scaler):
    """The graph behind the scaler's transform, or the graph itself for a member without one (trees)."""
    return model if scaler is None else prepend_scaler(model, scaler)


def _scaler_arrays(scaler) -> tuple[np.ndarray, np.ndarray]:
    mean = getattr(scaler, "mean_", None)
    scale = getattr(scaler, "scale_", None)
    mean = np.zeros(N_FEATURES) if mean is None else np.asarray(mean, dtype=np.float64)
    scale = np.ones(N_FEATURES) if scale is None else np.asarray(scale, dtype=np.float64)
    return mean, scale


def finish(model):
    """Check the graph and pin an IR version onnxruntime reads."""
    onnx = _onnx()
    model.ir_version = min(model.ir_version, IR_VERSION)
    onnx.checker.check_model(model)
    return model


# ---------------------------------------------------------------- converters


def keras_to_onnx(model, scaler=None):
    """Keras 3 model via tf2onnx.from_function (from_keras fails with Keras 3)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, N_FEATURES), tf.float32, name=INPUT_NAME),)
    fn = tf.function(lambda x: model(x, training=False), input_signature=spec)
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=OPSET)
    if len(proto.graph.output) != 1:
        raise ExportError(f"Keras model has {len(proto.graph.output)} outputs, expected 1")
    proto = uniform_io(proto, prob_output=proto.graph.output[0].name)
    return finish(_with_scaler(proto, scaler))


def _skl_convert(estimator, options: dict[int, dict], scaler=None):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    proto = convert_sklearn(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options=options,
        target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
    )
    return finish(_with_scaler(uniform_io(proto, prob_output="probabilities"), scaler))


def knn_to_onnx(model, scaler=None):
    """KNeighborsClassifier with the cdist optimisation (about 100x faster than the default loop)."""
    return _skl_convert(model, {id(model): {"optim": "cdist", "zipmap": False}}, scaler)


def rf_to_onnx(model, scaler=None):
    """RandomForestClassifier (trees take raw features: no scaler)."""
    return _skl_convert(model, {id(model): {"zipmap": False}}, scaler)


def svm_to_onnx(model, scaler=None):
    """SVC with ``probability=True``: one SVMClassifier node (libsvm's pairwise Platt coupling)."""
    import warnings

    with warnings.catch_warnings():  # the converter reads probA_/probB_, deprecated with probability=True
        warnings.filterwarnings("ignore", message=".*deprecated.*probability=True", category=FutureWarning)
        return _skl_convert(model, {id(model): {"zipmap": False}}, scaler)


def xgboost_to_onnx(model, scaler=None):
    """XGBClassifier via onnxmltools (needs onnxmltools' own FloatTensorType), its trees as TreeEnsemble."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    proto = onnxmltools.convert_xgboost(
        model, initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))], target_opset=XGB_OPSET
    )
    compact = compact_tree_classifier(uniform_io(proto, prob_output="probabilities"), opset=OPSET)
    return finish(_with_scaler(compact, scaler))


_ACTS: dict[str | None, str | None] = {
    "relu": "Relu",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "linear": None,
    "identity": None,
    None: None,
}


def mlp_to_onnx(
    weights: list[np.ndarray],
    biases: list[np.ndarray],
    activations: Sequence[str | None],
    scaler=None,
    *,
    softmax: bool = True,
):
    """A dense network given as matrices (in_dim, out_dim), biases and hidden activations: Gemm + act + Softmax."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    if len(weights) != len(biases):
        raise ExportError("MLP: weights and biases differ in length")
    acts = list(activations)
    if len(acts) == len(weights) and str(acts[-1]).lower() in ("softmax", "none", "linear", "identity"):
        acts = acts[:-1]
    if len(acts) != len(weights) - 1:
        raise ExportError(f"MLP: {len(weights)} layers need {len(weights) - 1} hidden activations, got {len(acts)}")
    nodes, inits = [], []
    cur = INPUT_NAME
    if scaler is not None:
        nodes, inits = _scaler_nodes(cur, "scaled_features", scaler)
        cur = "scaled_features"
    for i, (w, b) in enumerate(zip(weights, biases)):
        w = np.asarray(w, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32).reshape(-1)
        if w.shape[1] != b.shape[0]:
            raise ExportError(f"MLP layer {i}: weight {w.shape} does not match bias {b.shape}")
        inits += [numpy_helper.from_array(w, f"W{i}"), numpy_helper.from_array(b, f"b{i}")]
        out = f"z{i}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{i}", f"b{i}"], [out], name=f"dense{i}"))
        cur = out
        if i < len(weights) - 1:
            act = acts[i]
            key = act.lower() if act is not None else None
            if key not in _ACTS:
                raise ExportError(f"MLP: unsupported activation {act!r}")
            op = _ACTS[key]
            if op is not None:
                nodes.append(helper.make_node(op, [cur], [f"a{i}"]))
                cur = f"a{i}"
    if softmax:
        nodes.append(helper.make_node("Softmax", [cur], [OUTPUT_NAME], axis=1))
    else:
        nodes.append(helper.make_node("Identity", [cur], [OUTPUT_NAME]))
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", N_CLASSES])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gtzan-export")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def numpy_net_to_onnx(net, scaler=None):
    """The project's NumPy MLP (gtzan.training.numpy_net): its weight matrices, biases and activation names."""
    return mlp_to_onnx(
        [np.asarray(w) for w in net.weights], [np.asarray(b) for b in net.biases], list(net.activations), scaler
    )


Converter = Callable[[Any, Any], Any]

# the "to ONNX" column of the member table (gtzan.training.members), by kind
TO_ONNX: dict[str, Converter] = {
    "keras": keras_to_onnx,
    "xgboost": xgboost_to_onnx,
    "knn": knn_to_onnx,
    "rf": rf_to_onnx,
    "svm": svm_to_onnx,
    "numpy": numpy_net_to_onnx,
}


def member_to_onnx(kind: str, model: Any, scaler: Any = None) -> Any:
    """The ONNX graph of a trained member of the given kind."""
    convert = TO_ONNX.get(kind)
    if convert is None:
        raise ExportError(f"do not know how to export member kind {kind!r}")
    return convert(model, scaler)
