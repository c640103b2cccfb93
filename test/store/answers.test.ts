/**
 * The answer cache on both engines (SQLite file, PostgreSQL database): similar past queries by text
 * rank (an exact normalized match first), tenant isolation (one tenant's answers are never another's
 * references), one entry per (tenant, model, query), and least-recently-used eviction at the caps.
 */
import { describe, expect, it } from "vitest";
import { STORE_BACKENDS } from "../helpers/postgres.js";

describe.each(STORE_BACKENDS)("answer cache ($name)", (backend) => {
  const fresh = (options: Parameters<typeof backend.answers>[0] = {}) => backend.answers(options);
  it("finds the most similar past queries, an exact (normalized) match first", async () => {
    const cache = await fresh();
    try {
      await cache.put({ query: "where does real insulin come from", answer: "From pigs, cows and bacteria.", model: "m" });
      await cache.put({ query: "where does insulin come from in the body", answer: "The pancreas.", model: "m" });
      await cache.put({ query: "what is the capital of france", answer: "Paris.", model: "m" });
      const hits = await cache.similar("Where does REAL insulin come from?", { model: "m" });
      expect(hits.map((h) => h.answer)).toEqual(["From pigs, cows and bacteria.", "The pancreas."]);
      expect(hits[0].exact).toBe(true);
      expect(hits[1].exact).toBe(false);
      expect(await cache.similar("insulin origin", { model: "m", top: 1 })).toHaveLength(1);
      expect(await cache.similar("insulin", { model: "other model" })).toEqual([]);
      expect((await cache.similar("insulin")).length).toBe(2); // no model filter
      expect(await cache.similar("?!")).toEqual([]);
      // Same normalized query: replaced, not duplicated.
      await cache.put({ query: "Where does real insulin come from?", answer: "Recombinant DNA.", model: "m" });
      expect((await cache.stats()).entries).toBe(3);
      expect((await cache.similar("where does real insulin come from", { model: "m", top: 1 }))[0].answer).toBe("Recombinant DNA.");
      // The generated tokens are kept and returned to lookups for that model (they are its token ids).
      await cache.put({ query: "tokens please", answer: " x y", tokens: [29871, 1, 70000, 2147483647], model: "m" });
      expect((await cache.similar("tokens please", { model: "m" }))[0].tokens).toEqual([29871, 1, 70000, 2147483647]);
      expect((await cache.similar("tokens please"))[0].tokens).toBeUndefined();
    } finally {
      await cache.close();
    }
  });

  it("tenants are isolated: lookups, stats and clear see only their own answers", async () => {
    const cache = await fresh();
    try {
      await cache.put({ query: "what is my account number", answer: "alice: 1234", model: "m", tenant: "alice" });
      await cache.put({ query: "what is my account number", answer: "bob: 9876", model: "m", tenant: "bob" });
      await cache.put({ query: "what is the account limit", answer: "default: 100", model: "m" });
      expect((await cache.similar("what is my account number", { tenant: "alice" })).map((h) => h.answer)).toEqual(["alice: 1234"]);
      expect((await cache.similar("what is my account number", { tenant: "bob" })).map((h) => h.answer)).toEqual(["bob: 9876"]);
      expect((await cache.similar("what is my account number")).map((h) => h.answer)).toEqual(["default: 100"]);
      expect(await cache.similar("account", { tenant: "carol" })).toEqual([]);
      // Tenant names are data, not SQL or FTS syntax.
      expect(await cache.similar("account", { tenant: "' OR 1=1 --" })).toEqual([]);
      expect(await cache.stats("alice")).toMatchObject({ entries: 1, tenants: [{ tenant: "alice", entries: 1 }] });
      expect((await cache.stats()).tenants.map((t) => t.tenant)).toEqual(["alice", "bob", "default"]);
      expect(await cache.clear("alice")).toBe(1);
      expect(await cache.similar("account number", { tenant: "alice" })).toEqual([]);
      expect(await cache.similar("account number", { tenant: "bob" })).toHaveLength(1);
      await expect(cache.put({ query: "q", answer: "a", model: "m", tenant: "" })).rejects.toThrow(/tenant must be a string of 1 to 256 characters/);
      await expect(cache.put({ query: "?!", answer: "a", model: "m" })).rejects.toThrow(/no words/);
    } finally {
      await cache.close();
    }
  });

  it("evicts the least recently used beyond maxEntries; a lookup counts as a use", async () => {
    const cache = await fresh({ maxEntries: 5 });
    try {
      for (let i = 0; i < 5; i++) expect((await cache.put({ query: `question ${i} topic${i}`, answer: `answer ${i}`, model: "m" })).evicted).toBe(0);
      await cache.similar("topic0"); // question 0 is now the most recently used
      expect((await cache.put({ query: "question 5 topic5", answer: "answer 5", model: "m" })).evicted).toBe(1);
      expect((await cache.stats()).entries).toBe(5);
      expect(await cache.similar("topic1")).toEqual([]); // the least recently used went
      expect(await cache.similar("topic0")).toHaveLength(1);
      for (let i = 6; i < 20; i++) await cache.put({ query: `question ${i} topic${i}`, answer: `answer ${i}`, model: "m" });
      expect((await cache.stats()).entries).toBe(5);
      const kept = (await cache.similar("question", { top: 10, touch: false })).map((h) => h.answer).sort();
      expect(kept).toEqual(["answer 15", "answer 16", "answer 17", "answer 18", "answer 19"]);
    } finally {
      await cache.close();
    }
  });

  it("maxEntriesPerTenant evicts within the tenant only", async () => {
    const cache = await fresh({ maxEntries: 100, maxEntriesPerTenant: 2 });
    try {
      await cache.put({ query: "b one", answer: "b1", model: "m", tenant: "b" });
      for (let i = 0; i < 5; i++) await cache.put({ query: `a ${i} x${i}`, answer: `a${i}`, model: "m", tenant: "a" });
      expect((await cache.stats("a")).entries).toBe(2);
      expect((await cache.stats("b")).entries).toBe(1);
      expect((await cache.similar("a", { tenant: "a", top: 5, touch: false })).map((h) => h.answer).sort()).toEqual(["a3", "a4"]);
    } finally {
      await cache.close();
    }
  });
});
