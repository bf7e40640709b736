"""Command-line plumbing for gtzan-listen: one-line usage errors, and numbers that must be finite.

click prints a usage error as a four-line block (usage, hint, blank, error); the tool promises one
line per error on stderr, so the command class rewrites click's errors as they leave it.
"""

from __future__ import annotations

import math
from typing import Any

import click

PROG = "gtzan-listen"


def error_line(message: str) -> str:
    """The one line every gtzan-listen error is printed as (styled; click strips it off a terminal)."""
    return f"{click.style(f'{PROG}: error:', fg='red', bold=True)} {message}"


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line, ``gtzan-listen: error: ...``, with exit code 2."""

    def show(self, file: Any = None) -> None:
        click.echo(error_line(f"{self.message} (see {PROG} --help)"), file=file, err=file is None)


def _one_line(e: click.UsageError) -> OneLineUsageError:
    # format_message adds click's "Invalid value for '--file':" prefix when the error names a parameter
    one = OneLineUsageError(" ".join(e.format_message().split()), e.ctx)
    one.exit_code = e.exit_code  # type: ignore[misc]  # click declares it on the class; this error keeps its own
    return one


class OneLineCommand(click.Command):
    """A click command whose usage errors (parsing, bad values, or raised by the callback) are one line."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except OneLineUsageError:
            raise
        except click.UsageError as e:
            raise _one_line(e) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as e:
            raise _one_line(e) from None


def _finite(type_: click.ParamType, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
    """The value as a float; a usage error for nan and ±inf, which would pass a range check (nan compares
    false) and then fail deep inside as an OverflowError or a C++ abort."""
    number = click.FLOAT.convert(value, param, ctx)
    if not math.isfinite(number):
        type_.fail(f"{value!r} is not a finite number.", param, ctx)
    return number


class FiniteFloat(click.ParamType):
    """A float that must be finite."""

    name = "float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return _finite(self, value, param, ctx)


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and ±inf."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(_finite(self, value, param, ctx), param, ctx)
