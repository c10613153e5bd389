// HTTP calls to keystead serve: the JSON TTLV API (/kmip/2_1), the access-rights routes and the server routes.
// The caller is identified by the browser's TLS client certificate (nothing to add here) or by a bearer token (an
// API token or an OIDC ID token) held for this tab only.

import { child, children, enumeration, int, struct, textOf, type Ttlv } from "./ttlv";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** A KMIP operation that failed: its Result Reason (Cosmian spelling, e.g. Item_Not_Found) and message. */
export class KmipFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(`${reason}: ${message}`);
    this.name = "KmipFailure";
  }
}

const TOKEN_KEY = "keystead.bearer";
export const UNAUTHORIZED_EVENT = "keystead:unauthorized";

export function bearerToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setBearerToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The server's root URL (the UI is served at <root>/ui/). */
export function serverRoot(): string {
  const path = window.location.pathname;
  const at = path.lastIndexOf("/ui");
  return window.location.origin + (at >= 0 ? path.slice(0, at) : "");
}

export async function call(path: string, init: RequestInit = {}, token: string | null = bearerToken()): Promise<Response> {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(serverRoot() + path, { ...init, headers, credentials: "same-origin" });
  if (!response.ok) {
    const message = (await response.text()).trim() || `${response.status} ${response.statusText}`;
    if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT, { detail: message }));
    throw new ApiError(response.status, message);
  }
  return response;
}

export async function getJson<T>(path: string): Promise<T> {
  return (await call(path)).json() as Promise<T>;
}

export async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.json() as Promise<T>;
}

function failureOf(status: number, message: string): Error {
  // Bare operations fail with 422 (or 401/500) and "Reason_Text: message" as the body.
  const match = /^([A-Z][A-Za-z_]+): ([\s\S]*)$/.exec(message);
  if (status === 422 && match) return new KmipFailure(match[1], match[2]);
  return new ApiError(status, message);
}

/** One bare KMIP 2.1 operation (``{"tag": "Create", ...}``); the response payload (``CreateResponse``). */
export async function kmip(operation: Ttlv): Promise<Ttlv> {
  try {
    const response = await call("/kmip/2_1", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(operation),
    });
    return (await response.json()) as Ttlv;
  } catch (error) {
    if (error instanceof ApiError) throw failureOf(error.status, error.message);
    throw error;
  }
}

export type BatchResult = { ok: true; payload: Ttlv | undefined } | { ok: false; error: KmipFailure };

/** Several operations in one KMIP Request Message (one round trip); one result per operation, in order. */
export async function kmipBatch(operations: { operation: string; payload: Ttlv[] }[]): Promise<BatchResult[]> {
  if (operations.length === 0) return [];
  const message = struct("RequestMessage", [
    struct("RequestHeader", [
      struct("ProtocolVersion", [int("ProtocolVersionMajor", 2), int("ProtocolVersionMinor", 1)]),
      int("BatchCount", operations.length),
    ]),
    ...operations.map((op) =>
      struct("BatchItem", [enumeration("Operation", op.operation), struct("RequestPayload", op.payload)]),
    ),
  ]);
  const response = (await (
    await call("/kmip/2_1", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(message),
    })
  ).json()) as Ttlv;
  return children(response)
    .filter((item) => item.tag === "BatchItem")
    .map((item): BatchResult => {
      if (textOf(child(item, "ResultStatus")) === "Success") return { ok: true, payload: child(item, "ResponsePayload") };
      return {
        ok: false,
        error: new KmipFailure(
          textOf(child(item, "ResultReason")) ?? "General_Failure",
          textOf(child(item, "ResultMessage")) ?? "the operation failed",
        ),
      };
    });
}

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
