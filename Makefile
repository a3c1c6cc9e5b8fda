# Tollgate: `make run` opens the app on the sandbox; `make test` runs every test.
# Both install what is missing first (tests/support/deps.sh).

SHELL := /bin/bash
CARGO ?= cargo
SANDBOX_PORT ?= 12111

.PHONY: run test bench package bindings deps-run deps-test ui ui-check build clean-e2e

deps-run:
	@tests/support/deps.sh run

deps-test:
	@tests/support/deps.sh test

ui:
	cd ui && npm run build

## Opens the app on the embedded default: SQLite plus the sandbox emulator (labelled "Sandbox").
run: deps-run ui
	$(CARGO) build
	@data="$${XDG_DATA_HOME:-$$HOME/.local/share}/dev.tollgate.desktop/sandbox"; mkdir -p "$$data"; \
	./target/debug/tollgate sandbox serve --port $(SANDBOX_PORT) --seed demo --data-dir "$$data/stripe" > "$$data/sandbox.url" & sb=$$!; \
	trap 'kill -INT $$sb 2>/dev/null' EXIT; \
	for i in $$(seq 1 100); do [ -s "$$data/sandbox.url" ] && break; sleep 0.1; done; \
	base=$$(head -1 "$$data/sandbox.url"); \
	[ -n "$$base" ] || { echo "the sandbox did not start (is port $(SANDBOX_PORT) taken? try make run SANDBOX_PORT=...)"; exit 1; }; \
	TOLLGATE_DATA_DIR="$$data" TOLLGATE_STRIPE_API_BASE="$$base" TOLLGATE_STRIPE_SECRET_KEY=sk_test_sandbox \
	  ./target/debug/tollgate

ui-check:
	cd ui && npm run check && npm test

## Every test: UI type-check and unit tests, then Rust unit, store (SQLite + Postgres), keyring,
## CLI and end-to-end tests inside a private D-Bus session, keyring and X display.
test: deps-test ui ui-check
	@real="$${XDG_DATA_HOME:-$$HOME/.local/share}/dev.tollgate.desktop"; before=$$(ls -la --time-style=full-iso "$$real" 2>/dev/null | md5sum); \
	$(CARGO) build --workspace --all-targets && \
	tests/support/session.sh $(CARGO) nextest run --workspace --all-targets --no-tests=fail; status=$$?; \
	after=$$(ls -la --time-style=full-iso "$$real" 2>/dev/null | md5sum); \
	if [ "$$before" != "$$after" ]; then echo "FAIL: a test wrote to the real app-data folder $$real"; exit 1; fi; \
	exit $$status

## Rewrites ui/src/lib/bindings.ts from the Rust types (a test fails when it is stale).
bindings:
	TOLLGATE_WRITE_BINDINGS=1 $(CARGO) test --test bindings

## Figures and ratios to target: app start-up, idle memory, .deb size; sandbox start, list speed;
## resolver (cached, cold), a 500-row lookup-key map, the Plans screen filtering 2,000 prices;
## sync: 100,000 events, backfill of 10,000, a page over 100,000 orgs, webhook receive-to-commit;
## the door under bursts of 4,000 and 20,000 signed events at 16-way (lock errors, ack tail,
## Stripe reads per event); renewal day at Stripe's 100/s, sync --full of 10,000 at 25/s, the
## ledger after 108,000 events and a compaction; beside Stripe Sync Engine (peer_bench).
bench: deps-test package
	$(CARGO) build --release -p tollgate-sandbox --example bench
	$(CARGO) build --release -p tollgate-core --example catalog_bench
	$(CARGO) build --release -p tollgate-core --example sync_bench
	$(CARGO) build --release -p tollgate-core --example ledger_bench
	$(CARGO) build --release -p tollgate-core --example testfire_bench
	$(CARGO) build --release -p tollgate-core --example door_bench
	$(CARGO) build --release -p tollgate-core --example load_bench
	$(CARGO) build --release -p tollgate-core --example peer_bench
	tests/support/session.sh tests/support/bench.sh

## A .deb under target/release/bundle/deb/.
package: deps-run
	npx --yes @tauri-apps/cli@2.12.5 build --bundles deb
