"""Build hook for the optional C median kernel; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and gtzan.features.medians uses NumPy.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gtzan.features._median", sources=["gtzan/features/_median.c"], optional=True)])
