"""Convert each kind of trained member to one ONNX graph with a uniform interface.

Every graph takes ``features`` float32 [N, 58] of RAW features (any scaler is folded into the graph)
and returns exactly one output, ``probabilities`` float32 [N, 10]. Label outputs that converters
add (skl2onnx, onnxmltools) are dropped from the graph outputs; the bundle derives each member's
vote as the argmax of its probabilities.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.manifest import INPUT_NAME, OUTPUT_NAME

from .errors import ExportError

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


def _scaler_nodes(src: str, dst: str, mean: np.ndarray, scale: np.ndarray):
    """Nodes + initializers computing dst = (src - mean) / scale in float64, as scikit-learn does."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.asarray(mean, dtype=np.float64), "scaler_mean"),
             numpy_helper.from_array(np.asarray(scale, dtype=np.float64), "scaler_scale")]
    nodes = [
        helper.make_node("Cast", [src], ["features_f64"], to=TensorProto.DOUBLE, name="scaler_cast_in"),
        helper.make_node("Sub", ["features_f64", "scaler_mean"], ["centred_features"], name="scaler_sub"),
        helper.make_node("Div", ["centred_features", "scaler_scale"], ["scaled_f64"], name="scaler_div"),
        helper.make_node("Cast", ["scaled_f64"], [dst], to=TensorProto.FLOAT, name="scaler_cast_out"),
    ]
    return nodes, inits


def prepend_scaler(model, mean: np.ndarray, scale: np.ndarray):
    """Insert (x - mean) / scale in front of the graph so it takes raw features (float64 like scikit-learn)."""
    onnx = _onnx()

    g = model.graph
    inner = "scaled_features"
    _rename_value(g, INPUT_NAME, inner)
    # _rename_value renamed the graph input as well: give it back its public name
    for v in g.input:
        if v.name == inner:
            v.name = INPUT_NAME
    nodes, inits = _scaler_nodes(INPUT_NAME, inner, mean, scale)
    g.initializer.extend(inits)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(model)
    return model


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
    if scaler is not None:
        proto = prepend_scaler(proto, *_scaler_arrays(scaler))
    return finish(proto)


def _skl_convert(estimator, options: dict[int, dict]):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    proto = convert_sklearn(
        estimator, initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))],
        options=options, target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET})
    return finish(uniform_io(proto, prob_output="probabilities"))


def knn_to_onnx(model, scaler=None):
    """KNN (+ scaler as a Pipeline) with the cdist optimisation (about 100x faster than the default loop)."""
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        knn = model.steps[-1][1]
        est = model
    else:
        knn = model
        est = Pipeline([("scaler", scaler), ("knn", model)]) if scaler is not None else model
    return _skl_convert(est, {id(knn): {"optim": "cdist", "zipmap": False}})


def sklearn_to_onnx(model, scaler=None):
    """Any scikit-learn classifier (random forest, ...); trees should get scaler=None."""
    from sklearn.pipeline import Pipeline

    clf = model.steps[-1][1] if isinstance(model, Pipeline) else model
    est = Pipeline([("scaler", scaler), ("clf", model)]) if scaler is not None else model
    return _skl_convert(est, {id(clf): {"zipmap": False}})


def xgboost_to_onnx(model, scaler=None):
    """XGBClassifier via onnxmltools (needs onnxmltools' own FloatTensorType)."""
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    proto = onnxmltools.convert_xgboost(
        model, initial_types=[(INPUT_NAME, FloatTensorType([None, N_FEATURES]))], target_opset=XGB_OPSET)
    proto = uniform_io(proto, prob_output="probabilities")
    if scaler is not None:
        proto = prepend_scaler(proto, *_scaler_arrays(scaler))
    return finish(proto)


_ACTS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "linear": None, "identity": None, None: None}


def mlp_to_onnx(weights: list[np.ndarray], biases: list[np.ndarray], activations: list[str | None],
                scaler=None, *, softmax: bool = True):
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
        nodes, inits = _scaler_nodes(cur, "scaled_features", *_scaler_arrays(scaler))
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
            key = acts[i].lower() if isinstance(acts[i], str) else acts[i]
            if key not in _ACTS:
                raise ExportError(f"MLP: unsupported activation {acts[i]!r}")
            if _ACTS[key]:
                nodes.append(helper.make_node(_ACTS[key], [cur], [f"a{i}"]))
                cur = f"a{i}"
    if softmax:
        nodes.append(helper.make_node("Softmax", [cur], [OUTPUT_NAME], axis=1))
    else:
        nodes.append(helper.make_node("Identity", [cur], [OUTPUT_NAME]))
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", N_CLASSES])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gtzan-export")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def numpy_net_to_onnx(net, scaler=None):
    """The project's NumPy MLP: reads its weight matrices, biases and activation names."""
    weights, biases, acts = _numpy_net_layers(net)
    return mlp_to_onnx(weights, biases, acts, scaler)


def _numpy_net_layers(net) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    ws = getattr(net, "weights", None)
    bs = getattr(net, "biases", None)
    acts = getattr(net, "activations", None)
    if acts is None and getattr(net, "activation", None) is not None:
        acts = [net.activation] * (len(ws) - 1)
    if ws is None or acts is None:
        raise ExportError("NumPy network exposes no weights/activations")
    ws = [np.asarray(w) for w in ws]
    if bs is None:  # biases stored as the last row of each weight matrix
        bs = [w[-1] for w in ws]
        ws = [w[:-1] for w in ws]
    acts = [a if isinstance(a, str) or a is None else getattr(a, "__name__", str(a)) for a in acts]
    return ws, [np.asarray(b) for b in bs], acts


def member_to_onnx(kind: str, model: Any, scaler=None):
    """Dispatch on the member kind (keras, xgb, knn, rf, numpy_net) or, failing that, on the model type."""
    k = kind.lower()
    if k.startswith("keras") or _is_keras(model):
        return keras_to_onnx(model, scaler)
    if k in ("xgb", "xgboost") or type(model).__module__.startswith("xgboost"):
        return xgboost_to_onnx(model, scaler)
    if k == "knn" or type(model).__name__ == "KNeighborsClassifier":
        return knn_to_onnx(model, scaler)
    if k in ("numpy_net", "numpy", "mlp_numpy"):
        return numpy_net_to_onnx(model, scaler)
    if type(model).__module__.startswith("sklearn"):
        return sklearn_to_onnx(model, scaler)
    raise ExportError(f"do not know how to export member kind {kind!r} ({type(model).__name__})")


def _is_keras(model) -> bool:
    return any(c.__module__.startswith("keras") for c in type(model).__mro__)
