"""PortAudio access through sounddevice, imported lazily so file and demo modes work without it."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from gtzan.daemon.errors import NoInputDevice, PortAudioMissing

INSTALL_HINT = "install PortAudio (Debian/Ubuntu: sudo apt-get install libportaudio2)"
ALTERNATIVES = "use --file PATH to classify a file, or --demo to watch a synthetic demo"


def import_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio library into a one-line error."""
    try:
        import sounddevice
    except OSError as e:  # "PortAudio library not found"
        raise PortAudioMissing(f"the PortAudio library is missing ({e}): {INSTALL_HINT}; or {ALTERNATIVES}") from None
    except ImportError as e:
        raise PortAudioMissing(f"the sounddevice package is not installed ({e}); {ALTERNATIVES}") from None
    return sounddevice


def parse_device(device: str | None) -> int | str | None:
    """--device accepts an index or (part of) a name, as sounddevice does."""
    if device is None or device == "":
        return None
    return int(device) if device.strip().isdigit() else device


def list_devices_text(sd: ModuleType | None = None) -> str:
    """sounddevice's device table, or a sentence saying there is none."""
    sd = sd or import_sounddevice()
    try:
        devs = sd.query_devices()
    except Exception as e:  # noqa: BLE001 - a listing must never crash the error message it belongs to
        return f"(could not list devices: {e})"
    if len(devs) == 0:
        return "no audio devices found"
    return str(devs)


def input_devices(sd: ModuleType) -> list[dict[str, Any]]:
    try:
        return [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception:  # noqa: BLE001
        return []


def resolve_input(device: str | None) -> tuple[ModuleType, dict[str, Any]]:
    """The sounddevice module and the capture device to use; NoInputDevice with a helpful message if none."""
    sd = import_sounddevice()
    want = parse_device(device)
    try:
        info = sd.query_devices(want, kind="input")
    except (sd.PortAudioError, ValueError) as e:
        have = input_devices(sd)
        listing = "; ".join(f"[{d['index']}] {d['name']}" for d in have) or "none"
        what = "no audio input device found" if want is None else f"input device {device!r} not found"
        raise NoInputDevice(f"{what} ({e}). Input devices present: {listing}. {ALTERNATIVES[0].upper()}{ALTERNATIVES[1:]}.") from None
    if info["max_input_channels"] < 1:
        raise NoInputDevice(f"device {info['name']!r} has no input channels; see --list-devices; or {ALTERNATIVES}")
    return sd, dict(info)
