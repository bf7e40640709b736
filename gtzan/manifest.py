"""The schema of a bundle's manifest.json, in code: gtzan-export writes a :class:`Manifest`, the listener
reads one, and every check of the file lives in :meth:`Manifest.from_json`.

Every check that can fail raises :class:`BundleError` with a one-line message.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gtzan.blend import RULES
from gtzan.constants import GENRES
from gtzan.features import FEATURE_NAMES

FORMAT_VERSION = 2  # written by gtzan-export
READABLE_VERSIONS = (1, 2)
DEFAULT_UNCERTAIN_BELOW = 0.5
MANIFEST = "manifest.json"
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"


class BundleError(Exception):
    """A bundle is missing, corrupt or does not fit this version of gtzan (one-line message)."""


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

    def to_json(self) -> dict[str, Any]:
        """The section's keys that define the blend (a writer may add records of how it was chosen)."""
        return {
            "rule": self.rule,
            "weights": {n: w for n, w in self.weights.items() if w > 0},
            "calibration": {"method": "temperature", "temperature": self.temperature},
            "uncertain_below": self.uncertain_below,
        }


@dataclass(frozen=True)
class MemberEntry:
    """One entry of ``members``: an ONNX graph from ``features`` float32 [N, 58] to ``probabilities`` [N, 10]."""

    name: str
    kind: str
    file: str  # a plain file name inside the bundle
    sha256: str
    weight: int  # blend weight; 0: listed, checked, never run
    quantized: bool = False
    records: dict[str, Any] = field(default_factory=dict)  # bytes, input, output, parity, scaler_in_graph, ...

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "file": self.file,
            "sha256": self.sha256,
            "weight": self.weight,
            "quantized": self.quantized,
            **self.records,
        }


@dataclass(frozen=True)
class ContextSpec:
    """The optional 30 s context model, from the manifest's ``context`` section (checked): an ONNX graph
    like a member's, fed the features pooled over 30 s of windows (gtzan.context), whose probabilities
    weigh ``share`` against the windows' mean in a track's verdict."""

    file: str  # listed in ``files``, so its checksum is verified with theirs
    share: float  # in [0, 1]
    records: dict[str, Any] = field(default_factory=dict)  # how it was trained and measured

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "share": self.share, **self.records}


@dataclass(frozen=True)
class FeatureSection:
    """The input contract: the feature names, and what the exporting code computed for the probe clip."""

    names: tuple[str, ...] = FEATURE_NAMES
    fingerprint: dict[str, Any] | None = None  # gtzan.fingerprint's {probe, values, rtol, atol}
    code_sha256: str | None = None  # hash of the exporting code's feature sources (information only)
    level_rms: float | None = None  # the members see every window at this rms_mean (gtzan.gain.at_level)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "names": list(self.names),
            "count": len(self.names),
            "dtype": "float32",
            "raw": self.level_rms is None,
        }
        if self.level_rms is not None:
            out["level_rms"] = self.level_rms
        if self.fingerprint is not None:
            out["fingerprint"] = self.fingerprint
        if self.code_sha256 is not None:
            out["code_sha256"] = self.code_sha256
        return out


@dataclass(frozen=True)
class Manifest:
    """A bundle's manifest.json.

    Keys of the JSON object (format 2):

    - ``format_version``: 2 (1 is read too: its blend rule was prose and reads as ``"vote"``, T = 1,
      threshold 0.5);
    - ``features`` {names, count, dtype, raw, level_rms?, fingerprint{probe, values, rtol, atol},
      code_sha256}: the input contract, and what the exporting code computes for the probe clip of
      gtzan.fingerprint (checked at load); with ``level_rms`` (and ``raw`` false) the members take each
      window's features at the gain that brings its ``rms_mean`` to that value (gtzan.gain.at_level);
    - ``genres``: the output order;
    - ``members`` [{name, kind, file, sha256, weight, quantized, bytes, input, output, weights_dtype,
      scaler_in_graph, parity, quantization?}]: one ONNX graph each (:class:`MemberEntry`); members with
      weight 0 take no part in the blend and get no onnxruntime session (their files are still checked);
    - ``blend`` {rule, weights, calibration{method, temperature}, uncertain_below, ...}: ``rule`` is
      ``"mean"`` or ``"vote"`` (gtzan.blend), ``weights`` must equal ``members[].weight`` (a member it
      leaves out counts as 0), ``uncertain_below`` is the calibrated probability under which a verdict is
      shown as uncertain (:class:`BlendSpec`); the exporter adds how the blend was chosen;
    - ``context`` {file, share, ...} (optional): the 30 s context model (:class:`ContextSpec`); its file,
      listed in ``files``, has a member's input and output;
    - ``provisional``: a quick or test export whose verdicts mean little;
    - ``files`` {relative name: sha256}: every file of the bundle except manifest.json;
    - recorded, not read by the listener: ``created_utc``, ``quick``, ``metrics`` {protocol, note,
      held_out, scores, ...}, ``data`` {kind, path, audio_fingerprint | features_csv_sha256, n_rows,
      n_tracks, median_length_samples, ...}, ``training``, ``packages``.
    """

    members: tuple[MemberEntry, ...]
    blend: BlendSpec
    files: dict[str, str]
    features: FeatureSection = FeatureSection()
    genres: tuple[str, ...] = GENRES
    format_version: int = FORMAT_VERSION
    provisional: bool = False
    records: dict[str, Any] = field(default_factory=dict)  # the other sections, as written
    context: ContextSpec | None = None

    @property
    def median_length_samples(self) -> float | None:
        """The median clip length of the training rows (66149 for 3 s windows), where recorded."""
        data = self.records.get("data")
        length = data.get("median_length_samples") if isinstance(data, dict) else None
        return float(length) if isinstance(length, (int, float)) and _real(length) else None

    def to_json(self) -> dict[str, Any]:
        blend = {**self.blend.to_json(), **self.records.get("blend", {})}
        out: dict[str, Any] = {
            "format_version": self.format_version,
            "provisional": self.provisional,
            "features": self.features.to_json(),
            "genres": list(self.genres),
            "members": [m.to_json() for m in self.members],
        }
        out.update({k: v for k, v in self.records.items() if k not in out})
        out["blend"] = blend
        if self.context is not None:
            out["context"] = self.context.to_json()
        out["files"] = dict(sorted(self.files.items()))
        return out

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Manifest:
        """Check a parsed manifest.json (structure, version, features, genres, members, blend, files)."""
        if not isinstance(obj, dict):
            raise BundleError(f"{where}: {MANIFEST} is not a JSON object")
        ver = obj.get("format_version")
        if isinstance(ver, bool) or ver not in READABLE_VERSIONS:
            expected = " or ".join(map(str, READABLE_VERSIONS))
            raise BundleError(f"{where}: format_version {ver!r} is not supported (expected {expected})")
        feats = obj.get("features")
        if not isinstance(feats, dict) or feats.get("names") is None or tuple(feats["names"]) != FEATURE_NAMES:
            raise BundleError(f"{where}: feature names differ from gtzan.features.FEATURE_NAMES")
        if tuple(obj.get("genres") or ()) != GENRES:
            raise BundleError(f"{where}: genres differ from gtzan.constants.GENRES")
        members = _members(obj.get("members"), where)
        files = obj.get("files")
        if not isinstance(files, dict):
            raise BundleError(f"{where}: manifest has no 'files' checksum table")
        blend = blend_spec(obj.get("blend", {}), members, where, prose_rule=ver == 1)
        fp = feats.get("fingerprint")
        code = feats.get("code_sha256")
        level = feats.get("level_rms")
        if level is not None and not (isinstance(level, (int, float)) and _real(level) and level > 0):
            raise BundleError(f"{where}: features.level_rms must be a positive number, got {level!r}")
        typed = ("format_version", "features", "genres", "members", "files", "provisional", "context")
        return cls(
            members=members,
            blend=blend,
            files={str(k): str(v) for k, v in files.items()},
            features=FeatureSection(
                FEATURE_NAMES,
                fp if isinstance(fp, dict) else None,
                code if isinstance(code, str) else None,
                None if level is None else float(level),
            ),
            format_version=int(ver),
            provisional=bool(obj.get("provisional", False)),
            records={k: v for k, v in obj.items() if k not in typed},
            context=context_spec(obj.get("context"), files, where),
        )


def read_manifest(path: Path) -> Manifest:
    """Parse and check a bundle folder's manifest.json; no file access beyond it."""
    if not path.is_dir():
        raise BundleError(f"model bundle not found: {path} is not a folder")
    mpath = path / MANIFEST
    if not mpath.is_file():
        raise BundleError(f"model bundle {path} has no {MANIFEST}")
    try:
        obj = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BundleError(f"model bundle {path}: {MANIFEST} is not valid JSON ({e.__class__.__name__})") from None
    return Manifest.from_json(obj, f"model bundle {path}")


def safe_relative_name(name: str) -> bool:
    """A bundle file name: relative, forward slashes, no '..' (report files may sit in a subfolder)."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and "\\" not in name and all(p not in ("", ".", "..") for p in parts)


def _members(members: Any, where: str) -> tuple[MemberEntry, ...]:
    if not isinstance(members, list) or not members:
        raise BundleError(f"{where}: manifest lists no members")
    out: list[MemberEntry] = []
    for i, m in enumerate(members):
        if not isinstance(m, dict) or not all(k in m for k in ("name", "kind", "file", "sha256", "weight")):
            raise BundleError(f"{where}: member #{i} lacks name/kind/file/sha256/weight")
        w = m["weight"]
        if not _count(w):
            raise BundleError(f"{where}: member {m['name']!r} weight {w!r} is not a non-negative integer")
        if any(e.name == m["name"] for e in out):
            raise BundleError(f"{where}: member name {m['name']!r} appears twice")
        if Path(m["file"]).name != m["file"]:
            raise BundleError(f"{where}: member file {m['file']!r} must be a plain file name")
        records = {k: v for k, v in m.items() if k not in ("name", "kind", "file", "sha256", "weight", "quantized")}
        out.append(
            MemberEntry(
                str(m["name"]),
                str(m["kind"]),
                str(m["file"]),
                str(m["sha256"]),
                int(w),
                bool(m.get("quantized", False)),
                records,
            )
        )
    if sum(m.weight for m in out) <= 0:
        raise BundleError(f"{where}: all blend weights are zero")
    return tuple(out)


def blend_spec(blend: Any, members: tuple[MemberEntry, ...], where: str, prose_rule: bool = False) -> BlendSpec:
    """The blend settings; ``members[].weight`` gives the weights, and a ``blend.weights`` table, where
    present, must say the same, so that no reader can pick the wrong one of two sources."""
    if not isinstance(blend, dict):
        raise BundleError(f"{where}: 'blend' is not a JSON object")
    weights = {m.name: m.weight for m in members}
    listed = blend.get("weights")
    if listed is not None:
        if not isinstance(listed, dict):
            raise BundleError(f"{where}: blend.weights is not a JSON object")
        for name, w in listed.items():
            if name not in weights:
                raise BundleError(f"{where}: blend.weights names {_short(name)}, which is not a member")
            if not _count(w):
                raise BundleError(
                    f"{where}: blend.weights gives {name!r} weight {_short(w)}, not a non-negative integer"
                )
        for name, w in weights.items():
            if listed.get(name, 0) != w:
                raise BundleError(
                    f"{where}: member {name!r} has weight {w} but blend.weights gives it {listed.get(name, 0)}"
                )
    rule = blend.get("rule", "vote")
    if rule not in RULES:
        if not prose_rule or not isinstance(rule, str):
            raise BundleError(f"{where}: blend rule {_short(rule)} is not supported (expected {' or '.join(RULES)})")
        rule = "vote"  # format 1 described its one rule, the vote, in prose
    temperature: Any = 1.0
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


def context_spec(context: Any, files: dict[str, Any], where: str) -> ContextSpec | None:
    """The context section, or None when the bundle has none."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise BundleError(f"{where}: 'context' is not a JSON object")
    name, share = context.get("file"), context.get("share", -1)
    if not isinstance(name, str) or Path(name).name != name or name not in files:
        raise BundleError(f"{where}: context file {_short(name)} is not a plain file name listed in 'files'")
    if not _real(share) or not 0.0 <= share <= 1.0:
        raise BundleError(f"{where}: context share {_short(context.get('share'))} is not a number in [0, 1]")
    return ContextSpec(name, float(share), {k: v for k, v in context.items() if k not in ("file", "share")})


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _short(v: Any, n: int = 40) -> str:
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."
