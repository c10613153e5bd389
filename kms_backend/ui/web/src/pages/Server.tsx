// Server information and metrics at a glance.

import { call, getJson, kmipBatch } from "../api";
import { Alert, formatNumber, useLoad } from "../common";
import { OBJECT_TYPES } from "../kmip";
import { parseMetrics, sumBy, total } from "../metrics";
import { useSession } from "../session";
import { child, enumeration, int, numberOf, struct } from "../ttlv";

interface ServerInfo {
  version: string;
  fips_mode: boolean;
  hsm_instances: { prefix: string; model: string }[];
  default_username: string;
}

interface Health {
  status: string;
  latency_ms: number;
  dependencies: { database: { name: string; status: string; message?: string } };
}

/** Objects of each type the user can see: one Locate per type (Maximum Items 0 counts), in one message. */
async function objectCounts(): Promise<[string, number][]> {
  const results = await kmipBatch(
    OBJECT_TYPES.map((type) => ({
      operation: "Locate",
      payload: [int("MaximumItems", 0), struct("Attributes", [enumeration("ObjectType", type)])],
    })),
  );
  return OBJECT_TYPES.map((type, i): [string, number] => {
    const r = results[i];
    return [type, r?.ok ? (numberOf(child(r.payload, "LocatedItems")) ?? 0) : 0];
  }).filter(([, n]) => n > 0);
}

export function ServerPage() {
  const { session } = useSession();
  const data = useLoad(async () => {
    const [info, health, metricsText, counts] = await Promise.all([
      getJson<ServerInfo>("/server-info"),
      (await call("/health")).json() as Promise<Health>,
      (await call("/metrics")).text(),
      objectCounts(),
    ]);
    return { info, health, samples: parseMetrics(metricsText), counts };
  }, []);
  const d = data.value;
  const requests = d ? total(d.samples, "keystead_http_requests_total") : 0;
  const errors = d
    ? d.samples
        .filter((s) => s.name === "keystead_http_requests_total" && Number(s.labels.status) >= 500)
        .reduce((n, s) => n + s.value, 0)
    : 0;
  const latencySum = d ? total(d.samples, "keystead_http_request_duration_seconds_sum") : 0;
  const latencyCount = d ? total(d.samples, "keystead_http_request_duration_seconds_count") : 0;
  const operations = d ? sumBy(d.samples, "keystead_kmip_operations_total", "operation").slice(0, 12) : [];
  const failures = d ? total(d.samples, "keystead_kmip_operations_total", { result: "operation_failed" }) : 0;

  return (
    <>
      <h1>
        Server{" "}
        <button type="button" onClick={data.reload}>
          Refresh
        </button>
      </h1>
      {data.error ? <Alert kind="error">{data.error}</Alert> : null}
      {d ? (
        <div className="grid">
          <section className="card" aria-label="Server information">
            <h2>Server</h2>
            <dl>
              <dt>Version</dt>
              <dd data-testid="server-version">{d.info.version}</dd>
              <dt>FIPS-approved algorithms only</dt>
              <dd>{d.info.fips_mode ? "yes" : "no"}</dd>
              <dt>HSM</dt>
              <dd>{d.info.hsm_instances.length ? d.info.hsm_instances.map((h) => h.model).join(", ") : "none"}</dd>
              <dt>Health</dt>
              <dd data-testid="server-health">
                {d.health.status} (database {d.health.dependencies.database.name}{" "}
                {d.health.dependencies.database.status}, {d.health.latency_ms} ms)
              </dd>
              <dt>Signed in as</dt>
              <dd>{session?.user}</dd>
            </dl>
          </section>
          <section className="card" aria-label="Objects">
            <h2>Your objects</h2>
            <dl data-testid="object-counts">
              {d.counts.map(([type, n]) => (
                <div key={type}>
                  <dt>{type}</dt>
                  <dd>{formatNumber(n)}</dd>
                </div>
              ))}
              {d.counts.length === 0 ? <dd className="muted">none</dd> : null}
            </dl>
          </section>
          <section className="card" aria-label="Metrics">
            <h2>Traffic (this process)</h2>
            <dl>
              <dt>HTTP requests</dt>
              <dd data-testid="metric-requests">{formatNumber(requests)}</dd>
              <dt>Server errors (5xx)</dt>
              <dd>{formatNumber(errors)}</dd>
              <dt>Mean latency</dt>
              <dd>{latencyCount ? `${((latencySum / latencyCount) * 1000).toFixed(2)} ms` : "–"}</dd>
              <dt>Failed KMIP operations</dt>
              <dd>{formatNumber(failures)}</dd>
            </dl>
            <table data-testid="operations-table">
              <thead>
                <tr>
                  <th>KMIP operation</th>
                  <th>Count</th>
                </tr>
              </thead>
              <tbody>
                {operations.map(([op, n]) => (
                  <tr key={op}>
                    <td>{op}</td>
                    <td>{formatNumber(n)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </div>
      ) : null}
    </>
  );
}
