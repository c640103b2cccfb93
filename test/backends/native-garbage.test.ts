/** The native-garbage collector: collects once its limit is reached, and leaves no gc behind. */
import vm from "node:vm";
import { describe, expect, it } from "vitest";
import { NativeGarbageCollector } from "../../src/backends/native-garbage.js";

describe("NativeGarbageCollector", () => {
  it("runs a major collection per `limit` bytes reported, without exposing gc to anyone else", () => {
    const hadGlobalGc = typeof (globalThis as { gc?: unknown }).gc;
    const collector = new NativeGarbageCollector(true, 1000);
    collector.report(600);
    expect(collector.collections).toBe(0);
    collector.report(600);
    expect(collector.collections).toBe(1);
    collector.report(999);
    expect(collector.collections).toBe(1);
    collector.report(1);
    expect(collector.collections).toBe(2);
    // --expose-gc was on only while the collector made its own context.
    expect(vm.runInNewContext("typeof gc")).toBe("undefined");
    expect(typeof (globalThis as { gc?: unknown }).gc).toBe(hadGlobalGc);
  });

  it("collectNativeGarbage: false never collects", () => {
    const collector = new NativeGarbageCollector(false, 1);
    for (let i = 0; i < 10; i++) collector.report(1000);
    expect(collector.collections).toBe(0);
  });
});
