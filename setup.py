"""Build hook for the optional C extensions; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds; gtzan.features.medians and
gtzan.features.frames then use NumPy, and gtzan.daemon.devices starts PortAudio in a probe process
first instead of arming the crash guard.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gtzan.features._median", sources=["gtzan/features/_median.c"], optional=True),
        # no fused multiply-adds: the kernel must give NumPy's floats (gtzan.features.frames)
        Extension(
            "gtzan.features._spectral",
            sources=["gtzan/features/_spectral.c"],
            extra_compile_args=["-ffp-contract=off"],
            optional=True,
        ),
        Extension("gtzan.daemon._crash_guard", sources=["daemon/_crash_guard.c"], optional=True),
    ]
)
