//! The `tollgate` binary: with no subcommand it opens the window; with one it runs headless.
//! Both call the same core services (`tollgate_core::Console`).

mod cli;
mod cli_catalog;
mod cli_ledger;
mod cli_sync;
mod cli_testfire;
pub mod commands;
mod desktop;
mod ipc;
mod startup;

use tollgate_core::Console;

/// What every Tauri command reaches through `State`.
pub struct AppState {
    pub console: Console,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            "warn,stripe=error,stripe_shared=error,tollgate=info,tollgate_core=info",
        )
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// ui/src/lib/bindings.ts: every type that crosses IPC, and a typed function per command, from
/// the Rust types and the command table. `make bindings` writes it; a test fails when stale.
pub fn typescript_bindings() -> String {
    use tollgate_core::catalog::{create, migration, resolver, verify};
    use tollgate_core::store::sync_views;
    use tollgate_core::{catalog, console, domain, progress, store, stripe, sync};
    use ts_rs::TS;
    let cfg = ts_rs::Config::default();
    let decls = [
        console::AppInfo::decl(&cfg),
        console::SecretsStatus::decl(&cfg),
        console::SecretView::decl(&cfg),
        console::SecretSource::decl(&cfg),
        console::KeyringState::decl(&cfg),
        domain::MaskedSecret::decl(&cfg),
        domain::Environment::decl(&cfg),
        domain::SecretKind::decl(&cfg),
        tollgate_core::ErrorBody::decl(&cfg),
        tollgate_core::ErrorCode::decl(&cfg),
        stripe::AccountSummary::decl(&cfg),
        store::DbStatus::decl(&cfg),
        store::Backend::decl(&cfg),
        store::AuditEntry::decl(&cfg),
        catalog::Catalog::decl(&cfg),
        catalog::Plan::decl(&cfg),
        catalog::FeatureRef::decl(&cfg),
        catalog::ProductSummary::decl(&cfg),
        catalog::PlanInterval::decl(&cfg),
        domain::Currency::decl(&cfg),
        domain::BasisPoints::decl(&cfg),
        create::NewPrice::decl(&cfg),
        console::CreatedPrice::decl(&cfg),
        console::LookupKeyParts::decl(&cfg),
        console::ResolveResult::decl(&cfg),
        migration::MapPlan::decl(&cfg),
        migration::MapRow::decl(&cfg),
        migration::MapAction::decl(&cfg),
        migration::MapCounts::decl(&cfg),
        migration::ApplyReport::decl(&cfg),
        verify::VerifyReport::decl(&cfg),
        verify::KeyCheck::decl(&cfg),
        verify::ExpectedKey::decl(&cfg),
        resolver::Resolution::decl(&cfg),
        resolver::ResolvedPrice::decl(&cfg),
        resolver::Source::decl(&cfg),
        resolver::ResolverStats::decl(&cfg),
        progress::ProgressView::decl(&cfg),
        console::SyncReport::decl(&cfg),
        sync::backfill::BackfillReport::decl(&cfg),
        sync::cursor::CursorReport::decl(&cfg),
        sync::SettleReport::decl(&cfg),
        sync_views::SyncState::decl(&cfg),
        sync_views::SyncIssue::decl(&cfg),
        sync_views::SubscriptionQuery::decl(&cfg),
        sync_views::SubscriptionRow::decl(&cfg),
        sync_views::SubscriptionPage::decl(&cfg),
        sync_views::AccessQuery::decl(&cfg),
        sync_views::AccessRow::decl(&cfg),
        sync_views::AccessPage::decl(&cfg),
        sync_views::AccessHistoryRow::decl(&cfg),
        sync_views::TimelineRow::decl(&cfg),
        sync_views::Entitlement::decl(&cfg),
        sync_views::OrgDetail::decl(&cfg),
        console::AccessAction::decl(&cfg),
        console::DriftReport::decl(&cfg),
        console::DriftItem::decl(&cfg),
        console::ReceiverStatus::decl(&cfg),
        sync::receiver::ReceiverStats::decl(&cfg),
        stripe::RateStatus::decl(&cfg),
        tollgate_core::ledger::report::CommissionQuery::decl(&cfg),
        tollgate_core::ledger::report::CommissionReport::decl(&cfg),
        tollgate_core::ledger::report::CommissionView::decl(&cfg),
        tollgate_core::ledger::report::CommissionGroup::decl(&cfg),
        tollgate_core::ledger::report::CommissionRow::decl(&cfg),
        tollgate_core::ledger::report::CommissionRowsPage::decl(&cfg),
        tollgate_core::ledger::report::Period::decl(&cfg),
        tollgate_core::ledger::report::Dim::decl(&cfg),
        tollgate_core::ledger::report::RateRow::decl(&cfg),
        tollgate_core::ledger::report::RateInput::decl(&cfg),
        console::ExportResult::decl(&cfg),
        console::TimeZoneChange::decl(&cfg),
        tollgate_core::ledger::overview::Overview::decl(&cfg),
        tollgate_core::ledger::overview::MoneyTrend::decl(&cfg),
        tollgate_core::ledger::overview::CountTrend::decl(&cfg),
        tollgate_core::ledger::overview::CommissionMonths::decl(&cfg),
        tollgate_core::testfire::EventKind::decl(&cfg),
        tollgate_core::testfire::scenario::ScenarioInfo::decl(&cfg),
        tollgate_core::store::testfire::SubjectChoice::decl(&cfg),
        tollgate_core::testfire::Subject::decl(&cfg),
        tollgate_core::testfire::subject::PriceFacts::decl(&cfg),
        console::BuiltEvent::decl(&cfg),
        console::DeliveryOptions::decl(&cfg),
        console::ScenarioInput::decl(&cfg),
        console::RunResult::decl(&cfg),
        console::OutcomeCount::decl(&cfg),
        tollgate_core::testfire::SigningMode::decl(&cfg),
        tollgate_core::testfire::Outcome::decl(&cfg),
        tollgate_core::testfire::Delivery::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by `make bindings` (src-tauri/lib.rs). Do not edit.\n\
         import { invoke } from \"./ipc\";\n\n",
    );
    for d in decls {
        out.push_str("export ");
        out.push_str(&d);
        out.push_str("\n\n");
    }
    out.push_str("export const commands = {");
    out.push_str(&commands::typescript());
    out.push_str("};\n");
    out
}

/// Runs the binary and returns its exit code: 0 ok, 1 failure, 2 usage.
pub fn main() -> i32 {
    startup::mark_process_start();
    init_tracing();
    let args = match cli::Cli::parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.command.is_none() {
        lean_webview_defaults();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match args.command {
        Some(command) => runtime.block_on(cli::run(&args.global, command)),
        None => run_window(args.global, runtime),
    }
}

/// WebKitGTK composites through OpenGL, which without a GPU driver (remote desktops, VMs,
/// Xvfb) means Mesa's software rasterizer: ~100 MB more resident memory for a console that
/// animates nothing. Software compositing is the default here; set any of these variables
/// yourself, or `TOLLGATE_WEBVIEW_GL=1` to keep WebKit's GL compositing. Runs before any
/// thread exists, as changing the environment requires.
fn lean_webview_defaults() {
    if std::env::var_os("TOLLGATE_WEBVIEW_GL").is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(target_os = "linux")]
    for (key, value) in [
        ("WEBKIT_DISABLE_COMPOSITING_MODE", "1"),
        ("WEBKIT_DISABLE_DMABUF_RENDERER", "1"),
        ("GDK_GL", "disable"),
    ] {
        if std::env::var_os(key).is_none() {
            std::env::set_var(key, value);
        }
    }
}

fn run_window(global: cli::GlobalArgs, runtime: tokio::runtime::Runtime) -> i32 {
    tauri::async_runtime::set(runtime.handle().clone());
    let console = global.console("desktop");
    let _span = tracing::info_span!("window", env = %console.environment()).entered();
    let app = tauri::Builder::default()
        .manage(AppState { console })
        .setup(|app| {
            desktop::schedule_sync(app.handle());
            desktop::schedule_compaction(app.handle());
            Ok(())
        })
        .invoke_handler(commands::handler())
        .build(tauri::generate_context!("tauri.conf.json"));
    match app {
        Ok(app) => {
            app.run(|handle, event| {
                if let tauri::RunEvent::Exit = event {
                    // The WAL checkpointed into the file, so the file alone is the store.
                    let state = tauri::Manager::state::<AppState>(handle);
                    tauri::async_runtime::block_on(state.console.close());
                }
            });
            0
        }
        Err(e) => {
            eprintln!("error: the window could not start: {e}");
            1
        }
    }
}
