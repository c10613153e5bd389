"""The paths an Encrypt, Decrypt or Sign request may take, tried in one order for the three handlers (each names
its own steps in a :class:`Paths` value):

1. a key that lives in the HSM: ``_hsm_keys.use`` (single-shot, access checked like for any object);
2. the continuation of an open stream (a Correlation Value without Init Indicator): ``_streams.continue_stream``;
3. the opening of a stream (Init Indicator without Final Indicator);
4. Cosmian bulk data (Encrypt and Decrypt, ``_bulk``);
5. a one-shot request: ``decide`` makes a ``plans.Plan``, ``execute`` runs it and builds the response, and the
   Plan is kept for reuse when it may be (the engine then runs the same ``execute`` on it, ``router.EXECUTORS``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...kmip import bulk_data
from ...kmip._registry_data import Operation
from ..context import RequestContext
from ..plans import Executor, Plan, answer
from . import _hsm_keys
from ._streams import continues

Step = Callable[[RequestContext, Any], Any]


@dataclass(frozen=True, slots=True)
class Paths:
    """One operation's steps, one per path (module doc)."""

    operation: Operation
    decide: Callable[[RequestContext, Any], Plan]
    execute: Executor
    open_stream: Step
    continue_stream: Step
    bulk: Step | None = None

    def decision(self, ctx: RequestContext, request: Any) -> Plan | None:
        """The Plan :func:`take` would execute for ``request``, decided but not executed; None when the request
        takes another path (an HSM key, a stream, bulk data)."""
        if _hsm_keys.source(ctx, request.unique_identifier) is not None or continues(request):
            return None
        if request.init_indicator or (self.bulk is not None and bulk_data.parse(request.data) is not None):
            return None
        return self.decide(ctx, request)


def take(ctx: RequestContext, request: Any, paths: Paths) -> Any:
    """The response to ``request`` along the first path that fits it (module doc)."""
    hsm = _hsm_keys.source(ctx, request.unique_identifier)
    if hsm is not None:
        return _hsm_keys.use(ctx, hsm, paths.operation, request)
    if continues(request):
        return paths.continue_stream(ctx, request)
    if request.init_indicator and not request.final_indicator:
        return paths.open_stream(ctx, request)
    if paths.bulk is not None and bulk_data.parse(request.data) is not None:
        return paths.bulk(ctx, request)
    return answer(ctx, request, paths.decide, paths.execute)


__all__ = ["Paths", "Step", "take"]
