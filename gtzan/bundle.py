"""Load a model bundle (a folder of ONNX members + manifest.json) and predict with the blend.

Only numpy and onnxruntime are needed here, so the listener runs without the training stack.
Every check that can fail raises :class:`BundleError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from gtzan.blend import blend_predict, blend_scores, weighted_probs
from gtzan.features import FEATURE_NAMES, GENRES

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


class BundleError(Exception):
    """A bundle is missing, corrupt or does not fit this version of gtzan (one-line message)."""


def default_bundle_dir() -> Path:
    """The bundle shipped inside the package."""
    return Path(__file__).resolve().parent / "models" / "default"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


_FROM_GTZAN = re.compile(r"^[ \t]*from[ \t]+gtzan((?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n#]*)", re.M)


def _gtzan_imports(source: str) -> set[str]:
    """Module names inside the gtzan package that a source file imports (anywhere in it).

    A line scan rather than ast: every gtzan-listen start checks the bundle against this, and walking
    the syntax trees took 7 ms of it.
    """
    found: set[str] = set()
    for m in _FROM_GTZAN.finditer(source):
        if m.group(1):  # from gtzan.x[.y] import ...
            found.add(m.group(1).split(".")[1])
        else:  # from gtzan import a, b as c, (d, e)
            found.update(n.split(" as ")[0].strip() for n in m.group(2).strip("()").split(",") if n.strip())
    for m in _IMPORT.finditer(source):  # import gtzan.x[.y] [as z], ...
        names = (n.split(" as ")[0].strip() for n in m.group(1).split(","))
        found.update(n.split(".")[1] for n in names if n.startswith("gtzan."))
    return found


def feature_sources() -> list[Path]:
    """The files that define the features: gtzan/features.py and the gtzan modules it imports, recursively."""
    pkg = Path(__file__).resolve().parent
    seen: set[str] = set()
    todo = ["features"]
    while todo:
        name = todo.pop()
        if name in seen or not (pkg / f"{name}.py").is_file():
            continue
        seen.add(name)
        todo.extend(_gtzan_imports((pkg / f"{name}.py").read_text(encoding="utf-8")))
    return [pkg / f"{name}.py" for name in sorted(seen)]


def feature_code_sha256() -> str:
    """Hash of the feature definition's source (``feature_sources``).

    A bundle records it, so a change to the feature code can be noticed before a stale model is used.
    """
    h = hashlib.sha256()
    for p in feature_sources():
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


class Prediction(NamedTuple):
    """Per-member and blended outputs for n feature rows."""

    member_probs: dict[str, np.ndarray]  # name -> (n, 10) float32
    member_votes: dict[str, np.ndarray]  # name -> (n,) int
    scores: np.ndarray  # (n, 10) weighted vote share
    labels: np.ndarray  # (n,) int, blended label
    weighted_probs: np.ndarray  # (n, 10) sum_i w_i p_i / sum_i w_i


@dataclass
class Member:
    """One ONNX model of the bundle with its blend weight."""

    name: str
    kind: str
    weight: int
    file: Path
    quantized: bool
    session: Any = field(repr=False)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


class ManifestFacts:
    """What a bundle's manifest says about it: for loaded bundles and for those still loading."""

    manifest: dict

    @property
    def provisional(self) -> bool:
        return bool(self.manifest.get("provisional", False))

    @property
    def feature_code_matches(self) -> bool:
        """False when gtzan's feature code changed since the bundle was trained."""
        return self.manifest.get("features", {}).get("code_sha256") == feature_code_sha256()


class Bundle(ManifestFacts):
    """A loaded, verified bundle: one onnxruntime session per member."""

    def __init__(self, path: Path, manifest: dict, members: list[Member]):
        self.path = path
        self.manifest = manifest
        self.genres: tuple[str, ...] = tuple(manifest["genres"])
        self.members = members
        self.blend_weights: tuple[int, ...] = tuple(m.weight for m in members)
        self._w = np.asarray(self.blend_weights, dtype=np.float64)

    def predict(self, features: np.ndarray) -> Prediction:
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected features of shape (n, {len(FEATURE_NAMES)}), got {np.shape(features)}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values")
        x = np.ascontiguousarray(x)
        member_probs = {m.name: m.predict_proba(x).astype(np.float32, copy=False) for m in self.members}
        probs = np.stack([member_probs[m.name] for m in self.members])
        return Prediction(
            member_probs=member_probs,
            member_votes={k: v.argmax(axis=1) for k, v in member_probs.items()},
            scores=blend_scores(probs, self._w),
            labels=blend_predict(probs, self._w),
            weighted_probs=weighted_probs(probs, self._w),
        )

    def __repr__(self) -> str:
        names = ", ".join(f"{m.name}:{m.weight}" for m in self.members)
        return f"Bundle({str(self.path)!r}, members=[{names}])"


def _session_options():
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return so


def read_manifest(path: Path) -> dict:
    """Parse and check manifest.json (structure, version, features, genres); no file access beyond it."""
    if not path.is_dir():
        raise BundleError(f"model bundle not found: {path} is not a folder")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"model bundle {path} has no {MANIFEST}")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"model bundle {path}: {MANIFEST} is not valid JSON ({e.__class__.__name__})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"model bundle {path}: {MANIFEST} is not a JSON object")
    ver = manifest.get("format_version")
    if ver != FORMAT_VERSION:
        raise BundleError(f"model bundle {path}: format_version {ver!r} is not supported (expected {FORMAT_VERSION})")
    feats = manifest.get("features")
    names = feats.get("names") if isinstance(feats, dict) else None
    if names is None or tuple(names) != FEATURE_NAMES:
        raise BundleError(f"model bundle {path}: feature names differ from gtzan.features.FEATURE_NAMES")
    if tuple(manifest.get("genres") or ()) != GENRES:
        raise BundleError(f"model bundle {path}: genres differ from gtzan.features.GENRES")
    members = manifest.get("members")
    if not isinstance(members, list) or not members:
        raise BundleError(f"model bundle {path}: manifest lists no members")
    seen = set()
    for i, m in enumerate(members):
        if not isinstance(m, dict) or not all(k in m for k in ("name", "kind", "file", "sha256", "weight")):
            raise BundleError(f"model bundle {path}: member #{i} lacks name/kind/file/sha256/weight")
        w = m["weight"]
        if not isinstance(w, int) or isinstance(w, bool) or w < 0:
            raise BundleError(f"model bundle {path}: member {m['name']!r} weight {w!r} is not a non-negative integer")
        if m["name"] in seen:
            raise BundleError(f"model bundle {path}: member name {m['name']!r} appears twice")
        seen.add(m["name"])
        if Path(m["file"]).name != m["file"]:
            raise BundleError(f"model bundle {path}: member file {m['file']!r} must be a plain file name")
    if sum(m["weight"] for m in members) <= 0:
        raise BundleError(f"model bundle {path}: all blend weights are zero")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise BundleError(f"model bundle {path}: manifest has no 'files' checksum table")
    return manifest


def _safe_relative(name: str) -> bool:
    """A bundle file name: relative, forward slashes, no '..' (report files may sit in a subfolder)."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def verify_files(path: Path, manifest: dict) -> None:
    """Every file listed (and every member file) exists and matches its sha256."""
    expected = dict(manifest["files"])
    for m in manifest["members"]:
        if expected.setdefault(m["file"], m["sha256"]) != m["sha256"]:
            raise BundleError(f"model bundle {path}: two different checksums given for {m['file']}")
    for name, digest in expected.items():
        f = path / name
        if not _safe_relative(name) or not f.is_file():
            raise BundleError(f"model bundle {path}: file {name} is missing")
        if sha256_file(f) != digest:
            raise BundleError(f"model bundle {path}: {name} is corrupt (sha256 mismatch)")


def _check_io(path: Path, name: str, sess) -> None:
    ins, outs = sess.get_inputs(), sess.get_outputs()
    n_in = len(FEATURE_NAMES)
    if len(ins) != 1 or ins[0].name != INPUT_NAME or ins[0].type != "tensor(float)" or len(ins[0].shape) != 2 \
            or ins[0].shape[1] != n_in:
        got = [(i.name, i.type, i.shape) for i in ins]
        raise BundleError(f"model bundle {path}: member {name} input must be {INPUT_NAME} float [N,{n_in}], got {got}")
    probs = [o for o in outs if o.name == OUTPUT_NAME]
    if len(probs) != 1 or probs[0].type != "tensor(float)" or len(probs[0].shape) != 2 \
            or probs[0].shape[1] != len(GENRES):
        got = [(o.name, o.type, o.shape) for o in outs]
        raise BundleError(
            f"model bundle {path}: member {name} output must be {OUTPUT_NAME} float [N,{len(GENRES)}], got {got}")


def load_bundle(path: str | Path | None = None, *, verify_checksums: bool = True) -> Bundle:
    """Load and check a bundle folder (default: the shipped one); raise BundleError on any problem."""
    path = Path(path).expanduser() if path is not None else default_bundle_dir()
    manifest = read_manifest(path)
    if verify_checksums:
        verify_files(path, manifest)
    import onnxruntime as ort

    so = _session_options()
    members = []
    for m in manifest["members"]:
        f = path / m["file"]
        try:
            sess = ort.InferenceSession(str(f), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises several private exception types
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
            raise BundleError(f"model bundle {path}: onnxruntime cannot load {m['file']}: {msg}") from None
        _check_io(path, m["name"], sess)
        members.append(Member(m["name"], m["kind"], int(m["weight"]), f, bool(m.get("quantized", False)), sess))
    bundle = Bundle(path, manifest, members)
    _smoke_test(bundle)
    return bundle


def _smoke_test(bundle: Bundle) -> None:
    """One zero row through every member: catches graphs that load but cannot run or give the wrong shape."""
    x = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    for m in bundle.members:
        try:
            p = m.predict_proba(x)
        except Exception as e:
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
            raise BundleError(f"model bundle {bundle.path}: member {m.name} fails to run: {msg}") from None
        if p.shape != (2, len(GENRES)):
            raise BundleError(f"model bundle {bundle.path}: member {m.name} returns shape {p.shape}, "
                              f"expected (n, {len(GENRES)})")
