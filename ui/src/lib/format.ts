import type { ErrorCode, SecretKind } from "./bindings";

export const SECRET_LABELS: Record<SecretKind, string> = {
  "stripe-secret-key": "Stripe secret key",
  "webhook-secret": "Webhook signing secret",
  "database-url": "Database URL",
};

/** What the user can do about an error, by its code. */
export function errorHint(code: ErrorCode): string | null {
  switch (code) {
    case "stripe_authentication":
      return "Stripe refused this key: it may be mistyped, rolled or revoked. Paste the current key from the Stripe Dashboard.";
    case "stripe_permission":
      return "This restricted key lacks the permission for that call. Widen it in the Stripe Dashboard or use a secret key.";
    case "stripe_unreachable":
      return "Stripe could not be reached. Check the network or the API base, then check again.";
    case "stripe_rate_limited":
      return "Stripe is rate-limiting this account. Wait a moment and try again.";
    case "keyring_unavailable":
      return "No OS keyring answered. On Linux, start gnome-keyring or another Secret Service.";
    case "keyring_locked":
      return "The OS keyring is locked. Unlock it and try again.";
    case "database_corrupt":
      return "Move the damaged file aside; Tollgate will build a fresh mirror from Stripe.";
    case "database_read_only":
      return "Make the database file and its folder writable.";
    case "database_unavailable":
      return "Start the database server or correct the database URL.";
    default:
      return null;
  }
}

/** A rough client-side check to give instant feedback; the backend has the final word. */
export function looksLikeStripeKey(value: string): boolean {
  return /^(sk|rk)_(test|live)_[A-Za-z0-9]{4,}$/.test(value.trim());
}

export function keyMode(value: string): "test" | "live" | null {
  const m = /^(?:sk|rk)_(test|live)_/.exec(value.trim());
  return m ? (m[1] as "test" | "live") : null;
}
