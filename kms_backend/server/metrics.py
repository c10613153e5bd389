"""Prometheus metrics of the server (``GET /metrics``, text exposition format 0.0.4).

Labels are bounded on purpose: ``endpoint`` is the route template (``/access/list/{id}``), never the raw path,
and ``operation`` a KMIP Operation name, so a client cannot grow the series without limit.

The per-request counters and histograms are plain numbers under one lock per ``Metrics``, read by the registry
when it is scraped (``_Counter``, ``_Histogram``): prometheus_client's own ``Counter.inc`` and
``Histogram.observe`` run five to eight Python calls and take a lock per bucket and per sum on every request,
which cost a KMIP Get on the TLS socket about 4 µs of its ~75 µs in the server. The exposition is the same,
``_created`` samples included.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class _Counter(Collector):
    """A counter family: per tuple of label values, ``[count, created]`` (read and written under ``lock``)."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], registry: CollectorRegistry, lock: threading.Lock
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.lock = lock
        self.children: dict[tuple[str, ...], list[float]] = {}
        registry.register(self)

    def child(self, *values: str) -> list[float]:
        """The ``[count, created]`` of one label set, created at zero on first use (call under ``lock``)."""
        found = self.children.get(values)
        if found is None:
            found = self.children[values] = [0.0, time.time()]
        return found

    def collect(self) -> Iterator[Metric]:
        family = Metric(self.name, self.documentation, "counter")
        with self.lock:
            children = [
                (dict(zip(self.labels, values, strict=True)), count, created)
                for values, (count, created) in self.children.items()
            ]
        for labels, count, created in children:
            family.add_sample(self.name + "_total", labels, count)
            family.add_sample(self.name + "_created", labels, created)
        yield family


class _Histogram(Collector):
    """A histogram family: per tuple of label values, ``[count per bucket (not cumulative)..., sum, created]``
    (read and written under ``lock``); a family without labels has its one child from the start."""

    def __init__(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry,
        lock: threading.Lock,
    ) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.bounds = tuple(buckets)
        self.lock = lock
        self.children: dict[tuple[str, ...], list[float]] = {}
        if not self.labels:
            self.child()
        registry.register(self)

    def child(self, *values: str) -> list[float]:
        """The numbers of one label set, created at zero on first use (call under ``lock``)."""
        found = self.children.get(values)
        if found is None:
            found = self.children[values] = [0.0] * (len(self.bounds) + 2) + [time.time()]
        return found

    def observe(self, child: list[float], seconds: float) -> None:
        """Count ``seconds`` in ``child`` (call under ``lock``): its bucket is the first bound >= it, else +Inf."""
        child[bisect.bisect_left(self.bounds, seconds)] += 1
        child[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        family = Metric(self.name, self.documentation, "histogram")
        with self.lock:
            children = [
                (dict(zip(self.labels, values, strict=True)), list(numbers))
                for values, numbers in self.children.items()
            ]
        bounds = [str(floatToGoString(bound)) for bound in self.bounds] + ["+Inf"]  # type: ignore[no-untyped-call]
        for labels, numbers in children:
            cumulative = 0.0
            for bound, count in zip(bounds, numbers, strict=False):
                cumulative += count
                family.add_sample(self.name + "_bucket", {**labels, "le": bound}, cumulative)
            family.add_sample(self.name + "_count", labels, cumulative)
            family.add_sample(self.name + "_sum", labels, numbers[-2])
            family.add_sample(self.name + "_created", labels, numbers[-1])
        yield family


class Metrics:
    """The server's metrics in their own registry (several servers may live in one test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        #: Guards every number of the families below (each request updates several under one acquisition).
        self._lock = threading.Lock()
        self.http_requests = _Counter(
            "keystead_http_requests",
            "HTTP requests by route, method and status",
            ("endpoint", "method", "status"),
            self.registry,
            self._lock,
        )
        self.http_latency = _Histogram(
            "keystead_http_request_duration_seconds",
            "Time from the request head to the response, by route",
            ("endpoint",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
            lock=self._lock,
        )
        self.operations = _Counter(
            "keystead_kmip_operations",
            "KMIP operations (batch items and bare operations) by transport, operation and result",
            ("transport", "operation", "result"),
            self.registry,
            self._lock,
        )
        self.kmip_connections = Gauge(
            "keystead_kmip_connections", "Open KMIP-over-TLS connections", registry=self.registry
        )
        self.kmip_messages = _Counter(
            "keystead_kmip_messages",
            "KMIP messages on the TLS socket by result (ok, invalid, refused)",
            ("result",),
            self.registry,
            self._lock,
        )
        self.kmip_latency = _Histogram(
            "keystead_kmip_message_duration_seconds",
            "Time to process one KMIP message on the TLS socket",
            (),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
            lock=self._lock,
        )
        self._kmip_latency = self.kmip_latency.child()

        # Label children by label values; the keys are as bounded as the labels (see the module docstring).
        self._http_children: dict[tuple[str, str, int], tuple[list[float], list[float]]] = {}
        self._operation_children: dict[tuple[str, int, str], list[float]] = {}
        self._kmip_children: dict[str, list[float]] = {}
        # With --workers each process keeps its own counters: this says which process a scrape reached.
        Gauge(
            "keystead_worker",
            "The serving process (its pid) that answered this scrape",
            ("pid",),
            registry=self.registry,
        ).labels(str(os.getpid())).set(1)

    def observe_http(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        with self._lock:
            children = self._http_children.get(key)
            if children is None:
                children = (self.http_requests.child(endpoint, method, str(status)), self.http_latency.child(endpoint))
                self._http_children[key] = children
            children[0][0] += 1
            self.http_latency.observe(children[1], seconds)

    def observe_operation(self, transport: str, operation: int, result: str) -> None:
        key = (transport, operation, result)
        with self._lock:
            child = self._operation_children.get(key)
            if child is None:
                child = self.operations.child(transport, operation_label(operation), result)
                self._operation_children[key] = child
            child[0] += 1

    def observe_kmip_message(self, result: str, seconds: float | None = None) -> None:
        """One message on the KMIP socket: its result (ok, error, invalid, refused) and processing time."""
        with self._lock:
            child = self._kmip_children.get(result)
            if child is None:
                child = self._kmip_children[result] = self.kmip_messages.child(result)
            child[0] += 1
            if seconds is not None:
                self.kmip_latency.observe(self._kmip_latency, seconds)

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
