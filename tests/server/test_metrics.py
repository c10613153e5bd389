from __future__ import annotations

import os

from kms_backend.kmip._registry_data import Operation
from kms_backend.server.metrics import Metrics


def test_cached_label_children_count_every_observation() -> None:
    metrics = Metrics()
    for _ in range(3):
        metrics.observe_http("/kmip/2_1", "POST", 200, 0.001)
        metrics.observe_operation("http", Operation.GET, "success")
        metrics.observe_kmip_message("ok", 0.002)
    metrics.observe_http("/kmip/2_1", "POST", 422, 0.001)
    metrics.observe_kmip_message("refused")
    text = metrics.render().decode()
    assert 'keystead_http_requests_total{endpoint="/kmip/2_1",method="POST",status="200"} 3.0' in text
    assert 'keystead_http_requests_total{endpoint="/kmip/2_1",method="POST",status="422"} 1.0' in text
    assert 'keystead_http_request_duration_seconds_count{endpoint="/kmip/2_1"} 4.0' in text
    assert 'keystead_kmip_operations_total{operation="get",result="success",transport="http"} 3.0' in text
    assert 'keystead_kmip_messages_total{result="ok"} 3.0' in text
    assert 'keystead_kmip_messages_total{result="refused"} 1.0' in text
    assert "keystead_kmip_message_duration_seconds_count 3.0" in text


def test_the_answering_process_is_named() -> None:
    assert f'keystead_worker{{pid="{os.getpid()}"}} 1.0' in Metrics().render().decode()
