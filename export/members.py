"""Turn trained members into verified ONNX members (optionally int8 for the Keras nets)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .bundle_writer import ExportedMember
from .errors import ExportError
from .onnx_members import member_to_onnx
from .verify import compare, compress_weights, neighbour_ties, run_onnx, verify_export, verify_quantized

QUANTIZABLE = ("keras",)  # kinds whose weight matrices may be stored as int8 or float16
COMPRESSIONS = ("int8", "float16")  # tried in this order; the first within the agreement threshold wins


def export_member(member: Any, weight: int, x_verify: np.ndarray, *, quantize: bool = False) -> ExportedMember:
    """Convert one trained member (name, kind, model, scaler, predict_proba) and check it on x_verify.

    A float32 graph outside the parity thresholds raises ExportError. With ``quantize``, a Keras graph's
    weight matrices are stored as int8 (else float16) if that graph agrees with the float32 graph on
    >= 99.5 % of the rows; if neither does, the float32 graph is kept and the reasons are recorded.
    """
    name, kind = str(member.name), str(member.kind)
    try:
        proto = member_to_onnx(kind, member.model, member.scaler)
    except ExportError:
        raise
    except Exception as e:  # converter internals raise anything
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ExportError(f"cannot convert {name} ({kind}) to ONNX: {first}") from None
    data = proto.SerializeToString()
    excuse = neighbour_ties(member.model, member.scaler, x_verify) if kind == "knn" else None
    parity = verify_export(name, data, member.predict_proba, x_verify, excuse=excuse)
    extra: dict[str, Any] = {"float32_bytes": len(data)}
    quantized = False
    extra["weights_dtype"] = "float32"
    if quantize and kind in QUANTIZABLE:
        rejected = []
        for method in COMPRESSIONS:
            qdata = compress_weights(data, method)
            try:
                qpar = verify_quantized(name, data, qdata, x_verify, method=method)
            except ExportError as e:
                rejected.append(str(e))
                continue
            ref = np.asarray(member.predict_proba(np.asarray(x_verify, dtype=np.float64)))
            extra["quantization"] = {
                "method": f"{method} weights (per-column scale)" if method == "int8" else "float16 weights",
                "vs_float32": qpar.as_dict(),
                "vs_original": compare(ref, run_onnx(qdata, x_verify), "original").as_dict(),
                "bytes": len(qdata),
            }
            extra["weights_dtype"] = method
            data, quantized = qdata, True
            break
        if rejected:
            extra["quantization_rejected"] = rejected
    return ExportedMember(
        name=name,
        kind=kind,
        weight=int(weight),
        onnx_bytes=data,
        quantized=quantized,
        scaler_in_graph=member.scaler is not None,
        parity=parity.as_dict(),
        extra=extra,
    )
