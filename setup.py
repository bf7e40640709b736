"""Build hook for the optional C extensions; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds; gtzan.features.medians then uses NumPy,
and gtzan.daemon.devices starts PortAudio in a probe process first instead of arming the crash guard.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gtzan.features._median", sources=["gtzan/features/_median.c"], optional=True),
        Extension("gtzan.daemon._crash_guard", sources=["daemon/_crash_guard.c"], optional=True),
    ]
)
