"""The features' optional C extensions, loaded in this one place: each is the module, or None.

``median`` (``gtzan.features._median``: the HPSS median filters) and ``spectral``
(``gtzan.features._spectral``: per-frame statistics, the harmonic mask, the overlap-add and the tempo
estimate's power spectra) are built at install where a C compiler is. Without one, their callers run
NumPy code that gives the same floats. Setting an attribute here to None sends every caller of that
extension down the NumPy path at once, as ``bench_stream.py --numpy-only`` and the tests comparing the
two paths do.
"""

from __future__ import annotations

from types import ModuleType

median: ModuleType | None
spectral: ModuleType | None

try:
    from gtzan.features import _median as median
except ImportError:  # built without a C compiler
    median = None

try:
    from gtzan.features import _spectral as spectral
except ImportError:  # built without a C compiler
    spectral = None
