//! Intake (single and streamed), reading and listing leads with masking, and
//! lead history.

use std::collections::HashSet;

use tiejun_platform::{
    auth::Principal,
    db::Database,
    error::{Error, is_unique_violation},
    idempotency,
    paging::Page,
};
use tiejun_proto::leads::v1::{
    CreateLeadRequest, CreateLeadResponse, GetLeadRequest, GetLeadResponse, ImportLeadsRequest, ImportLeadsResponse,
    ImportRowResult, LeadKind, LeadState, ListLeadHistoryRequest, ListLeadHistoryResponse, ListLeadsRequest,
    ListLeadsResponse, TransitionRule,
};
use tonic::{Request, Response, Status, Streaming};

use super::{Leads, access};
use crate::convert;
use crate::{
    domain::lead::NewLead,
    store::{
        history::{self, Transition},
        leads::{self, Duplicate, LeadFilter, LeadRow},
        reps::{self, RepFilter},
    },
};

/// The most rows one ImportLeads stream may carry.
const MAX_IMPORT_ROWS: usize = 100_000;

fn already_exists(d: Duplicate) -> Error {
    Error::AlreadyExists {
        resource: "lead",
        message: format!("a lead with {} exists", d.matched),
        existing_id: d.lead_id,
    }
}

/// Whether the caller sees the lead, and with its contact data or masked:
/// pool leads are masked for everyone; a held lead is revealed to its owner,
/// to admins and operators, and to managers of the owner's team
/// (`team_members`: the reps of a team-limited manager's team); another
/// rep's lead is refused.
pub(super) fn view(
    principal: &Principal,
    row: &LeadRow,
    team_members: Option<&HashSet<String>>,
) -> Result<bool, Error> {
    if row.state == convert::lead_state_name(LeadState::Pool) {
        return Ok(false);
    }
    if access::is_staff(principal) {
        return Ok(match (team_members, row.owner_person_id.as_deref()) {
            (Some(members), Some(owner)) => members.contains(owner),
            (Some(_), None) => false,
            (None, _) => true,
        });
    }
    match row.owner_person_id.as_deref() {
        Some(owner) if owner == access::own_rep_id(principal)? => Ok(true),
        Some(_) => Err(Error::PermissionDenied("this lead belongs to another rep".into())),
        None => Ok(false),
    }
}

impl Leads {
    /// The reps of a team-limited manager's team (`None`: not limited).
    pub(super) async fn team_members(
        &self,
        db: &Database,
        principal: &Principal,
    ) -> Result<Option<HashSet<String>>, Error> {
        let Some(team) = access::managed_team(principal) else {
            return Ok(None);
        };
        let filter = RepFilter {
            team: team.to_owned(),
            ..Default::default()
        };
        let rows = reps::list(
            db,
            &filter,
            &Page {
                size: 100_000,
                offset: 0,
            },
        )
        .await?;
        Ok(Some(rows.into_iter().map(|r| r.person_id).collect()))
    }

    /// Creates one lead: duplicate check, insert, history, idempotency record,
    /// all in one transaction.
    async fn intake(
        &self,
        db: &Database,
        actor: &str,
        new: &NewLead,
        key: Option<&idempotency::Key>,
    ) -> Result<CreateLeadResponse, Error> {
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        if let Some(key) = key
            && let Some(first) = key.replay(&mut tx, now).await?
        {
            return Ok(first);
        }
        if let Some(d) = leads::find_duplicate_in(&mut tx, new).await? {
            return Err(already_exists(d));
        }
        let lead_id = uuid::Uuid::now_v7().to_string();
        let row = match leads::insert_new_business(&mut tx, &lead_id, new, now).await {
            Ok(row) => row,
            Err(err) if is_unique_violation(&err) => {
                // Lost a race with a concurrent intake of the same lead.
                drop(tx);
                let d = leads::find_duplicate(db, new)
                    .await?
                    .ok_or_else(|| Error::Aborted("duplicate vanished; retry".into()))?;
                return Err(already_exists(d));
            }
            Err(err) => return Err(err.into()),
        };
        let transition = Transition {
            lead_id: &lead_id,
            actor,
            from_state: None,
            to_state: convert::lead_state_name(LeadState::Pool),
            rule: convert::rule_name(TransitionRule::Intake),
            ..Transition::default()
        };
        history::append(&mut tx, &transition, now).await?;
        let response = CreateLeadResponse {
            lead: Some(convert::lead(row, false)),
        };
        if let Some(key) = key {
            key.record(&mut tx, &response).await?;
        }
        tx.commit().await?;
        Ok(response)
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
            let code = tonic::Status::from(err);
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

impl Leads {
    pub(super) async fn create_lead_rpc(
        &self,
        request: Request<CreateLeadRequest>,
    ) -> Result<Response<CreateLeadResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let input = r.lead.as_ref().ok_or_else(|| Error::invalid("lead", "is required"))?;
        let new = NewLead::parse(input, "lead.")?;
        let key = idempotency::Key::of(&principal.subject, "CreateLead", &r.idempotency_key, r)?;
        let db = self.db.get()?;
        let response = self.intake(db, &principal.subject, &new, key.as_ref()).await?;
        Ok(Response::new(response))
    }

    pub(super) async fn import_leads_rpc(
        &self,
        request: Request<Streaming<ImportLeadsRequest>>,
    ) -> Result<Response<ImportLeadsResponse>, Status> {
        let actor = Principal::of(&request)?.subject.clone();
        let db = self.db.get()?;
        let mut stream = request.into_inner();
        let mut response = ImportLeadsResponse::default();
        while let Some(row) = stream.message().await? {
            if response.results.len() >= MAX_IMPORT_ROWS {
                return Err(Error::ResourceExhausted {
                    message: format!("at most {MAX_IMPORT_ROWS} rows per import; split the file"),
                    retry_after: std::time::Duration::ZERO,
                }
                .into());
            }
            let outcome = match row.lead.as_ref() {
                None => Err(Error::invalid("lead", "is required")),
                Some(input) => match NewLead::parse(input, "lead.") {
                    Ok(new) => self.intake(db, &actor, &new, None).await,
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
        Ok(Response::new(response))
    }

    pub(super) async fn get_lead_rpc(
        &self,
        request: Request<GetLeadRequest>,
    ) -> Result<Response<GetLeadResponse>, Status> {
        let principal = Principal::of(&request)?;
        let lead_id = request.get_ref().lead_id.trim();
        if lead_id.is_empty() {
            return Err(Error::invalid("lead_id", "is required").into());
        }
        let db = self.db.get()?;
        let row = leads::get(db, lead_id)
            .await?
            .ok_or_else(|| Error::not_found("lead", lead_id))?;
        let members = self.team_members(db, principal).await?;
        let reveal = view(principal, &row, members.as_ref())?;
        Ok(Response::new(GetLeadResponse {
            lead: Some(convert::lead(row, reveal)),
        }))
    }

    pub(super) async fn list_leads_rpc(
        &self,
        request: Request<ListLeadsRequest>,
    ) -> Result<Response<ListLeadsResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let state = LeadState::try_from(r.state).map_err(|_| Error::invalid("state", "unknown state"))?;
        let kind = LeadKind::try_from(r.kind).map_err(|_| Error::invalid("kind", "unknown kind"))?;
        let mut owner = r.owner_person_id.trim().to_owned();
        if !access::is_staff(principal) && state != LeadState::Pool {
            // A rep lists the pool, or their own leads.
            let own = access::own_rep_id(principal)?;
            if owner.is_empty() {
                owner = own.to_owned();
            } else if owner != own {
                return Err(Error::PermissionDenied("a rep may only list their own leads and the pool".into()).into());
            }
        }
        let filter = LeadFilter {
            state: if state == LeadState::Unspecified {
                String::new()
            } else {
                convert::lead_state_name(state).to_owned()
            },
            owner_person_id: owner,
            city: r.city.trim().to_owned(),
            kind: if kind == LeadKind::Unspecified {
                String::new()
            } else {
                convert::lead_kind_name(kind).to_owned()
            },
        };
        let db = self.db.get()?;
        let members = self.team_members(db, principal).await?;
        let mut rows = leads::list(db, &filter, &page).await?;
        let next_page_token = page.finish(&mut rows);
        let leads = rows
            .into_iter()
            .filter_map(|row| {
                view(principal, &row, members.as_ref())
                    .ok()
                    .map(|reveal| convert::lead(row, reveal))
            })
            .collect();
        Ok(Response::new(ListLeadsResponse { leads, next_page_token }))
    }

    pub(super) async fn list_lead_history_rpc(
        &self,
        request: Request<ListLeadHistoryRequest>,
    ) -> Result<Response<ListLeadHistoryResponse>, Status> {
        let principal = Principal::of(&request)?;
        let r = request.get_ref();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let lead_id = r.lead_id.trim();
        let row = leads::get(db, lead_id)
            .await?
            .ok_or_else(|| Error::not_found("lead", lead_id))?;
        if !access::is_staff(principal) && row.owner_person_id.as_deref() != Some(access::own_rep_id(principal)?) {
            return Err(Error::PermissionDenied("only the owner and staff see a lead's history".into()).into());
        }
        let mut rows = history::list(db, lead_id, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(Response::new(ListLeadHistoryResponse {
            entries: rows.into_iter().map(convert::history).collect(),
            next_page_token,
        }))
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
