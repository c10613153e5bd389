// JSON TTLV (the /kmip/2_1 wire format, KMIP 2.1 in Cosmian's 5.x JSON dialect): building request nodes and reading
// response nodes. Every node is {tag, type, value}; Structures may omit their type.

export type TtlvType =
  | "Structure"
  | "Integer"
  | "LongInteger"
  | "BigInteger"
  | "Enumeration"
  | "Boolean"
  | "TextString"
  | "ByteString"
  | "DateTime"
  | "Interval"
  | "DateTimeExtended";

export interface Ttlv {
  tag: string;
  type?: TtlvType;
  value: Ttlv[] | string | number | boolean;
}

/** A Structure, without "type" as the 5.x dialect writes it (the server answers a root carrying
 *  "type": "Structure" in the 4.x dialect of Cosmian's older clients: IvCounterNonce, nested lists). */
export const struct = (tag: string, children: (Ttlv | null | undefined | false | "")[]): Ttlv => ({
  tag,
  value: children.filter((c): c is Ttlv => !!c),
});
export const text = (tag: string, value: string): Ttlv => ({ tag, type: "TextString", value });
export const int = (tag: string, value: number): Ttlv => ({ tag, type: "Integer", value });
export const long = (tag: string, value: number): Ttlv => ({ tag, type: "LongInteger", value });
export const enumeration = (tag: string, value: string): Ttlv => ({ tag, type: "Enumeration", value });
export const bool = (tag: string, value: boolean): Ttlv => ({ tag, type: "Boolean", value });
export const bytes = (tag: string, value: Uint8Array): Ttlv => ({ tag, type: "ByteString", value: toHex(value) });
/** A DateTime: whole seconds, RFC 3339 in UTC. */
export const dateTime = (tag: string, value: Date): Ttlv => ({
  tag,
  type: "DateTime",
  value: value.toISOString().replace(/\.\d{3}Z$/, "Z"),
});

export function toHex(data: Uint8Array): string {
  let out = "";
  for (const b of data) out += b.toString(16).padStart(2, "0");
  return out.toUpperCase();
}

export function fromHex(hex: string): Uint8Array {
  const clean = hex.startsWith("0x") || hex.startsWith("0X") ? hex.slice(2) : hex;
  if (clean.length % 2 !== 0 || /[^0-9a-fA-F]/.test(clean)) throw new Error(`not hexadecimal: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.substr(i * 2, 2), 16);
  return out;
}

export function children(node: Ttlv | undefined): Ttlv[] {
  return node && Array.isArray(node.value) ? node.value : [];
}

/** The first child with this tag, if any. */
export function child(node: Ttlv | undefined, tag: string): Ttlv | undefined {
  return children(node).find((c) => c.tag === tag);
}

/** Every child with this tag. */
export function all(node: Ttlv | undefined, tag: string): Ttlv[] {
  return children(node).filter((c) => c.tag === tag);
}

/** The first node with this tag anywhere below ``node`` (depth first). */
export function find(node: Ttlv | undefined, tag: string): Ttlv | undefined {
  for (const c of children(node)) {
    if (c.tag === tag) return c;
    const below = find(c, tag);
    if (below) return below;
  }
  return undefined;
}

export function textOf(node: Ttlv | undefined): string | undefined {
  return node === undefined || Array.isArray(node.value) ? undefined : String(node.value);
}

/** The number of an Integer, LongInteger ("0x" hex) or Interval node. */
export function numberOf(node: Ttlv | undefined): number | undefined {
  if (node === undefined) return undefined;
  const v = node.value;
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^0x[0-9a-f]+$/i.test(v)) {
    const big = BigInt(v);
    const bits = (v.length - 2) * 4;
    // Two's complement for LongInteger: the top bit of the 64-bit value is the sign.
    const signed = bits === 64 && big >= 1n << 63n ? big - (1n << 64n) : big;
    return Number(signed);
  }
  if (typeof v === "string" && v.trim() !== "" && !Number.isNaN(Number(v))) return Number(v);
  return undefined;
}

export function bytesOf(node: Ttlv | undefined): Uint8Array | undefined {
  return node === undefined || typeof node.value !== "string" ? undefined : fromHex(node.value);
}

/** A readable rendering of a leaf value (dates stay as the server wrote them, byte strings as hex). */
export function display(node: Ttlv): string {
  if (Array.isArray(node.value)) return node.value.map((c) => `${c.tag}: ${display(c)}`).join(", ");
  if (node.type === "LongInteger" || node.type === "Integer") return String(numberOf(node) ?? node.value);
  return String(node.value);
}
