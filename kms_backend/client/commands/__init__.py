"""The ``keystead`` client verbs (Cosmian CLI names: ``sym``, ``rsa``, ``ec``, ``pqc``, ``certificates``,
``secret-data``, ``opaque-object``, ``access-rights``, ``locate``, ``attributes``, ``server``, ``hash``, ``mac``,
``rng``, ``derive-key``, ``login``, ``logout``), each a module that adds its parsers; ``register`` adds them all
to the ``keystead`` parser."""

from __future__ import annotations

import argparse

from . import asymmetric, certificates, objects, server, session, sym, utilities
from ._common import EXIT_CODES_HELP, Exit, SubParsers

#: Every module with a ``register(subparsers)``, in the order ``keystead --help`` lists them.
MODULES = (sym, asymmetric, certificates, objects, utilities, server, session)


def register(root: argparse.ArgumentParser, sub: SubParsers[argparse.ArgumentParser]) -> None:
    """Add every client verb to ``keystead``'s subcommands (``root`` is kept for ``keystead completion``)."""
    for module in MODULES:
        module.register(sub)
    root.set_defaults(root_parser=root)


__all__ = ["EXIT_CODES_HELP", "MODULES", "Exit", "register"]
