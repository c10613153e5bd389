"""Prometheus metrics of the server (``GET /metrics``, text exposition format 0.0.4).

Labels are bounded on purpose: ``endpoint`` is the route template (``/access/list/{id}``), never the raw path,
and ``operation`` a KMIP Operation name, so a client cannot grow the series without limit.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..kmip._registry_data import Operation, ResultStatus, Tag
from ..kmip.ttlv import Item

CONTENT_TYPE = CONTENT_TYPE_LATEST
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_OPERATION_NAMES = {int(op): op.name.lower() for op in Operation}
_STATUS_NAMES = {int(status): status.name.lower() for status in ResultStatus}
_BATCH_ITEM = int(Tag.BATCH_ITEM)
_OPERATION = int(Tag.OPERATION)
_RESULT_STATUS = int(Tag.RESULT_STATUS)


def operation_label(operation: int) -> str:
    """``Operation.GET_ATTRIBUTES`` -> ``"get_attributes"``; unknown values -> ``"unknown"``."""
    return _OPERATION_NAMES.get(operation, "unknown")


class Metrics:
    """The server's metrics in their own registry (several servers may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "keystead_http_requests",
            "HTTP requests by route, method and status",
            ("endpoint", "method", "status"),
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "keystead_http_request_duration_seconds",
            "Time from the request head to the response, by route",
            ("endpoint",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.operations = Counter(
            "keystead_kmip_operations",
            "KMIP operations (batch items and bare operations) by transport, operation and result",
            ("transport", "operation", "result"),
            registry=self.registry,
        )
        self.kmip_connections = Gauge(
            "keystead_kmip_connections", "Open KMIP-over-TLS connections", registry=self.registry
        )
        self.kmip_messages = Counter(
            "keystead_kmip_messages",
            "KMIP messages on the TLS socket by result (ok, invalid, refused)",
            ("result",),
            registry=self.registry,
        )
        self.kmip_latency = Histogram(
            "keystead_kmip_message_duration_seconds",
            "Time to process one KMIP message on the TLS socket",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

        # Label children by label values; the keys are as bounded as the labels (see the module docstring).
        self._http_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._operation_children: dict[tuple[str, int, str], Counter] = {}
        self._kmip_children: dict[str, Counter] = {}
        # With --workers each process keeps its own counters: this says which process a scrape reached.
        Gauge(
            "keystead_worker",
            "The serving process (its pid) that answered this scrape",
            ("pid",),
            registry=self.registry,
        ).labels(str(os.getpid())).set(1)

    def observe_http(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        # Children are cached: ``labels()`` validates and hashes its arguments under a lock on every call.
        key = (endpoint, method, status)
        children = self._http_children.get(key)
        if children is None:
            children = (self.http_requests.labels(endpoint, method, str(status)), self.http_latency.labels(endpoint))
            self._http_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_operation(self, transport: str, operation: int, result: str) -> None:
        key = (transport, operation, result)
        child = self._operation_children.get(key)
        if child is None:
            child = self.operations.labels(transport, operation_label(operation), result)
            self._operation_children[key] = child
        child.inc()

    def observe_kmip_message(self, result: str, seconds: float | None = None) -> None:
        """One message on the KMIP socket: its result (ok, error, invalid, refused) and processing time."""
        child = self._kmip_children.get(result)
        if child is None:
            child = self._kmip_children[result] = self.kmip_messages.labels(result)
        child.inc()
        if seconds is not None:
            self.kmip_latency.observe(seconds)

    def observe_response(self, transport: str, response: Item) -> None:
        """Count every batch item of a Response Message tree by operation and result status."""
        if not isinstance(response.value, list):
            return
        for item in response.value:
            if item.tag != _BATCH_ITEM or not isinstance(item.value, list):
                continue
            operation = 0
            status = "unknown"
            for field in item.value:
                if field.tag == _OPERATION and isinstance(field.value, int):
                    operation = field.value
                elif field.tag == _RESULT_STATUS and isinstance(field.value, int):
                    status = _STATUS_NAMES.get(field.value, "unknown")
            self.observe_operation(transport, operation, status)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


__all__ = ["CONTENT_TYPE", "Metrics", "operation_label"]
