//! Scope rules on top of the role policy: a rep acts only as themselves and
//! on their own leads; staff (admin, operator, sales manager) act on all.

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
