import { describe, expect, it } from "vitest";
import { errorHint, keyMode, looksLikeStripeKey } from "./format";
import { CommandError, errorOf, toErrorBody } from "./ipc";

describe("key shape", () => {
  it("accepts secret and restricted keys in both modes", () => {
    expect(looksLikeStripeKey("sk_test_4eC39HqLyjWDarjtT1zdp7dc")).toBe(true);
    expect(looksLikeStripeKey("rk_live_abcd1234")).toBe(true);
    expect(looksLikeStripeKey("pk_test_abcd1234")).toBe(false);
    expect(looksLikeStripeKey("sk_test_abc def")).toBe(false);
  });
  it("reads the mode off the prefix", () => {
    expect(keyMode("sk_live_abcd")).toBe("live");
    expect(keyMode("rk_test_abcd")).toBe("test");
    expect(keyMode("whsec_abcd")).toBeNull();
  });
});

describe("errors", () => {
  it("keeps a well-formed error body", () => {
    expect(toErrorBody({ code: "invalid_input", message: "stripe_secret_key: is empty", field: "stripe_secret_key" })).toEqual({
      code: "invalid_input",
      message: "stripe_secret_key: is empty",
      field: "stripe_secret_key",
    });
  });
  it("turns anything else into an internal error", () => {
    expect(toErrorBody("boom")).toEqual({ code: "internal", message: "boom" });
    expect(toErrorBody({ code: "made_up", message: "x" }).code).toBe("internal");
  });
  it("reads the body of whatever a command threw", () => {
    const thrown = new CommandError({ code: "invalid_input", message: "webhook_secret: must start with whsec_", field: "webhook_secret" });
    expect(errorOf(thrown)).toEqual({ code: "invalid_input", message: "webhook_secret: must start with whsec_", field: "webhook_secret" });
    expect(errorOf(new CommandError({ code: "stripe_unreachable", message: "down" }))).toEqual({ code: "stripe_unreachable", message: "down" });
    expect(errorOf(new Error("boom"))).toEqual({ code: "internal", message: "boom" });
  });
  it("has a hint for every error a user can act on", () => {
    expect(errorHint("stripe_authentication")).toMatch(/revoked/);
    expect(errorHint("internal")).toBeNull();
  });
});
