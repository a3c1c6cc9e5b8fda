//! The commission ledger: for every succeeded appointment payment (a Connect destination
//! charge: `application_fee_amount` is the commission, `transfer_data.destination` the expert's
//! connected account) one immutable row, with the expert organization's plan type and tier as
//! the store held them at that moment, the rate in force then, what was charged and what the
//! rate implies; each refund reverses proportionally in a row of its own.

pub mod overview;
pub mod report;

use serde_json::Value;

/// A destination charge as the ledger reads it, from Stripe's charge object (refunds
/// expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appointment {
    pub charge: String,
    pub payment_intent: Option<String>,
    pub org: Option<String>,
    pub expert_account: String,
    pub currency: String,
    pub amount: i64,
    /// The application fee: the commission charged.
    pub fee: i64,
    pub fee_id: Option<String>,
    pub transfer: Option<String>,
    pub created: i64,
    pub refunds: Vec<Refund>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub created: i64,
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Object(o) => o.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

impl Appointment {
    /// `Ok(None)` for what is not a commission: a charge that did not succeed, or one with no
    /// destination (a subscription invoice's charge, a one-time checkout). An error names a
    /// field no real charge carries (an amount or a time out of range), so it is reported,
    /// never computed with.
    pub fn parse(charge: &Value, org_keys: &[String]) -> Result<Option<Appointment>, String> {
        use crate::sync::objects::{amount, time};
        if charge["status"] != "succeeded" || charge["paid"] == Value::Bool(false) {
            return Ok(None);
        }
        let Some(expert_account) = id_of(&charge["transfer_data"]["destination"])
            .or_else(|| id_of(&charge["destination"]))
        else {
            return Ok(None);
        };
        if let Some(c) = charge["currency"].as_str() {
            crate::domain::Currency::parse("currency", c)
                .map_err(|e| format!("{}: {}", e.field, e.rule))?;
        }
        let amount_captured = amount(&charge["amount_captured"], "amount_captured")?;
        let charged = amount(&charge["amount"], "amount")?;
        let fee = amount(&charge["application_fee_amount"], "application_fee_amount")?;
        let created = time(&charge["created"], "created")?;
        let mut refunds = Vec::new();
        if let Some(list) = charge["refunds"]["data"].as_array() {
            for (i, r) in list.iter().enumerate() {
                if r["status"] != "succeeded" && r["status"] != "pending" {
                    continue;
                }
                let (Some(id), Some(amount), Some(created)) = (
                    id_of(&r["id"]),
                    amount(&r["amount"], &format!("refunds.data.{i}.amount"))?,
                    time(&r["created"], &format!("refunds.data.{i}.created"))?,
                ) else {
                    continue;
                };
                refunds.push(Refund {
                    id,
                    amount,
                    created,
                });
            }
        }
        Ok(Self::assemble(
            charge,
            org_keys,
            expert_account,
            amount_captured.filter(|a| *a > 0).or(charged),
            fee,
            created,
            refunds,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        charge: &Value,
        org_keys: &[String],
        expert_account: String,
        amount: Option<i64>,
        fee: Option<i64>,
        created: Option<i64>,
        refunds: Vec<Refund>,
    ) -> Option<Appointment> {
        let metadata = &charge["metadata"];
        let org = org_keys.iter().find_map(|k| {
            metadata[k.as_str()]
                .as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        });
        Some(Appointment {
            charge: id_of(&charge["id"])?,
            payment_intent: id_of(&charge["payment_intent"]),
            org,
            expert_account,
            currency: charge["currency"].as_str()?.to_ascii_lowercase(),
            amount: amount?,
            fee: fee.unwrap_or(0),
            fee_id: id_of(&charge["application_fee"]),
            transfer: id_of(&charge["transfer"]),
            created: created?,
            refunds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keys() -> Vec<String> {
        vec!["organization_id".into(), "companyId".into()]
    }

    #[test]
    fn a_destination_charge_is_an_appointment() {
        let ch = json!({"id": "ch_1", "object": "charge", "status": "succeeded", "paid": true,
            "amount": 8000, "amount_captured": 8000, "currency": "EUR", "created": 100,
            "application_fee_amount": 960, "application_fee": "fee_1", "transfer": {"id": "tr_1"},
            "payment_intent": "pi_1", "transfer_data": {"destination": "acct_1"},
            "metadata": {"companyId": "org_9"},
            "refunds": {"data": [{"id": "re_1", "amount": 2000, "created": 200, "status": "succeeded"},
                                 {"id": "re_2", "amount": 500, "created": 300, "status": "failed"}]}});
        let a = Appointment::parse(&ch, &keys()).unwrap().unwrap();
        assert_eq!(a.org.as_deref(), Some("org_9"));
        assert_eq!((a.amount, a.fee, a.currency.as_str()), (8000, 960, "eur"));
        assert_eq!(a.transfer.as_deref(), Some("tr_1"));
        assert_eq!(
            a.refunds,
            vec![Refund {
                id: "re_1".into(),
                amount: 2000,
                created: 200
            }]
        );
    }

    #[test]
    fn other_charges_are_not() {
        let failed = json!({"id": "ch_2", "status": "failed", "amount": 100, "currency": "eur",
            "created": 1, "transfer_data": {"destination": "acct_1"}});
        assert_eq!(Appointment::parse(&failed, &keys()), Ok(None));
        let invoice = json!({"id": "ch_3", "status": "succeeded", "amount": 100, "currency": "eur",
            "created": 1, "transfer_data": null});
        assert_eq!(Appointment::parse(&invoice, &keys()), Ok(None));
    }
}
