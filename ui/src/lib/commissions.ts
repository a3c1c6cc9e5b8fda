// The Commissions screen's logic, kept out of the component so vitest can check it.
import type { CommissionGroup, CommissionQuery, CommissionReport, Dim, Period } from "./bindings";

export const PERIODS: Period[] = ["day", "week", "month", "quarter"];
export const DIMS: { dim: Dim; label: string }[] = [
  { dim: "period", label: "Period" },
  { dim: "tier", label: "Tier" },
  { dim: "plan_type", label: "Plan type" },
  { dim: "expert", label: "Expert" },
];
export const PLAN_TYPES = ["commission", "monthly", "annual"];

/** `YYYY-MM-DD` of a date, in the machine's calendar. */
export function isoDay(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

/** The default period: the twelve months up to today, from the first of the month. */
export function lastTwelveMonths(today: Date): { from: string; to: string } {
  const from = new Date(today.getFullYear(), today.getMonth() - 11, 1);
  return { from: isoDay(from), to: isoDay(today) };
}

/** The currencies a report has, most commission first; the chart shows one at a time. */
export function currenciesOf(r: CommissionReport): string[] {
  return [...r.totals].sort((a, b) => b.commission - a.commission).map((t) => t.currency);
}

export interface Series {
  labels: string[];
  datasets: { label: string; data: number[] }[];
}

/** Stacked bars: one bar per period bucket, one stack segment per tier, in major units of
 *  one currency (never two currencies in one bar). */
export function stackedByTier(r: CommissionReport, currency: string, exponent: number): Series {
  const groups = r.groups.filter((g) => g.currency === currency);
  const labels = [...new Set(groups.map((g) => g.period ?? ""))].sort();
  const tiers = [...new Set(groups.map((g) => g.tier ?? ""))].sort();
  const div = 10 ** exponent;
  const datasets = tiers.map((tier) => ({
    label: tier || "—",
    data: labels.map((l) => {
      const g = groups.find((x) => x.period === l && (x.tier ?? "") === tier);
      return g ? g.commission / div : 0;
    }),
  }));
  return { labels, datasets };
}

/** The drill-down of a group: the same filters, narrowed to the group's key and days. */
export function drillQuery(q: CommissionQuery, g: CommissionGroup): CommissionQuery {
  return {
    ...q,
    from: g.first_day ?? q.from,
    to: g.last_day ?? q.to,
    group_by: [],
    tier: g.tier ?? q.tier,
    plan_type: g.plan_type ?? q.plan_type,
    expert: g.expert ?? q.expert,
    currency: g.currency,
  };
}

/** A group's name for a heading: its key parts, in order. */
export function groupTitle(g: CommissionGroup): string {
  const parts = [g.period, g.tier, g.plan_type, g.expert_name ?? g.expert, g.currency.toUpperCase()];
  return parts.filter((p): p is string => !!p).join(" · ");
}

/** Effective rate of a group, e.g. "12.00 %"; "—" without gross. */
export function rateLabel(bps: number | null): string {
  if (bps === null) return "—";
  const sign = bps < 0 ? "-" : "";
  const a = Math.abs(bps);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, "0")} %`;
}
