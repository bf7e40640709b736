"""gtzan-listen: stream audio (microphone, file or a synthetic demo) and show its genre as it plays."""

import os as _os

# One window is a few small matrix products; BLAS threads only add contention. Measured on a busy
# 2-core machine: 53 windows of a 30 s track took 10.0 s with OpenBLAS's default threads and 1.1 s
# with one thread. Set before numpy is imported; a value the user exported wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
