"""The names the cryptographic operation handlers share (``from . import _crypto as C``), from the modules that
hold them: ``_usage`` (when a key may be used), ``_params`` (what parameters resolve to), ``_data`` (the Data
field), ``_streams`` (streamed operations) and ``_bulk`` (Cosmian bulk data)."""

from __future__ import annotations

from ..keymaterial import Key, KeyKind, stored_params, to_cipher_params
from ._bulk import bulk_item_layout
from ._data import MAX_DATA_BYTES, request_data
from ._params import SYMMETRIC_ALGORITHMS, approved_only, is_aead, mac_algorithm, mac_mode, merged_params
from ._streams import Session, continue_stream, continues, open_session, take_session
from ._usage import (
    PROCESS_STATES,
    PROTECT_STATES,
    U,
    check_usable,
    check_usage,
    consume_usage,
    inherit_protection,
    key_of,
    load_key,
    require_kind,
    validity,
)

__all__ = [
    "MAX_DATA_BYTES",
    "PROCESS_STATES",
    "PROTECT_STATES",
    "SYMMETRIC_ALGORITHMS",
    "Key",
    "KeyKind",
    "Session",
    "U",
    "approved_only",
    "bulk_item_layout",
    "check_usable",
    "check_usage",
    "consume_usage",
    "continue_stream",
    "continues",
    "inherit_protection",
    "is_aead",
    "key_of",
    "load_key",
    "mac_algorithm",
    "mac_mode",
    "merged_params",
    "open_session",
    "request_data",
    "require_kind",
    "stored_params",
    "take_session",
    "to_cipher_params",
    "validity",
]
