import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { Alert, NameAndTags, useAction } from "../common";
import { createKeyPair, createSymmetricKey, KEY_PAIR_KINDS, parseTags } from "../kmip";

const SYMMETRIC: Record<string, number[]> = { AES: [128, 192, 256], ChaCha20: [256], HMACSHA256: [256], HMACSHA512: [512] };

export function CreatePage() {
  const navigate = useNavigate();
  const action = useAction();
  const [kind, setKind] = useState<"symmetric" | "pair">("symmetric");
  const [algorithm, setAlgorithm] = useState("AES");
  const [bits, setBits] = useState(256);
  const [pairKind, setPairKind] = useState("EC-P256");
  const [name, setName] = useState("");
  const [tags, setTags] = useState("");
  const [activateNow, setActivateNow] = useState(true);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void action.run(async () => {
      const common = { name: name.trim() || undefined, tags: parseTags(tags), activate: activateNow };
      if (kind === "symmetric") {
        const uid = await createSymmetricKey({ ...common, algorithm, bits });
        navigate(`/objects/${encodeURIComponent(uid)}`);
      } else {
        const pair = await createKeyPair({ ...common, kind: pairKind });
        navigate(`/objects/${encodeURIComponent(pair.privateKey)}`);
      }
    });
  };

  return (
    <>
      <h1>Create</h1>
      {action.error ? <Alert kind="error">{action.error}</Alert> : null}
      <form className="card form" onSubmit={submit} aria-label="Create a key">
        <fieldset className="tabs">
          <label className="check">
            <input type="radio" name="kind" checked={kind === "symmetric"} onChange={() => setKind("symmetric")} />
            Symmetric key
          </label>
          <label className="check">
            <input type="radio" name="kind" checked={kind === "pair"} onChange={() => setKind("pair")} />
            Key pair
          </label>
        </fieldset>
        {kind === "symmetric" ? (
          <>
            <label>
              Algorithm
              <select
                name="algorithm"
                value={algorithm}
                onChange={(e) => {
                  setAlgorithm(e.target.value);
                  setBits(SYMMETRIC[e.target.value].at(-1) ?? 256);
                }}
              >
                {Object.keys(SYMMETRIC).map((a) => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </label>
            <label>
              Length (bits)
              <select name="bits" value={bits} onChange={(e) => setBits(Number(e.target.value))}>
                {SYMMETRIC[algorithm].map((b) => (
                  <option key={b}>{b}</option>
                ))}
              </select>
            </label>
          </>
        ) : (
          <label>
            Algorithm and size
            <select name="pair-kind" value={pairKind} onChange={(e) => setPairKind(e.target.value)}>
              {Object.keys(KEY_PAIR_KINDS).map((k) => (
                <option key={k}>{k}</option>
              ))}
            </select>
          </label>
        )}
        <NameAndTags name={name} setName={setName} tags={tags} setTags={setTags} />
        <label className="check">
          <input
            type="checkbox"
            name="activate"
            checked={activateNow}
            onChange={(e) => setActivateNow(e.target.checked)}
          />
          Active now (otherwise Pre-Active until activated)
        </label>
        <button type="submit" className="primary" disabled={action.busy}>
          {action.busy ? "Creating…" : "Create"}
        </button>
      </form>
    </>
  );
}
