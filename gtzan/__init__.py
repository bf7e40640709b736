"""gtzan-listen core: the one feature definition, audio input and model bundles."""

__version__ = "0.1.0"
