//! `BillingReportService`: the renewal rate (the health metric) and the
//! expansion rate, in total and by rep, plan or prior price; renewal records;
//! free → paid conversion of a signup cohort; annual recurring revenue.

use std::collections::BTreeMap;

use tiejun_platform::{auth::Principal, clock, error::Error};
use tiejun_proto::billing::v1::{
    GetAnnualRecurringRevenueRequest, GetAnnualRecurringRevenueResponse, GetConversionRateRequest,
    GetConversionRateResponse, GetRenewalRateRequest, GetRenewalRateResponse, ListRenewalsRequest,
    ListRenewalsResponse, Money, RenewalGrouping, RenewalRateRow, billing_report_service_server::BillingReportService,
};

use super::Billing;
use crate::{
    domain::renewal::Book,
    store::{renewals, reports},
};

fn row(group_key: String, b: &Book) -> RenewalRateRow {
    RenewalRateRow {
        group_key,
        up_for_renewal: b.up,
        renewed: b.renewed,
        expanded: b.expanded,
        churned: b.churned,
        renewal_rate_bp: b.renewal_rate_bp(),
        expansion_rate_bp: b.expansion_rate_bp(),
        decided: b.decided(),
    }
}

fn window(field: &str, ts: &Option<prost_types::Timestamp>) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    clock::instant(field, ts.as_ref())?.ok_or_else(|| Error::invalid(field, "is required"))
}

#[tiejun_platform::grpc_service(BillingReportService)]
impl Billing {
    async fn list_renewals(&self, r: &ListRenewalsRequest) -> Result<ListRenewalsResponse, Error> {
        let (from, to) = (window("from", &r.from)?, window("to", &r.to)?);
        let page = tiejun_platform::paging::Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let mut rows = reports::renewals(db, from, to, r.sold_by_person_id.trim(), &page).await?;
        let next_page_token = page.finish(&mut rows);
        let renewals = rows.into_iter().map(crate::convert::renewal).collect();
        Ok(ListRenewalsResponse {
            renewals,
            next_page_token,
        })
    }

    async fn get_conversion_rate(&self, r: &GetConversionRateRequest) -> Result<GetConversionRateResponse, Error> {
        let (from, to) = (
            window("signed_up_from", &r.signed_up_from)?,
            window("signed_up_to", &r.signed_up_to)?,
        );
        let db = self.db.get()?;
        let (signed_up, converted) = reports::conversion(db, from, to).await?;
        let bp = if signed_up == 0 {
            0
        } else {
            (converted * 10_000 / signed_up) as i32
        };
        Ok(GetConversionRateResponse {
            signed_up: i32::try_from(signed_up).unwrap_or(i32::MAX),
            converted: i32::try_from(converted).unwrap_or(i32::MAX),
            conversion_rate_bp: bp,
        })
    }

    async fn get_annual_recurring_revenue(
        &self,
        r: &GetAnnualRecurringRevenueRequest,
    ) -> Result<GetAnnualRecurringRevenueResponse, Error> {
        let at = clock::instant("at", r.at.as_ref())?.unwrap_or_else(|| self.clock.now());
        let db = self.db.get()?;
        let rows = reports::arr(db, at).await?;
        let subscriptions = rows.iter().map(|r| r.1).sum::<i64>();
        Ok(GetAnnualRecurringRevenueResponse {
            arr: rows
                .into_iter()
                .map(|(currency, _, amount_minor)| Money { amount_minor, currency })
                .collect(),
            subscriptions: i32::try_from(subscriptions).unwrap_or(i32::MAX),
        })
    }

    async fn get_renewal_rate(
        &self,
        principal: &Principal,
        r: &GetRenewalRateRequest,
    ) -> Result<GetRenewalRateResponse, Error> {
        let (from, to) = (window("from", &r.from)?, window("to", &r.to)?);
        if to <= from {
            return Err(Error::invalid("to", "must be after from"));
        }
        let group_by =
            RenewalGrouping::try_from(r.group_by).map_err(|_| Error::invalid("group_by", "unknown grouping"))?;
        let db = self.db.get()?;
        let records = renewals::book(db, from, to).await?;
        // A rep sees only their own figures.
        let own = principal
            .has_any(&[tiejun_platform::auth::Role::SalesRep])
            .then(|| principal.rep_id.clone())
            .filter(|_| {
                !principal.has_any(&[
                    tiejun_platform::auth::Role::Admin,
                    tiejun_platform::auth::Role::BillingAdmin,
                    tiejun_platform::auth::Role::SalesManager,
                ])
            });
        let mut total = Book::default();
        let mut groups: BTreeMap<String, Book> = BTreeMap::new();
        for (rep, plan, prior, quoted, outcome) in &records {
            if let Some(mine) = &own
                && mine.as_deref() != Some(rep.as_str())
            {
                continue;
            }
            total.add(outcome.0, *prior, *quoted);
            let key = match group_by {
                RenewalGrouping::Rep => Some(rep.clone()),
                RenewalGrouping::Plan => Some(plan.clone()),
                RenewalGrouping::PriorPrice => Some(prior.to_string()),
                RenewalGrouping::Unspecified => None,
            };
            if let Some(key) = key {
                groups.entry(key).or_default().add(outcome.0, *prior, *quoted);
            }
        }
        Ok(GetRenewalRateResponse {
            total: Some(row(String::new(), &total)),
            rows: groups.into_iter().map(|(k, b)| row(k, &b)).collect(),
        })
    }
}
