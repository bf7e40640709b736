"""Time from gtzan-listen's first statement to its capture stream running, on the virtual microphone.

    python benchmarks/bench_capture_start.py [--runs 10] [--compare PYTHON]

Each run is a fresh interpreter that runs the command line (``--json``, microphone input) with
``MicSource.start`` wrapped: when the stream has started it records the milliseconds since the
process's first statement and exits. Interpreter start-up is left out (the same for any code), and so
is the virtual microphone's own lag in noticing the stream, which ``bench_daemon.py`` has to
subtract. ``--compare PYTHON``: also run another interpreter (e.g. one whose ``gtzan`` is an earlier
checkout), in turns with this one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ holds the virtual microphone

# argv: the file to write the milliseconds to
WRAPPED = """
import time
t0 = time.monotonic()
import os, sys
import gtzan.daemon.devices as devices
resolve = devices.resolve_input


def resolve_then_wrap(*a, **k):  # the source module is imported by now: wrap its start
    try:
        from gtzan.daemon.mic import MicSource
    except ImportError:  # a checkout before gtzan.daemon.mic
        from gtzan.daemon.sources import MicSource
    start = MicSource.start

    def timed_start(self):
        start(self)
        with open(sys.argv[1], "w") as f:
            f.write(str(1000 * (time.monotonic() - t0)))
        os._exit(0)

    MicSource.start = timed_start
    return resolve(*a, **k)


devices.resolve_input = resolve_then_wrap
from gtzan.daemon.cli import cli
cli(["--json", "--duration", "4"], prog_name="gtzan-listen")
"""


def one_run(python: str, env: dict[str, str], out: Path) -> float:
    out.unlink(missing_ok=True)
    r = subprocess.run([python, "-c", WRAPPED, str(out)], env=env, capture_output=True, text=True, timeout=60)
    if not out.exists():
        sys.exit(f"{python}: the capture did not start: {r.stderr.strip()[-400:]}")
    return float(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--compare", metavar="PYTHON", help="another interpreter, run in turns with this one")
    args = ap.parse_args()
    from tests.vmic import VirtualMic

    reason = VirtualMic.unavailable()
    if reason:
        sys.exit(f"no virtual microphone: {reason}")
    pythons = {"this": sys.executable} | ({"compared": args.compare} if args.compare else {})
    ms: dict[str, list[float]] = {name: [] for name in pythons}
    with tempfile.TemporaryDirectory() as tmp, VirtualMic() as mic:
        env = dict(mic.env, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
        for r in range(args.runs):
            order = list(pythons.items()) if r % 2 == 0 else list(reversed(pythons.items()))
            for name, python in order:
                ms[name].append(one_run(python, env, Path(tmp) / "ms"))
    for name, xs in ms.items():
        runs = ", ".join(f"{x:.0f}" for x in sorted(xs))
        print(f"{name:9s} first statement to capture running: median {statistics.median(xs):.1f} ms (runs {runs})")
    if args.compare:
        print(f"ratio this / compared: {statistics.median(ms['this']) / statistics.median(ms['compared']):.2f}")


if __name__ == "__main__":
    main()
