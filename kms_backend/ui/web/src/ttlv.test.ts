import { describe, expect, it } from "vitest";
import { bytes, child, dateTime, find, fromHex, numberOf, struct, text, toHex } from "./ttlv";

describe("JSON TTLV", () => {
  it("writes byte strings as upper-case hex and reads either case", () => {
    expect(bytes("Data", new Uint8Array([0, 1, 0xab])).value).toBe("0001AB");
    expect(Array.from(fromHex("0001ab"))).toEqual([0, 1, 0xab]);
    expect(() => fromHex("0g")).toThrow(/not hexadecimal/);
    expect(() => fromHex("abc")).toThrow(/not hexadecimal/);
    expect(toHex(fromHex("DEADBEEF"))).toBe("DEADBEEF");
  });

  it("writes DateTime in whole seconds, UTC", () => {
    expect(dateTime("ActivationDate", new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678))).value).toBe("2026-01-02T03:04:05Z");
  });

  it("reads Integer, LongInteger hex (two's complement) and Interval", () => {
    expect(numberOf({ tag: "X", type: "Integer", value: 7 })).toBe(7);
    expect(numberOf({ tag: "X", type: "LongInteger", value: "0x0000000000000100" })).toBe(256);
    expect(numberOf({ tag: "X", type: "LongInteger", value: "0xFFFFFFFFFFFFFFFF" })).toBe(-1);
    expect(numberOf(undefined)).toBeUndefined();
  });

  it("drops absent children and finds nested nodes", () => {
    const node = struct("Locate", [null, false, "", text("A", "a"), struct("Attributes", [text("B", "b")])]);
    expect((node.value as unknown[]).length).toBe(2);
    // No "type" on Structures: the server would answer a typed root in Cosmian's 4.x dialect.
    expect(node.type).toBeUndefined();
    expect(child(node, "A")?.value).toBe("a");
    expect(find(node, "B")?.value).toBe("b");
    expect(child(node, "B")).toBeUndefined();
  });
});
