//! Scope rules on top of the role policy: a rep acts only as themselves and
//! on their own leads; a sales manager whose token names a team acts on that
//! team's reps (without a team claim, on every team); admins and operators
//! act on all.

use tiejun_platform::{
    auth::{Principal, Role},
    error::Error,
};

/// Roles that see every rep and lead.
const STAFF: &[Role] = &[Role::Admin, Role::Operator, Role::SalesManager];

/// True for admin, operator and sales manager tokens.
pub fn is_staff(p: &Principal) -> bool {
    p.has_any(STAFF)
}

/// The rep a non-staff caller acts as (its `rep_id` scope).
pub fn own_rep_id(p: &Principal) -> Result<&str, Error> {
    p.rep_id
        .as_deref()
        .ok_or_else(|| Error::PermissionDenied("a sales_rep token needs a rep_id scope".into()))
}

/// Staff, or the rep `person_id` themselves.
pub fn may_act_as(p: &Principal, person_id: &str) -> Result<(), Error> {
    if is_staff(p) || own_rep_id(p)? == person_id {
        Ok(())
    } else {
        Err(Error::PermissionDenied("a rep may only act as themselves".into()))
    }
}

/// The one team a sales manager's token is limited to, if any.
pub fn managed_team(p: &Principal) -> Option<&str> {
    let unlimited = p.has_any(&[Role::Admin, Role::Operator]);
    if unlimited || !p.has_any(&[Role::SalesManager]) {
        None
    } else {
        p.team.as_deref()
    }
}

/// Refuses a team-limited manager acting on another team.
pub fn may_manage(p: &Principal, team: &str) -> Result<(), Error> {
    match managed_team(p) {
        Some(mine) if mine != team => Err(Error::PermissionDenied(format!("you manage team {mine}, not {team}"))),
        _ => Ok(()),
    }
}
