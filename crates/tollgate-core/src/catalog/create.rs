//! Creating a partner price: every field parsed and checked against Stripe before the one
//! write, which carries an Idempotency-Key (a double click is one price). Features are then
//! attached to the product, each write idempotent too.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use stripe_product::price::{
    CreatePrice, CreatePriceProductData, CreatePriceRecurring, CreatePriceRecurringInterval,
    ListPrice,
};
use stripe_product::product::{ListProduct, RetrieveProduct};
use ts_rs::TS;

use super::{features, mirror, LookupKey, PlanInterval};
use crate::domain::{BasisPoints, Currency, InputError, Money};
use crate::error::{ErrorBody, ErrorCode};
use crate::store::{PriceRow, ProductFeatureRow, ProductRow};
use crate::stripe::{GatewayError, IdempotencyIntent, StripeGateway};

/// What the Create-price form and `tollgate prices create` send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct NewPrice {
    /// An existing product, or
    pub product_id: Option<String>,
    /// the name of a new one.
    pub product_name: Option<String>,
    pub lookup_key: String,
    /// month, year or once.
    pub interval: String,
    /// Minor units (2900 for 29.00; 500 for JPY 500).
    #[ts(type = "number")]
    pub amount: i64,
    pub currency: String,
    #[ts(type = "number | null")]
    pub commission_bps: Option<i64>,
    /// Charged per seat (the subscription's quantity) rather than flat.
    pub per_seat: bool,
    /// Take the key from the price that holds it (that price keeps its subscribers).
    pub transfer_lookup_key: bool,
    /// Entitlement features (lookup keys or ids) to attach to the product.
    pub features: Vec<String>,
    pub nickname: Option<String>,
    /// The form's nonce: the same nonce is the same price, however often it is sent.
    pub request_id: Option<String>,
}

/// The input, parsed.
#[derive(Debug, Clone)]
pub struct ParsedNewPrice {
    pub product: ProductChoice,
    pub key: LookupKey,
    pub interval: PlanInterval,
    pub money: Money,
    pub commission: Option<BasisPoints>,
    pub per_seat: bool,
    pub transfer: bool,
    pub features: Vec<String>,
    pub nickname: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum ProductChoice {
    Existing(String),
    New(String),
}

pub fn parse(input: &NewPrice) -> Result<ParsedNewPrice, InputError> {
    let product = match (
        input
            .product_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        input
            .product_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(InputError::new(
                "product",
                "give an existing product or a new product's name, not both",
            ))
        }
        (None, None) => {
            return Err(InputError::new(
                "product",
                "is required: an existing product id (prod_…) or a new product's name",
            ))
        }
        (Some(id), None) if !id.starts_with("prod_") => {
            return Err(InputError::new(
                "product",
                format!("{id:?} is not a product id (prod_…)"),
            ))
        }
        (Some(id), None) => ProductChoice::Existing(id.to_owned()),
        (None, Some(name)) if name.chars().count() > 250 => {
            return Err(InputError::new(
                "product_name",
                "must be at most 250 characters",
            ))
        }
        (None, Some(name)) => ProductChoice::New(name.to_owned()),
    };
    let key = LookupKey::parse("lookup_key", input.lookup_key.trim())?;
    let interval = PlanInterval::parse("interval", &input.interval)?;
    if key.interval() != interval {
        return Err(InputError::new(
            "lookup_key",
            format!(
                "{key} says {} but the interval is {}",
                key.interval().key_word(),
                interval.as_str()
            ),
        ));
    }
    let currency = Currency::parse("currency", &input.currency)?;
    if let Some(c) = key.currency().filter(|c| **c != currency) {
        return Err(InputError::new(
            "lookup_key",
            format!("{key} says {} but the currency is {}", c, currency),
        ));
    }
    let money = Money::parse("amount", input.amount, currency)?;
    let commission = input
        .commission_bps
        .map(|b| BasisPoints::parse("commission_bps", b))
        .transpose()?;
    let nickname = input
        .nickname
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    if nickname.as_ref().is_some_and(|n| n.chars().count() > 250) {
        return Err(InputError::new(
            "nickname",
            "must be at most 250 characters",
        ));
    }
    let mut features = Vec::new();
    for f in &input.features {
        let f = f.trim();
        if f.is_empty() {
            continue;
        }
        if !features.iter().any(|x| x == f) {
            features.push(f.to_owned());
        }
    }
    Ok(ParsedNewPrice {
        product,
        key,
        interval,
        money,
        commission,
        per_seat: input.per_seat,
        transfer: input.transfer_lookup_key,
        features,
        nickname,
        request_id: input.request_id.clone().filter(|s| !s.is_empty()),
    })
}

/// What Stripe answered, for the caller to mirror and audit.
#[derive(Debug, Clone)]
pub struct Created {
    pub price: PriceRow,
    pub product: ProductRow,
    pub product_features: Vec<ProductFeatureRow>,
    /// The price that held the key before, when it was transferred.
    pub transferred_from: Option<String>,
    /// This very request made the price earlier (a re-run): nothing was created now.
    pub already: bool,
}

/// The price metadata key that records which request made a price.
pub const REQUEST_METADATA: &str = "tollgate_request";

/// What was asked, as a digest: the same command (or the same form) run again asks for the
/// same thing, and finds the price it made by this value in the price's metadata, however long
/// after (Stripe's Idempotency-Key is kept 24 hours).
fn request_digest(p: &ParsedNewPrice, product_part: &str) -> String {
    IdempotencyIntent::new("price.request")
        .with(p.request_id.as_deref().unwrap_or("-"))
        .with(product_part)
        .with(p.key.as_str())
        .with(p.money.amount)
        .with(p.money.currency.as_str())
        .with(p.interval.as_str())
        .with(p.commission.map(|b| b.0.to_string()).unwrap_or_default())
        .with(p.per_seat)
        .with(p.nickname.as_deref().unwrap_or(""))
        .key()
}

fn not_found_as_input(e: GatewayError, field: &'static str, what: String) -> ErrorBody {
    match &e {
        GatewayError::Api { status: 404, .. } => InputError::new(field, what).into(),
        _ => e.into(),
    }
}

/// Checks the input against Stripe, then creates the price and attaches the features.
pub async fn create(gw: &StripeGateway, p: &ParsedNewPrice) -> Result<Created, ErrorBody> {
    let product_part = match &p.product {
        ProductChoice::Existing(id) => id.clone(),
        ProductChoice::New(name) => format!("new:{name}"),
    };
    let digest = request_digest(p, &product_part);
    let holders = gw
        .send(
            ListPrice::new()
                .lookup_keys(vec![p.key.to_string()])
                .limit(10),
        )
        .await?;
    // Run again: the key's price is the one this request made. Nothing more is created (the
    // product it made, too, would fail the checks below as "a product of that name exists").
    if let Some(mine) = holders
        .data
        .iter()
        .find(|h| h.active && h.metadata.get(REQUEST_METADATA) == Some(&digest))
    {
        return finish(gw, mine, &p.features, None, true).await;
    }
    let holder = holders.data.first().map(|h| h.id.to_string());

    // ---- checks: nothing is written until all pass ----
    match &p.product {
        ProductChoice::Existing(id) => {
            let product = gw
                .send(RetrieveProduct::new(id.as_str()))
                .await
                .map_err(|e| {
                    not_found_as_input(
                        e,
                        "product",
                        format!("no product {id} in this Stripe account"),
                    )
                })?;
            if !product.active {
                return Err(InputError::new(
                    "product",
                    format!(
                        "{id} ({}) is archived; activate it in Stripe or pick another",
                        product.name
                    ),
                )
                .into());
            }
        }
        ProductChoice::New(name) => {
            let products = gw
                .list_all(ListProduct::new().active(true).limit(100).paginate())
                .await?;
            if let Some(same) = products.iter().find(|x| x.name.eq_ignore_ascii_case(name)) {
                return Err(InputError::new(
                    "product_name",
                    format!("a product named {:?} exists ({}); pick it instead of creating a second one", same.name, same.id),
                )
                .into());
            }
        }
    }
    if let (Some(h), false) = (&holder, p.transfer) {
        return Err(InputError::new(
            "lookup_key",
            format!("{} is held by {h}; choose \"take the lookup key from the current price\" (--transfer-lookup-key) to move it", p.key),
        )
        .into());
    }
    let feature_ids = features::resolve_refs(gw, &p.features).await?;

    // ---- the write ----
    let mut metadata: HashMap<String, String> = HashMap::from([
        ("tier".to_owned(), p.key.tier().to_owned()),
        ("audience".to_owned(), p.key.audience().to_owned()),
        (
            "planType".to_owned(),
            match p.interval {
                PlanInterval::Month => "monthly",
                PlanInterval::Year => "annual",
                PlanInterval::Once => "one_time",
            }
            .to_owned(),
        ),
        (
            "pricing".to_owned(),
            if p.per_seat { "per_seat" } else { "flat" }.to_owned(),
        ),
        (REQUEST_METADATA.to_owned(), digest),
    ]);
    if let Some(b) = p.commission {
        metadata.insert("commissionRate".to_owned(), b.0.to_string());
    }
    let currency: stripe_types::Currency = p.money.currency.as_str().parse().map_err(|_| {
        ErrorBody::new(
            ErrorCode::Internal,
            format!("currency {} unknown to the Stripe client", p.money.currency),
        )
    })?;
    let mut req = CreatePrice::new(currency)
        .unit_amount(p.money.amount)
        .lookup_key(p.key.as_str())
        .metadata(metadata)
        .expand(vec!["tiers".to_owned()]);
    if p.transfer {
        req = req.transfer_lookup_key(true);
    }
    if let Some(n) = &p.nickname {
        req = req.nickname(n.as_str());
    }
    match p.interval {
        PlanInterval::Month => {
            req = req.recurring(CreatePriceRecurring::new(
                CreatePriceRecurringInterval::Month,
            ))
        }
        PlanInterval::Year => {
            req = req.recurring(CreatePriceRecurring::new(
                CreatePriceRecurringInterval::Year,
            ))
        }
        PlanInterval::Once => {}
    }
    match &p.product {
        ProductChoice::Existing(id) => {
            req = req.product(id.as_str());
        }
        ProductChoice::New(name) => {
            let mut data = CreatePriceProductData::new(name.as_str());
            data.metadata = Some(HashMap::from([
                ("tier".to_owned(), p.key.tier().to_owned()),
                ("audience".to_owned(), p.key.audience().to_owned()),
            ]));
            req = req.product_data(data);
        }
    }
    let intent = IdempotencyIntent::new("price.create")
        .with(p.request_id.as_deref().unwrap_or("-"))
        .with(&product_part)
        .with(p.key.as_str())
        .with(p.money.amount)
        .with(p.money.currency.as_str())
        .with(p.interval.as_str())
        .with(p.commission.map(|b| b.0.to_string()).unwrap_or_default())
        .with(p.per_seat)
        .with(p.transfer)
        .with(p.nickname.as_deref().unwrap_or(""))
        .with(holder.as_deref().unwrap_or("-"));
    let price = gw.post_idempotent(req, &intent).await?;
    let transferred_from = holder.filter(|h| *h != price.id.as_str());
    finish(gw, &price, &feature_ids, transferred_from, false).await
}

/// The price's product, and its features attached (each attach idempotent, so a re-run also
/// finishes what a cut-off first run began).
async fn finish(
    gw: &StripeGateway,
    price: &stripe_product::Price,
    features: &[String],
    transferred_from: Option<String>,
    already: bool,
) -> Result<Created, ErrorBody> {
    let feature_ids = if already {
        features::resolve_refs(gw, features).await?
    } else {
        features.to_vec()
    };
    let product_id = price.product.id().to_string();
    let product = gw.send(RetrieveProduct::new(product_id.as_str())).await?;
    let mut product_features = Vec::new();
    for fid in &feature_ids {
        product_features.push(features::attach_id(gw, &product_id, fid).await?);
    }
    Ok(Created {
        price: mirror::price_row(price),
        product: mirror::product_row(&product),
        product_features,
        transferred_from,
        already,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> NewPrice {
        NewPrice {
            product_name: Some("Partner Clinic".into()),
            lookup_key: "partner-clinic-monthly".into(),
            interval: "month".into(),
            amount: 2900,
            currency: "eur".into(),
            commission_bps: Some(1000),
            ..Default::default()
        }
    }

    #[test]
    fn parses_and_names_each_bad_field() {
        assert!(parse(&input()).is_ok());
        let field = |f: fn(&mut NewPrice)| {
            let mut i = input();
            f(&mut i);
            parse(&i).unwrap_err().field.into_owned()
        };
        assert_eq!(field(|i| i.amount = -1), "amount");
        assert_eq!(field(|i| i.amount = 1_000_000_000), "amount");
        assert_eq!(field(|i| i.currency = "eurr".into()), "currency");
        assert_eq!(
            field(|i| i.lookup_key = "Partner-clinic-monthly".into()),
            "lookup_key"
        );
        assert_eq!(field(|i| i.interval = "year".into()), "lookup_key");
        assert_eq!(field(|i| i.interval = "fortnight".into()), "interval");
        assert_eq!(field(|i| i.commission_bps = Some(10_001)), "commission_bps");
        assert_eq!(field(|i| i.product_name = None), "product");
        assert_eq!(field(|i| i.product_id = Some("prod_1".into())), "product");
        assert_eq!(
            field(|i| {
                i.product_name = None;
                i.product_id = Some("price_1".into())
            }),
            "product"
        );
        assert_eq!(
            field(|i| i.lookup_key = "partner-clinic-monthly-usd".into()),
            "lookup_key"
        );
    }
}
