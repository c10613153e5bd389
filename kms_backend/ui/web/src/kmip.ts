// The KMIP 2.1 operations the UI uses, each one bare operation (or one Request Message) on /kmip/2_1.

import { kmip, kmipBatch, KmipFailure } from "./api";
import {
  all,
  bool,
  bytes,
  bytesOf,
  child,
  dateTime,
  enumeration,
  find,
  int,
  numberOf,
  struct,
  text,
  textOf,
  type Ttlv,
} from "./ttlv";

export const OBJECT_TYPES = [
  "SymmetricKey",
  "PrivateKey",
  "PublicKey",
  "Certificate",
  "SecretData",
  "OpaqueObject",
  "SplitKey",
  "CertificateRequest",
] as const;
export const STATES = ["PreActive", "Active", "Deactivated", "Compromised", "Destroyed", "Destroyed_Compromised"] as const;
export const ALGORITHMS = [
  "AES",
  "ChaCha20",
  "ChaCha20Poly1305",
  "TripleDES",
  "HMACSHA256",
  "HMACSHA384",
  "HMACSHA512",
  "RSA",
  "EC",
  "ECDSA",
  "Ed25519",
  "Ed448",
  "X25519",
  "X448",
  "MLKEM_768",
  "MLDSA_65",
] as const;
/** Operation names of the access-rights API (lower case, as Cosmian KMS spells them). */
export const ACCESS_OPERATIONS = [
  "get",
  "getattributes",
  "encrypt",
  "decrypt",
  "sign",
  "signatureverify",
  "mac",
  "export",
  "rekey",
  "revoke",
  "destroy",
  "locate",
] as const;

/** Cosmian tags: a vendor attribute whose value is a JSON array of strings. */
export function tagsAttribute(tags: string[]): Ttlv {
  return struct("Attribute", [
    text("VendorIdentification", "cosmian"),
    text("AttributeName", "tag"),
    text("AttributeValue", JSON.stringify(tags)),
  ]);
}

export function parseTags(input: string): string[] {
  return input
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

export interface Filters {
  tags: string[];
  objectType: string;
  state: string;
  algorithm: string;
}

export interface Page {
  total: number;
  uids: string[];
}

/** One page of Locate (KMIP 2.1 §6.1.28): Maximum Items and Offset Items page on the server. */
export async function locate(filters: Filters, offset: number, limit: number): Promise<Page> {
  const attributes = struct("Attributes", [
    filters.objectType && enumeration("ObjectType", filters.objectType),
    filters.algorithm && enumeration("CryptographicAlgorithm", filters.algorithm),
    filters.state && enumeration("State", filters.state),
    filters.tags.length > 0 && tagsAttribute(filters.tags),
  ]);
  const response = await kmip(
    struct("Locate", [int("MaximumItems", limit), int("OffsetItems", offset), attributes]),
  );
  return {
    total: numberOf(child(response, "LocatedItems")) ?? 0,
    uids: all(response, "UniqueIdentifier").map((n) => textOf(n) ?? ""),
  };
}

export interface Summary {
  uid: string;
  name?: string;
  objectType?: string;
  algorithm?: string;
  length?: number;
  state?: string;
  tags: string[];
  created?: string;
  attributes?: Ttlv;
  error?: string;
}

export function tagsOf(attributes: Ttlv | undefined): string[] {
  for (const attr of all(attributes, "Attribute")) {
    if (textOf(child(attr, "VendorIdentification")) === "cosmian" && textOf(child(attr, "AttributeName")) === "tag") {
      try {
        const parsed: unknown = JSON.parse(textOf(child(attr, "AttributeValue")) ?? "[]");
        if (Array.isArray(parsed)) return parsed.map(String);
      } catch {
        return [];
      }
    }
  }
  return [];
}

export function summarize(uid: string, attributes: Ttlv | undefined): Summary {
  return {
    uid,
    name: textOf(find(child(attributes, "Name"), "NameValue")),
    objectType: textOf(child(attributes, "ObjectType")),
    algorithm: textOf(child(attributes, "CryptographicAlgorithm")),
    length: numberOf(child(attributes, "CryptographicLength")),
    state: textOf(child(attributes, "State")),
    tags: tagsOf(attributes),
    created: textOf(child(attributes, "InitialDate")),
    attributes,
  };
}

/** Attributes of several objects in one Request Message (one GetAttributes batch item each). */
export async function summaries(uids: string[]): Promise<Summary[]> {
  const results = await kmipBatch(
    uids.map((uid) => ({ operation: "GetAttributes", payload: [text("UniqueIdentifier", uid)] })),
  );
  return uids.map((uid, i) => {
    const result = results[i];
    if (result === undefined) return { uid, tags: [], error: "no answer" };
    if (!result.ok) return { uid, tags: [], error: result.error.message };
    return summarize(uid, child(result.payload, "Attributes"));
  });
}

export async function getAttributes(uid: string): Promise<Summary> {
  const response = await kmip(struct("GetAttributes", [text("UniqueIdentifier", uid)]));
  return summarize(uid, child(response, "Attributes"));
}

function commonAttributes(options: { name?: string; tags: string[]; activate: boolean }): Ttlv[] {
  return [
    options.name
      ? struct("Name", [text("NameValue", options.name), enumeration("NameType", "UninterpretedTextString")])
      : null,
    options.activate ? dateTime("ActivationDate", new Date()) : null,
    options.tags.length > 0 ? tagsAttribute(options.tags) : null,
  ].filter((a): a is Ttlv => a !== null);
}

export interface CreateOptions {
  algorithm: string;
  bits: number;
  name?: string;
  tags: string[];
  activate: boolean;
}

export async function createSymmetricKey(options: CreateOptions): Promise<string> {
  const response = await kmip(
    struct("Create", [
      enumeration("ObjectType", "SymmetricKey"),
      struct("Attributes", [
        enumeration("CryptographicAlgorithm", options.algorithm),
        int("CryptographicLength", options.bits),
        int("CryptographicUsageMask", 0x4 | 0x8 | 0x10 | 0x20),
        ...commonAttributes(options),
      ]),
    ]),
  );
  return textOf(child(response, "UniqueIdentifier")) ?? "";
}

export interface KeyPairOptions {
  /** "RSA-2048", "EC-P256", "Ed25519"... */
  kind: string;
  name?: string;
  tags: string[];
  activate: boolean;
}

export const KEY_PAIR_KINDS: Record<string, Ttlv[]> = {
  "RSA-2048": [enumeration("CryptographicAlgorithm", "RSA"), int("CryptographicLength", 2048)],
  "RSA-3072": [enumeration("CryptographicAlgorithm", "RSA"), int("CryptographicLength", 3072)],
  "RSA-4096": [enumeration("CryptographicAlgorithm", "RSA"), int("CryptographicLength", 4096)],
  "EC-P256": [enumeration("CryptographicAlgorithm", "EC"), enumeration("RecommendedCurve", "P256")],
  "EC-P384": [enumeration("CryptographicAlgorithm", "EC"), enumeration("RecommendedCurve", "P384")],
  Ed25519: [enumeration("CryptographicAlgorithm", "Ed25519"), enumeration("RecommendedCurve", "CURVE25519")],
};

export async function createKeyPair(options: KeyPairOptions): Promise<{ privateKey: string; publicKey: string }> {
  const kind = KEY_PAIR_KINDS[options.kind];
  if (!kind) throw new Error(`unknown key pair kind ${options.kind}`);
  const response = await kmip(
    struct("CreateKeyPair", [struct("CommonAttributes", [...kind, ...commonAttributes(options)])]),
  );
  return {
    privateKey: textOf(child(response, "PrivateKeyUniqueIdentifier")) ?? "",
    publicKey: textOf(child(response, "PublicKeyUniqueIdentifier")) ?? "",
  };
}

export interface ImportOptions {
  kind: "SymmetricKey" | "SecretData" | "PrivateKey" | "PublicKey" | "Certificate";
  material: Uint8Array;
  algorithm?: string;
  name?: string;
  tags: string[];
  activate: boolean;
}

/** The object to Register, by kind: raw symmetric keys and secret data, PKCS#8, SubjectPublicKeyInfo, X.509. */
function importedObject(options: ImportOptions): { attributes: Ttlv[]; object: Ttlv } {
  const material = options.material;
  const keyBlock = (format: string, extra: Ttlv[] = []) =>
    struct("KeyBlock", [
      enumeration("KeyFormatType", format),
      struct("KeyValue", [bytes("KeyMaterial", material)]),
      ...extra,
    ]);
  switch (options.kind) {
    case "SymmetricKey": {
      const algorithm = options.algorithm || "AES";
      const sized = [enumeration("CryptographicAlgorithm", algorithm), int("CryptographicLength", material.length * 8)];
      return {
        attributes: [...sized, int("CryptographicUsageMask", 0x4 | 0x8 | 0x10 | 0x20)],
        object: struct("SymmetricKey", [keyBlock("Raw", sized)]),
      };
    }
    case "SecretData":
      return {
        attributes: [],
        object: struct("SecretData", [enumeration("SecretDataType", "Password"), keyBlock("Opaque")]),
      };
    case "PrivateKey":
      return { attributes: [], object: struct("PrivateKey", [keyBlock("PKCS8")]) };
    case "PublicKey":
      return { attributes: [], object: struct("PublicKey", [keyBlock("X509")]) };
    case "Certificate":
      return {
        attributes: [],
        object: struct("Certificate", [enumeration("CertificateType", "X509"), bytes("CertificateValue", material)]),
      };
  }
}

/** Register (KMIP 2.1 §6.1.44) an object the user brings. */
export async function importObject(options: ImportOptions): Promise<string> {
  const { attributes, object } = importedObject(options);
  const response = await kmip(
    struct("Register", [
      enumeration("ObjectType", options.kind),
      struct("Attributes", [...attributes, ...commonAttributes(options)]),
      object,
    ]),
  );
  return textOf(child(response, "UniqueIdentifier")) ?? "";
}

export interface Exported {
  objectType: string;
  /** DER or raw key bytes. */
  material: Uint8Array;
  format: string;
  /** The whole Get response, for a JSON TTLV download. */
  response: Ttlv;
}

/** The key format to ask for when exporting each object type. */
export const EXPORT_FORMATS: Record<string, string | undefined> = {
  SymmetricKey: "Raw",
  PrivateKey: "PKCS8",
  PublicKey: "X509",
  SecretData: "Opaque",
};

/** Get (KMIP 2.1 §6.1.22) the object's key material or certificate. */
export async function exportObject(uid: string, objectType: string): Promise<Exported> {
  const format = EXPORT_FORMATS[objectType];
  const response = await kmip(
    struct("Get", [text("UniqueIdentifier", uid), format ? enumeration("KeyFormatType", format) : null]),
  );
  const value = find(response, "CertificateValue") ?? find(response, "KeyMaterial");
  const material = bytesOf(value);
  if (!material) throw new Error("the server returned no key material in a known format");
  return { objectType: textOf(child(response, "ObjectType")) ?? objectType, material, format: format ?? "X509", response };
}

/** Re-key (§6.1.46) a symmetric key or Re-key Key Pair (§6.1.47) a private key: the new object's identifier. */
export async function reKey(uid: string, objectType: string): Promise<string> {
  if (objectType === "PrivateKey") {
    const response = await kmip(struct("ReKeyKeyPair", [text("PrivateKeyUniqueIdentifier", uid)]));
    return textOf(child(response, "PrivateKeyUniqueIdentifier")) ?? "";
  }
  const response = await kmip(struct("ReKey", [text("UniqueIdentifier", uid)]));
  return textOf(child(response, "UniqueIdentifier")) ?? "";
}

export const REVOCATION_REASONS = [
  "Unspecified",
  "KeyCompromise",
  "CACompromise",
  "AffiliationChanged",
  "Superseded",
  "CessationOfOperation",
  "PrivilegeWithdrawn",
] as const;

export async function revoke(uid: string, reason: string, message: string): Promise<void> {
  await kmip(
    struct("Revoke", [
      text("UniqueIdentifier", uid),
      struct("RevocationReason", [
        enumeration("RevocationReasonCode", reason),
        message ? text("RevocationMessage", message) : null,
      ]),
      reason === "KeyCompromise" || reason === "CACompromise" ? dateTime("CompromiseOccurrenceDate", new Date()) : null,
    ]),
  );
}

export async function activate(uid: string): Promise<void> {
  await kmip(struct("Activate", [text("UniqueIdentifier", uid)]));
}

export async function destroy(uid: string, remove = false): Promise<void> {
  await kmip(struct("Destroy", [text("UniqueIdentifier", uid), remove ? bool("Remove", true) : null]));
}

export interface Sealed {
  data: Uint8Array;
  nonce: Uint8Array;
  tag: Uint8Array;
}

/** Encrypt (§6.1.17) with AES-GCM on the server, the nonce chosen by the server. */
export async function encryptGcm(uid: string, data: Uint8Array, aad: Uint8Array): Promise<Sealed> {
  const response = await kmip(
    struct("Encrypt", [
      text("UniqueIdentifier", uid),
      struct("CryptographicParameters", [enumeration("BlockCipherMode", "GCM"), int("TagLength", 16)]),
      bytes("Data", data),
      bytes("AuthenticatedEncryptionAdditionalData", aad),
    ]),
  );
  const nonce = bytesOf(child(response, "IVCounterNonce"));
  const tag = bytesOf(child(response, "AuthenticatedEncryptionTag"));
  if (!nonce || nonce.length !== 12 || !tag || tag.length !== 16) {
    throw new KmipFailure("Cryptographic_Failure", "the server did not answer a 12-byte nonce and a 16-byte tag (is it an AES key?)");
  }
  return { data: bytesOf(child(response, "Data")) ?? new Uint8Array(), nonce, tag };
}

export async function decryptGcm(uid: string, sealed: Sealed, aad: Uint8Array): Promise<Uint8Array> {
  const response = await kmip(
    struct("Decrypt", [
      text("UniqueIdentifier", uid),
      struct("CryptographicParameters", [enumeration("BlockCipherMode", "GCM"), int("TagLength", 16)]),
      bytes("Data", sealed.data),
      bytes("IVCounterNonce", sealed.nonce),
      bytes("AuthenticatedEncryptionAdditionalData", aad),
      bytes("AuthenticatedEncryptionTag", sealed.tag),
    ]),
  );
  return bytesOf(child(response, "Data")) ?? new Uint8Array();
}


