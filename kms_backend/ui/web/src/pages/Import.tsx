import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { Alert, fromPem, NameAndTags, useAction } from "../common";
import { importObject, parseTags, type ImportOptions } from "../kmip";

type Kind = ImportOptions["kind"];

const PEM_KINDS: Record<string, Kind> = {
  CERTIFICATE: "Certificate",
  "PRIVATE KEY": "PrivateKey",
  "PUBLIC KEY": "PublicKey",
};

export function ImportPage() {
  const navigate = useNavigate();
  const action = useAction();
  const [file, setFile] = useState<File | null>(null);
  const [kind, setKind] = useState<Kind>("SymmetricKey");
  const [algorithm, setAlgorithm] = useState("AES");
  const [name, setName] = useState("");
  const [tags, setTags] = useState("");
  const [activateNow, setActivateNow] = useState(true);
  const [detected, setDetected] = useState<string | null>(null);

  const choose = async (chosen: File | null) => {
    setFile(chosen);
    setDetected(null);
    if (!chosen) return;
    const pem = fromPem(await chosen.slice(0, 64 * 1024).text());
    if (pem) {
      const found = PEM_KINDS[pem.label];
      if (found) {
        setKind(found);
        setDetected(`PEM ${pem.label.toLowerCase()}`);
      } else {
        setDetected(`PEM ${pem.label} is not supported: use PKCS#8 (PRIVATE KEY), SubjectPublicKeyInfo or X.509`);
      }
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!file) return;
    void action.run(async () => {
      const raw = new Uint8Array(await file.arrayBuffer());
      const pem = fromPem(new TextDecoder().decode(raw.subarray(0, 64 * 1024)));
      const uid = await importObject({
        kind,
        material: pem ? pem.der : raw,
        algorithm,
        name: name.trim() || undefined,
        tags: parseTags(tags),
        activate: activateNow,
      });
      navigate(`/objects/${encodeURIComponent(uid)}`);
    });
  };

  return (
    <>
      <h1>Import</h1>
      {action.error ? <Alert kind="error">{action.error}</Alert> : null}
      <form className="card form" onSubmit={submit} aria-label="Import an object">
        <label>
          File (raw key bytes, or PEM/DER: PKCS#8 private key, public key, X.509 certificate)
          <input type="file" name="file" onChange={(e) => void choose(e.target.files?.[0] ?? null)} required />
        </label>
        {detected ? <p className="muted">Detected: {detected}</p> : null}
        <label>
          Object type
          <select name="kind" value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="SymmetricKey">Symmetric key (raw bytes)</option>
            <option value="SecretData">Secret data</option>
            <option value="PrivateKey">Private key (PKCS#8)</option>
            <option value="PublicKey">Public key (SubjectPublicKeyInfo)</option>
            <option value="Certificate">Certificate (X.509)</option>
          </select>
        </label>
        {kind === "SymmetricKey" ? (
          <label>
            Algorithm
            <select name="algorithm" value={algorithm} onChange={(e) => setAlgorithm(e.target.value)}>
              <option>AES</option>
              <option>ChaCha20</option>
              <option>HMACSHA256</option>
              <option>HMACSHA512</option>
            </select>
          </label>
        ) : null}
        <NameAndTags name={name} setName={setName} tags={tags} setTags={setTags} />
        <label className="check">
          <input type="checkbox" checked={activateNow} onChange={(e) => setActivateNow(e.target.checked)} />
          Active now
        </label>
        <button type="submit" className="primary" disabled={action.busy || !file}>
          Import
        </button>
      </form>
    </>
  );
}
