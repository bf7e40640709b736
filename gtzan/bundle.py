"""Load a model bundle (a folder of ONNX members + manifest.json) and predict with the blend.

Only numpy and onnxruntime are needed here, so the listener runs without the training stack.
Every check that can fail raises :class:`BundleError` with a one-line message.

The manifest's ``blend`` section says how the members are combined (:class:`BlendSpec`): ``rule``
(``"mean"`` or ``"vote"``, see gtzan.blend), ``weights`` (integers, equal to ``members[].weight``),
``calibration`` (``{"method": "temperature", "temperature": T}``) and ``uncertain_below`` (a verdict
whose calibrated probability is lower is shown as uncertain). Format 1 wrote the vote rule out in prose
and had neither calibration nor threshold: it reads as ``"vote"``, T = 1, threshold 0.5. Members with
weight 0 take no part in the blend, so they get no onnxruntime session (their files are still checked).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gtzan.blend import RULES, blend_scores, calibrate, weighted_probs
from gtzan.blend import predict as rule_predict
from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES

if TYPE_CHECKING:
    from gtzan.fingerprint import Mismatch

FORMAT_VERSION = 2  # written by gtzan-export
READABLE_VERSIONS = (1, 2)
DEFAULT_UNCERTAIN_BELOW = 0.5
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


class Prediction(NamedTuple):
    """Per-member and blended outputs for n feature rows (members with weight 0 are not run)."""

    member_probs: dict[str, np.ndarray]  # name -> (n, 10) float32
    member_votes: dict[str, np.ndarray]  # name -> (n,) int
    scores: np.ndarray  # (n, 10) weighted vote share
    labels: np.ndarray  # (n,) int, blended label (by the bundle's rule)
    weighted_probs: np.ndarray  # (n, 10) sum_i w_i p_i / sum_i w_i
    probs: np.ndarray  # (n, 10) calibrated weighted_probs
    confidence: np.ndarray  # (n,) calibrated probability of the label


@dataclass(frozen=True)
class BlendSpec:
    """How a bundle combines its members, from the manifest's ``blend`` section (checked)."""

    rule: str  # "mean" or "vote"
    weights: dict[str, int]  # every member, in manifest order; 0 = not used
    temperature: float = 1.0
    uncertain_below: float = DEFAULT_UNCERTAIN_BELOW

    @property
    def idle(self) -> tuple[str, ...]:
        return tuple(n for n, w in self.weights.items() if w == 0)


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
    blend: BlendSpec

    @property
    def rule(self) -> str:
        return self.blend.rule

    @property
    def temperature(self) -> float:
        return self.blend.temperature

    @property
    def uncertain_below(self) -> float:
        """Verdicts with a lower calibrated probability are reported as uncertain."""
        return self.blend.uncertain_below

    @property
    def idle_members(self) -> tuple[str, ...]:
        """Members listed with weight 0: never run, never shown as voting."""
        return self.blend.idle

    @property
    def provisional(self) -> bool:
        return bool(self.manifest.get("provisional", False))

    @cached_property
    def feature_mismatches(self) -> list[Mismatch] | None:
        """Features this code computes differently from the code that trained the bundle (gtzan.fingerprint).

        None when the manifest records no fingerprint to compare with.
        """
        from gtzan import fingerprint

        features = self.manifest.get("features")
        return fingerprint.check(features.get("fingerprint") if isinstance(features, dict) else None)

    @property
    def feature_code_matches(self) -> bool | None:
        """Whether this feature code computes the bundle's features; None when that is unknown."""
        found = self.feature_mismatches
        return None if found is None else not found


class Bundle(ManifestFacts):
    """A loaded, verified bundle: one onnxruntime session per member with a weight above 0."""

    def __init__(self, path: Path, manifest: dict, members: list[Member], blend: BlendSpec | None = None):
        self.path = path
        self.manifest = manifest
        self.blend = blend if blend is not None else read_blend(manifest, path)
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
        labels = rule_predict(probs, self._w, self.rule)
        wp = weighted_probs(probs, self._w)
        calibrated = calibrate(wp, self.temperature)
        return Prediction(
            member_probs=member_probs,
            member_votes={k: v.argmax(axis=1) for k, v in member_probs.items()},
            scores=blend_scores(probs, self._w),
            labels=labels,
            weighted_probs=wp,
            probs=calibrated,
            confidence=calibrated[np.arange(len(labels)), labels],
        )

    def __repr__(self) -> str:
        names = ", ".join(f"{m.name}:{m.weight}" for m in self.members)
        return f"Bundle({str(self.path)!r}, rule={self.rule!r}, T={self.temperature:g}, members=[{names}])"


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
    if isinstance(ver, bool) or ver not in READABLE_VERSIONS:
        expected = " or ".join(map(str, READABLE_VERSIONS))
        raise BundleError(f"model bundle {path}: format_version {ver!r} is not supported (expected {expected})")
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
    read_blend(manifest, path)
    return manifest


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _short(v: Any, n: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def read_blend(manifest: dict, path: Path | str) -> BlendSpec:
    """The blend settings of a manifest whose members are already checked (see :func:`read_manifest`).

    ``members[].weight`` gives the weights; a ``blend.weights`` table, where present, must say the same
    (a member it leaves out counts as 0), so that no reader can pick the wrong one of two sources.
    """
    where = f"model bundle {path}"
    blend = manifest.get("blend", {})
    if not isinstance(blend, dict):
        raise BundleError(f"{where}: 'blend' is not a JSON object")
    weights = {m["name"]: int(m["weight"]) for m in manifest["members"]}
    listed = blend.get("weights")
    if listed is not None:
        if not isinstance(listed, dict):
            raise BundleError(f"{where}: blend.weights is not a JSON object")
        for name, w in listed.items():
            if name not in weights:
                raise BundleError(f"{where}: blend.weights names {_short(name)}, which is not a member")
            if not _count(w):
                raise BundleError(f"{where}: blend.weights gives {name!r} weight {_short(w)}, "
                                  "not a non-negative integer")
        for name, w in weights.items():
            if listed.get(name, 0) != w:
                raise BundleError(f"{where}: member {name!r} has weight {w} but blend.weights gives it "
                                  f"{listed.get(name, 0)}")
    rule = blend.get("rule", "vote")
    if rule not in RULES:
        if manifest.get("format_version") != 1 or not isinstance(rule, str):
            raise BundleError(f"{where}: blend rule {_short(rule)} is not supported (expected "
                              f"{' or '.join(RULES)})")
        rule = "vote"  # format 1 described its one rule, the vote, in prose
    temperature = 1.0
    cal = blend.get("calibration")
    if cal is not None:
        if not isinstance(cal, dict) or cal.get("method") != "temperature":
            method = cal.get("method") if isinstance(cal, dict) else cal
            raise BundleError(f"{where}: blend calibration {_short(method)} is not supported (expected temperature)")
        temperature = cal.get("temperature")
        if not _real(temperature) or temperature <= 0:
            raise BundleError(f"{where}: calibration temperature {_short(temperature)} is not a positive finite number")
    below = blend.get("uncertain_below", DEFAULT_UNCERTAIN_BELOW)
    if not _real(below) or not 0.0 <= below <= 1.0:
        raise BundleError(f"{where}: blend.uncertain_below {_short(below)} is not a number in [0, 1]")
    return BlendSpec(str(rule), weights, float(temperature), float(below))


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
    blend = read_blend(manifest, path)
    if verify_checksums:
        verify_files(path, manifest)
    import onnxruntime as ort

    so = _session_options()
    members = []
    for m in manifest["members"]:
        if m["weight"] == 0:
            continue  # takes no part in the blend: a session would only cost time and memory
        f = path / m["file"]
        try:
            sess = ort.InferenceSession(str(f), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises several private exception types
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
            raise BundleError(f"model bundle {path}: onnxruntime cannot load {m['file']}: {msg}") from None
        _check_io(path, m["name"], sess)
        members.append(Member(m["name"], m["kind"], int(m["weight"]), f, bool(m.get("quantized", False)), sess))
    bundle = Bundle(path, manifest, members, blend)
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
