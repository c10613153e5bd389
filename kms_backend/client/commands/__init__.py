"""The ``keystead`` client verbs (Cosmian CLI names: ``sym``, ``rsa``, ``ec``, ``pqc``, ``certificates``,
``secret-data``, ``opaque-object``, ``access-rights``, ``locate``, ``attributes``, ``server``, ``hash``, ``mac``,
``rng``, ``derive-key``, ``login``, ``logout``), each a module that adds its parsers; ``register`` adds them all
to the ``keystead`` parser."""

from __future__ import annotations

import argparse

from . import sym
from ._common import EXIT_CODES_HELP, Exit, SubParsers

#: Every module with a ``register(subparsers)``, in the order ``keystead --help`` lists them.
MODULES = (sym,)


def register(sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add every client verb to ``keystead``'s subcommands."""
    for module in MODULES:
        module.register(sub)


__all__ = ["EXIT_CODES_HELP", "MODULES", "Exit", "register"]
