//! `make bench` rows for the commission ledger (release build). Prints figures and ratios;
//! asserts nothing.
//!   - 1,000,000 commission rows in SQLite (`tollgate dev seed --commissions` does the same);
//!   - the month-by-tier report for a year, and the ratio to the same GROUP BY run by the
//!     sqlite3 command-line tool on the same file (goal: at or under 1.0);
//!   - the report after a filter change (currency, tier, plan type, quarter buckets, an
//!     expert): the store's part of the screen's 200 ms;
//!   - CSV export of every row, with progress.
//!
//! `ledger_bench [ROWS] [--db FILE]`: `--db` seeds FILE (replacing it) and keeps it, for the
//! Commissions screen's own probe in bench.sh.

use std::time::{Duration, Instant};

use tollgate_core::ledger::report::{CommissionQuery, Dim, Period};
use tollgate_core::store::{ledger, Store, StoreTarget};

fn row(name: &str, measured: String, target: String, ratio: f64) {
    println!("{name:<44} {measured:>12} {target:>12} {ratio:>8.2}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let kept = args
        .iter()
        .position(|a| a == "--db")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let n: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = match &kept {
        Some(f) => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", f.display()));
            }
            f.clone()
        }
        None => dir.path().join("ledger.sqlite3"),
    };
    let store = Store::open(&StoreTarget::SqliteFile(file.clone()))
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate");
    let t = Instant::now();
    let added = ledger::seed(&store, n, &|_| {}).await.expect("seed");
    println!(
        "  seeded {added} commission rows (charges and refunds) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let today = chrono::Utc::now().date_naive();
    let year = |group_by: Vec<Dim>, period: Period| CommissionQuery {
        from: (today - chrono::Duration::days(365)).to_string(),
        to: today.to_string(),
        period,
        group_by,
        currency: None,
        tier: None,
        plan_type: None,
        expert: None,
        flagged_only: false,
    };
    let q = year(vec![Dim::Period, Dim::Tier], Period::Month)
        .check()
        .unwrap();
    let _ = ledger::commission_report(&store, &q).await.unwrap();
    let mut times = Vec::new();
    let mut groups = 0;
    for _ in 0..21 {
        let t = Instant::now();
        let r = ledger::commission_report(&store, &q).await.unwrap();
        times.push(t.elapsed());
        groups = r.groups.len();
    }
    let ours = median(times);
    row(
        "month-by-tier report, a year of 1M rows (ms)",
        format!("{:.2}", ours.as_secs_f64() * 1000.0),
        "150".into(),
        ours.as_secs_f64() * 1000.0 / 150.0,
    );
    println!("  {groups} groups (month x tier x currency), median of 21, from the daily rollups");
    // The same question asked of the ledger by the sqlite3 tool: one GROUP BY over the rows.
    let sql = format!(
        ".timer on\nSELECT substr(local_day, 1, 7), tier_level_at_transaction, currency, count(*), sum(gross_amount), sum(commission_amount), sum(COALESCE(implied_amount, 0)), sum(flagged) FROM transaction_commissions WHERE local_day >= '{}' AND local_day <= '{}' GROUP BY 1, 2, 3;\n",
        q.from, q.to
    );
    let mut cli_times = Vec::new();
    for _ in 0..5 {
        let out = std::process::Command::new("sqlite3")
            .arg(&file)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(sql.as_bytes())?;
                c.wait_with_output()
            });
        let Ok(out) = out else {
            println!("  sqlite3 not found: install it (apt install sqlite3) for the ratio");
            break;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        if let Some(real) = text
            .lines()
            .filter_map(|l| l.strip_prefix("Run Time: real "))
            .next_back()
            .and_then(|l| l.split_whitespace().next())
            .and_then(|s| s.parse::<f64>().ok())
        {
            cli_times.push(Duration::from_secs_f64(real));
        }
    }
    if !cli_times.is_empty() {
        let theirs = median(cli_times);
        row(
            "  ratio to sqlite3's GROUP BY on the same file",
            format!("{:.3}", ours.as_secs_f64() / theirs.as_secs_f64()),
            "1.0".into(),
            ours.as_secs_f64() / theirs.as_secs_f64(),
        );
        println!(
            "  sqlite3 CLI: {:.1} ms median of 5 (its own .timer); ours {:.2} ms",
            theirs.as_secs_f64() * 1000.0,
            ours.as_secs_f64() * 1000.0
        );
    }
    // Filter changes, as the screen sends them.
    let mut changes = Vec::new();
    let mut eur = year(vec![Dim::Period, Dim::Tier], Period::Month);
    eur.currency = Some("eur".into());
    changes.push(("currency eur", eur));
    let mut top = year(vec![Dim::Period, Dim::PlanType], Period::Month);
    top.tier = Some("top".into());
    changes.push(("tier top by plan type", top));
    changes.push((
        "by quarter and plan type",
        year(vec![Dim::Period, Dim::PlanType], Period::Quarter),
    ));
    changes.push(("by week", year(vec![Dim::Period], Period::Week)));
    let mut flagged = year(vec![Dim::Period, Dim::Tier], Period::Month);
    flagged.flagged_only = true;
    changes.push(("flagged only", flagged));
    changes.push((
        "by expert (monthly expert rollups)",
        year(vec![Dim::Expert], Period::Month),
    ));
    let mut one = year(vec![Dim::Period], Period::Month);
    one.expert = Some("org_seed00042".into());
    changes.push(("one expert by month", one));
    let mut worst = Duration::ZERO;
    for (name, q) in &changes {
        let q = q.check().unwrap();
        let mut t5 = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            ledger::commission_report(&store, &q).await.unwrap();
            t5.push(t.elapsed());
        }
        let m = median(t5);
        worst = worst.max(m);
        println!(
            "  {name:<40} {:>8.2} ms median of 5",
            m.as_secs_f64() * 1000.0
        );
    }
    row(
        "slowest report after a filter change (ms)",
        format!("{:.1}", worst.as_secs_f64() * 1000.0),
        "200".into(),
        worst.as_secs_f64() * 1000.0 / 200.0,
    );
    // Export every row of the year.
    let all = year(vec![], Period::Month).check().unwrap();
    let out = dir.path().join("export.csv");
    let t = Instant::now();
    let updates = std::sync::atomic::AtomicU64::new(0);
    let rows = ledger::export_rows(
        &store,
        &all,
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&out).unwrap()),
        &|_| {
            updates.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        },
        &|| false,
    )
    .await
    .unwrap();
    let secs = t.elapsed().as_secs_f64();
    row(
        &format!("CSV export of {rows} rows (s)"),
        format!("{secs:.2}"),
        "10".into(),
        secs / 10.0,
    );
    println!(
        "  {:.0} MB written, {} progress updates",
        std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0) as f64 / 1e6,
        updates.load(std::sync::atomic::Ordering::Relaxed)
    );
}
