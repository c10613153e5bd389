// Small pieces shared by the pages.

import { useCallback, useEffect, useState, type ReactNode } from "react";
import { errorText } from "./api";

export function Alert({ kind, children, testId }: { kind: "error" | "ok" | "info"; children: ReactNode; testId?: string }) {
  return (
    <div className={`alert alert-${kind}`} role={kind === "error" ? "alert" : "status"} data-testid={testId}>
      {children}
    </div>
  );
}

/** Run ``load`` now and whenever ``deps`` change; ``reload`` runs it again. */
/** The Name and Tags fields of the create and import forms (tags are comma-separated; kmip.parseTags reads them). */
export function NameAndTags(props: {
  name: string;
  setName: (value: string) => void;
  tags: string;
  setTags: (value: string) => void;
}) {
  return (
    <>
      <label>
        Name
        <input name="name" value={props.name} onChange={(e) => props.setName(e.target.value)} />
      </label>
      <label>
        Tags
        <input
          name="tags"
          placeholder="comma-separated"
          value={props.tags}
          onChange={(e) => props.setTags(e.target.value)}
        />
      </label>
    </>
  );
}

export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [value, setValue] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load()
      .then((v) => {
        if (current) {
          setValue(v);
          setError(null);
        }
      })
      .catch((e: unknown) => {
        if (current) setError(errorText(e));
      })
      .finally(() => {
        if (current) setLoading(false);
      });
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, generation]);
  return { value, error, loading, reload };
}

/** Run one user action at a time, keeping its error or success message. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const run = useCallback(async (action: () => Promise<string | void>) => {
    setBusy(true);
    setError(null);
    setMessage(null);
    try {
      const done = await action();
      if (done) setMessage(done);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, message, run, setError, setMessage };
}

export function download(data: Uint8Array | string, name: string, type = "application/octet-stream") {
  const blob = new Blob([data as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function toPem(label: string, der: Uint8Array): string {
  let binary = "";
  for (const b of der) binary += String.fromCharCode(b);
  const lines = btoa(binary).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The label and DER of the first PEM block in ``text``, if it has one. */
export function fromPem(text: string): { label: string; der: Uint8Array } | null {
  const match = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(text);
  if (!match) return null;
  const binary = atob(match[2].replace(/\s+/g, ""));
  const der = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) der[i] = binary.charCodeAt(i);
  return { label: match[1], der };
}

export function formatNumber(n: number): string {
  return n.toLocaleString("en-US");
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
