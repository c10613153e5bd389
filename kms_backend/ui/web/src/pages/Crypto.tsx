// Encrypt or decrypt a small file with a KMS key, in the KSE1 format of `keystead sym encrypt` / `sym decrypt`:
// each 1 MiB chunk is sealed by the server with AES-GCM (the key never leaves the KMS).

import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { Alert, download, formatBytes, useAction } from "../common";
import { decryptGcm, encryptGcm } from "../kmip";
import { decryptFile, encryptServerSide, keyAad, NONCE, TAG } from "../kse";
import { useSession } from "../session";
import { bytes, bytesOf, child, enumeration, struct, text } from "../ttlv";
import { kmip } from "../api";

/** Files above this stay with the command line, which streams them. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;

export function CryptoPage() {
  const [params] = useSearchParams();
  const [key, setKey] = useState(params.get("key") ?? "");
  const [file, setFile] = useState<File | null>(null);
  const [progress, setProgress] = useState<string | null>(null);
  const action = useAction();
  const { config } = useSession();

  const run = (mode: "encrypt" | "decrypt") => (event?: FormEvent) => {
    event?.preventDefault();
    if (!file || !key.trim()) return;
    const uid = key.trim();
    void action.run(async () => {
      if (file.size > MAX_FILE_BYTES) {
        throw new Error(`${file.name} is ${formatBytes(file.size)}: use \`keystead sym ${mode}\` for files above ${formatBytes(MAX_FILE_BYTES)}`);
      }
      const input = new Uint8Array(await file.arrayBuffer());
      const chunkSize = Math.min(1 << 20, Math.floor((config?.max_message_size ?? 16 << 20) / 4));
      if (mode === "encrypt") {
        const sealed = await encryptServerSide(
          input,
          { seal: (plain, aad) => encryptGcm(uid, plain, aad) },
          chunkSize,
          (done) => setProgress(`${formatBytes(done)} of ${formatBytes(input.length)}`),
        );
        download(sealed, `${file.name}.enc`);
        setProgress(null);
        return `Encrypted ${file.name} (${formatBytes(input.length)}) into ${file.name}.enc.`;
      }
      const plain = await decryptFile(
        input,
        { open: (nonce, data, tag, aad) => decryptGcm(uid, { nonce, data, tag }, aad) },
        async (header) => {
          const wrapped = header.wrappedKey;
          if (header.wrapping === 1) {
            return decryptGcm(
              uid,
              { nonce: wrapped.subarray(0, NONCE), data: wrapped.subarray(NONCE, wrapped.length - TAG), tag: wrapped.subarray(wrapped.length - TAG) },
              keyAad(header),
            );
          }
          const response = await kmip(
            struct("Decrypt", [
              text("UniqueIdentifier", uid),
              struct("CryptographicParameters", [enumeration("BlockCipherMode", "AESKeyWrapPadding")]),
              bytes("Data", wrapped),
            ]),
          );
          return bytesOf(child(response, "Data")) ?? new Uint8Array();
        },
        (done) => setProgress(`${formatBytes(done)} of ${formatBytes(input.length)}`),
      );
      const name = file.name.endsWith(".enc") ? file.name.slice(0, -4) : `${file.name}.dec`;
      download(plain, name);
      setProgress(null);
      return `Decrypted ${file.name} into ${name} (${formatBytes(plain.length)}).`;
    });
  };

  return (
    <>
      <h1>Encrypt / decrypt a file</h1>
      <p className="muted">
        The file is sealed chunk by chunk by the server with the key (AES-GCM); the result is the format of{" "}
        <code>keystead sym encrypt</code>, so the command line decrypts it, and this page decrypts what the command
        line encrypted. Files up to {formatBytes(MAX_FILE_BYTES)}.
      </p>
      {action.error ? <Alert kind="error" testId="crypto-error">{action.error}</Alert> : null}
      {action.message ? <Alert kind="ok" testId="crypto-message">{action.message}</Alert> : null}
      {progress ? <Alert kind="info">{progress}</Alert> : null}
      <form className="card form" onSubmit={run("encrypt")} aria-label="Encrypt or decrypt a file">
        <label>
          Key identifier
          <input name="key" className="mono" value={key} onChange={(e) => setKey(e.target.value)} required />
        </label>
        <label>
          File
          <input type="file" name="file" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required />
        </label>
        <div className="actions">
          <button type="submit" className="primary" disabled={action.busy || !file || !key.trim()}>
            Encrypt
          </button>
          <button type="button" disabled={action.busy || !file || !key.trim()} onClick={() => run("decrypt")()}>
            Decrypt
          </button>
        </div>
      </form>
    </>
  );
}
