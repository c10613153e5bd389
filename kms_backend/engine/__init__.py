"""The KMIP engine: router, request context, access control, batch processing, one handler per operation."""

from .config import EngineConfig
from .engine import Engine

__all__ = ["Engine", "EngineConfig"]
