"""Write a bundle folder atomically: build it beside the target, check it loads, then swap it in.

The manifest is a gtzan.manifest.Manifest, whose docstring is the file's schema.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from gtzan.bundle import BundleError, load_bundle, sha256_file
from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.features.sources import feature_code_sha256
from gtzan.fingerprint import fingerprint
from gtzan.manifest import (
    INPUT_NAME,
    MANIFEST,
    OUTPUT_NAME,
    FeatureSection,
    Manifest,
    MemberEntry,
    blend_spec,
    context_spec,
    safe_relative_name,
)

from .errors import ExportError

PACKAGES = (
    "gtzan-listen",
    "numpy",
    "onnxruntime",
    "onnx",
    "tf2onnx",
    "skl2onnx",
    "onnxmltools",
    "scikit-learn",
    "xgboost",
    "xgboost-cpu",
    "tensorflow",
    "tensorflow-cpu",
    "keras",
    "librosa",
)


@dataclass
class ExportedMember:
    """One verified ONNX member ready to be written."""

    name: str
    kind: str
    weight: int
    onnx_bytes: bytes
    quantized: bool = False
    scaler_in_graph: bool = False
    parity: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def file(self) -> str:
        return f"{self.name}.onnx"


def jsonable(obj: Any) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, paths and dataclasses (NaN/inf become None)."""
    import dataclasses
    import math

    import numpy as np

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = dataclasses.asdict(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def package_versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    return out


def build_manifest(members: list[ExportedMember], info: dict[str, Any], files: dict[str, str]) -> Manifest:
    """The manifest: the members, the feature contract, and whatever the caller knows (blend, metrics, data,
    training); ``info`` may carry the exporting code's fingerprint and source hash."""
    entries = tuple(
        MemberEntry(
            m.name,
            m.kind,
            m.file,
            files[m.file],
            int(m.weight),
            m.quantized,
            jsonable(
                {
                    "bytes": len(m.onnx_bytes),
                    "input": {"name": INPUT_NAME, "dtype": "float32", "shape": [None, len(FEATURE_NAMES)]},
                    "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, len(GENRES)]},
                    "scaler_in_graph": m.scaler_in_graph,
                    "parity": m.parity,
                    **m.extra,
                }
            ),
        )
        for m in members
    )
    features = FeatureSection(
        FEATURE_NAMES,
        info.get("feature_fingerprint") or fingerprint(),
        info.get("feature_code_sha256") or feature_code_sha256(),
        info.get("feature_level_rms"),
    )
    records: dict[str, Any] = {
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "packages": package_versions(),
    }
    typed = ("format_version", "features", "genres", "members", "files", "provisional", "context")
    feature_keys = ("feature_code_sha256", "feature_fingerprint", "feature_level_rms")
    for k, v in info.items():
        if k not in typed and k not in records and k not in feature_keys:
            records[k] = jsonable(v)
    try:
        blend = blend_spec(records.get("blend", {}), entries, "the new bundle")
        context = context_spec(jsonable(info.get("context")), files, "the new bundle")
    except BundleError as e:
        raise ExportError(str(e)) from None
    return Manifest(
        entries,
        blend,
        files,
        features,
        provisional=bool(info.get("provisional", False)),
        records=records,
        context=context,
    )


def check_target(out: Path) -> None:
    """Fail early when out cannot take a bundle (not a folder, or a non-bundle folder with files in it)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"cannot write the bundle: {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ExportError(f"refusing to replace {out}: it is not empty and holds no {MANIFEST}")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir() or not os.access(parent, os.W_OK):
                raise ExportError(f"cannot write the bundle: {parent} is not a writable folder")
            break


def write_bundle(
    out: str | Path,
    members: list[ExportedMember],
    info: dict[str, Any],
    extra_files: dict[str, bytes | Path] | None = None,
) -> Path:
    """Write members + extra files + manifest to ``out``; the old bundle there is replaced only on success.

    The folder is assembled as ``.<name>.tmp-*`` beside ``out`` and loaded with gtzan.bundle.load_bundle
    before the swap, so ``out`` always holds either the previous bundle or the complete new one.
    """
    out = Path(out).expanduser().absolute()
    check_target(out)
    if not members:
        raise ExportError("no members to write")
    if len({m.name for m in members}) != len(members):
        raise ExportError("member names must be unique")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create {out.parent}: {e.strerror or e}") from None
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()
        files: dict[str, str] = {}
        for m in members:
            (tmp / m.file).write_bytes(m.onnx_bytes)
            files[m.file] = sha256_file(tmp / m.file)
        for name, content in (extra_files or {}).items():
            if not safe_relative_name(name) or name == MANIFEST or name in files:
                raise ExportError(f"bad extra file name for the bundle: {name!r}")
            dst = tmp / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, (bytes, bytearray)):
                dst.write_bytes(content)
            else:
                shutil.copyfile(content, dst)
            files[name] = sha256_file(dst)
        manifest = build_manifest(members, info, files)
        (tmp / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
        try:
            load_bundle(tmp)
        except BundleError as e:
            raise ExportError(f"the new bundle does not load: {e}") from None
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap_in(tmp: Path, out: Path) -> None:
    """Rename tmp to out; an existing out is moved aside first and removed only after the rename."""
    if not out.exists():
        os.replace(tmp, out)
        return
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def bundle_size(path: Path) -> dict[str, int]:
    """Bytes per file (relative names), recursively."""
    root = Path(path)
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()}
