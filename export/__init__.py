"""gtzan.export: trained members -> verified ONNX graphs -> a model bundle folder (``gtzan-export``).

Modules: ``onnx_members`` (one converter per member kind, uniform ``features`` -> ``probabilities`` graphs),
``verify`` (parity against the original model, weight compression), ``members`` (convert + verify one
trained member), ``bundle_writer`` (manifest and atomic folder swap), ``records`` (what the manifest records
beyond the members), ``build`` (the whole run, on :mod:`gtzan.training.orchestrate`'s rows and cross-fit), ``cli``.
The training stack (TensorFlow, scikit-learn, converters) is imported only when a function needs it.
"""

from .errors import ExportError

__all__ = ["ExportError"]
