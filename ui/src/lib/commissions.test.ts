import { describe, expect, it } from "vitest";
import type { CommissionGroup, CommissionQuery, CommissionReport } from "./bindings";
import { currenciesOf, drillQuery, lastTwelveMonths, rateLabel, stackedByTier } from "./commissions";

const g = (over: Partial<CommissionGroup>): CommissionGroup => ({
  period: null, tier: null, plan_type: null, expert: null, expert_name: null, currency: "eur",
  charges: 1, refunds: 0, gross: 1000, commission: 120, implied: 120, unrated: 0, flagged: 0,
  effective_bps: 1200, first_day: "2026-01-03", last_day: "2026-01-30", ...over,
});
const report = (groups: CommissionGroup[]): CommissionReport => ({
  time_zone: "UTC", from: "2026-01-01", to: "2026-12-31", period: "month", group_by: ["period", "tier"],
  groups, groups_total: groups.length, totals: [g({ currency: "eur", commission: 500 }), g({ currency: "usd", commission: 900 })], source: "daily rollups", elapsed_us: 1,
});

describe("commissions", () => {
  it("stacks one currency by period and tier, never adding currencies", () => {
    const r = report([
      g({ period: "2026-01", tier: "community", commission: 1200 }),
      g({ period: "2026-01", tier: "top", commission: 800 }),
      g({ period: "2026-02", tier: "top", commission: 50 }),
      g({ period: "2026-02", tier: "top", currency: "usd", commission: 99999 }),
    ]);
    const s = stackedByTier(r, "eur", 2);
    expect(s.labels).toEqual(["2026-01", "2026-02"]);
    expect(s.datasets).toEqual([
      { label: "community", data: [12, 0] },
      { label: "top", data: [8, 0.5] },
    ]);
  });

  it("drills into a group with its key and days", () => {
    const q: CommissionQuery = { from: "2026-01-01", to: "2026-12-31", period: "month", group_by: ["period", "tier"], currency: null, tier: null, plan_type: "monthly", expert: null, flagged_only: true };
    const d = drillQuery(q, g({ period: "2026-01", tier: "top", currency: "usd" }));
    expect(d).toMatchObject({ from: "2026-01-03", to: "2026-01-30", tier: "top", plan_type: "monthly", currency: "usd", flagged_only: true, group_by: [] });
  });

  it("orders currencies by commission and labels rates", () => {
    expect(currenciesOf(report([]))).toEqual(["usd", "eur"]);
    expect(rateLabel(1234)).toBe("12.34 %");
    expect(rateLabel(null)).toBe("—");
    expect(lastTwelveMonths(new Date(2026, 10, 22))).toEqual({ from: "2025-12-01", to: "2026-11-22" });
  });
});
