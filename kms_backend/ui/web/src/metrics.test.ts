import { describe, expect, it } from "vitest";
import { parseMetrics, sumBy, total } from "./metrics";

const EXPOSITION = `# HELP keystead_http_requests_total HTTP requests by route, method and status
# TYPE keystead_http_requests_total counter
keystead_http_requests_total{endpoint="/kmip/2_1",method="POST",status="200"} 12.0
keystead_http_requests_total{endpoint="/kmip/2_1",method="POST",status="422"} 2.0
keystead_http_requests_total{endpoint="/health",method="GET",status="200"} 3.0
keystead_kmip_operations_total{operation="create",result="success",transport="http"} 4.0
keystead_kmip_operations_total{operation="get",result="operation_failed",transport="http"} 1.0
keystead_http_request_duration_seconds_sum{endpoint="/health"} 0.25
odd_label{path="a\\"b"} NaN
`;

describe("Prometheus text", () => {
  it("parses samples with labels, escapes and NaN", () => {
    const samples = parseMetrics(EXPOSITION);
    expect(samples).toHaveLength(7);
    expect(samples[0]).toEqual({
      name: "keystead_http_requests_total",
      labels: { endpoint: "/kmip/2_1", method: "POST", status: "200" },
      value: 12,
    });
    expect(samples[6].labels.path).toBe('a"b');
  });

  it("sums by label and filters", () => {
    const samples = parseMetrics(EXPOSITION);
    expect(total(samples, "keystead_http_requests_total")).toBe(17);
    expect(total(samples, "keystead_kmip_operations_total", { result: "operation_failed" })).toBe(1);
    expect(sumBy(samples, "keystead_http_requests_total", "endpoint")).toEqual([
      ["/kmip/2_1", 14],
      ["/health", 3],
    ]);
  });
});
