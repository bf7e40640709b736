"""Parity checks: an exported graph must reproduce the original model on held-out rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from gtzan.bundle import session_options
from gtzan.manifest import INPUT_NAME, OUTPUT_NAME

from .errors import ExportError

MIN_AGREEMENT = 0.999  # float32 ONNX vs the original model
MAX_PROB_DIFF = 1e-4
MIN_AGREEMENT_QUANTIZED = 0.995  # int8 vs float32 ONNX
MIN_AGREEMENT_FLOAT32_INPUT = 0.99  # the original on float32-rounded rows vs on the rows themselves


@dataclass(frozen=True)
class Parity:
    """How closely one graph follows a reference on n rows."""

    n_rows: int
    label_agreement: float  # rows with the same label; a near-tie (see compare) counts as agreement
    max_abs_prob_diff: float
    reference: str
    raw_label_agreement: float = 1.0  # strict argmax equality, ties not excused
    near_tie_flips: int = 0
    excused_rows: int = 0  # rows left out of the thresholds as numerical ties of the model itself (KNN)

    def as_dict(self) -> dict:
        return asdict(self)


def session(model_bytes: bytes):
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, sess_options=session_options(), providers=["CPUExecutionProvider"])


def run_onnx(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    return session(model_bytes).run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})[0]


def compare(
    p_ref: np.ndarray,
    p_new: np.ndarray,
    reference: str,
    tie_tol: float = MAX_PROB_DIFF,
    excuse: np.ndarray | None = None,
) -> Parity:
    """Labels and probabilities of p_new against p_ref; rows in ``excuse`` (a mask) are numerical ties of
    the model's own decision (a KNN's k-th and next neighbours equally far in float32): they count as
    agreeing and are left out of the probability difference."""
    p_ref = np.asarray(p_ref, dtype=np.float64)
    p_new = np.asarray(p_new, dtype=np.float64)
    if p_ref.shape != p_new.shape:
        raise ExportError(f"{reference}: output shape {p_new.shape} differs from the original {p_ref.shape}")
    if not np.all(np.isfinite(p_new)):
        raise ExportError(f"{reference}: exported graph returns NaN or inf")
    if not len(p_ref):
        return Parity(0, 1.0, 0.0, reference)
    excuse = np.zeros(len(p_ref), dtype=bool) if excuse is None else np.asarray(excuse, dtype=bool)
    a, b = p_ref.argmax(1), p_new.argmax(1)
    same = a == b
    rows = np.arange(len(a))
    # a flip between two labels whose reference probabilities differ by less than the float tolerance
    # is a numerical tie, not an export error
    tie = ~same & ((np.abs(p_ref[rows, a] - p_ref[rows, b]) <= tie_tol) | excuse)
    kept = ~excuse
    diff = float(np.max(np.abs(p_ref[kept] - p_new[kept]))) if kept.any() else 0.0
    return Parity(
        len(p_ref), float(np.mean(same | tie)), diff, reference, float(np.mean(same)), int(tie.sum()), int(excuse.sum())
    )


def verify_export(
    name: str,
    model_bytes: bytes,
    predict_proba,
    x: np.ndarray,
    *,
    min_agreement: float | None = None,
    max_diff: float | None = None,
    excuse: np.ndarray | None = None,
) -> Parity:
    """Compare the float32 graph with the original on rows x; raise ExportError if outside the thresholds.

    The original sees the rows as the listener sends them, float32; ``excuse`` as in :func:`compare`. The
    original must also give the same labels on the rows themselves: a model whose answer hangs on float32
    rounding of its input would pass the graph check and still be wrong in the listener.
    """
    min_agreement = MIN_AGREEMENT if min_agreement is None else min_agreement
    max_diff = MAX_PROB_DIFF if max_diff is None else max_diff
    if len(x) == 0:
        raise ExportError(f"{name}: no rows to verify the export on")
    ref = np.asarray(predict_proba(np.asarray(x, dtype=np.float32).astype(np.float64)))
    exact = np.asarray(predict_proba(np.asarray(x, dtype=np.float64)))
    rounding = float(np.mean(exact.argmax(1) == ref.argmax(1)))
    if rounding < MIN_AGREEMENT_FLOAT32_INPUT:
        raise ExportError(
            f"{name} answers differently once its input is rounded to float32, as the listener sends it "
            f"(label agreement {rounding:.4f} on {len(x)} rows, need >= {MIN_AGREEMENT_FLOAT32_INPUT}): "
            "a scaler dividing by a near-zero spread?"
        )
    par = compare(ref, run_onnx(model_bytes, x), "original", excuse=excuse)
    if par.label_agreement < min_agreement or par.max_abs_prob_diff > max_diff:
        raise ExportError(
            f"export of {name} failed verification on {par.n_rows} rows: label agreement "
            f"{par.label_agreement:.4f} (need >= {min_agreement}), max |prob diff| {par.max_abs_prob_diff:.2e} "
            f"(need <= {max_diff:g})"
        )
    return par


def neighbour_ties(model, scaler, x: np.ndarray, rtol: float = 1e-4) -> np.ndarray:
    """Rows whose k-th and (k+1)-th nearest training rows lie at the same distance to within ``rtol``.

    Which of the two a KNN counts is then decided by rounding: float32 distances in the graph and float64
    in scikit-learn may pick differently, moving the probabilities by 1/k without any export error.
    """
    z = np.asarray(x, dtype=np.float32).astype(np.float64)
    z = scaler.transform(z) if scaler is not None else z
    k = int(model.n_neighbors)
    if k + 1 > model.n_samples_fit_:
        return np.zeros(len(z), dtype=bool)
    d, _ = model.kneighbors(z, n_neighbors=k + 1)
    return np.abs(d[:, k] - d[:, k - 1]) <= rtol * np.maximum(d[:, k], 1e-12)


def verify_quantized(
    name: str,
    float_bytes: bytes,
    quant_bytes: bytes,
    x: np.ndarray,
    *,
    min_agreement: float | None = None,
    method: str = "int8",
) -> Parity:
    """Compressed graph against its float32 graph: labels must agree on >= min_agreement of the rows."""
    min_agreement = MIN_AGREEMENT_QUANTIZED if min_agreement is None else min_agreement
    par = compare(run_onnx(float_bytes, x), run_onnx(quant_bytes, x), "float32 onnx")
    if par.label_agreement < min_agreement:
        raise ExportError(
            f"{method} weights of {name} agree with float32 on only {par.label_agreement:.4f} of "
            f"{par.n_rows} rows (need >= {min_agreement})"
        )
    return par


def compress_weights(model_bytes: bytes, method: str = "int8", min_elements: int = 1024) -> bytes:
    """Store the large MatMul/Gemm weight matrices as int8 (one symmetric scale per output column) or float16.

    The graph restores float32 weights with Cast (and Mul by the scales) on constants, which onnxruntime
    folds once when the session starts: the file is 4x (int8) or 2x (float16) smaller, inference runs in
    float32 at full speed, and activations are never quantised. That last point matters: measured on the
    report's Keras network, quantize_dynamic (which also quantises activations) agreed with float32 on
    only 96-98 % of held-out rows.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if method not in ("int8", "float16"):
        raise ValueError(f"unknown weight compression {method!r}")
    model = onnx.load_from_string(model_bytes)
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    users: dict[str, list] = {}
    for node in g.node:
        for k, name in enumerate(node.input):
            users.setdefault(name, []).append((node, k))
    new_nodes = []
    for name, init in list(inits.items()):
        uses = users.get(name, [])
        if not uses or not all(n.op_type in ("MatMul", "Gemm") and k == 1 for n, k in uses):
            continue
        if any(n.op_type == "Gemm" and any(a.name == "transB" and a.i for a in n.attribute) for n, _ in uses):
            continue
        w = numpy_helper.to_array(init)
        if w.ndim != 2 or w.dtype != np.float32 or w.size < min_elements:
            continue
        g.initializer.remove(init)
        if method == "float16":
            g.initializer.append(numpy_helper.from_array(w.astype(np.float16), name + "_f16"))
            new_nodes.append(
                helper.make_node("Cast", [name + "_f16"], [name], to=TensorProto.FLOAT, name=name + "_restore")
            )
            continue
        scale = (np.abs(w).max(axis=0) / 127.0).astype(np.float32)
        scale[scale == 0] = 1.0
        q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
        g.initializer.extend(
            [numpy_helper.from_array(q, name + "_int8"), numpy_helper.from_array(scale, name + "_scale")]
        )
        new_nodes += [
            helper.make_node("Cast", [name + "_int8"], [name + "_unscaled"], to=TensorProto.FLOAT, name=name + "_cast"),
            helper.make_node("Mul", [name + "_unscaled", name + "_scale"], [name], name=name + "_restore"),
        ]
    if not new_nodes:
        return model_bytes
    nodes = list(g.node)
    del g.node[:]
    g.node.extend(new_nodes + nodes)
    onnx.checker.check_model(model)
    return model.SerializeToString()
