// The KSE1 encrypted-file format of `keystead sym encrypt` (kms_backend/client/files.py), so that a file encrypted
// here decrypts with the CLI and the other way round.
//
//   magic "KSE1" | mode (0 server-side, 1 envelope) | algorithm (1 AES-GCM, 2 ChaCha20-Poly1305)
//   | wrapping (envelope: 1 AES-GCM, 2 RFC 5649) | reserved 0 | chunk size (u32) | wrapped length (u16) | wrapped key
//   then chunks: nonce (12) | ciphertext | tag (16); chunk i authenticated with header | i (u64) | final (1 byte).

export const MAGIC = [0x4b, 0x53, 0x45, 0x31]; // "KSE1"
export const NONCE = 12;
export const TAG = 16;
const FIXED = 14;
export const DEFAULT_CHUNK_SIZE = 1 << 20;

export interface Header {
  mode: number;
  algorithm: number;
  wrapping: number;
  chunkSize: number;
  wrappedKey: Uint8Array;
}

export class FileFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FileFormatError";
  }
}

export function encodeHeader(header: Header): Uint8Array {
  const out = new Uint8Array(FIXED + header.wrappedKey.length);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[4] = header.mode;
  out[5] = header.algorithm;
  out[6] = header.wrapping;
  out[7] = 0;
  view.setUint32(8, header.chunkSize);
  view.setUint16(12, header.wrappedKey.length);
  out.set(header.wrappedKey, FIXED);
  return out;
}

export function decodeHeader(data: Uint8Array): { header: Header; length: number } {
  if (data.length < FIXED || MAGIC.some((b, i) => data[i] !== b)) {
    throw new FileFormatError("not a Keystead encrypted file (no KSE1 header)");
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const wrappedLength = view.getUint16(12);
  if (data.length < FIXED + wrappedLength) throw new FileFormatError("the file ends inside its header");
  const header: Header = {
    mode: data[4],
    algorithm: data[5],
    wrapping: data[6],
    chunkSize: view.getUint32(8),
    wrappedKey: data.slice(FIXED, FIXED + wrappedLength),
  };
  if (header.chunkSize === 0) throw new FileFormatError("the header's chunk size is 0");
  return { header, length: FIXED + wrappedLength };
}

/** The additional data of chunk ``index``. */
export function chunkAad(headerBytes: Uint8Array, index: number, final: boolean): Uint8Array {
  const out = new Uint8Array(headerBytes.length + 9);
  out.set(headerBytes, 0);
  new DataView(out.buffer).setBigUint64(headerBytes.length, BigInt(index));
  out[headerBytes.length + 8] = final ? 1 : 0;
  return out;
}

/** The data key's additional data in envelope mode with AES-GCM wrapping: the header before the wrapped length. */
export function keyAad(header: Header): Uint8Array {
  return encodeHeader({ ...header, wrappedKey: new Uint8Array() }).slice(0, 12);
}

export interface Sealer {
  /** Seal one chunk: nonce, ciphertext and tag. */
  seal(plain: Uint8Array, aad: Uint8Array): Promise<{ nonce: Uint8Array; data: Uint8Array; tag: Uint8Array }>;
}

export interface Opener {
  open(nonce: Uint8Array, data: Uint8Array, tag: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Encrypt ``plain`` in server-side mode (each chunk sealed by the KMS with AES-GCM). */
export async function encryptServerSide(
  plain: Uint8Array,
  sealer: Sealer,
  chunkSize = DEFAULT_CHUNK_SIZE,
  progress?: (done: number) => void,
): Promise<Uint8Array> {
  const headerBytes = encodeHeader({ mode: 0, algorithm: 1, wrapping: 0, chunkSize, wrappedKey: new Uint8Array() });
  const parts: Uint8Array[] = [headerBytes];
  // A plaintext whose length is a multiple of the chunk size ends with an empty final chunk.
  const count = Math.floor(plain.length / chunkSize) + 1;
  for (let index = 0; index < count; index++) {
    const chunk = plain.subarray(index * chunkSize, Math.min(plain.length, (index + 1) * chunkSize));
    const sealed = await sealer.seal(chunk, chunkAad(headerBytes, index, index === count - 1));
    if (sealed.nonce.length !== NONCE || sealed.tag.length !== TAG) {
      throw new FileFormatError("the KMS did not answer a 12-byte nonce and a 16-byte tag");
    }
    parts.push(sealed.nonce, sealed.data, sealed.tag);
    progress?.(Math.min(plain.length, (index + 1) * chunkSize));
  }
  return concat(parts);
}

/**
 * Decrypt a KSE1 file. ``opener`` decrypts server-side chunks with the KMS; ``unwrap`` returns the data key of an
 * envelope file (the KMS unwraps it), whose chunks are then opened here with WebCrypto.
 */
export async function decryptFile(
  file: Uint8Array,
  opener: Opener,
  unwrap: (header: Header) => Promise<Uint8Array>,
  progress?: (done: number) => void,
): Promise<Uint8Array> {
  const { header, length } = decodeHeader(file);
  const headerBytes = file.subarray(0, length);
  let open = opener;
  if (header.mode === 1) {
    if (header.algorithm !== 1) {
      throw new FileFormatError("ChaCha20-Poly1305 envelope files are decrypted by `keystead sym decrypt`");
    }
    const dataKey = await unwrap(header);
    if (dataKey.length !== 32) throw new FileFormatError("the unwrapped data key has the wrong length");
    const key = await crypto.subtle.importKey("raw", dataKey as BufferSource, "AES-GCM", false, ["decrypt"]);
    open = {
      async open(nonce, data, tag, aad) {
        try {
          const plain = await crypto.subtle.decrypt(
            { name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource, tagLength: 128 },
            key,
            concat([data, tag]) as BufferSource,
          );
          return new Uint8Array(plain);
        } catch {
          throw new FileFormatError("a chunk fails authentication (altered, reordered or truncated)");
        }
      },
    };
  } else if (header.mode !== 0) {
    throw new FileFormatError(`unknown mode ${header.mode}`);
  } else if (header.algorithm !== 1) {
    throw new FileFormatError("only AES-GCM server-side files are decrypted here; use `keystead sym decrypt`");
  }
  const sealedSize = header.chunkSize + NONCE + TAG;
  const parts: Uint8Array[] = [];
  let at = length;
  let index = 0;
  for (;;) {
    const sealed = file.subarray(at, Math.min(file.length, at + sealedSize));
    at += sealed.length;
    const final = at >= file.length;
    if (sealed.length < NONCE + TAG) {
      throw new FileFormatError(final && sealed.length === 0 ? "the file is truncated (its final chunk is missing)" : `chunk ${index} is truncated`);
    }
    // A full-size chunk at the very end is not final: the writer would have added an empty final chunk.
    if (final && sealed.length === sealedSize) throw new FileFormatError("the file is truncated (its final chunk is missing)");
    const plain = await open.open(
      sealed.subarray(0, NONCE),
      sealed.subarray(NONCE, sealed.length - TAG),
      sealed.subarray(sealed.length - TAG),
      chunkAad(headerBytes, index, final),
    );
    parts.push(plain);
    progress?.(at);
    index += 1;
    if (final) break;
  }
  return concat(parts);
}
