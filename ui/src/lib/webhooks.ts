// Webhooks screen helpers, kept out of the component so vitest can test them.
import type { Delivery, EventKind, RunResult } from "./bindings";

/** The catalog grouped by resource, in catalog order, for the type picker's optgroups. */
export function groupCatalog(kinds: EventKind[]): { resource: string; kinds: EventKind[] }[] {
  const groups: { resource: string; kinds: EventKind[] }[] = [];
  for (const k of kinds) {
    const g = groups.find((x) => x.resource === k.resource);
    if (g) g.kinds.push(k);
    else groups.push({ resource: k.resource, kinds: [k] });
  }
  return groups;
}

/** `0.8 ms`, `12 ms`, `1.20 s` from microseconds; empty for none. */
export function latencyLabel(us: number | null | undefined): string {
  if (us === null || us === undefined) return "";
  if (us < 10_000) return `${(us / 1000).toFixed(1)} ms`;
  if (us < 1_000_000) return `${Math.round(us / 1000)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

export type Tone = "ok" | "warn" | "bad";

/** What an answer means, judged as a correct endpoint would answer: 2xx to a valid signature,
 *  4xx to any other mode. */
export function verdict(d: Pick<Delivery, "mode" | "http_status" | "as_expected" | "outcome">): { text: string; tone: Tone } {
  if (d.http_status === null) {
    const why = d.outcome === "timeout" ? "no answer in time" : d.outcome === "unreachable" ? "unreachable" : "no answer";
    return { text: why, tone: "bad" };
  }
  if (d.as_expected) {
    return d.mode === "valid" ? { text: "accepted", tone: "ok" } : { text: "refused, as it should", tone: "ok" };
  }
  if (d.mode !== "valid" && d.http_status >= 200 && d.http_status < 300) return { text: "accepted a bad signature", tone: "bad" };
  if (d.http_status >= 300 && d.http_status < 400) return { text: "redirected (not followed)", tone: "warn" };
  if (d.http_status >= 500) return { text: "server error (Stripe would retry)", tone: "bad" };
  return { text: d.mode === "valid" ? "refused a valid event" : "not refused with a 4xx", tone: "bad" };
}

/** `PATH=VALUE` lines (blank lines skipped); a line without `=` is reported by the backend. */
export function overrideLines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

/** Null when `text` is JSON, else where it breaks (the browser's message). */
export function jsonProblem(text: string): string | null {
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** One line summing a run up. */
export function runSummary(r: RunResult): string {
  const outcomes = r.outcomes.map((o) => `${o.attempts} ${o.outcome.replace("_", " ")}`).join(", ");
  const p = r.latency_p50_us === null ? "" : ` · p50 ${latencyLabel(r.latency_p50_us)}, p95 ${latencyLabel(r.latency_p95_us)}`;
  const rate = r.events > 1 ? ` · ${r.per_second.toLocaleString("en-US")}/s` : "";
  return `${r.events.toLocaleString("en-US")} event${r.events === 1 ? "" : "s"}, ${r.attempts.toLocaleString("en-US")} attempt${r.attempts === 1 ? "" : "s"} in ${r.elapsed_ms.toLocaleString("en-US")} ms${rate}: ${outcomes}; ${r.as_expected.toLocaleString("en-US")} of ${r.events.toLocaleString("en-US")} as a correct endpoint would answer${p}${r.cancelled ? " · cancelled" : ""}`;
}

/** When an attempt left, to the millisecond (bursts share a second): the time alone today,
 *  with the day before that. Local time. */
export function sentLabel(ms: number, now: Date = new Date()): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const time = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
  const sameDay = d.getFullYear() === now.getFullYear() && d.getMonth() === now.getMonth() && d.getDate() === now.getDate();
  return sameDay ? time : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${time}`;
}
