// Subscriptions and Access screen helpers, kept out of the components so vitest can test them.
import type { Environment, SubscriptionRow } from "./bindings";
import { exponent } from "./plans";

export const STATUSES = ["active", "trialing", "past_due", "unpaid", "paused", "incomplete", "incomplete_expired", "canceled"] as const;
export const ACCESS_STATUSES = ["ACTIVE", "PAST_DUE", "CANCELED"] as const;

/** A Stripe Dashboard page for an object, in the environment's mode. */
export function dashboardUrl(environment: Environment, id: string): string | null {
  const kind = id.startsWith("sub_")
    ? "subscriptions"
    : id.startsWith("cus_")
      ? "customers"
      : id.startsWith("price_")
        ? "prices"
        : id.startsWith("prod_")
          ? "products"
          : id.startsWith("evt_")
            ? "events"
            : id.startsWith("in_")
              ? "invoices"
              : null;
  if (!kind || !/^[A-Za-z0-9_]+$/.test(id)) return null;
  return `https://dashboard.stripe.com/${environment === "live" ? "" : "test/"}${kind}/${id}`;
}

/** `EUR 49.00 / month`, from integer minor units; empty when there is no single amount. */
export function amountLabel(r: Pick<SubscriptionRow, "amount" | "currency" | "interval">): string {
  if (r.amount === null || !r.currency) return "";
  const e = exponent(r.currency);
  const neg = r.amount < 0;
  const digits = String(Math.abs(r.amount)).padStart(e + 1, "0");
  const whole = e ? digits.slice(0, -e) : digits;
  const frac = e ? `.${digits.slice(-e)}` : "";
  const per = r.interval ? ` / ${r.interval}` : "";
  return `${r.currency.toUpperCase()} ${neg ? "-" : ""}${Number(whole).toLocaleString("en-US")}${frac}${per}`;
}

/** A date from Stripe seconds, as the user's locale writes it; empty for none. */
export function dateLabel(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function dateTimeLabel(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "";
  return new Date(seconds * 1000).toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** "3 min ago", for a status line. */
export function ago(seconds: number | null | undefined, now = Date.now() / 1000): string {
  if (seconds === null || seconds === undefined) return "never";
  const d = Math.max(0, Math.round(now - seconds));
  if (d < 60) return `${d} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
}

/** The reason a grant or revoke form cannot be sent, or null. Mirrors the backend's rule. */
export function reasonProblem(reason: string): string | null {
  return [...reason.trim()].length < 3 ? "reason: is required: say why (at least 3 characters)" : null;
}

/** Status badge colour class. */
export function statusTone(status: string): "ok" | "warn" | "bad" | "muted" {
  switch (status) {
    case "active":
    case "trialing":
    case "ACTIVE":
      return "ok";
    case "past_due":
    case "unpaid":
    case "paused":
    case "incomplete":
    case "PAST_DUE":
      return "warn";
    case "canceled":
    case "incomplete_expired":
    case "CANCELED":
      return "bad";
    default:
      return "muted";
  }
}
