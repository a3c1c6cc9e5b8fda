import { describe, expect, it } from "vitest";
import type { Delivery, EventKind, RunResult } from "./bindings";
import { groupCatalog, jsonProblem, latencyLabel, overrideLines, runSummary, sentLabel, verdict } from "./webhooks";

const kind = (name: string, resource: string): EventKind => ({ name, event_type: name.split(":")[0], resource, summary: "", from_request: false });

describe("webhooks helpers", () => {
  it("groups the catalog by resource in catalog order", () => {
    const g = groupCatalog([kind("invoice.paid", "invoice"), kind("customer.created", "customer"), kind("invoice.created", "invoice")]);
    expect(g.map((x) => x.resource)).toEqual(["invoice", "customer"]);
    expect(g[0].kinds.map((k) => k.name)).toEqual(["invoice.paid", "invoice.created"]);
  });

  it("writes latencies for their size", () => {
    expect(latencyLabel(null)).toBe("");
    expect(latencyLabel(830)).toBe("0.8 ms");
    expect(latencyLabel(12_400)).toBe("12 ms");
    expect(latencyLabel(1_204_000)).toBe("1.20 s");
  });

  it("judges answers as a correct endpoint would give them", () => {
    const d = (mode: Delivery["mode"], http_status: number | null, as_expected: boolean, outcome: Delivery["outcome"] = "ok") => verdict({ mode, http_status, as_expected, outcome });
    expect(d("valid", 200, true)).toEqual({ text: "accepted", tone: "ok" });
    expect(d("stale", 400, true, "client_error")).toEqual({ text: "refused, as it should", tone: "ok" });
    expect(d("tampered", 200, false)).toEqual({ text: "accepted a bad signature", tone: "bad" });
    expect(d("valid", 302, false, "redirect").tone).toBe("warn");
    expect(d("valid", 503, false, "server_error").text).toContain("retry");
    expect(d("valid", 400, false, "client_error").text).toBe("refused a valid event");
    expect(d("valid", null, false, "timeout").text).toBe("no answer in time");
    expect(d("valid", null, false, "unreachable").text).toBe("unreachable");
  });

  it("reads overrides a line each and checks JSON", () => {
    expect(overrideLines("a=1\n\n  b.c=x  \n")).toEqual(["a=1", "b.c=x"]);
    expect(jsonProblem('{"a":1}')).toBeNull();
    expect(jsonProblem("{oops")).toBeTruthy();
  });

  it("sums a run up in one line", () => {
    const r = { events: 3, attempts: 4, elapsed_ms: 12, per_second: 250, outcomes: [{ outcome: "ok", attempts: 3 }, { outcome: "server_error", attempts: 1 }], as_expected: 3, latency_p50_us: 800, latency_p95_us: 2000, cancelled: false } as unknown as RunResult;
    expect(runSummary(r)).toBe("3 events, 4 attempts in 12 ms · 250/s: 3 ok, 1 server error; 3 of 3 as a correct endpoint would answer · p50 0.8 ms, p95 2.0 ms");
  });

  it("says when an attempt left to the millisecond, with the day when not today", () => {
    const at = new Date(2026, 10, 22, 7, 5, 9, 42);
    expect(sentLabel(at.getTime(), new Date(2026, 10, 22, 23, 0))).toBe("07:05:09.042");
    expect(sentLabel(at.getTime(), new Date(2026, 10, 23, 1, 0))).toBe("2026-11-22 07:05:09.042");
  });
});
