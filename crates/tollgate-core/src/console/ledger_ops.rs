//! The console's commission services: what the Commissions screen and `tollgate report
//! commissions`, `tollgate rates` and `tollgate dev seed --commissions` call.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::Console;
use crate::domain::InputError;
use crate::error::{ErrorBody, ErrorCode};
use crate::ledger::report::{
    parse_zone, CommissionQuery, CommissionReport, CommissionRowsPage, CommissionView, RateInput,
    RateRow,
};
use crate::store::ledger as db;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ExportResult {
    pub path: String,
    #[ts(type = "number")]
    pub rows: u64,
    pub cancelled: bool,
}

/// The reports' time zone after a change, and how many rows moved to another day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct TimeZoneChange {
    pub time_zone: String,
    #[ts(type = "number")]
    pub moved: u64,
}

impl Console {
    pub async fn commission_report(
        &self,
        q: &CommissionQuery,
    ) -> Result<CommissionReport, ErrorBody> {
        let q = q.check()?;
        Ok(db::commission_report(&self.store().await?, &q).await?)
    }

    /// The report and its chart, read together (one read when they can share it); with
    /// `first_groups`, the report's first groups only (totals still count them all): a report
    /// by expert has thousands, and the screen draws the rest when scrolled to.
    pub async fn commission_view(
        &self,
        q: &CommissionQuery,
        first_groups: Option<u32>,
    ) -> Result<CommissionView, ErrorBody> {
        let q = q.check()?;
        let (mut report, chart) = db::commission_view(&self.store().await?, &q).await?;
        if let Some(n) = first_groups {
            report.groups.truncate(n as usize);
        }
        Ok(CommissionView { report, chart })
    }

    pub async fn commission_rows(
        &self,
        q: &CommissionQuery,
        offset: i64,
        limit: i64,
    ) -> Result<CommissionRowsPage, ErrorBody> {
        let q = q.check()?;
        Ok(db::commission_rows(&self.store().await?, &q, offset, limit).await?)
    }

    /// Writes every ledger row behind the query as CSV to `path` (else the downloads folder),
    /// with progress under `op`; returns where and how many.
    pub async fn commissions_export(
        &self,
        q: &CommissionQuery,
        path: Option<std::path::PathBuf>,
        op: Option<&str>,
    ) -> Result<ExportResult, ErrorBody> {
        let q = q.check()?;
        let store = self.store().await?;
        let progress = self.progress_for(op);
        let total = db::commission_rows(&store, &q, 0, 1).await?.total;
        progress.phase("writing rows", total as u64);
        let path = path.unwrap_or_else(|| {
            let dir = dirs::download_dir()
                .or_else(dirs::home_dir)
                .unwrap_or_else(std::env::temp_dir);
            let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
            dir.join(format!(
                "tollgate-commissions-{}-{}-{}-{stamp}.csv",
                self.environment().as_str(),
                q.from,
                q.to
            ))
        });
        let file = std::fs::File::create(&path).map_err(|e| {
            ErrorBody::new(
                ErrorCode::Internal,
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let p = progress.clone();
        let c = progress.clone();
        let rows = db::export_rows(&store, &q, out, &move |n| p.set_done(n), &move || {
            c.is_cancelled()
        })
        .await?;
        progress.set_done(rows);
        let cancelled = progress.is_cancelled();
        progress.finish();
        Ok(ExportResult {
            path: path.display().to_string(),
            rows,
            cancelled,
        })
    }

    pub async fn report_time_zone(&self) -> Result<String, ErrorBody> {
        Ok(db::time_zone(&self.store().await?).await?)
    }

    /// Sets the reports' time zone; every row's day is computed again. Returns the rows that
    /// moved to another day.
    pub async fn set_report_time_zone(&self, tz: &str) -> Result<TimeZoneChange, ErrorBody> {
        let tz = parse_zone(tz)?;
        let moved = db::set_time_zone(&self.store().await?, tz).await?;
        self.audit(
            "report.time_zone",
            Some(tz.name().to_owned()),
            serde_json::json!({"rows_moved_to_another_day": moved}),
            vec![],
        )
        .await;
        Ok(TimeZoneChange {
            time_zone: tz.name().to_owned(),
            moved,
        })
    }

    pub async fn commission_rates(&self) -> Result<Vec<RateRow>, ErrorBody> {
        Ok(db::rates(&self.store().await?).await?)
    }

    /// Adds a rate (audited); refused when it overlaps another of the same plan type and tier.
    pub async fn commission_rate_add(&self, input: &RateInput) -> Result<RateRow, ErrorBody> {
        let r = input.check()?;
        let store = self.store().await?;
        match db::add_rate(&store, &r).await? {
            Ok(row) => {
                self.audit(
                    "commission_rate.add",
                    Some(format!("{}/{}", row.plan_type, row.tier)),
                    serde_json::json!({"id": row.id, "rate_bps": row.rate_bps, "from": input.from, "to": input.to, "note": row.note}),
                    vec![],
                )
                .await;
                Ok(row)
            }
            Err(db::Overlap(other)) => Err(InputError::new(
                "from",
                format!(
                    "overlaps rate #{} ({} {} at {}.{:02} %, {}): end that one first (`tollgate rates end {} --at DAY`) or choose days outside it; nothing was changed",
                    other.id,
                    other.plan_type,
                    other.tier,
                    other.rate_bps / 100,
                    other.rate_bps % 100,
                    period_text(&other),
                    other.id
                ),
            )
            .into()),
        }
    }

    /// Ends a rate at the start of `at` (YYYY-MM-DD), so another can follow it.
    pub async fn commission_rate_end(&self, id: i64, at: &str) -> Result<RateRow, ErrorBody> {
        let day = chrono::NaiveDate::parse_from_str(at.trim(), "%Y-%m-%d")
            .map_err(|_| InputError::new("at", format!("\"{at}\" is not a date (YYYY-MM-DD)")))?;
        match db::end_rate(&self.store().await?, id, day).await? {
            None => Err(ErrorBody::new(
                ErrorCode::NotFound,
                format!("no commission rate #{id}"),
            )),
            Some(Err(why)) => Err(InputError::new("at", why).into()),
            Some(Ok(row)) => {
                self.audit(
                    "commission_rate.end",
                    Some(format!("{}/{}", row.plan_type, row.tier)),
                    serde_json::json!({"id": id, "ends": at}),
                    vec![],
                )
                .await;
                Ok(row)
            }
        }
    }

    /// `tollgate dev seed --commissions N`: N ledger rows over the past year for benches and
    /// demos, with the rate table's rates, some refunds and some flagged charges.
    pub async fn seed_commissions(&self, n: u64, op: Option<&str>) -> Result<u64, ErrorBody> {
        let store = self.store().await?;
        let progress = self.progress_for(op);
        progress.phase("commission rows", n);
        let p = progress.clone();
        let added = db::seed(&store, n, &move |k| p.set_done(k)).await?;
        progress.finish();
        Ok(added)
    }
}

fn period_text(r: &RateRow) -> String {
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default()
    };
    match r.effective_to {
        Some(t) if r.effective_from == 0 => format!("until {}", day(t)),
        Some(t) => format!("{} until {}", day(r.effective_from), day(t)),
        None if r.effective_from == 0 => "always".into(),
        None => format!("from {}", day(r.effective_from)),
    }
}

impl Console {
    /// The finance overview as of now.
    pub async fn overview(&self) -> Result<crate::ledger::overview::Overview, ErrorBody> {
        Ok(db::overview(&self.store().await?, crate::store::now_seconds()).await?)
    }
}
