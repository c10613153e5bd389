"""Generators that turn ../shared/kmip-spec tables into checked-in Python modules.

Run with ``make generate`` (``python -m kms_backend.kmip._codegen``). Nothing here is imported at run time.
"""
