// One object: its attributes (links to the objects it names), the lifecycle actions and its access rights.

import { useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router";
import { getJson, postJson } from "../api";
import { Alert, download, toPem, useAction, useLoad } from "../common";
import {
  ACCESS_OPERATIONS,
  activate,
  destroy,
  exportObject,
  getAttributes,
  reKey,
  REVOCATION_REASONS,
  revoke,
} from "../kmip";
import { child, children, display, textOf, type Ttlv } from "../ttlv";

const PEM_LABELS: Record<string, string> = {
  PrivateKey: "PRIVATE KEY",
  PublicKey: "PUBLIC KEY",
  Certificate: "CERTIFICATE",
};

function AttributeValue({ node }: { node: Ttlv }) {
  if (node.tag === "Link") {
    const target = textOf(child(node, "LinkedObjectIdentifier")) ?? "";
    return (
      <>
        {textOf(child(node, "LinkType"))} →{" "}
        <Link className="mono" to={`/objects/${encodeURIComponent(target)}`}>
          {target}
        </Link>
      </>
    );
  }
  if (node.tag === "Attribute") {
    return (
      <>
        {textOf(child(node, "VendorIdentification"))}:{textOf(child(node, "AttributeName"))} ={" "}
        <span className="mono">{textOf(child(node, "AttributeValue"))}</span>
      </>
    );
  }
  if (node.type === "ByteString") return <span className="mono wrap">{String(node.value)}</span>;
  return <>{display(node)}</>;
}

function AccessRights({ uid }: { uid: string }) {
  const grants = useLoad(
    () => getJson<{ user_id: string; operations: string[] }[]>(`/access/list/${encodeURIComponent(uid)}`),
    [uid],
  );
  const [user, setUser] = useState("");
  const [operations, setOperations] = useState<string[]>(["get", "encrypt", "decrypt"]);
  const action = useAction();

  const grant = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      await postJson("/access/grant", { unique_identifier: uid, user_id: user.trim(), operation_types: operations });
      grants.reload();
      return `Granted ${operations.join(", ")} to ${user.trim()}.`;
    });
  };
  const withdraw = (target: string, ops: string[]) =>
    void action.run(async () => {
      await postJson("/access/revoke", { unique_identifier: uid, user_id: target, operation_types: ops });
      grants.reload();
      return `Revoked ${ops.join(", ")} from ${target}.`;
    });

  return (
    <section className="card" aria-label="Access rights">
      <h2>Access rights</h2>
      {grants.error ? <Alert kind="error">{grants.error}</Alert> : null}
      {action.error ? <Alert kind="error">{action.error}</Alert> : null}
      {action.message ? <Alert kind="ok">{action.message}</Alert> : null}
      <table data-testid="access-table">
        <thead>
          <tr>
            <th>User</th>
            <th>Operations</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(grants.value ?? []).map((g) => (
            <tr key={g.user_id}>
              <td>{g.user_id}</td>
              <td>
                {g.operations.map((op) => (
                  <span key={op} className="tag">
                    {op}{" "}
                    <button
                      type="button"
                      className="link"
                      aria-label={`revoke ${op} from ${g.user_id}`}
                      onClick={() => withdraw(g.user_id, [op])}
                    >
                      ×
                    </button>
                  </span>
                ))}
              </td>
              <td>
                <button type="button" onClick={() => withdraw(g.user_id, g.operations)}>
                  Revoke all
                </button>
              </td>
            </tr>
          ))}
          {grants.value && grants.value.length === 0 ? (
            <tr>
              <td colSpan={3} className="muted">
                Only the owner has access.
              </td>
            </tr>
          ) : null}
        </tbody>
      </table>
      <form onSubmit={grant} className="grant">
        <label>
          User (or * for everyone)
          <input name="grant-user" value={user} onChange={(e) => setUser(e.target.value)} required />
        </label>
        <fieldset>
          <legend>Operations</legend>
          {ACCESS_OPERATIONS.map((op) => (
            <label key={op} className="check">
              <input
                type="checkbox"
                name={`op-${op}`}
                checked={operations.includes(op)}
                onChange={(e) =>
                  setOperations(e.target.checked ? [...operations, op] : operations.filter((o) => o !== op))
                }
              />
              {op}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={action.busy || !user.trim() || operations.length === 0}>
          Grant
        </button>
      </form>
    </section>
  );
}

export function ObjectDetailsPage() {
  const uid = decodeURIComponent(useParams().uid ?? "");
  // A fresh page per object: no message, form or confirmation carries over to the next object.
  return <ObjectDetails key={uid} uid={uid} />;
}

function ObjectDetails({ uid }: { uid: string }) {
  const navigate = useNavigate();
  const arrived = (useLocation().state as { message?: string } | null)?.message ?? null;
  const details = useLoad(() => getAttributes(uid), [uid]);
  const action = useAction();
  const [reason, setReason] = useState<string>("Unspecified");
  const [revokeMessage, setRevokeMessage] = useState("");
  const [confirmDestroy, setConfirmDestroy] = useState(false);
  const summary = details.value;
  const type = summary?.objectType ?? "";

  const doExport = (format: "native" | "json") =>
    void action.run(async () => {
      const exported = await exportObject(uid, type);
      if (format === "json") {
        download(JSON.stringify(exported.response, null, 1), `${uid}.json`, "application/json");
      } else if (PEM_LABELS[exported.objectType]) {
        download(toPem(PEM_LABELS[exported.objectType], exported.material), `${uid}.pem`, "application/x-pem-file");
      } else {
        download(exported.material, `${uid}.key`);
      }
      return `Exported ${uid}.`;
    });

  return (
    <>
      <h1>
        {summary?.name ?? "Object"} <small className="mono">{uid}</small>
      </h1>
      {details.error ? <Alert kind="error">{details.error}</Alert> : null}
      {action.error ? <Alert kind="error" testId="action-error">{action.error}</Alert> : null}
      {action.message ?? arrived ? <Alert kind="ok" testId="action-message">{action.message ?? arrived}</Alert> : null}
      {summary ? (
        <div className="columns">
          <section className="card" aria-label="Attributes">
            <h2>Attributes</h2>
            <p>
              <span className={`state state-${summary.state}`} data-testid="object-state">
                {summary.state}
              </span>{" "}
              {summary.objectType} {summary.algorithm ?? ""} {summary.length ?? ""}
              {summary.tags.map((t) => (
                <span key={t} className="tag">
                  {t}
                </span>
              ))}
            </p>
            <table className="attributes" data-testid="attributes-table">
              <tbody>
                {children(summary.attributes).map((node, i) => (
                  <tr key={`${node.tag}-${i}`}>
                    <th>{node.tag}</th>
                    <td>
                      <AttributeValue node={node} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <div>
            <section className="card" aria-label="Actions">
              <h2>Actions</h2>
              <div className="actions">
                <button type="button" disabled={action.busy} onClick={() => doExport("native")}>
                  Export {PEM_LABELS[type] ? "(PEM)" : "(raw)"}
                </button>
                <button type="button" disabled={action.busy} onClick={() => doExport("json")}>
                  Export (JSON TTLV)
                </button>
                {summary.state === "PreActive" ? (
                  <button
                    type="button"
                    disabled={action.busy}
                    onClick={() =>
                      void action.run(async () => {
                        await activate(uid);
                        details.reload();
                        return "Activated.";
                      })
                    }
                  >
                    Activate
                  </button>
                ) : null}
                {type === "SymmetricKey" || type === "PrivateKey" ? (
                  <button
                    type="button"
                    disabled={action.busy}
                    onClick={() =>
                      void action.run(async () => {
                        const replacement = await reKey(uid, type);
                        navigate(`/objects/${encodeURIComponent(replacement)}`, {
                          state: { message: `Re-keyed ${uid}: this is its replacement.` },
                        });
                      })
                    }
                  >
                    Re-key
                  </button>
                ) : null}
                {type === "SymmetricKey" ? (
                  <Link className="button" to={`/crypto?key=${encodeURIComponent(uid)}`}>
                    Encrypt / decrypt a file
                  </Link>
                ) : null}
              </div>
              <form
                className="revoke"
                onSubmit={(e) => {
                  e.preventDefault();
                  void action.run(async () => {
                    await revoke(uid, reason, revokeMessage);
                    details.reload();
                    return "Revoked.";
                  });
                }}
              >
                <label>
                  Revocation reason
                  <select name="revocation-reason" value={reason} onChange={(e) => setReason(e.target.value)}>
                    {REVOCATION_REASONS.map((r) => (
                      <option key={r}>{r}</option>
                    ))}
                  </select>
                </label>
                <label>
                  Message
                  <input name="revocation-message" value={revokeMessage} onChange={(e) => setRevokeMessage(e.target.value)} />
                </label>
                <button type="submit" disabled={action.busy}>
                  Revoke
                </button>
              </form>
              <div className="danger">
                {confirmDestroy ? (
                  <>
                    <span>Destroy the key material of this object for good?</span>
                    <button
                      type="button"
                      className="danger"
                      disabled={action.busy}
                      onClick={() =>
                        void action.run(async () => {
                          setConfirmDestroy(false);
                          await destroy(uid);
                          details.reload();
                          return "Destroyed.";
                        })
                      }
                    >
                      Yes, destroy
                    </button>
                    <button type="button" onClick={() => setConfirmDestroy(false)}>
                      Cancel
                    </button>
                  </>
                ) : (
                  <button type="button" className="danger" onClick={() => setConfirmDestroy(true)}>
                    Destroy…
                  </button>
                )}
              </div>
            </section>
            <AccessRights uid={uid} />
          </div>
        </div>
      ) : null}
    </>
  );
}


