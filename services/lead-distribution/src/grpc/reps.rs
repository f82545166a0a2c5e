//! `tiejun.leads.v1.RepService`: hiring, quota, availability, departure.
//! Each write runs one use case of `crate::app::reps`.

use crate::domain::ids::PersonId;
use tiejun_platform::{auth::Principal, db::Database, error::Error, paging::Page};
use tiejun_proto::leads::v1::{
    ActivateRepRequest, ActivateRepResponse, DepartRepRequest, DepartRepResponse, GetRepRequest, GetRepResponse,
    ListRepsRequest, ListRepsResponse, RegisterRepRequest, RegisterRepResponse, Rep, RepStatus, ResumeRepRequest,
    ResumeRepResponse, SetRepQuotaRequest, SetRepQuotaResponse, SuspendRepRequest, SuspendRepResponse, SuspensionKind,
    rep_service_server::RepService,
};

use super::Leads;
use crate::{
    app::{self, reps as use_case, scope},
    convert,
    domain::{
        access,
        rep::{self as rules, NewRep, allowed_from},
    },
    store::{
        days, private_pools,
        reps::{self, RepFilter, RepRow},
    },
};

impl Leads {
    /// A rep as a message, with its live counts: the private pool's size
    /// and today's counters, the same the rules are enforced on.
    async fn rep_message(&self, db: &Database, row: RepRow) -> Result<Rep, Error> {
        let day = app::business_day(self.now());
        let (received, claimed) = days::received(db, &row.person_id, &day).await?;
        let private = private_pools::size(db, &row.person_id).await?;
        Ok(convert::rep(row, private, received, claimed))
    }

    /// Runs a status change and answers with the rep.
    async fn change_status(
        &self,
        principal: &Principal,
        person_id: &str,
        from: &[RepStatus],
        to: RepStatus,
        reason: &str,
    ) -> Result<Rep, Error> {
        let db = self.db.get()?;
        scope::person(db, principal, person_id).await?;
        let person_id = parse_person_id(person_id)?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let row = use_case::change_status(&mut tx, now, principal, &person_id, from, to, reason).await?;
        tx.commit().await?;
        self.rep_message(db, row).await
    }
}

fn parse_person_id(raw: &str) -> Result<PersonId, Error> {
    rules::person_id(raw).map_err(|e| Error::invalid("person_id", e))
}

#[tiejun_platform::grpc_service(RepService)]
impl Leads {
    async fn register_rep(&self, principal: &Principal, r: &RegisterRepRequest) -> Result<RegisterRepResponse, Error> {
        let db = self.db.get()?;
        scope::team(principal, &r.team)?;
        scope::person(db, principal, &r.person_id).await?;
        let new = NewRep::parse(r)?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let row = use_case::register(&mut tx, now, principal, &new).await?;
        tx.commit().await?;
        Ok(RegisterRepResponse {
            rep: Some(self.rep_message(db, row).await?),
        })
    }

    async fn get_rep(&self, principal: &Principal, r: &GetRepRequest) -> Result<GetRepResponse, Error> {
        let db = self.db.get()?;
        scope::person(db, principal, &r.person_id).await?;
        let person_id = parse_person_id(&r.person_id)?;
        let row = reps::get(db, &person_id)
            .await?
            .ok_or_else(|| Error::missing(&person_id))?;
        access::may_manage(principal, &row.team)?;
        Ok(GetRepResponse {
            rep: Some(self.rep_message(db, row).await?),
        })
    }

    async fn list_reps(&self, principal: &Principal, r: &ListRepsRequest) -> Result<ListRepsResponse, Error> {
        scope::team(principal, &r.team)?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let status = match RepStatus::try_from(r.status) {
            Ok(RepStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => return Err(Error::invalid("status", "unknown status")),
        };
        let mut team = r.team.trim().to_owned();
        if let Some(mine) = access::managed_team(principal) {
            if team.is_empty() {
                team = mine.to_owned();
            }
            access::may_manage(principal, &team)?;
        }
        let filter = RepFilter {
            team,
            city: r.city.trim().to_owned(),
            status,
        };
        let db = self.db.get()?;
        let mut rows = reps::list(db, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.rep_message(db, row).await?);
        }
        Ok(ListRepsResponse {
            reps: out,
            next_page_token,
        })
    }

    async fn set_rep_quota(&self, principal: &Principal, r: &SetRepQuotaRequest) -> Result<SetRepQuotaResponse, Error> {
        let db = self.db.get()?;
        scope::person(db, principal, &r.person_id).await?;
        let person_id = parse_person_id(&r.person_id)?;
        let quota = rules::quota(r.daily_quota).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let row = use_case::set_quota(&mut tx, now, principal, &person_id, quota).await?;
        tx.commit().await?;
        Ok(SetRepQuotaResponse {
            rep: Some(self.rep_message(db, row).await?),
        })
    }

    async fn activate_rep(&self, principal: &Principal, r: &ActivateRepRequest) -> Result<ActivateRepResponse, Error> {
        let reason = match r.reason.trim() {
            "" => "activated by hand",
            reason => reason,
        };
        let rep = self
            .change_status(
                principal,
                &r.person_id,
                &[RepStatus::Onboarding],
                RepStatus::Active,
                reason,
            )
            .await?;
        Ok(ActivateRepResponse { rep: Some(rep) })
    }

    async fn suspend_rep(&self, principal: &Principal, r: &SuspendRepRequest) -> Result<SuspendRepResponse, Error> {
        scope::person(self.db.get()?, principal, &r.person_id).await?;
        let to = match SuspensionKind::try_from(r.kind) {
            Ok(SuspensionKind::Paused) => RepStatus::Paused,
            Ok(SuspensionKind::OnLeave) => RepStatus::OnLeave,
            _ => return Err(Error::invalid("kind", "must be PAUSED or ON_LEAVE")),
        };
        let rep = self
            .change_status(principal, &r.person_id, allowed_from(to), to, r.reason.trim())
            .await?;
        Ok(SuspendRepResponse { rep: Some(rep) })
    }

    async fn resume_rep(&self, principal: &Principal, r: &ResumeRepRequest) -> Result<ResumeRepResponse, Error> {
        let rep = self
            .change_status(
                principal,
                &r.person_id,
                &[RepStatus::Paused, RepStatus::OnLeave],
                RepStatus::Active,
                "resumed",
            )
            .await?;
        Ok(ResumeRepResponse { rep: Some(rep) })
    }

    async fn depart_rep(&self, principal: &Principal, r: &DepartRepRequest) -> Result<DepartRepResponse, Error> {
        let db = self.db.get()?;
        scope::person(db, principal, &r.person_id).await?;
        let person_id = parse_person_id(&r.person_id)?;
        let now = self.now();
        let mut tx = db.begin().await?;
        let (row, returned) = use_case::depart(&mut tx, now, principal, &person_id, r.reason.trim()).await?;
        tx.commit().await?;
        Ok(DepartRepResponse {
            rep: Some(self.rep_message(db, row).await?),
            leads_returned: i32::try_from(returned).unwrap_or(i32::MAX),
        })
    }
}
