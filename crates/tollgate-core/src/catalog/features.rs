//! Entitlement features and which products carry them. Attaching is idempotent (an attached
//! feature is left as is); detaching a feature the product lacks is an error naming it.

use stripe_misc::entitlements_feature::ListEntitlementsFeature;
use stripe_product::product_feature::{
    CreateProductProductFeature, DeleteProductFeature, ListProductProductFeature,
};

use crate::domain::InputError;
use crate::error::ErrorBody;
use crate::store::ProductFeatureRow;
use crate::stripe::{IdempotencyIntent, StripeGateway};

/// Feature lookup keys or ids → feature ids; an unknown one is an error naming it.
pub async fn resolve_refs(gw: &StripeGateway, refs: &[String]) -> Result<Vec<String>, ErrorBody> {
    if refs.is_empty() {
        return Ok(Vec::new());
    }
    let all = gw
        .list_all(ListEntitlementsFeature::new().limit(100).paginate())
        .await?;
    refs.iter()
        .map(|r| {
            all.iter()
                .find(|f| f.lookup_key == *r || f.id.as_str() == r)
                .map(|f| f.id.to_string())
                .ok_or_else(|| {
                    let known: Vec<&str> = all.iter().map(|f| f.lookup_key.as_str()).collect();
                    InputError::new(
                        "features",
                        format!("no entitlement feature {r:?}; known: {}", known.join(", ")),
                    )
                    .into()
                })
        })
        .collect()
}

async fn attached(
    gw: &StripeGateway,
    product: &str,
) -> Result<Vec<stripe_product::ProductFeature>, ErrorBody> {
    Ok(gw
        .list_all(
            ListProductProductFeature::new(product)
                .limit(100)
                .paginate(),
        )
        .await?)
}

/// Attaches a feature (by id) to a product, unless it is already attached.
pub async fn attach_id(
    gw: &StripeGateway,
    product: &str,
    feature_id: &str,
) -> Result<ProductFeatureRow, ErrorBody> {
    if let Some(pf) = attached(gw, product)
        .await?
        .into_iter()
        .find(|pf| pf.entitlement_feature.id.as_str() == feature_id)
    {
        return Ok(ProductFeatureRow {
            stripe_id: pf.id.to_string(),
            product_id: product.to_owned(),
            feature_id: feature_id.to_owned(),
        });
    }
    let intent = IdempotencyIntent::new("product_feature.attach")
        .with(product)
        .with(feature_id);
    let pf = gw
        .post_idempotent(
            CreateProductProductFeature::new(product, feature_id),
            &intent,
        )
        .await?;
    Ok(ProductFeatureRow {
        stripe_id: pf.id.to_string(),
        product_id: product.to_owned(),
        feature_id: feature_id.to_owned(),
    })
}

/// Attaches a feature given by lookup key or id.
pub async fn attach(
    gw: &StripeGateway,
    product: &str,
    feature: &str,
) -> Result<ProductFeatureRow, ErrorBody> {
    let id = resolve_refs(gw, &[feature.to_owned()]).await?.remove(0);
    attach_id(gw, product, &id).await
}

/// Detaches a feature given by lookup key or id; returns the product-feature id removed.
pub async fn detach(
    gw: &StripeGateway,
    product: &str,
    feature: &str,
) -> Result<ProductFeatureRow, ErrorBody> {
    let id = resolve_refs(gw, &[feature.to_owned()]).await?.remove(0);
    let pf = attached(gw, product)
        .await?
        .into_iter()
        .find(|pf| pf.entitlement_feature.id.as_str() == id)
        .ok_or_else(|| {
            InputError::new(
                "features",
                format!("{feature} is not attached to {product}"),
            )
        })?;
    gw.send(DeleteProductFeature::new(pf.id.as_str(), product))
        .await?;
    Ok(ProductFeatureRow {
        stripe_id: pf.id.to_string(),
        product_id: product.to_owned(),
        feature_id: id,
    })
}
