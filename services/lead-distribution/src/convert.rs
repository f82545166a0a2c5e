//! Rows to messages. Contact data is masked unless the caller may see it.

use tiejun_platform::{clock::to_proto, pii};
use tiejun_proto::leads::v1::{Lead, LeadHistoryEntry, LeadKind, LeadState, Rep, TransitionRule};

use crate::{
    domain::rep::status_from_name,
    store::{history::HistoryRow, leads::LeadRow, reps::RepRow},
};

/// A rep, with its live counts.
pub fn rep(row: RepRow, private_pool_size: i32, received_today: i32, claimed_today: i32) -> Rep {
    Rep {
        status: status_from_name(&row.status) as i32,
        person_id: row.person_id,
        name: row.name,
        team: row.team,
        city: row.city,
        daily_quota: row.daily_quota,
        hired_at: Some(to_proto(row.hired_at)),
        private_pool_size,
        received_today,
        claimed_today,
    }
}

/// A lead state from its stored name.
pub fn lead_state(name: &str) -> LeadState {
    LeadState::from_str_name(&format!("LEAD_STATE_{name}")).unwrap_or(LeadState::Unspecified)
}

/// The stored name of a lead state.
pub fn lead_state_name(state: LeadState) -> &'static str {
    state.as_str_name().trim_start_matches("LEAD_STATE_")
}

/// The stored name of a lead kind.
pub fn lead_kind_name(kind: LeadKind) -> &'static str {
    kind.as_str_name().trim_start_matches("LEAD_KIND_")
}

/// The stored name of a transition rule.
pub fn rule_name(rule: TransitionRule) -> &'static str {
    rule.as_str_name().trim_start_matches("TRANSITION_RULE_")
}

/// A lead; `reveal_contact` false masks phone and e-mail.
pub fn lead(row: LeadRow, reveal_contact: bool) -> Lead {
    let (phone, email) = if reveal_contact {
        (row.phone, row.email)
    } else {
        (pii::mask_phone(&row.phone), pii::mask_email(&row.email))
    };
    Lead {
        kind: LeadKind::from_str_name(&format!("LEAD_KIND_{}", row.kind)).unwrap_or(LeadKind::Unspecified) as i32,
        state: lead_state(&row.state) as i32,
        lead_id: row.lead_id,
        company_name: row.company_name,
        contact_name: row.contact_name,
        phone,
        email,
        city: row.city,
        industry: row.industry,
        source: row.source,
        score: row.score,
        owner_person_id: row.owner_person_id.unwrap_or_default(),
        created_at: Some(to_proto(row.created_at)),
        assigned_at: row.assigned_at.map(to_proto),
        next_deadline_at: row.next_deadline_at.map(to_proto),
        last_follow_up_at: row.last_follow_up_at.map(to_proto),
        contact_masked: !reveal_contact,
        subscription_id: row.subscription_id.unwrap_or_default(),
        account_id: row.account_id.unwrap_or_default(),
    }
}

/// A history entry.
pub fn history(row: HistoryRow) -> LeadHistoryEntry {
    LeadHistoryEntry {
        sequence: i64::from(row.sequence),
        occurred_at: Some(to_proto(row.occurred_at)),
        actor: row.actor,
        from_state: row.from_state.as_deref().map_or(LeadState::Unspecified, lead_state) as i32,
        to_state: lead_state(&row.to_state) as i32,
        from_owner_person_id: row.from_owner.unwrap_or_default(),
        to_owner_person_id: row.to_owner.unwrap_or_default(),
        rule: TransitionRule::from_str_name(&format!("TRANSITION_RULE_{}", row.rule))
            .unwrap_or(TransitionRule::Unspecified) as i32,
        reason: row.reason,
        distribution_run_id: row.distribution_run_id.unwrap_or_default(),
        rotation_position: row.rotation_position.unwrap_or_default(),
    }
}
