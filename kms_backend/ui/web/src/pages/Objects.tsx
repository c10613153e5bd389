// The object browser: Locate with server-side paging (Maximum Items / Offset Items), then the page's attributes in
// one Request Message. The filters and the page live in the URL, so links and the back button keep them.

import { useEffect, useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router";
import { Alert, formatNumber, useLoad } from "../common";
import { ALGORITHMS, locate, OBJECT_TYPES, parseTags, STATES, summaries, type Filters } from "../kmip";

const PAGE_SIZES = [10, 25, 50, 100];

function filtersOf(params: URLSearchParams): Filters {
  return {
    tags: parseTags(params.get("tags") ?? ""),
    objectType: params.get("type") ?? "",
    state: params.get("state") ?? "",
    algorithm: params.get("algorithm") ?? "",
  };
}

export function ObjectsPage() {
  const [params, setParams] = useSearchParams();
  const filters = filtersOf(params);
  const size = PAGE_SIZES.includes(Number(params.get("size"))) ? Number(params.get("size")) : 25;
  const page = Math.max(1, Math.floor(Number(params.get("page")) || 1));
  const [draft, setDraft] = useState({
    tags: params.get("tags") ?? "",
    type: filters.objectType,
    state: filters.state,
    algorithm: filters.algorithm,
  });
  useEffect(() => {
    setDraft({
      tags: params.get("tags") ?? "",
      type: params.get("type") ?? "",
      state: params.get("state") ?? "",
      algorithm: params.get("algorithm") ?? "",
    });
  }, [params]);

  const key = params.toString();
  const { value, error, loading } = useLoad(async () => {
    const offset = (page - 1) * size;
    const found = await locate(filters, offset, size);
    return { total: found.total, offset, rows: await summaries(found.uids) };
  }, [key]);

  const go = (changes: Record<string, string>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v) next.set(k, v);
      else next.delete(k);
    }
    setParams(next);
  };

  const search = (event: FormEvent) => {
    event.preventDefault();
    go({ tags: draft.tags.trim(), type: draft.type, state: draft.state, algorithm: draft.algorithm, page: "" });
  };

  const total = value?.total ?? 0;
  const pages = Math.max(1, Math.ceil(total / size));
  // The range describes the rows shown, which stay those of the previous page until the next one arrives.
  const shown = value?.rows.length ?? 0;
  const first = shown === 0 ? 0 : (value?.offset ?? 0) + 1;
  const last = (value?.offset ?? 0) + shown;

  return (
    <>
      <h1>Objects</h1>
      <form className="filters card" onSubmit={search} aria-label="Search objects">
        <label>
          Tags
          <input
            name="tags"
            placeholder="comma-separated: all must match"
            value={draft.tags}
            onChange={(e) => setDraft({ ...draft, tags: e.target.value })}
          />
        </label>
        <label>
          Type
          <select name="type" value={draft.type} onChange={(e) => setDraft({ ...draft, type: e.target.value })}>
            <option value="">any</option>
            {OBJECT_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          State
          <select name="state" value={draft.state} onChange={(e) => setDraft({ ...draft, state: e.target.value })}>
            <option value="">any but destroyed</option>
            {STATES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Algorithm
          <select
            name="algorithm"
            value={draft.algorithm}
            onChange={(e) => setDraft({ ...draft, algorithm: e.target.value })}
          >
            <option value="">any</option>
            {ALGORITHMS.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {error ? <Alert kind="error">{error}</Alert> : null}
      <div className="pager" data-testid="pager">
        <span data-testid="result-range" aria-busy={loading}>
          {loading && !value ? "Searching…" : `${formatNumber(first)}–${formatNumber(last)} of ${formatNumber(total)}`}
        </span>
        <button type="button" disabled={page <= 1} onClick={() => go({ page: "" })}>
          « First
        </button>
        <button type="button" disabled={page <= 1} onClick={() => go({ page: String(page - 1) })}>
          ‹ Previous
        </button>
        <span>
          Page {formatNumber(page)} of {formatNumber(pages)}
        </span>
        <button type="button" disabled={page >= pages} onClick={() => go({ page: String(page + 1) })}>
          Next ›
        </button>
        <button type="button" disabled={page >= pages} onClick={() => go({ page: String(pages) })}>
          Last »
        </button>
        <label className="inline">
          Per page
          <select value={size} onChange={(e) => go({ size: e.target.value, page: "" })}>
            {PAGE_SIZES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      <table className="objects" data-testid="objects-table">
        <thead>
          <tr>
            <th>Identifier</th>
            <th>Name</th>
            <th>Type</th>
            <th>Algorithm</th>
            <th>State</th>
            <th>Tags</th>
            <th>Created</th>
          </tr>
        </thead>
        <tbody>
          {(value?.rows ?? []).map((row) => (
            <tr key={row.uid}>
              <td className="mono">
                <Link to={`/objects/${encodeURIComponent(row.uid)}`}>{row.uid}</Link>
              </td>
              {row.error ? (
                <td colSpan={6} className="error-text">
                  {row.error}
                </td>
              ) : (
                <>
                  <td>{row.name ?? ""}</td>
                  <td>{row.objectType}</td>
                  <td>
                    {row.algorithm ?? ""}
                    {row.length ? ` ${row.length}` : ""}
                  </td>
                  <td>
                    <span className={`state state-${row.state}`}>{row.state}</span>
                  </td>
                  <td>
                    {row.tags.map((t) => (
                      <span key={t} className="tag">
                        {t}
                      </span>
                    ))}
                  </td>
                  <td>{row.created?.replace("T", " ").replace("Z", "") ?? ""}</td>
                </>
              )}
            </tr>
          ))}
          {value && value.rows.length === 0 ? (
            <tr>
              <td colSpan={7} className="muted">
                No object matches.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
    </>
  );
}
