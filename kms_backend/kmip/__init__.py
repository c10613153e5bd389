"""The KMIP protocol core: tag/enumeration registry, TTLV tree, binary/JSON/XML codecs, typed schema.

Pure: no I/O, no cryptography, no database (DESIGN.md). Import the modules you need::

    from kms_backend.kmip import binary_codec, json_codec, xml_codec, messages, mapper, translate
"""

__all__ = [
    "binary_codec",
    "bulk_data",
    "cosmian_v4",
    "encodings",
    "errors",
    "json_codec",
    "mapper",
    "messages",
    "pretty",
    "registry",
    "schema",
    "sniff",
    "translate",
    "ttlv",
    "xml_codec",
]

from . import (
    binary_codec,
    bulk_data,
    cosmian_v4,
    encodings,
    errors,
    json_codec,
    mapper,
    messages,
    pretty,
    registry,
    schema,
    sniff,
    translate,
    ttlv,
    xml_codec,
)
