//! Scope: trainers, operators, admins and services act for any learner; a
//! learner-scoped token (`learner_id`) only for itself.

use tiejun_platform::{
    auth::{Principal, Role},
    error::Error,
};

/// Roles that act for any learner.
const STAFF: &[Role] = &[Role::Admin, Role::Trainer, Role::Operator, Role::Service];

/// Staff, or the learner themselves.
pub fn may_act_for(p: &Principal, learner_id: &str) -> Result<(), Error> {
    if p.has_any(STAFF) || p.learner_id.as_deref() == Some(learner_id) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "a learner token acts only for its own learner".into(),
        ))
    }
}

/// The learner a non-staff caller is limited to (`None`: staff, unlimited).
pub fn own_learner(p: &Principal) -> Result<Option<&str>, Error> {
    if p.has_any(STAFF) {
        return Ok(None);
    }
    p.learner_id
        .as_deref()
        .map(Some)
        .ok_or_else(|| Error::PermissionDenied("this call needs a learner_id scope or a staff role".into()))
}
