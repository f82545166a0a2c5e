//! `tiejun.leads.v1.RepService`: hiring, quota, availability, departure.

use tiejun_platform::{
    auth::Principal,
    clock::{DEFAULT_ZONE, business_day, business_day_start},
    db::Database,
    error::Error,
    outbox,
    paging::Page,
};
use tiejun_proto::{
    events::v1::{RepHired, event_envelope::Payload},
    leads::v1::{
        ActivateRepRequest, ActivateRepResponse, DepartRepRequest, DepartRepResponse, GetRepRequest, GetRepResponse,
        ListRepsRequest, ListRepsResponse, RegisterRepRequest, RegisterRepResponse, Rep, RepStatus, ResumeRepRequest,
        ResumeRepResponse, SetRepQuotaRequest, SetRepQuotaResponse, SuspendRepRequest, SuspendRepResponse,
        SuspensionKind, TransitionRule, rep_service_server::RepService,
    },
};
use tonic::{Request, Response, Status};

use super::{Leads, PRODUCER, access};
use crate::convert;
use crate::{
    domain::rep::{self as rules, NewRep, status_from_name},
    store::{
        history,
        holding::{self, Release},
        leads,
        reps::{self, Inserted, RepFilter, RepRow},
    },
};

impl Leads {
    /// A rep as a message, with its live counts.
    async fn rep_message(&self, db: &Database, row: RepRow) -> Result<Rep, Error> {
        let day_start = business_day_start(business_day(self.clock.now(), DEFAULT_ZONE), DEFAULT_ZONE);
        let (received, claimed) = history::received_since(db, &row.person_id, day_start).await?;
        let private = row.private_count;
        Ok(convert::rep(row, private, received, claimed))
    }

    /// Moves a rep to `to` if its status is one of `from` (already `to`: no change).
    async fn transition(
        &self,
        principal: &Principal,
        person_id: &str,
        from: &[RepStatus],
        to: RepStatus,
        reason: &str,
    ) -> Result<Rep, Error> {
        let person_id = parse_person_id(person_id)?;
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let current = reps::get_for_update(&mut tx, &person_id)
            .await?
            .ok_or_else(|| Error::not_found("rep", &person_id))?;
        access::may_manage(principal, &current.team)?;
        let status = status_from_name(&current.status);
        let row = if status == to {
            current
        } else if from.contains(&status) {
            let row = reps::set_status(&mut tx, &person_id, &current.status, to, reason, self.clock.now()).await?;
            tx.commit().await?;
            row
        } else {
            return Err(Error::precondition(
                "REP_STATUS_TRANSITION",
                format!(
                    "a {} rep cannot become {}",
                    rules::status_name(status),
                    rules::status_name(to)
                ),
            ));
        };
        self.rep_message(db, row).await
    }
}

fn parse_person_id(raw: &str) -> Result<String, Error> {
    rules::person_id(raw).map_err(|e| Error::invalid("person_id", e))
}

#[tonic::async_trait]
impl RepService for Leads {
    async fn register_rep(
        &self,
        request: Request<RegisterRepRequest>,
    ) -> Result<Response<RegisterRepResponse>, Status> {
        let new = NewRep::parse(request.get_ref())?;
        access::may_manage(Principal::of(&request)?, &new.team)?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let row = match reps::insert(&mut tx, &new, now).await? {
            Inserted::Created(row) => {
                let event = RepHired {
                    person_id: row.person_id.clone(),
                    name: row.name.clone(),
                    team: row.team.clone(),
                    city: row.city.clone(),
                    hired_at: Some(tiejun_platform::clock::to_proto(now)),
                };
                outbox::append(&mut tx, PRODUCER, &row.person_id, Payload::RepHired(event), now).await?;
                tx.commit().await?;
                tracing::info!(person_id = %row.person_id, team = %row.team, "rep registered");
                row
            }
            Inserted::Existing(row) => row,
        };
        Ok(Response::new(RegisterRepResponse {
            rep: Some(self.rep_message(db, row).await?),
        }))
    }

    async fn get_rep(&self, request: Request<GetRepRequest>) -> Result<Response<GetRepResponse>, Status> {
        let principal = Principal::of(&request)?;
        let person_id = parse_person_id(&request.get_ref().person_id)?;
        if !principal.has_any(&[tiejun_platform::auth::Role::Service]) {
            access::may_act_as(principal, &person_id)?;
        }
        let db = self.db.get()?;
        let row = reps::get(db, &person_id)
            .await?
            .ok_or_else(|| Error::not_found("rep", &person_id))?;
        access::may_manage(principal, &row.team)?;
        Ok(Response::new(GetRepResponse {
            rep: Some(self.rep_message(db, row).await?),
        }))
    }

    async fn list_reps(&self, request: Request<ListRepsRequest>) -> Result<Response<ListRepsResponse>, Status> {
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let status = match RepStatus::try_from(r.status) {
            Ok(RepStatus::Unspecified) => None,
            Ok(status) => Some(status),
            Err(_) => return Err(Error::invalid("status", "unknown status").into()),
        };
        let mut team = r.team.trim().to_owned();
        if let Some(mine) = access::managed_team(Principal::of(&request)?) {
            if team.is_empty() {
                team = mine.to_owned();
            }
            access::may_manage(Principal::of(&request)?, &team)?;
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
        Ok(Response::new(ListRepsResponse {
            reps: out,
            next_page_token,
        }))
    }

    async fn set_rep_quota(
        &self,
        request: Request<SetRepQuotaRequest>,
    ) -> Result<Response<SetRepQuotaResponse>, Status> {
        let r = request.get_ref();
        let person_id = parse_person_id(&r.person_id)?;
        let quota = rules::quota(r.daily_quota).map_err(|v| Error::InvalidArgument(vec![v]))?;
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        let current = reps::get_for_update(&mut tx, &person_id)
            .await?
            .ok_or_else(|| Error::not_found("rep", &person_id))?;
        access::may_manage(Principal::of(&request)?, &current.team)?;
        let row = reps::set_quota(&mut tx, &person_id, quota, self.clock.now())
            .await?
            .ok_or_else(|| Error::not_found("rep", &person_id))?;
        tx.commit().await?;
        Ok(Response::new(SetRepQuotaResponse {
            rep: Some(self.rep_message(db, row).await?),
        }))
    }

    async fn activate_rep(
        &self,
        request: Request<ActivateRepRequest>,
    ) -> Result<Response<ActivateRepResponse>, Status> {
        let r = request.get_ref();
        let reason = if r.reason.trim().is_empty() {
            "activated by hand"
        } else {
            r.reason.trim()
        };
        let rep = self
            .transition(
                Principal::of(&request)?,
                &r.person_id,
                &[RepStatus::Onboarding],
                RepStatus::Active,
                reason,
            )
            .await?;
        Ok(Response::new(ActivateRepResponse { rep: Some(rep) }))
    }

    async fn suspend_rep(&self, request: Request<SuspendRepRequest>) -> Result<Response<SuspendRepResponse>, Status> {
        let r = request.get_ref();
        let to = match SuspensionKind::try_from(r.kind) {
            Ok(SuspensionKind::Paused) => RepStatus::Paused,
            Ok(SuspensionKind::OnLeave) => RepStatus::OnLeave,
            _ => return Err(Error::invalid("kind", "must be PAUSED or ON_LEAVE").into()),
        };
        let rep = self
            .transition(
                Principal::of(&request)?,
                &r.person_id,
                rules::allowed_from(to),
                to,
                r.reason.trim(),
            )
            .await?;
        Ok(Response::new(SuspendRepResponse { rep: Some(rep) }))
    }

    async fn resume_rep(&self, request: Request<ResumeRepRequest>) -> Result<Response<ResumeRepResponse>, Status> {
        let r = request.get_ref();
        let rep = self
            .transition(
                Principal::of(&request)?,
                &r.person_id,
                &[RepStatus::Paused, RepStatus::OnLeave],
                RepStatus::Active,
                "resumed",
            )
            .await?;
        Ok(Response::new(ResumeRepResponse { rep: Some(rep) }))
    }

    async fn depart_rep(&self, request: Request<DepartRepRequest>) -> Result<Response<DepartRepResponse>, Status> {
        let principal = Principal::of(&request)?;
        let actor = principal.subject.clone();
        let r = request.get_ref();
        let person_id = parse_person_id(&r.person_id)?;
        let reason = r.reason.trim();
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let current = reps::get_for_update(&mut tx, &person_id)
            .await?
            .ok_or_else(|| Error::not_found("rep", &person_id))?;
        access::may_manage(principal, &current.team)?;
        if status_from_name(&current.status) == RepStatus::Departed {
            let rep = self.rep_message(db, current).await?;
            return Ok(Response::new(DepartRepResponse {
                rep: Some(rep),
                leads_returned: 0,
            }));
        }
        // Every held lead goes back to the pool, first in line, in this one transaction.
        let held = leads::held_by_for_update(&mut tx, &person_id).await?;
        for (lead_id, from_state) in &held {
            let release = Release {
                lead_id,
                owner: &person_id,
                from: convert::lead_state(from_state),
                rule: TransitionRule::OwnerDeparted,
                reason,
                actor: &actor,
                cooldown: false,
                priority: 1,
            };
            holding::release(&mut tx, &release, now).await?;
        }
        let returned = held.len();
        let row = reps::set_status(&mut tx, &person_id, &current.status, RepStatus::Departed, reason, now).await?;
        tx.commit().await?;
        tracing::info!(%person_id, leads_returned = returned, "rep departed");
        let rep = self.rep_message(db, row).await?;
        Ok(Response::new(DepartRepResponse {
            rep: Some(rep),
            leads_returned: i32::try_from(returned).unwrap_or(i32::MAX),
        }))
    }
}
