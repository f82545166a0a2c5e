//! What each constraint of the lead-distribution schema means to a caller
//! (see `tiejun_platform::constraint`); a test checks this table against
//! every constraint of the migrated schema on both backends.

use tiejun_platform::constraint::{
    Constraint,
    Meaning::{self, Duplicate, Invariant, Race},
};

/// Every unique, CHECK and foreign-key constraint of `migrations/`.
pub const CONSTRAINTS: &[Constraint] = &[
    // reps
    Constraint::unique("reps_pkey", "reps.person_id", Duplicate("rep")),
    Constraint::check(
        "reps_daily_quota_check",
        "daily_quota BETWEEN 30 AND 50",
        Meaning::field("daily_quota", "must be between 30 and 50"),
    ),
    Constraint::check(
        "reps_status_check",
        "status IN ('ONBOARDING', 'ACTIVE', 'PAUSED', 'ON_LEAVE', 'DEPARTED')",
        Invariant,
    ),
    // leads and their duplicate keys
    Constraint::unique("leads_pkey", "leads.lead_id", Invariant),
    Constraint::check("leads_kind_check", "kind IN ('NEW_BUSINESS', 'RENEWAL')", Invariant),
    // The same expression guards training's scores; both read "score".
    Constraint::check(
        "leads_score_check",
        "score BETWEEN 0 AND 100",
        Meaning::field("score", "must be between 0 and 100"),
    ),
    Constraint::check(
        "leads_state_check",
        "state IN ('POOL', 'ASSIGNED', 'PRIVATE', 'CONVERTED', 'CLOSED')",
        Invariant,
    ),
    Constraint::named_check("leads_owner_iff_held", Invariant),
    Constraint::foreign_key("leads_owner_person_id_fkey"),
    Constraint::unique("lead_keys_pkey", "lead_keys.lead_id", Invariant),
    Constraint::unique("lead_keys_phone", "lead_keys.phone", Duplicate("lead")),
    Constraint::unique("lead_keys_company", "lead_keys.company_key", Duplicate("lead")),
    Constraint::foreign_key("lead_keys_lead_id_fkey"),
    // the day's counters and the private pools
    Constraint::unique("rep_days_pkey", "rep_days.person_id, rep_days.business_day", Race),
    Constraint::check("rep_days_distributed_check", "distributed >= 0", Invariant),
    Constraint::named_check(
        "rep_days_claim_limit",
        Meaning::rule("DAILY_CLAIM_LIMIT", "the day's claim limit is reached"),
    ),
    Constraint::foreign_key("rep_days_person_id_fkey"),
    Constraint::unique("private_pools_pkey", "private_pools.person_id", Race),
    Constraint::named_check(
        "private_pools_cap",
        Meaning::rule(
            "PRIVATE_POOL_FULL",
            "the private pool is at its cap: release a lead to keep this one",
        ),
    ),
    Constraint::foreign_key("private_pools_person_id_fkey"),
    // ownership, history, follow-ups, cooldowns
    Constraint::unique("assignments_pkey", "assignments.assignment_id", Invariant),
    Constraint::unique("assignments_one_open_per_lead", "assignments.lead_id", Race),
    Constraint::check("assignments_same_city_check", "same_city IN (0, 1)", Invariant),
    Constraint::unique("lead_history_pkey", "lead_history.lead_id, lead_history.sequence", Race),
    Constraint::check("lead_history_sequence_check", "sequence > 0", Invariant),
    Constraint::unique("follow_ups_pkey", "follow_ups.follow_up_id", Invariant),
    Constraint::check(
        "follow_ups_kind_check",
        "kind IN ('CALL', 'VISIT', 'MEETING', 'NOTE')",
        Invariant,
    ),
    Constraint::foreign_key("follow_ups_lead_id_fkey"),
    Constraint::unique(
        "lead_cooldowns_pkey",
        "lead_cooldowns.lead_id, lead_cooldowns.person_id",
        Race,
    ),
    Constraint::foreign_key("lead_cooldowns_lead_id_fkey"),
    // distribution, jobs, the event feed
    Constraint::unique("distribution_days_pkey", "distribution_days.business_day", Race),
    Constraint::unique("distribution_runs_pkey", "distribution_runs.run_id", Invariant),
    Constraint::foreign_key("distribution_runs_business_day_fkey"),
    Constraint::unique("job_runs_pkey", "job_runs.run_id", Race),
    Constraint::unique("rep_events_pkey", "rep_events.id", Invariant),
    Constraint::unique("rep_events_seq", "rep_events.seq", Invariant),
    Constraint::unique("rep_feed_pkey", "rep_feed.one", Invariant),
    Constraint::check("rep_feed_one_check", "one = 1", Invariant),
    Constraint::check(
        "rep_events_kind_check",
        "kind IN ('ASSIGNED', 'WARNING', 'RECLAIMED')",
        Invariant,
    ),
    // daily reports
    Constraint::unique(
        "daily_reports_pkey",
        "daily_reports.person_id, daily_reports.business_day",
        Race,
    ),
    Constraint::check(
        "daily_reports_calls_check",
        "calls >= 0",
        Meaning::field("calls", "must not be negative"),
    ),
    Constraint::check(
        "daily_reports_visits_check",
        "visits >= 0",
        Meaning::field("visits", "must not be negative"),
    ),
    Constraint::check(
        "daily_reports_deals_check",
        "deals >= 0",
        Meaning::field("deals", "must not be negative"),
    ),
    Constraint::foreign_key("daily_reports_person_id_fkey"),
];
