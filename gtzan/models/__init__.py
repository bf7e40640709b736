"""The default model bundle shipped with the package (see manifest.json)."""
