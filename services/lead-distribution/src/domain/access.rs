//! Scope rules on top of the role policy: a rep acts only as themselves and
//! on their own leads; a sales manager whose token names a team acts on that
//! team's reps (without a team claim, on every team); admins and operators
//! act on all.

use crate::domain::ids::PersonId;
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
pub fn own_rep_id(p: &Principal) -> Result<PersonId, Error> {
    p.rep_id
        .as_deref()
        .map(PersonId::from)
        .ok_or_else(|| Error::PermissionDenied("a sales_rep token needs a rep_id scope".into()))
}

/// Staff, or the rep `person_id` themselves.
pub fn may_act_as(p: &Principal, person_id: &PersonId) -> Result<(), Error> {
    if is_staff(p) || *person_id == own_rep_id(p)? {
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

/// The owner of a held lead, when it is the caller's own; why not otherwise.
pub fn own_held(p: &Principal, owner: Option<&PersonId>) -> Result<PersonId, Error> {
    let me = own_rep_id(p)?;
    match owner {
        Some(owner) if *owner == me => Ok(me),
        Some(_) => Err(Error::PermissionDenied("this lead belongs to another rep".into())),
        None => Err(Error::precondition(
            "LEAD_NOT_HELD",
            "the lead is not assigned to anyone",
        )),
    }
}

/// The owner of a held lead the caller may act on: its owner, or staff.
pub fn owner_or_staff(p: &Principal, owner: Option<&PersonId>) -> Result<PersonId, Error> {
    match owner {
        Some(owner) if is_staff(p) => Ok(owner.clone()),
        _ => own_held(p, owner),
    }
}

/// Whether the caller sees a lead, and with its contact data or masked:
/// pool leads are masked for everyone; a held lead is revealed to its owner,
/// to admins and operators, and to managers of the owner's team
/// (`team_members`: the reps of a team-limited manager's team); another
/// rep's lead is refused.
pub fn reveal(
    p: &Principal,
    in_pool: bool,
    owner: Option<&PersonId>,
    team_members: Option<&std::collections::HashSet<PersonId>>,
) -> Result<bool, Error> {
    if in_pool {
        return Ok(false);
    }
    if is_staff(p) {
        return Ok(match (team_members, owner) {
            (Some(members), Some(owner)) => members.contains(owner),
            (Some(_), None) => false,
            (None, _) => true,
        });
    }
    match owner {
        Some(owner) if *owner == own_rep_id(p)? => Ok(true),
        Some(_) => Err(Error::PermissionDenied("this lead belongs to another rep".into())),
        None => Ok(false),
    }
}
