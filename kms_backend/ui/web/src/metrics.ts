// Reading the Prometheus text exposition format (GET /metrics) into samples, and the few sums the UI shows.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(textBody: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of textBody.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const match = LINE.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(LABEL)) {
      labels[label[1]] = label[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    const value = Number(match[3]);
    if (!Number.isNaN(value) || match[3] === "NaN") samples.push({ name: match[1], labels, value });
  }
  return samples;
}

/** Sum of the samples named ``name``, grouped by the value of ``label``; largest first. */
export function sumBy(samples: Sample[], name: string, label: string): [string, number][] {
  const sums = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name) continue;
    const key = s.labels[label] ?? "";
    sums.set(key, (sums.get(key) ?? 0) + s.value);
  }
  return [...sums.entries()].sort((a, b) => b[1] - a[1]);
}

export function total(samples: Sample[], name: string, where: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}
