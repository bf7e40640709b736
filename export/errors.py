"""The one error type of gtzan-export: its message is a single line for the command line."""


class ExportError(Exception):
    """Export could not produce a verified bundle; nothing was written."""
