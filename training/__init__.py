"""Training the report's models: feature table, splits, members, blend weights, evaluation, report.

Heavy libraries (scikit-learn, XGBoost, TensorFlow, matplotlib) are imported inside the functions
that need them, so importing this package is cheap.
"""
