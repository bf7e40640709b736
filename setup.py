"""Build hook for the optional C median kernel; everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and gtzan.medians uses NumPy.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("gtzan._median", sources=["gtzan/_median.c"], optional=True)])
