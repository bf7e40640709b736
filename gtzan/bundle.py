"""Load a model bundle (a folder of ONNX members + manifest.json) and predict with the blend.

Only numpy and onnxruntime are needed here, so the listener runs without the training stack. The
manifest's schema and checks are gtzan.manifest's; every check that can fail raises
:class:`BundleError` with a one-line message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from gtzan.blend import blend_scores, calibrate, weighted_probs
from gtzan.blend import predict as rule_predict
from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES
from gtzan.gain import at_level
from gtzan.manifest import (
    INPUT_NAME,
    OUTPUT_NAME,
    BlendSpec,
    BundleError,
    Manifest,
    read_manifest,
    safe_relative_name,
)
from gtzan.memory import release_free_memory

if TYPE_CHECKING:
    from gtzan.fingerprint import Mismatch


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

    path: Path  # the bundle's folder
    manifest: Manifest

    @property
    def blend(self) -> BlendSpec:
        return self.manifest.blend

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
    def context_share(self) -> float | None:
        """The 30 s context model's share in a track's verdict; None when the bundle has no context model."""
        return None if self.manifest.context is None else self.manifest.context.share

    def levelled(self, features: np.ndarray) -> np.ndarray:
        """Feature rows as the members see them (at the bundle's level, when it has one), float32."""
        x = np.asarray(features, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
            raise ValueError(f"expected features of shape (n, {len(FEATURE_NAMES)}), got {np.shape(features)}")
        if not np.all(np.isfinite(x)):
            raise ValueError("features contain NaN or infinite values")
        if self.manifest.features.level_rms is not None:
            x = at_level(x, self.manifest.features.level_rms).astype(np.float32)
        return np.ascontiguousarray(x)

    @property
    def idle_members(self) -> tuple[str, ...]:
        """Members listed with weight 0: never run, never shown as voting."""
        return self.blend.idle

    @property
    def provisional(self) -> bool:
        return self.manifest.provisional

    @cached_property
    def feature_mismatches(self) -> list[Mismatch] | None:
        """Features this code computes differently from the code that trained the bundle (gtzan.fingerprint).

        None when the manifest records no fingerprint to compare with.
        """
        from gtzan import fingerprint

        return fingerprint.check(self.manifest.features.fingerprint)

    @property
    def feature_code_matches(self) -> bool | None:
        """Whether this feature code computes the bundle's features; None when that is unknown."""
        found = self.feature_mismatches
        return None if found is None else not found


class Bundle(ManifestFacts):
    """A loaded, verified bundle: one onnxruntime session per member with a weight above 0."""

    def __init__(self, path: Path, manifest: Manifest, members: list[Member], context: Member | None = None):
        self.path = path
        self.manifest = manifest
        self.genres: tuple[str, ...] = manifest.genres
        self.members = members
        self.context = context  # the 30 s context model (weight 0: it is not a member of the 3 s blend)
        self.blend_weights: tuple[int, ...] = tuple(m.weight for m in members)
        self._w = np.asarray(self.blend_weights, dtype=np.float64)

    def predict_context(self, pooled: np.ndarray) -> np.ndarray | None:
        """The context model's probabilities (n, 10) for features pooled over 30 s of windows
        (gtzan.context.ContextSpans, of levelled windows); None when the bundle has no context model."""
        if self.context is None:
            return None
        x = self.levelled(pooled)
        if len(x) == 0:
            return np.zeros((0, len(self.genres)), dtype=np.float32)
        return self.context.predict_proba(x).astype(np.float32, copy=False)

    def predict(self, features: np.ndarray) -> Prediction:
        x = self.levelled(features)
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

    def ready(self) -> bool:
        """Whether ``predict`` runs without waiting: always, once loaded (gtzan.daemon.loading.BackgroundBundle
        is the bundle still loading)."""
        return True

    def join(self) -> None:
        """Nothing runs in the background of a loaded bundle."""
        return None

    def __repr__(self) -> str:
        names = ", ".join(f"{m.name}:{m.weight}" for m in self.members)
        return f"Bundle({str(self.path)!r}, rule={self.rule!r}, T={self.temperature:g}, members=[{names}])"


def session_options() -> Any:
    """onnxruntime settings for every session: one thread each (the listener runs beside other work)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return so


def verify_files(path: Path, manifest: Manifest) -> None:
    """Every file listed (and every member file) exists and matches its sha256."""
    expected = dict(manifest.files)
    for m in manifest.members:
        if expected.setdefault(m.file, m.sha256) != m.sha256:
            raise BundleError(f"model bundle {path}: two different checksums given for {m.file}")
    for name, digest in expected.items():
        f = path / name
        if not safe_relative_name(name) or not f.is_file():
            raise BundleError(f"model bundle {path}: file {name} is missing")
        if sha256_file(f) != digest:
            raise BundleError(f"model bundle {path}: {name} is corrupt (sha256 mismatch)")


def _check_io(path: Path, name: str, sess) -> None:
    ins, outs = sess.get_inputs(), sess.get_outputs()
    n_in = len(FEATURE_NAMES)
    if (
        len(ins) != 1
        or ins[0].name != INPUT_NAME
        or ins[0].type != "tensor(float)"
        or len(ins[0].shape) != 2
        or ins[0].shape[1] != n_in
    ):
        got = [(i.name, i.type, i.shape) for i in ins]
        raise BundleError(f"model bundle {path}: member {name} input must be {INPUT_NAME} float [N,{n_in}], got {got}")
    probs = [o for o in outs if o.name == OUTPUT_NAME]
    if (
        len(probs) != 1
        or probs[0].type != "tensor(float)"
        or len(probs[0].shape) != 2
        or probs[0].shape[1] != len(GENRES)
    ):
        got = [(o.name, o.type, o.shape) for o in outs]
        raise BundleError(
            f"model bundle {path}: member {name} output must be {OUTPUT_NAME} float [N,{len(GENRES)}], got {got}"
        )


def load_bundle(path: str | Path | None = None, *, verify_checksums: bool = True) -> Bundle:
    """Load and check a bundle folder (default: the shipped one); raise BundleError on any problem."""
    path = Path(path).expanduser() if path is not None else default_bundle_dir()
    manifest = read_manifest(path)
    if verify_checksums:
        verify_files(path, manifest)
    so = session_options()
    made_with = _made_with(manifest)
    active = [m for m in manifest.members if m.weight > 0]  # weight 0: a session would only cost time and memory
    sessions: dict[str, Any] = {}
    # Largest graph first, while the process is smallest: building a session holds the parsed graph
    # beside the finished one (the XGBoost member's 4 MB of trees take about 44 MB for a moment, 31 MB
    # after), and the free pages go back to the system after each one, so the peak is one session's.
    for m in sorted(active, key=lambda m: -(path / m.file).stat().st_size):
        sess = _session(path, m.file, so, made_with)
        _check_io(path, m.name, sess)
        sessions[m.name] = sess
    members = [Member(m.name, m.kind, m.weight, path / m.file, m.quantized, sessions[m.name]) for m in active]
    context = None
    if manifest.context is not None:
        name = manifest.context.file
        sess = _session(path, name, so, made_with)
        _check_io(path, "context", sess)
        context = Member("context", "context", 0, path / name, False, sess)
    bundle = Bundle(path, manifest, members, context)
    _smoke_test(bundle)
    return bundle


def _made_with(manifest: Manifest) -> str | None:
    """The onnxruntime version the bundle was exported and verified with, where recorded."""
    packages = manifest.records.get("packages")
    version = packages.get("onnxruntime") if isinstance(packages, dict) else None
    return version if isinstance(version, str) else None


def _older(installed: str, made_with: str) -> bool:
    """Whether version ``installed`` comes before ``made_with`` (numeric parts only; unknown: False)."""

    def parts(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", v.split("+")[0])[:3])

    mine, theirs = parts(installed), parts(made_with)
    return bool(mine and theirs) and mine < theirs


def _session(path: Path, file: str, so: Any, made_with: str | None = None) -> Any:
    """An onnxruntime session for one graph of the bundle, its parse temporaries given back."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path / file), sess_options=so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises several private exception types
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
        if made_with is not None and _older(ort.__version__, made_with):
            # e.g. the boosted trees' TreeEnsemble (ai.onnx.ml 5) needs onnxruntime >= 1.21
            msg += f" (the bundle was made with onnxruntime {made_with}; this is {ort.__version__}: upgrade it)"
        raise BundleError(f"model bundle {path}: onnxruntime cannot load {file}: {msg}") from None
    release_free_memory()
    return sess


def _smoke_test(bundle: Bundle) -> None:
    """One zero row through every member: catches graphs that load but cannot run or give the wrong shape."""
    x = np.zeros((2, len(FEATURE_NAMES)), dtype=np.float32)
    for m in bundle.members + ([bundle.context] if bundle.context is not None else []):
        try:
            p = m.predict_proba(x)
        except Exception as e:
            msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else e.__class__.__name__
            raise BundleError(f"model bundle {bundle.path}: member {m.name} fails to run: {msg}") from None
        if p.shape != (2, len(GENRES)):
            raise BundleError(
                f"model bundle {bundle.path}: member {m.name} returns shape {p.shape}, expected (n, {len(GENRES)})"
            )
