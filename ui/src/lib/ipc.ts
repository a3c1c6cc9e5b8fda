// The only module that imports @tauri-apps/*. Screens call `commands.*` from bindings.ts, whose
// names and types are generated from the Rust command table, never typed by hand.
import { invoke as tauriInvoke } from "@tauri-apps/api/core";
import type { ErrorBody, ErrorCode } from "./bindings";

const CODES: ReadonlySet<string> = new Set<ErrorCode>([
  "invalid_input",
  "environment_mismatch",
  "not_found",
  "keyring_unavailable",
  "keyring_locked",
  "stripe_authentication",
  "stripe_permission",
  "stripe_unreachable",
  "stripe_rate_limited",
  "stripe_invalid_request",
  "stripe_api",
  "stripe_key_missing",
  "database_corrupt",
  "database_read_only",
  "database_unavailable",
  "internal",
]);

/** An error from the backend, with the code the UI branches on. */
export class CommandError extends Error {
  readonly code: ErrorCode;
  readonly field?: string;
  constructor(body: ErrorBody) {
    super(body.message);
    this.code = body.code;
    this.field = body.field;
  }
}

export function toErrorBody(raw: unknown): ErrorBody {
  if (raw && typeof raw === "object" && "code" in raw && "message" in raw) {
    const r = raw as { code: unknown; message: unknown; field?: unknown };
    if (typeof r.code === "string" && CODES.has(r.code) && typeof r.message === "string") {
      return {
        code: r.code as ErrorCode,
        message: r.message,
        ...(typeof r.field === "string" ? { field: r.field } : {}),
      };
    }
  }
  return { code: "internal", message: typeof raw === "string" ? raw : String(raw) };
}

export async function invoke<T>(command: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await tauriInvoke<T>(command, args);
  } catch (raw) {
    throw new CommandError(toErrorBody(raw));
  }
}

/** The error body of anything a command call threw. */
export function errorOf(e: unknown): ErrorBody {
  return e instanceof CommandError
    ? { code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) }
    : toErrorBody(e instanceof Error ? e.message : e);
}
