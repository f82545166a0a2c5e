//! The scope rule, applied first by every RPC whose request names a rep or a
//! team, before anything else of the request is read or validated: a rep's
//! token names only that rep; a team-limited manager's names only the
//! team's reps and the team itself. (Admins, operators and managers
//! without a team claim reach everyone.) The use cases check again on the
//! rows they lock.

use crate::domain::ids::PersonId;
use tiejun_platform::{auth::Principal, db::Database, error::Error};

use crate::{domain::access, store::reps};

/// The caller may name rep `person_id` (an empty name is the handler's to
/// refuse); a rep who does not exist is left to the use case (NOT_FOUND, or
/// a registration).
pub async fn person(db: &Database, principal: &Principal, person_id: &str) -> Result<(), Error> {
    let person_id = match person_id.trim() {
        "" => return Ok(()),
        named => PersonId::from(named),
    };
    if !access::is_staff(principal) && !principal.has_any(&[tiejun_platform::auth::Role::Service]) {
        return access::may_act_as(principal, &person_id);
    }
    if access::managed_team(principal).is_none() {
        return Ok(());
    }
    match reps::get(db, &person_id).await? {
        Some(rep) => access::may_manage(principal, &rep.team),
        None => Ok(()),
    }
}

/// The caller may name `team` (empty: no team named).
pub fn team(principal: &Principal, team: &str) -> Result<(), Error> {
    match team.trim() {
        "" => Ok(()),
        team => access::may_manage(principal, team),
    }
}
