"""Key Format Type conversion for Get/Export (KMIP 2.1 §11.26) and key wrapping on export (§2.1.5, §6.1.19).

Symmetric keys convert between Raw and Transparent Symmetric Key here; asymmetric conversions (PKCS#1, PKCS#8,
X.509, transparent RSA/EC) and wrapping use ``kms_backend.crypto``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..kmip import _schema_data as S
from ..kmip._registry_data import KeyFormatType, ResultReason
from ..kmip.errors import KmipError
from ..kmip.schema import Struct
from .lifecycle import key_block

_SYMMETRIC_FORMATS = frozenset({KeyFormatType.RAW, KeyFormatType.TRANSPARENT_SYMMETRIC_KEY})


def convert_key_format(obj: Struct, wanted: int) -> Struct:
    """``obj`` with its key block in Key Format Type ``wanted`` (KMIP: Key Format Type Not Supported if not)."""
    block = key_block(obj)
    if block is None:
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "this object has no key block to convert")
    if block.key_format_type == wanted:
        return obj
    if isinstance(block.key_wrapping_data, S.KeyWrappingData) or not isinstance(block.key_value, S.KeyValue):
        raise KmipError(ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED, "a wrapped key cannot change format")
    material = block.key_value.key_material
    if isinstance(obj, S.SymmetricKey) and block.key_format_type in _SYMMETRIC_FORMATS and wanted in _SYMMETRIC_FORMATS:
        raw = material.key if isinstance(material, S.TransparentSymmetricKey) else material
        assert isinstance(raw, bytes)
        new_material: Any = raw if wanted == KeyFormatType.RAW else S.TransparentSymmetricKey(key=raw)
        return _with_material(obj, block, wanted, new_material)
    raise KmipError(
        ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
        f"cannot convert {KeyFormatType(block.key_format_type).name} to {_format_name(wanted)}",
    )


def _format_name(value: int) -> str:
    try:
        return KeyFormatType(value).name
    except ValueError:
        return f"0x{value:08X}"


def _with_material(obj: Struct, block: S.KeyBlock, key_format: int, material: Any) -> Struct:
    new_block = dataclasses.replace(
        block,
        key_format_type=key_format,  # type: ignore[arg-type]
        key_value=dataclasses.replace(block.key_value, key_material=material),  # type: ignore[type-var]
    )
    return dataclasses.replace(obj, key_block=new_block)  # type: ignore[type-var]


def wrap_for_export(ctx: Any, mo: Any, obj: Struct, spec: S.KeyWrappingSpecification) -> Struct:
    """``obj`` with its key value wrapped as ``spec`` asks."""
    raise KmipError(ResultReason.KEY_WRAP_TYPE_NOT_SUPPORTED, "key wrapping on export is not available yet")


__all__ = ["convert_key_format", "wrap_for_export"]
