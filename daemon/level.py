"""Level warnings: a window too quiet to trust, or clipping.

The models learned the levels of GTZAN, where no window is quieter than -41 dBFS and none has more than
0.22% of its samples at full scale (89 tracks, windows every 0.5 s). Input beyond either mark is unlike
what they were trained on, and the listener says so, with the level it sees.
"""

from __future__ import annotations

import math

QUIET_DBFS = -45.0  # "quiet": a window's level below this, yet above the silence threshold
CLIP_SHARE = 0.005  # "clipping": more than this share of a window's samples at |x| >= 0.999
FLOOR_DBFS = -120.0


def peak_dbfs(peak: float) -> float:
    """The largest |sample| in dBFS (floored)."""
    return max(FLOOR_DBFS, 20.0 * math.log10(peak)) if peak > 0.0 else FLOOR_DBFS


def level_warning(level_dbfs: float, silent: bool, clipped_share: float) -> str | None:
    """'clipping', 'quiet' or None for a window."""
    if clipped_share > CLIP_SHARE:
        return "clipping"
    if not silent and level_dbfs < QUIET_DBFS:
        return "quiet"
    return None


def warning_text(warning: str | None, level: float, peak: float, clipped_share: float, short: bool = False) -> str:
    """What to tell the user: the warning, what was measured and what to do ('' for no warning)."""
    if warning == "quiet":
        if short:
            return f"too quiet: {level:.0f} dBFS"
        return f"input too quiet: {level:.0f} dBFS, below {QUIET_DBFS:.0f} dBFS; verdicts are unreliable, turn it up"
    if warning == "clipping":
        if short:
            return f"clipping: {100 * clipped_share:.1f}%"
        return (
            f"input clipping: {100 * clipped_share:.1f}% of samples at full scale (peak {peak:.1f} dBFS); turn it down"
        )
    return ""
