//! `BillingReportService`, the part built: the renewal rate (the health
//! metric) and the expansion rate, in total and by rep, plan or prior price.

use std::collections::BTreeMap;

use tiejun_platform::{auth::Principal, clock::from_proto, error::Error};
use tiejun_proto::billing::v1::{
    GetRenewalRateRequest, GetRenewalRateResponse, RenewalGrouping, RenewalRateRow,
    billing_report_service_server::BillingReportService,
};
use tonic::{Request, Response, Status};

use super::Billing;
use crate::{domain::renewal::Book, store::renewals};

fn row(group_key: String, b: &Book) -> RenewalRateRow {
    RenewalRateRow {
        group_key,
        up_for_renewal: b.up,
        renewed: b.renewed,
        expanded: b.expanded,
        churned: b.churned,
        renewal_rate_bp: b.renewal_rate_bp(),
        expansion_rate_bp: b.expansion_rate_bp(),
    }
}

#[tonic::async_trait]
impl BillingReportService for Billing {
    async fn get_renewal_rate(
        &self,
        request: Request<GetRenewalRateRequest>,
    ) -> Result<Response<GetRenewalRateResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let window = |field: &str, ts: &Option<prost_types::Timestamp>| {
            ts.as_ref()
                .and_then(from_proto)
                .ok_or_else(|| Error::invalid(field, "is required"))
        };
        let (from, to) = (window("from", &r.from)?, window("to", &r.to)?);
        if to <= from {
            return Err(Error::invalid("to", "must be after from").into());
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
            total.add(outcome, *prior, *quoted);
            let key = match group_by {
                RenewalGrouping::Rep => Some(rep.clone()),
                RenewalGrouping::Plan => Some(plan.clone()),
                RenewalGrouping::PriorPrice => Some(prior.to_string()),
                RenewalGrouping::Unspecified => None,
            };
            if let Some(key) = key {
                groups.entry(key).or_default().add(outcome, *prior, *quoted);
            }
        }
        Ok(Response::new(GetRenewalRateResponse {
            total: Some(row(String::new(), &total)),
            rows: groups.into_iter().map(|(k, b)| row(k, &b)).collect(),
        }))
    }
}
