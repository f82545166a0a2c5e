//! Intake (DESIGN §4): a validated lead enters the pool, unless a lead with
//! the same normalised phone or company exists, which is refused naming that
//! lead and never its owner's contact data.

use crate::domain::ids::LeadId;
use chrono::{DateTime, Utc};
use tiejun_platform::{db::Tx, error::Error};
use tiejun_proto::leads::v1::{LeadState, TransitionRule};

use crate::{
    domain::lead::NewLead,
    store::{
        history::{self, Transition},
        leads::{self, Duplicate, LeadRow},
    },
};

fn already_exists(d: Duplicate) -> Error {
    Error::AlreadyExists {
        resource: "lead",
        message: format!("a lead with {} exists", d.matched),
        existing_id: d.lead_id.into(),
    }
}

/// `actor` brings `new` into the pool.
pub async fn create(tx: &mut Tx, now: DateTime<Utc>, actor: &str, new: &NewLead) -> Result<LeadRow, Error> {
    if let Some(d) = leads::find_duplicate_in(tx, new).await? {
        return Err(already_exists(d));
    }
    let lead_id = LeadId::mint();
    let Some(row) = leads::insert_new_business(tx, &lead_id, new, now).await? else {
        // A concurrent intake of the same lead committed first.
        let d = leads::find_duplicate_in(tx, new)
            .await?
            .ok_or_else(|| Error::Aborted("the duplicate vanished; retry".into()))?;
        return Err(already_exists(d));
    };
    let transition = Transition {
        lead_id: &lead_id,
        actor,
        from_state: None,
        to_state: LeadState::Pool,
        rule: TransitionRule::Intake,
        ..Transition::default()
    };
    history::append(tx, &transition, now).await?;
    Ok(row)
}
