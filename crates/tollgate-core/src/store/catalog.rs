//! The catalog mirror: products, prices (plan rows), entitlement features and which product
//! has which feature. Billed fields of a price never change once written (a trigger enforces
//! it); an upsert updates only what Stripe lets change: lookup key, nickname, active, metadata.

use std::collections::HashMap;

use sqlx::Row;

use super::{now_seconds, SendFuture, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub struct ProductRow {
    pub stripe_id: String,
    pub name: String,
    pub description: Option<String>,
    pub active: bool,
    pub metadata: String,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceRow {
    pub stripe_id: String,
    pub product_id: String,
    pub lookup_key: Option<String>,
    pub nickname: Option<String>,
    pub tier: Option<String>,
    pub audience: Option<String>,
    pub plan_type: Option<String>,
    /// `recurring` or `one_time`.
    pub price_type: String,
    pub billing_interval: Option<String>,
    pub interval_count: Option<i64>,
    pub usage_type: Option<String>,
    /// `per_unit` or `tiered`.
    pub billing_scheme: String,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<String>,
    pub tiers_mode: Option<String>,
    /// Stripe's `tiers` array as JSON.
    pub tiers: Option<String>,
    pub transform_divide_by: Option<i64>,
    pub transform_round: Option<String>,
    /// Stripe's `custom_unit_amount` object as JSON.
    pub custom_unit_amount: Option<String>,
    pub currency: String,
    pub commission_rate_bps: Option<i64>,
    pub active: bool,
    pub active_subscribers: i64,
    pub metadata: String,
    pub livemode: bool,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    pub stripe_id: String,
    pub lookup_key: String,
    pub name: String,
    pub active: bool,
    pub metadata: String,
    pub livemode: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProductFeatureRow {
    pub stripe_id: String,
    pub product_id: String,
    pub feature_id: String,
}

/// Everything a catalog refresh read from Stripe.
#[derive(Debug, Clone, Default)]
pub struct CatalogSnapshot {
    pub products: Vec<ProductRow>,
    pub prices: Vec<PriceRow>,
    pub features: Vec<FeatureRow>,
    pub product_features: Vec<ProductFeatureRow>,
    /// Active, trialing and past-due subscription items per price id; `None` keeps the
    /// counts the store has (a read after an admin write, which changes no subscription).
    pub subscriber_counts: Option<HashMap<String, i64>>,
    /// Objects Stripe listed that could not be read: (id, kind, where and why). Recorded as
    /// sync issues with the snapshot; an object that reads again clears its issue.
    pub skipped: Vec<(String, String, String)>,
}

const PRICE_COLUMNS: &str = "stripe_id, product_id, lookup_key, nickname, tier, audience, plan_type, price_type, billing_interval, interval_count, usage_type, billing_scheme, unit_amount, unit_amount_decimal, tiers_mode, tiers, transform_divide_by, transform_round, custom_unit_amount, currency, commission_rate_bps, active, active_subscribers, metadata, livemode, created";

use super::Tx;

async fn upsert_product(tx: &mut Tx, p: &ProductRow, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO products (stripe_id, name, description, active, metadata, livemode, created, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (stripe_id) DO UPDATE SET name = excluded.name, description = excluded.description, \
         active = excluded.active, metadata = excluded.metadata, updated_at = excluded.updated_at",
    )
    .bind(&p.stripe_id)
    .bind(&p.name)
    .bind(p.description.clone())
    .bind(p.active as i64)
    .bind(&p.metadata)
    .bind(p.livemode as i64)
    .bind(p.created)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Stripe keeps a lookup key on one price: a key that moved is taken off the old row first.
async fn upsert_price(
    tx: &mut Tx,
    p: &PriceRow,
    now: i64,
    counts: bool,
) -> Result<(), sqlx::Error> {
    if let Some(k) = &p.lookup_key {
        sqlx::query("UPDATE prices SET lookup_key = NULL, updated_at = $1 WHERE lookup_key = $2 AND stripe_id <> $3")
            .bind(now)
            .bind(k)
            .bind(&p.stripe_id)
            .execute(&mut **tx)
            .await?;
    }
    let subscribers = if counts {
        ", active_subscribers = excluded.active_subscribers"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO prices ({PRICE_COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) \
         ON CONFLICT (stripe_id) DO UPDATE SET lookup_key = excluded.lookup_key, nickname = excluded.nickname, \
         tier = excluded.tier, audience = excluded.audience, plan_type = excluded.plan_type, \
         commission_rate_bps = excluded.commission_rate_bps, active = excluded.active, \
         metadata = excluded.metadata, updated_at = excluded.updated_at, \
         unit_amount = excluded.unit_amount, currency = excluded.currency, billing_interval = excluded.billing_interval, \
         interval_count = excluded.interval_count, product_id = excluded.product_id, tiers = excluded.tiers, \
         billing_scheme = excluded.billing_scheme{subscribers}"
    );
    sqlx::query(&sql)
        .bind(&p.stripe_id)
        .bind(&p.product_id)
        .bind(p.lookup_key.clone())
        .bind(p.nickname.clone())
        .bind(p.tier.clone())
        .bind(p.audience.clone())
        .bind(p.plan_type.clone())
        .bind(&p.price_type)
        .bind(p.billing_interval.clone())
        .bind(p.interval_count)
        .bind(p.usage_type.clone())
        .bind(&p.billing_scheme)
        .bind(p.unit_amount)
        .bind(p.unit_amount_decimal.clone())
        .bind(p.tiers_mode.clone())
        .bind(p.tiers.clone())
        .bind(p.transform_divide_by)
        .bind(p.transform_round.clone())
        .bind(p.custom_unit_amount.clone())
        .bind(&p.currency)
        .bind(p.commission_rate_bps)
        .bind(p.active as i64)
        .bind(p.active_subscribers)
        .bind(&p.metadata)
        .bind(p.livemode as i64)
        .bind(p.created)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn upsert_feature(tx: &mut Tx, f: &FeatureRow, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO entitlement_features (stripe_id, lookup_key, name, active, metadata, livemode, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (stripe_id) DO UPDATE SET lookup_key = excluded.lookup_key, name = excluded.name, \
         active = excluded.active, metadata = excluded.metadata, updated_at = excluded.updated_at",
    )
    .bind(&f.stripe_id)
    .bind(&f.lookup_key)
    .bind(&f.name)
    .bind(f.active as i64)
    .bind(&f.metadata)
    .bind(f.livemode as i64)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_product_feature(
    tx: &mut Tx,
    pf: &ProductFeatureRow,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO product_features (stripe_id, product_id, feature_id, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (stripe_id) DO NOTHING",
    )
    .bind(&pf.stripe_id)
    .bind(&pf.product_id)
    .bind(&pf.feature_id)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn price_from_row(r: &sqlx::any::AnyRow) -> Result<PriceRow, sqlx::Error> {
    Ok(PriceRow {
        stripe_id: r.try_get("stripe_id")?,
        product_id: r.try_get("product_id")?,
        lookup_key: r.try_get("lookup_key")?,
        nickname: r.try_get("nickname")?,
        tier: r.try_get("tier")?,
        audience: r.try_get("audience")?,
        plan_type: r.try_get("plan_type")?,
        price_type: r.try_get("price_type")?,
        billing_interval: r.try_get("billing_interval")?,
        interval_count: r.try_get("interval_count")?,
        usage_type: r.try_get("usage_type")?,
        billing_scheme: r.try_get("billing_scheme")?,
        unit_amount: r.try_get("unit_amount")?,
        unit_amount_decimal: r.try_get("unit_amount_decimal")?,
        tiers_mode: r.try_get("tiers_mode")?,
        tiers: r.try_get("tiers")?,
        transform_divide_by: r.try_get("transform_divide_by")?,
        transform_round: r.try_get("transform_round")?,
        custom_unit_amount: r.try_get("custom_unit_amount")?,
        currency: r.try_get("currency")?,
        commission_rate_bps: r.try_get("commission_rate_bps")?,
        active: r.try_get::<i64, _>("active")? != 0,
        active_subscribers: r.try_get("active_subscribers")?,
        metadata: r.try_get("metadata")?,
        livemode: r.try_get::<i64, _>("livemode")? != 0,
        created: r.try_get("created")?,
    })
}

/// What the Plans screen reads: every price with its product's name and its features.
#[derive(Debug, Clone, Default)]
pub struct CatalogView {
    pub prices: Vec<PriceRow>,
    pub products: HashMap<String, ProductRow>,
    pub features: Vec<FeatureRow>,
    pub product_features: Vec<ProductFeatureRow>,
    /// When the catalog was last read whole from Stripe (UTC seconds).
    pub refreshed_at: Option<i64>,
}

impl Store {
    /// Writes a whole catalog read from Stripe in one transaction: rows are upserted, product
    /// features Stripe no longer lists are removed, subscriber counts replaced.
    pub fn replace_catalog<'a>(
        &'a self,
        snap: &'a CatalogSnapshot,
    ) -> SendFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = now_seconds();
            let mut tx = self.write("catalog: replace").await?;
            let run = async {
                for p in &snap.products {
                    upsert_product(&mut tx, p, now).await?;
                }
                for f in &snap.features {
                    upsert_feature(&mut tx, f, now).await?;
                }
                // upsert_price takes a key off whichever row held it before, so a swap of
                // two keys never trips the unique index half-way.
                for p in &snap.prices {
                    let mut row = p.clone();
                    if let Some(counts) = &snap.subscriber_counts {
                        row.active_subscribers = counts.get(&p.stripe_id).copied().unwrap_or(0);
                    }
                    upsert_price(&mut tx, &row, now, snap.subscriber_counts.is_some()).await?;
                }
                let keep: std::collections::HashSet<&str> = snap
                    .product_features
                    .iter()
                    .map(|p| p.stripe_id.as_str())
                    .collect();
                // Only of products read now: a product that could not be read keeps what the
                // store knew of it until it reads again.
                let read: std::collections::HashSet<&str> =
                    snap.products.iter().map(|p| p.stripe_id.as_str()).collect();
                let existing: Vec<(String, String)> =
                    sqlx::query_as("SELECT stripe_id, product_id FROM product_features")
                        .fetch_all(&mut *tx)
                        .await?;
                let gone = existing
                    .iter()
                    .filter(|(id, product)| {
                        read.contains(product.as_str()) && !keep.contains(id.as_str())
                    })
                    .map(|(id, _)| id);
                for id in gone {
                    sqlx::query("DELETE FROM product_features WHERE stripe_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                for pf in &snap.product_features {
                    upsert_product_feature(&mut tx, pf, now).await?;
                }
                // What read now clears its issue; what could not be read says why.
                let read = snap
                    .products
                    .iter()
                    .map(|p| &p.stripe_id)
                    .chain(snap.prices.iter().map(|p| &p.stripe_id))
                    .chain(snap.features.iter().map(|f| &f.stripe_id))
                    .chain(snap.product_features.iter().map(|f| &f.stripe_id));
                for id in read {
                    super::sync::resolve_issue(&mut tx, id).await?;
                }
                for (id, _kind, detail) in &snap.skipped {
                    super::sync::record_issue(&mut tx, id, "unreadable", detail, None).await?;
                }
                sqlx::query(
                    "INSERT INTO sync_cursors (name, updated_at) VALUES ('catalog', $1) \
                     ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
                )
                .bind(now)
                .execute(&mut *tx)
                .await?;
                Ok::<(), sqlx::Error>(())
            };
            run.await.map_err(|e| self.err(e))?;
            tx.commit().await
        })
    }

    /// Mirrors one price (and its product) that a write to Stripe returned.
    pub fn upsert_price_and_product<'a>(
        &'a self,
        product: Option<&'a ProductRow>,
        price: &'a PriceRow,
    ) -> SendFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let now = now_seconds();
            let mut tx = self.write("catalog: price").await?;
            let run = async {
                if let Some(p) = product {
                    upsert_product(&mut tx, p, now).await?;
                }
                upsert_price(&mut tx, price, now, false).await
            };
            run.await.map_err(|e| self.err(e))?;
            tx.commit().await
        })
    }

    /// The whole mirrored catalog, prices newest first.
    pub fn catalog(&self) -> SendFuture<'_, Result<CatalogView, StoreError>> {
        Box::pin(async move {
            let run = async {
                let rows = sqlx::query(&format!(
                    "SELECT {PRICE_COLUMNS} FROM prices ORDER BY created DESC, stripe_id"
                ))
                .fetch_all(self.pool())
                .await?;
                let prices = rows
                    .iter()
                    .map(price_from_row)
                    .collect::<Result<Vec<_>, _>>()?;
                let products = sqlx::query("SELECT stripe_id, name, description, active, metadata, livemode, created FROM products")
                    .fetch_all(self.pool())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(ProductRow {
                            stripe_id: r.try_get("stripe_id")?,
                            name: r.try_get("name")?,
                            description: r.try_get("description")?,
                            active: r.try_get::<i64, _>("active")? != 0,
                            metadata: r.try_get("metadata")?,
                            livemode: r.try_get::<i64, _>("livemode")? != 0,
                            created: r.try_get("created")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
                    .into_iter()
                    .map(|p| (p.stripe_id.clone(), p))
                    .collect();
                let features = sqlx::query("SELECT stripe_id, lookup_key, name, active, metadata, livemode FROM entitlement_features ORDER BY lookup_key")
                    .fetch_all(self.pool())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(FeatureRow {
                            stripe_id: r.try_get("stripe_id")?,
                            lookup_key: r.try_get("lookup_key")?,
                            name: r.try_get("name")?,
                            active: r.try_get::<i64, _>("active")? != 0,
                            metadata: r.try_get("metadata")?,
                            livemode: r.try_get::<i64, _>("livemode")? != 0,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let product_features = sqlx::query("SELECT stripe_id, product_id, feature_id FROM product_features ORDER BY stripe_id")
                    .fetch_all(self.pool())
                    .await?
                    .iter()
                    .map(|r| {
                        Ok(ProductFeatureRow {
                            stripe_id: r.try_get("stripe_id")?,
                            product_id: r.try_get("product_id")?,
                            feature_id: r.try_get("feature_id")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?;
                let refreshed_at: Option<i64> = sqlx::query_scalar(
                    "SELECT updated_at FROM sync_cursors WHERE name = 'catalog'",
                )
                .fetch_optional(self.pool())
                .await?;
                Ok::<_, sqlx::Error>(CatalogView {
                    prices,
                    products,
                    features,
                    product_features,
                    refreshed_at,
                })
            };
            run.await.map_err(|e| self.err(e))
        })
    }

    /// The mirrored prices holding these lookup keys (the resolver's offline copy).
    pub fn prices_by_lookup_keys<'a>(
        &'a self,
        keys: &'a [String],
    ) -> SendFuture<'a, Result<Vec<PriceRow>, StoreError>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let sql = format!(
                "SELECT {PRICE_COLUMNS} FROM prices WHERE lookup_key IN ({})",
                super::placeholders(1, keys.len())
            );
            let mut q = sqlx::query(&sql);
            for k in keys {
                q = q.bind(k);
            }
            let rows = q.fetch_all(self.pool()).await.map_err(|e| self.err(e))?;
            rows.iter()
                .map(price_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))
        })
    }
}
