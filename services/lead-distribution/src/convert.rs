//! Rows to messages. Contact data is masked unless the caller may see it.

use crate::domain::ids::PersonId;
use tiejun_platform::{clock::to_proto, pii};
use tiejun_proto::leads::v1::{
    DeadlineWarning, DistributionRun, Lead, LeadAssigned, LeadHistoryEntry, LeadReclaimed, LeadState, Rep, RunShare,
    WatchRepEventsResponse, watch_rep_events_response::Event,
};

use crate::store::{
    feed::FeedRow,
    history::HistoryRow,
    leads::LeadRow,
    reps::RepRow,
    runs::{RunRow, ShareRow},
};

/// A rep, with its live counts.
pub fn rep(row: RepRow, private_pool_size: i32, received_today: i32, claimed_today: i32) -> Rep {
    Rep {
        status: row.status.0 as i32,
        person_id: row.person_id.into(),
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

/// A lead; `reveal_contact` false masks phone and e-mail.
pub fn lead(row: LeadRow, reveal_contact: bool) -> Lead {
    let (phone, email) = if reveal_contact {
        (row.phone, row.email)
    } else {
        (pii::mask_phone(&row.phone), pii::mask_email(&row.email))
    };
    Lead {
        kind: row.kind.0 as i32,
        state: row.state.0 as i32,
        lead_id: row.lead_id.into(),
        company_name: row.company_name,
        contact_name: row.contact_name,
        phone,
        email,
        city: row.city,
        industry: row.industry,
        source: row.source,
        score: row.score,
        owner_person_id: row.owner_person_id.unwrap_or_default().into(),
        created_at: Some(to_proto(row.created_at)),
        assigned_at: row.assigned_at.map(to_proto),
        next_deadline_at: row.next_deadline_at.map(to_proto),
        last_follow_up_at: row.last_follow_up_at.map(to_proto),
        contact_masked: !reveal_contact,
        subscription_id: row.subscription_id.unwrap_or_default().into(),
        account_id: row.account_id.unwrap_or_default().into(),
    }
}

/// A history entry.
pub fn history(row: HistoryRow) -> LeadHistoryEntry {
    LeadHistoryEntry {
        sequence: i64::from(row.sequence),
        occurred_at: Some(to_proto(row.occurred_at)),
        actor: row.actor,
        from_state: row.from_state.map(|s| s.0).unwrap_or_default() as i32,
        to_state: row.to_state.0 as i32,
        from_owner_person_id: row.from_owner.unwrap_or_default(),
        to_owner_person_id: row.to_owner.unwrap_or_default(),
        rule: row.rule.0 as i32,
        reason: row.reason,
        distribution_run_id: row.distribution_run_id.unwrap_or_default().into(),
        rotation_position: row.rotation_position.unwrap_or_default(),
    }
}

/// One event of `person_id`'s feed. An assignment shows the lead as it was
/// given (owner, time, first deadline), with its contact data while the
/// lead is still theirs.
pub fn feed_event(person_id: &PersonId, row: FeedRow) -> Option<WatchRepEventsResponse> {
    let rule = row.event_rule.0 as i32;
    let event = match row.event_kind.as_str() {
        "ASSIGNED" => {
            let still_theirs = row.lead.owner_person_id.as_deref() == Some(person_id);
            let mut lead = lead(row.lead, still_theirs);
            lead.state = LeadState::Assigned as i32;
            lead.owner_person_id = person_id.to_string();
            lead.assigned_at = Some(to_proto(row.event_at));
            lead.next_deadline_at = row.event_deadline_at.map(to_proto);
            Event::Assigned(LeadAssigned { lead: Some(lead), rule })
        }
        "WARNING" => Event::Warning(DeadlineWarning {
            lead_id: row.lead.lead_id.into(),
            deadline_at: row.event_deadline_at.map(to_proto),
            time_left: row
                .event_deadline_at
                .and_then(|d| (d - row.event_at).to_std().ok())
                .and_then(|d| prost_types::Duration::try_from(d).ok()),
            rule,
        }),
        "RECLAIMED" => Event::Reclaimed(LeadReclaimed {
            lead_id: row.lead.lead_id.into(),
            rule,
        }),
        _ => return None,
    };
    Some(WatchRepEventsResponse {
        occurred_at: Some(to_proto(row.event_at)),
        event: Some(event),
        sequence: row.seq,
    })
}

/// A distribution run, with `shares` (empty in listings).
pub fn run(row: RunRow, shares: Vec<ShareRow>) -> DistributionRun {
    let same_city_bp =
        (row.leads_assigned > 0).then(|| crate::domain::stats::basis_points(row.same_city, row.leads_assigned));
    DistributionRun {
        trigger: row.trigger.0 as i32,
        rotation: row
            .rotation
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        run_id: row.run_id.into(),
        business_day: row.business_day,
        ran_by: row.ran_by,
        rotation_seed: row.seed,
        started_at: Some(to_proto(row.started_at)),
        finished_at: Some(to_proto(row.finished_at)),
        leads_assigned: row.leads_assigned,
        same_city_assigned: row.same_city,
        same_city_bp,
        reps_served: row.reps_served,
        reps_short: row.reps_short,
        shares: shares
            .into_iter()
            .map(|s| RunShare {
                person_id: s.person_id.into(),
                rotation_position: s.rotation_position,
                leads_assigned: i32::try_from(s.leads_assigned).unwrap_or(i32::MAX),
                same_city: i32::try_from(s.same_city).unwrap_or(i32::MAX),
            })
            .collect(),
    }
}
