// Plans screen logic, kept out of the components so vitest can hold it to account.
import type { Plan, PlanInterval } from "./bindings";

export type ActiveFilter = "all" | "active" | "archived";
export type SortKey = "product" | "lookup_key" | "tier" | "audience" | "interval" | "amount" | "commission" | "subscribers" | "created";

export interface PlanFilter {
  search: string;
  active: ActiveFilter;
  audience: string; // "" = any
  interval: string; // "" = any; "other" = not month/year/once
  currency: string; // "" = any
  noKey: boolean; // only prices without a lookup key (or with one that breaks the convention)
}

export const EMPTY_FILTER: PlanFilter = { search: "", active: "all", audience: "", interval: "", currency: "", noKey: false };

/** Lowercased text a search matches against, built once per plan. */
export function haystack(p: Plan): string {
  return [p.product_name, p.nickname ?? "", p.lookup_key ?? "", p.price_id, p.product_id, p.tier ?? "", p.audience ?? "", p.pricing, p.features.map((f) => f.lookup_key).join(" ")]
    .join("\u0001")
    .toLowerCase();
}

export function needsAttention(p: Plan): boolean {
  return (p.lookup_key === null && p.active) || p.key_problem !== null;
}

export function filterPlans(plans: Plan[], hay: Map<string, string>, f: PlanFilter): Plan[] {
  const terms = f.search.toLowerCase().split(/\s+/).filter(Boolean);
  return plans.filter((p) => {
    if (f.active === "active" && !p.active) return false;
    if (f.active === "archived" && p.active) return false;
    if (f.audience && p.audience !== f.audience) return false;
    if (f.interval) {
      if (f.interval === "other" ? p.interval !== null : p.interval !== f.interval) return false;
    }
    if (f.currency && p.currency !== f.currency) return false;
    if (f.noKey && !needsAttention(p)) return false;
    if (terms.length) {
      const h = hay.get(p.price_id) ?? haystack(p);
      for (const t of terms) if (!h.includes(t)) return false;
    }
    return true;
  });
}

const INTERVAL_ORDER: Record<PlanInterval, number> = { month: 0, year: 1, once: 2 };

function sortValue(p: Plan, key: SortKey): string | number {
  switch (key) {
    case "product": return `${p.product_name}\u0001${p.nickname ?? ""}`.toLowerCase();
    case "lookup_key": return p.lookup_key ?? "\uffff";
    case "tier": return p.tier ?? "\uffff";
    case "audience": return p.audience ?? "\uffff";
    case "interval": return p.interval === null ? 9 : INTERVAL_ORDER[p.interval];
    case "amount": return p.unit_amount ?? -1;
    case "commission": return p.commission_bps ?? -1;
    case "subscribers": return p.active_subscribers;
    case "created": return p.created;
  }
}

export function sortPlans(plans: Plan[], key: SortKey, descending: boolean): Plan[] {
  const dir = descending ? -1 : 1;
  return [...plans].sort((a, b) => {
    const x = sortValue(a, key);
    const y = sortValue(b, key);
    if (x < y) return -dir;
    if (x > y) return dir;
    return a.price_id < b.price_id ? -1 : 1;
  });
}

/** Digits after the decimal point, as Stripe counts them. */
export function exponent(currency: string): number {
  const c = currency.toLowerCase();
  if (["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"].includes(c)) return 0;
  if (["bhd", "jod", "kwd", "omr", "tnd"].includes(c)) return 3;
  return 2;
}

/**
 * "29", "29.5", "29.00" → minor units (2900, 2950, 2900) without floating point; null when the
 * text is not a plain decimal number or has more decimals than the currency.
 */
export function parseDecimal(text: string, decimals: number): number | null {
  const m = /^\s*(-?)(\d+)(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const frac = m[3] ?? "";
  if (frac.length > decimals) return null;
  const digits = m[2] + frac.padEnd(decimals, "0");
  const n = Number(digits);
  if (!Number.isSafeInteger(n)) return null;
  return m[1] === "-" ? -n : n;
}

/** Minor units → "29.00" for the currency (grouping left to the caller). */
export function formatMinor(amount: number, currency: string): string {
  const e = exponent(currency);
  const code = currency.toUpperCase();
  if (e === 0) return `${code} ${amount}`;
  const sign = amount < 0 ? "-" : "";
  const a = Math.abs(amount).toString().padStart(e + 1, "0");
  return `${code} ${sign}${a.slice(0, -e)}.${a.slice(-e)}`;
}

/** `formatMinor` with thousands grouped: "EUR 1,959,185.00" (totals and report figures). */
export function formatMinorGrouped(amount: number, currency: string): string {
  return formatMinor(amount, currency).replace(/(\d)(?=(\d{3})+(\.|$))/g, "$1,");
}

export function bpsLabel(bps: number | null): string {
  if (bps === null) return "";
  return `${Math.floor(bps / 100)}.${String(bps % 100).padStart(2, "0")} %`;
}

/** The convention's key for these parts, as the form previews it (the backend has the last word). */
export function composeKey(tier: string, audience: string, interval: PlanInterval, currency: string | null, version: number | null): string {
  const word = interval === "month" ? "monthly" : interval === "year" ? "annual" : "once";
  let k = `${tier.trim()}-${audience.trim()}-${word}`;
  if (currency) k += `-${currency.toLowerCase()}`;
  if (version !== null && version > 0) k += `-v${version}`;
  return k;
}

/** A map template for every active price without a lookup key, keys suggested from metadata. */
export function mapTemplate(plans: Plan[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of plans) {
    if (p.lookup_key !== null || !p.active) continue;
    out[p.price_id] = p.tier && p.audience && p.interval ? composeKey(p.tier, p.audience, p.interval, null, null) : "";
  }
  return out;
}
