import { describe, expect, it } from "vitest";
import { PagedRows, BLOCK, KEEP_BLOCKS } from "./paged";
import { ago, amountLabel, dashboardUrl, reasonProblem, statusTone } from "./sync";

describe("PagedRows", () => {
  function source(total: number) {
    const calls: number[] = [];
    const fetch = async (offset: number, limit: number) => {
      calls.push(offset);
      const rows = Array.from({ length: Math.max(0, Math.min(limit, total - offset)) }, (_, i) => offset + i);
      return { rows, total };
    };
    return { calls, fetch };
  }

  it("loads the blocks in view once each", async () => {
    const s = source(1000);
    let changes = 0;
    const p = new PagedRows(s.fetch, () => changes++);
    await p.ensure(0, 50);
    expect(p.total).toBe(1000);
    await Promise.all([p.ensure(150, 250), p.ensure(190, 260)]);
    expect(s.calls).toEqual([0, BLOCK]);
    expect(p.row(0)).toBe(0);
    expect(p.row(399)).toBe(399);
    expect(p.row(400)).toBeUndefined();
    expect(changes).toBe(2);
  });

  it("drops an answer to a query that changed while it was in flight", async () => {
    let release!: () => void;
    const slow = () => new Promise<{ rows: string[]; total: number }>((r) => (release = () => r({ rows: ["old"], total: 1 })));
    const p = new PagedRows<string>(slow);
    const waiting = p.ensure(0, 10);
    p.reset(async () => ({ rows: ["new"], total: 1 }));
    release();
    await waiting;
    expect(p.row(0)).toBeUndefined();
    await p.ensure(0, 10);
    expect(p.row(0)).toBe("new");
  });

  it("keeps a bounded number of blocks, dropping the farthest", async () => {
    const s = source(100_000);
    const p = new PagedRows(s.fetch);
    await p.ensure(0, 10);
    for (let b = 1; b <= KEEP_BLOCKS + 5; b++) await p.ensure(b * BLOCK, b * BLOCK + 10);
    expect(p.loaded()).toBe(KEEP_BLOCKS);
    expect(p.row(0)).toBeUndefined();
    expect(p.row((KEEP_BLOCKS + 5) * BLOCK)).toBe((KEEP_BLOCKS + 5) * BLOCK);
  });

  it("keeps the error of a failed load and retries on the next call", async () => {
    let fail = true;
    const p = new PagedRows<number>(async () => {
      if (fail) throw new Error("store locked");
      return { rows: [1], total: 1 };
    });
    await p.ensure(0, 5);
    expect(String(p.error)).toContain("store locked");
    fail = false;
    await p.ensure(0, 5);
    expect(p.error).toBeNull();
    expect(p.row(0)).toBe(1);
  });
});

describe("sync helpers", () => {
  it("links to the Dashboard in the environment's mode", () => {
    expect(dashboardUrl("test", "sub_123")).toBe("https://dashboard.stripe.com/test/subscriptions/sub_123");
    expect(dashboardUrl("live", "cus_9")).toBe("https://dashboard.stripe.com/customers/cus_9");
    expect(dashboardUrl("test", "org_1")).toBeNull();
    expect(dashboardUrl("test", "sub_1/../x")).toBeNull();
  });

  it("formats minor units without floats", () => {
    expect(amountLabel({ amount: 4900, currency: "eur", interval: "month" })).toBe("EUR 49.00 / month");
    expect(amountLabel({ amount: 123456789, currency: "usd", interval: null })).toBe("USD 1,234,567.89");
    expect(amountLabel({ amount: 5000, currency: "jpy", interval: "year" })).toBe("JPY 5,000 / year");
    expect(amountLabel({ amount: 5, currency: "eur", interval: null })).toBe("EUR 0.05");
    expect(amountLabel({ amount: null, currency: "eur", interval: null })).toBe("");
  });

  it("requires a reason like the backend", () => {
    expect(reasonProblem("  ")).toContain("reason");
    expect(reasonProblem("ok")).not.toBeNull();
    expect(reasonProblem("goodwill")).toBeNull();
  });

  it("says how long ago, and never", () => {
    expect(ago(null)).toBe("never");
    expect(ago(100, 130)).toBe("30 s ago");
    expect(ago(0, 7200)).toBe("2 h ago");
  });

  it("colours statuses", () => {
    expect(statusTone("past_due")).toBe("warn");
    expect(statusTone("CANCELED")).toBe("bad");
    expect(statusTone("trialing")).toBe("ok");
  });
});
