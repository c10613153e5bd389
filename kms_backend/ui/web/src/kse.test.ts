// The KSE1 format against a local AES-GCM "server": round trips, chunk boundaries, the header bytes, tampering.
// (Interoperability with `keystead sym encrypt`/`decrypt` is checked end to end in integration_tests/test_web_ui.py.)
import { describe, expect, it } from "vitest";
import { chunkAad, decodeHeader, decryptFile, encodeHeader, encryptServerSide, FileFormatError, type Opener, type Sealer } from "./kse";

async function localKms(): Promise<Sealer & Opener> {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  return {
    async seal(plain, aad) {
      const nonce = crypto.getRandomValues(new Uint8Array(12));
      const out = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad as BufferSource }, key, plain as BufferSource),
      );
      return { nonce, data: out.slice(0, out.length - 16), tag: out.slice(out.length - 16) };
    },
    async open(nonce, data, tag, aad) {
      const joined = new Uint8Array(data.length + tag.length);
      joined.set(data);
      joined.set(tag, data.length);
      return new Uint8Array(
        await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce as BufferSource, additionalData: aad as BufferSource }, key, joined),
      );
    },
  };
}

const noUnwrap = async () => {
  throw new Error("not an envelope file");
};

describe("KSE1", () => {
  it("round-trips sizes around the chunk boundary", async () => {
    const kms = await localKms();
    for (const size of [0, 1, 15, 16, 17, 48]) {
      const plain = crypto.getRandomValues(new Uint8Array(size));
      const sealed = await encryptServerSide(plain, kms, 16);
      // Header (14) + one sealed chunk per started chunk, plus an empty final chunk on an exact multiple.
      const chunks = Math.floor(size / 16) + 1;
      expect(sealed.length).toBe(14 + size + chunks * 28);
      expect(await decryptFile(sealed, kms, noUnwrap)).toEqual(plain);
    }
  });

  it("writes the header the CLI writes", () => {
    const header = encodeHeader({ mode: 0, algorithm: 1, wrapping: 0, chunkSize: 1 << 20, wrappedKey: new Uint8Array() });
    expect(Array.from(header)).toEqual([0x4b, 0x53, 0x45, 0x31, 0, 1, 0, 0, 0, 0x10, 0, 0, 0, 0]);
    expect(decodeHeader(header).header.chunkSize).toBe(1 << 20);
    expect(Array.from(chunkAad(header, 1, true).slice(14))).toEqual([0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  it("refuses truncated, reordered and foreign files", async () => {
    const kms = await localKms();
    const sealed = await encryptServerSide(crypto.getRandomValues(new Uint8Array(40)), kms, 16);
    // Dropping the final chunk leaves a file that ends on a full-size chunk.
    await expect(decryptFile(sealed.slice(0, sealed.length - (8 + 28)), kms, noUnwrap)).rejects.toThrow(FileFormatError);
    const swapped = sealed.slice();
    swapped.set(sealed.slice(14 + 44, 14 + 88), 14);
    swapped.set(sealed.slice(14, 14 + 44), 14 + 44);
    await expect(decryptFile(swapped, kms, noUnwrap)).rejects.toThrow();
    await expect(decryptFile(new TextEncoder().encode("hello world, not KSE"), kms, noUnwrap)).rejects.toThrow(/KSE1/);
  });
});
