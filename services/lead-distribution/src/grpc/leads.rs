//! `tiejun.leads.v1.LeadService`: each RPC decodes its request, authorises
//! the caller, runs one use case (`crate::app`) in one transaction, and
//! encodes the answer. Reads call the store directly.

use crate::domain::ids::{LeadId, PersonId, RunId};
use std::collections::HashSet;
use tiejun_platform::stored::Stored as _;

use tiejun_platform::{
    auth::Principal,
    clock,
    db::Database,
    error::Error,
    idempotency::{self, Key},
    paging::Page,
};
use tiejun_proto::leads::v1::{
    ClaimLeadRequest, ClaimLeadResponse, CloseLeadRequest, CloseLeadResponse, ConvertLeadRequest, ConvertLeadResponse,
    CreateLeadRequest, CreateLeadResponse, DistributionTrigger, FollowUpKind, GetDistributionRunRequest,
    GetDistributionRunResponse, GetLeadRequest, GetLeadResponse, ImportLeadsRequest, ImportLeadsResponse,
    ImportRowResult, KeepPrivateRequest, KeepPrivateResponse, LeadKind, LeadState, ListDistributionRunsRequest,
    ListDistributionRunsResponse, ListLeadHistoryRequest, ListLeadHistoryResponse, ListLeadsRequest, ListLeadsResponse,
    ReassignLeadRequest, ReassignLeadResponse, RecordFollowUpRequest, RecordFollowUpResponse, ReleaseLeadRequest,
    ReleaseLeadResponse, RunDistributionRequest, RunDistributionResponse, RunReclaimSweepRequest,
    RunReclaimSweepResponse, WatchRepEventsRequest, WatchRepEventsResponse, lead_service_server::LeadService,
};
use tonic::{Request, Status, Streaming, codegen::BoxStream};

use super::Leads;
use crate::{
    app::{self, follow_up, keep_private, release, scope},
    convert,
    domain::{
        access,
        lead::{NewLead, text},
        rep::person_id,
    },
    store::{history, leads, leads::LeadFilter, reps, runs},
};

/// The most rows one ImportLeads stream may carry.
const MAX_IMPORT_ROWS: usize = 100_000;

impl Leads {
    /// The reps of a team-limited manager's team (`None`: not limited).
    pub(super) async fn team_members(
        &self,
        db: &Database,
        principal: &Principal,
    ) -> Result<Option<HashSet<PersonId>>, Error> {
        let Some(team) = access::managed_team(principal) else {
            return Ok(None);
        };
        let filter = reps::RepFilter {
            team: team.to_owned(),
            ..Default::default()
        };
        let all = Page {
            size: 100_000,
            offset: 0,
        };
        let rows = reps::list(db, &filter, &all).await?;
        Ok(Some(rows.into_iter().map(|r| r.person_id).collect()))
    }
}

fn row_result(row: i64, outcome: Result<CreateLeadResponse, Error>) -> ImportRowResult {
    match outcome {
        Ok(response) => ImportRowResult {
            row,
            lead_id: response.lead.map(|l| l.lead_id).unwrap_or_default(),
            ..Default::default()
        },
        Err(err) => {
            let existing_lead_id = match &err {
                Error::AlreadyExists { existing_id, .. } => existing_id.clone(),
                _ => String::new(),
            };
            let code = Status::from(err);
            ImportRowResult {
                row,
                error_code: code_name(code.code()),
                error_message: code.message().to_owned(),
                existing_lead_id,
                ..Default::default()
            }
        }
    }
}

/// The canonical name of a gRPC code: `AlreadyExists` → `ALREADY_EXISTS`.
fn code_name(code: tonic::Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}

fn business_day_field(field: &str, raw: &str) -> Result<Option<chrono::NaiveDate>, Error> {
    match raw.trim() {
        "" => Ok(None),
        raw => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| Error::invalid(field, "must be YYYY-MM-DD")),
    }
}

#[tiejun_platform::grpc_service(LeadService)]
impl Leads {
    async fn create_lead(&self, principal: &Principal, r: &CreateLeadRequest) -> Result<CreateLeadResponse, Error> {
        let input = r.lead.as_ref().ok_or_else(|| Error::invalid("lead", "is required"))?;
        let new = NewLead::parse(input, "lead.")?;
        let key = Key::of(&principal.subject, "CreateLead", &r.idempotency_key, r)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let row = app::intake::create(tx, now, &principal.subject, &new).await?;
            Ok(CreateLeadResponse {
                lead: Some(convert::lead(row, false)),
            })
        })
        .await
    }

    async fn import_leads(
        &self,
        request: Request<Streaming<ImportLeadsRequest>>,
    ) -> Result<ImportLeadsResponse, Error> {
        let actor = Principal::of(&request)?.subject.clone();
        let db = self.db.get()?;
        let mut stream = request.into_inner();
        let mut response = ImportLeadsResponse::default();
        while let Some(row) = stream.message().await.map_err(Error::ClientStream)? {
            if response.results.len() >= MAX_IMPORT_ROWS {
                return Err(Error::ResourceExhausted {
                    message: format!("at most {MAX_IMPORT_ROWS} rows per import; split the file"),
                    retry_after: std::time::Duration::ZERO,
                });
            }
            let now = self.now();
            let outcome = match row.lead.as_ref() {
                None => Err(Error::invalid("lead", "is required")),
                Some(input) => match NewLead::parse(input, "lead.") {
                    Ok(new) => {
                        idempotency::transact(db, None, now, async |tx| {
                            let row = app::intake::create(tx, now, &actor, &new).await?;
                            Ok(CreateLeadResponse {
                                lead: Some(convert::lead(row, false)),
                            })
                        })
                        .await
                    }
                    Err(err) => Err(err),
                },
            };
            let result = row_result(row.row, outcome);
            if result.lead_id.is_empty() {
                response.refused += 1;
            } else {
                response.created += 1;
            }
            response.results.push(result);
        }
        tracing::info!(
            created = response.created,
            refused = response.refused,
            "import finished"
        );
        Ok(response)
    }

    async fn get_lead(&self, principal: &Principal, r: &GetLeadRequest) -> Result<GetLeadResponse, Error> {
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let db = self.db.get()?;
        let row = leads::get(db, &lead_id)
            .await?
            .ok_or_else(|| Error::missing(&lead_id))?;
        let members = self.team_members(db, principal).await?;
        let reveal = access::reveal(
            principal,
            row.state == LeadState::Pool,
            row.owner_person_id.as_ref(),
            members.as_ref(),
        )?;
        Ok(GetLeadResponse {
            lead: Some(convert::lead(row, reveal)),
        })
    }

    async fn list_leads(&self, principal: &Principal, r: &ListLeadsRequest) -> Result<ListLeadsResponse, Error> {
        let db = self.db.get()?;
        scope::person(db, principal, &r.owner_person_id).await?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let state = LeadState::try_from(r.state).map_err(|_| Error::invalid("state", "unknown state"))?;
        let kind = LeadKind::try_from(r.kind).map_err(|_| Error::invalid("kind", "unknown kind"))?;
        let mut owner = r.owner_person_id.trim().to_owned();
        if !access::is_staff(principal) && state != LeadState::Pool {
            // A rep lists the pool, or their own leads.
            let own = access::own_rep_id(principal)?;
            if owner.is_empty() {
                owner = own.into();
            } else if owner != own {
                return Err(Error::PermissionDenied(
                    "a rep may only list their own leads and the pool".into(),
                ));
            }
        }
        let filter = LeadFilter {
            state: if state == LeadState::Unspecified {
                String::new()
            } else {
                state.stored().to_owned()
            },
            owner_person_id: owner,
            city: r.city.trim().to_owned(),
            kind: if kind == LeadKind::Unspecified {
                String::new()
            } else {
                kind.stored().to_owned()
            },
            account_id: r.account_id.trim().to_owned(),
        };
        let members = self.team_members(db, principal).await?;
        let mut rows = leads::list(db, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        let leads = rows
            .into_iter()
            .filter_map(|row| {
                access::reveal(
                    principal,
                    row.state == LeadState::Pool,
                    row.owner_person_id.as_ref(),
                    members.as_ref(),
                )
                .ok()
                .map(|reveal| convert::lead(row, reveal))
            })
            .collect();
        Ok(ListLeadsResponse { leads, next_page_token })
    }

    async fn run_distribution(
        &self,
        principal: &Principal,
        r: &RunDistributionRequest,
    ) -> Result<RunDistributionResponse, Error> {
        let now = self.now();
        let today = app::business_day(now);
        if let Some(day) = business_day_field("business_day", &r.business_day)?
            && day.to_string() != today
        {
            return Err(Error::invalid(
                "business_day",
                format!("only today's distribution ({today}) can run"),
            ));
        }
        let run = idempotency::transact(self.db.get()?, None, now, async |tx| {
            let run = app::distribute::run(tx, now, DistributionTrigger::OnDemand, &principal.subject).await?;
            Ok(RunDistributionResponse {
                run_id: run.run_id.into(),
                business_day: run.business_day,
                rotation_seed: run.seed,
                reps_served: run.reps_served,
                leads_assigned: run.leads_assigned,
                reps_short: run.reps_short,
            })
        })
        .await?;
        tracing::info!(run_id = %run.run_id, day = %run.business_day, assigned = run.leads_assigned, "distribution ran");
        Ok(run)
    }

    async fn claim_lead(&self, principal: &Principal, r: &ClaimLeadRequest) -> Result<ClaimLeadResponse, Error> {
        let me = access::own_rep_id(principal)?;
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let key = Key::of(&me, "ClaimLead", &r.idempotency_key, r)?;
        let now = self.now();
        idempotency::write(self.db.get()?, key.as_ref(), now, async |w| {
            let claimed = app::claim::run(w, now, principal, &lead_id).await?;
            Ok(ClaimLeadResponse {
                lead: Some(convert::lead(claimed.lead, true)),
                claims_left_today: claimed.claims_left,
            })
        })
        .await
    }

    async fn record_follow_up(
        &self,
        principal: &Principal,
        r: &RecordFollowUpRequest,
    ) -> Result<RecordFollowUpResponse, Error> {
        let now = self.now();
        let input = follow_up::Input {
            lead_id: LeadId::required("lead_id", &r.lead_id)?,
            kind: match FollowUpKind::try_from(r.kind) {
                Ok(FollowUpKind::Unspecified) | Err(_) => {
                    return Err(Error::invalid("kind", "CALL, VISIT, MEETING or NOTE"));
                }
                Ok(kind) => kind,
            },
            notes: text(&r.notes, 0, 2000).map_err(|e| Error::invalid("notes", e))?,
            occurred_at: clock::instant("occurred_at", r.occurred_at.as_ref())?.unwrap_or(now),
        };
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = follow_up::run(tx, now, principal, &input).await?;
            Ok(RecordFollowUpResponse {
                lead: Some(convert::lead(row, true)),
            })
        })
        .await
    }

    async fn keep_private(&self, principal: &Principal, r: &KeepPrivateRequest) -> Result<KeepPrivateResponse, Error> {
        let input = keep_private::Input::parse(&r.lead_id, &r.release_lead_ids, &r.release_reason)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let kept = keep_private::run(tx, now, principal, &input).await?;
            Ok(KeepPrivateResponse {
                lead: Some(convert::lead(kept.lead, true)),
                released_lead_ids: kept.released.into_iter().map(String::from).collect(),
                private_pool_size: kept.pool_size,
            })
        })
        .await
    }

    async fn release_lead(&self, principal: &Principal, r: &ReleaseLeadRequest) -> Result<ReleaseLeadResponse, Error> {
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let reason = release::reason("reason", &r.reason)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = release::run(tx, now, principal, &lead_id, &reason).await?;
            Ok(ReleaseLeadResponse {
                lead: Some(convert::lead(row, false)),
            })
        })
        .await
    }

    async fn convert_lead(&self, principal: &Principal, r: &ConvertLeadRequest) -> Result<ConvertLeadResponse, Error> {
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let notes = text(&r.notes, 0, 2000).map_err(|e| Error::invalid("notes", e))?;
        let key = Key::of(&principal.subject, "ConvertLead", &r.idempotency_key, r)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, key.as_ref(), now, async |tx| {
            let row = app::resolve::convert(tx, now, principal, &lead_id, &notes).await?;
            Ok(ConvertLeadResponse {
                lead: Some(convert::lead(row, true)),
            })
        })
        .await
    }

    async fn close_lead(&self, principal: &Principal, r: &CloseLeadRequest) -> Result<CloseLeadResponse, Error> {
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let reason = release::reason("reason", &r.reason)?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::resolve::close(tx, now, principal, &lead_id, &reason).await?;
            Ok(CloseLeadResponse {
                lead: Some(convert::lead(row, true)),
            })
        })
        .await
    }

    async fn reassign_lead(
        &self,
        principal: &Principal,
        r: &ReassignLeadRequest,
    ) -> Result<ReassignLeadResponse, Error> {
        scope::person(self.db.get()?, principal, &r.to_person_id).await?;
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let reason = release::reason("reason", &r.reason)?;
        let to = person_id(&r.to_person_id).map_err(|e| Error::invalid("to_person_id", e))?;
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let row = app::reassign::run(tx, now, principal, &lead_id, &to, &reason).await?;
            Ok(ReassignLeadResponse {
                lead: Some(convert::lead(row, true)),
            })
        })
        .await
    }

    async fn run_reclaim_sweep(
        &self,
        principal: &Principal,
        _r: &RunReclaimSweepRequest,
    ) -> Result<RunReclaimSweepResponse, Error> {
        let now = self.now();
        idempotency::transact(self.db.get()?, None, now, async |tx| {
            let s = app::sweep::run(tx, now, &principal.subject, &self.instance).await?;
            Ok(RunReclaimSweepResponse {
                warnings_sent: s.warnings_sent,
                leads_reclaimed: s.leads_reclaimed,
                leads_reassigned: s.leads_reassigned,
                leads_pooled: s.leads_pooled,
                leads_reassigned_same_city: s.leads_same_city,
            })
        })
        .await
    }

    async fn list_distribution_runs(
        &self,
        r: &ListDistributionRunsRequest,
    ) -> Result<ListDistributionRunsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let day = business_day_field("business_day", &r.business_day)?.map(|d| d.to_string());
        let db = self.db.get()?;
        let mut rows = runs::list(db, day.as_deref().unwrap_or(""), &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListDistributionRunsResponse {
            runs: rows.into_iter().map(|row| convert::run(row, Vec::new())).collect(),
            next_page_token,
        })
    }

    async fn get_distribution_run(
        &self,
        principal: &Principal,
        r: &GetDistributionRunRequest,
    ) -> Result<GetDistributionRunResponse, Error> {
        let run_id = RunId::required("run_id", &r.run_id)?;
        let db = self.db.get()?;
        let row = runs::get(db, &run_id).await?.ok_or_else(|| Error::missing(&run_id))?;
        let mut shares = runs::shares(db, &run_id).await?;
        if let Some(team) = access::managed_team(principal) {
            shares.retain(|s| s.team == team);
        }
        Ok(GetDistributionRunResponse {
            run: Some(convert::run(row, shares)),
        })
    }

    async fn list_lead_history(
        &self,
        principal: &Principal,
        r: &ListLeadHistoryRequest,
    ) -> Result<ListLeadHistoryResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let lead_id = LeadId::required("lead_id", &r.lead_id)?;
        let row = leads::get(db, &lead_id)
            .await?
            .ok_or_else(|| Error::missing(&lead_id))?;
        if !access::is_staff(principal) && row.owner_person_id != Some(access::own_rep_id(principal)?) {
            return Err(Error::PermissionDenied(
                "only the owner and staff see a lead's history".into(),
            ));
        }
        let mut rows = history::list(db, &lead_id, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListLeadHistoryResponse {
            entries: rows.into_iter().map(convert::history).collect(),
            next_page_token,
        })
    }

    async fn watch_rep_events(
        &self,
        principal: &Principal,
        r: &WatchRepEventsRequest,
    ) -> Result<BoxStream<WatchRepEventsResponse>, Error> {
        self.watch_rpc(principal, r).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_names_are_canonical() {
        assert_eq!(super::code_name(tonic::Code::AlreadyExists), "ALREADY_EXISTS");
        assert_eq!(super::code_name(tonic::Code::InvalidArgument), "INVALID_ARGUMENT");
    }
}
