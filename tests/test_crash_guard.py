"""The C crash guard (``gtzan.daemon._crash_guard``): a fatal signal on the arming thread becomes one line
and an exit status; on other threads, and once disarmed, signals are left to what was there before.

Each case runs in a child process, since the point is how a process dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

try:
    from gtzan.daemon import _crash_guard
except ImportError:
    _crash_guard = None


def test_guard_built_where_required() -> None:
    """CI sets GTZAN_REQUIRE_C_EXTENSIONS=1: there a missing guard would bring back the probe process."""
    if os.environ.get("GTZAN_REQUIRE_C_EXTENSIONS") != "1":
        pytest.skip("GTZAN_REQUIRE_C_EXTENSIONS not set: the crash guard is optional here")
    assert _crash_guard is not None, "gtzan.daemon._crash_guard was not built: is a C compiler installed?"


needs_guard = pytest.mark.skipif(_crash_guard is None, reason="gtzan.daemon._crash_guard not built (no C compiler)")


def run(body: str) -> subprocess.CompletedProcess[str]:
    code = "import ctypes, os, threading\nfrom gtzan.daemon import _crash_guard as g\n" + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@needs_guard
@pytest.mark.parametrize(
    ("crash", "name"), [("os.abort()", "SIGABRT"), ("ctypes.string_at(0)", "SIGSEGV")], ids=["abort", "segfault"]
)
def test_a_crash_on_the_armed_thread_is_one_line_and_the_status(crash: str, name: str) -> None:
    r = run(
        f"""
        g.arm(2, b"gtzan-listen: error: killed by ", b" here\\n", 7)
        print("before", flush=True)
        {crash}
        print("not reached")
        """
    )
    assert r.returncode == 7, (r.returncode, r.stderr)
    assert r.stdout == "before\n"
    assert r.stderr == f"gtzan-listen: error: killed by {name} here\n"


@needs_guard
def test_a_crash_elsewhere_is_passed_on() -> None:
    """Armed on the main thread, an abort on another thread kills the process as it would unguarded."""
    r = run(
        """
        g.arm(2, b"head ", b" tail\\n", 7)
        t = threading.Thread(target=os.abort)
        t.start()
        t.join()
        """
    )
    assert r.returncode == -signal.SIGABRT, (r.returncode, r.stderr)
    assert "head" not in r.stderr


@needs_guard
def test_disarm_puts_back_the_handler_before() -> None:
    """Python's faulthandler (installed first here) is back in charge after disarm()."""
    r = run(
        """
        import faulthandler, sys
        faulthandler.enable()
        g.arm(2, b"head ", b" tail\\n", 7)
        g.disarm()
        g.disarm()  # a second call is harmless
        os.abort()
        """
    )
    assert r.returncode == -signal.SIGABRT, (r.returncode, r.stderr)
    assert "Fatal Python error: Aborted" in r.stderr and "head" not in r.stderr


@needs_guard
def test_arm_twice_is_refused() -> None:
    r = run(
        """
        g.arm(2, b"a", b"b", 1)
        try:
            g.arm(2, b"a", b"b", 1)
        except RuntimeError as e:
            print(e)
        g.disarm()
        g.arm(2, b"a", b"b", 1)  # and allowed again once disarmed
        print("ok")
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["the crash guard is already armed", "ok"]
