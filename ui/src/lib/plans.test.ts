import { describe, expect, it } from "vitest";
import type { Plan } from "./bindings";
import { bpsLabel, composeKey, EMPTY_FILTER, filterPlans, formatMinor, formatMinorGrouped, haystack, mapTemplate, parseDecimal, sortPlans } from "./plans";

function plan(over: Partial<Plan>): Plan {
  return {
    price_id: "price_1", product_id: "prod_1", product_name: "Expert Community", lookup_key: "community-expert-monthly",
    key_problem: null, nickname: "Community monthly", tier: "community", audience: "expert", interval: "month",
    cadence: "month", pricing: "EUR 25.00 / month", model: "flat", unit_amount: 2500, currency: "eur", commission_bps: 1200,
    active: true, features: [], active_subscribers: 10, created: 1, livemode: false, ...over,
  };
}

const plans = [
  plan({}),
  plan({ price_id: "price_2", lookup_key: null, interval: "year", unit_amount: 24000, nickname: "Community annual" }),
  plan({ price_id: "price_3", product_name: "Partner Workspace", audience: "partner", tier: "partner", lookup_key: "partner-starter-monthly", unit_amount: 9900, currency: "usd" }),
  plan({ price_id: "price_4", active: false, lookup_key: null }),
  plan({ price_id: "price_5", lookup_key: "Bad", key_problem: "must be lowercase", interval: null }),
];
const hay = new Map(plans.map((p) => [p.price_id, haystack(p)]));
const ids = (ps: Plan[]) => ps.map((p) => p.price_id);

describe("filters", () => {
  it("searches every visible field, all terms", () => {
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, search: "partner" }))).toEqual(["price_3"]);
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, search: "community ANNUAL" }))).toEqual(["price_2"]);
  });
  it("filters by active, audience, interval, currency and missing keys", () => {
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, active: "archived" }))).toEqual(["price_4"]);
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, audience: "partner" }))).toEqual(["price_3"]);
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, interval: "year" }))).toEqual(["price_2"]);
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, interval: "other" }))).toEqual(["price_5"]);
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, currency: "usd" }))).toEqual(["price_3"]);
    // An archived price without a key is not work to do; a bad key is.
    expect(ids(filterPlans(plans, hay, { ...EMPTY_FILTER, noKey: true }))).toEqual(["price_2", "price_5"]);
  });
  it("sorts both ways with a stable tie-break", () => {
    expect(ids(sortPlans(plans, "amount", true)).slice(0, 2)).toEqual(["price_2", "price_3"]);
    expect(ids(sortPlans(plans, "lookup_key", false))[0]).toEqual("price_5");
  });
});

describe("money", () => {
  it("parses decimals without floats, per currency", () => {
    expect(parseDecimal("29", 2)).toBe(2900);
    expect(parseDecimal("29.5", 2)).toBe(2950);
    expect(parseDecimal("0,99", 2)).toBe(99);
    expect(parseDecimal("500", 0)).toBe(500);
    expect(parseDecimal("5.5", 0)).toBeNull();
    expect(parseDecimal("1.2345", 2)).toBeNull();
    expect(parseDecimal("-3", 2)).toBe(-300);
    expect(parseDecimal("abc", 2)).toBeNull();
  });
  it("formats minor units", () => {
    expect(formatMinor(4900, "eur")).toBe("EUR 49.00");
    expect(formatMinor(5, "usd")).toBe("USD 0.05");
    expect(formatMinorGrouped(195918500, "eur")).toBe("EUR 1,959,185.00");
    expect(formatMinorGrouped(-123456, "usd")).toBe("USD -1,234.56");
    expect(formatMinorGrouped(1234567, "jpy")).toBe("JPY 1,234,567");
    expect(formatMinorGrouped(99900, "eur")).toBe("EUR 999.00");
    expect(formatMinor(500, "jpy")).toBe("JPY 500");
    expect(bpsLabel(1250)).toBe("12.50 %");
  });
});

describe("keys", () => {
  it("composes the convention and suggests a migration map", () => {
    expect(composeKey("partner", "clinic", "year", "EUR", 2)).toBe("partner-clinic-annual-eur-v2");
    expect(mapTemplate(plans)).toEqual({ price_2: "community-expert-annual" });
  });
});
