//! What each constraint of the training-enrollment schema means to a
//! caller (see `tiejun_platform::constraint`); a test checks this table
//! against every constraint of the migrated schema on both backends.

use tiejun_platform::constraint::{
    Constraint,
    Meaning::{self, Duplicate, Invariant, Race},
};

/// Every unique, CHECK and foreign-key constraint of `migrations/`.
pub const CONSTRAINTS: &[Constraint] = &[
    // programmes and courses
    Constraint::unique("programs_pkey", "programs.program_id", Duplicate("program")),
    Constraint::unique(
        "programs_one_employee_onboarding",
        "programs.employee_onboarding",
        Duplicate("program"),
    ),
    Constraint::check(
        "programs_audience_check",
        "audience IN ('EMPLOYEE', 'CUSTOMER')",
        Invariant,
    ),
    Constraint::check(
        "programs_passing_score_check",
        "passing_score BETWEEN 0 AND 100",
        Meaning::field("program.passing_score", "must be between 1 and 100"),
    ),
    Constraint::check(
        "programs_due_within_days_check",
        "due_within_days BETWEEN 1 AND 3650",
        Meaning::field("program.due_within_days", "must be between 1 and 3650"),
    ),
    Constraint::check(
        "programs_validity_days_check",
        "validity_days BETWEEN 0 AND 36500",
        Meaning::field("program.validity_days", "must be between 0 (forever) and 36500"),
    ),
    Constraint::unique("courses_pkey", "courses.course_id", Duplicate("course")),
    Constraint::check(
        "courses_hours_check",
        "hours BETWEEN 1 AND 1000",
        Meaning::field("course.hours", "must be between 1 and 1000"),
    ),
    // sessions and enrolments
    Constraint::unique("sessions_pkey", "sessions.session_id", Invariant),
    Constraint::check(
        "sessions_capacity_check",
        "capacity BETWEEN 1 AND 10000",
        Meaning::field("session.capacity", "must be between 1 and 10000"),
    ),
    Constraint::check(
        "sessions_status_check",
        "status IN ('SCHEDULED', 'CANCELLED', 'COMPLETED')",
        Invariant,
    ),
    // Two enrolments for the last seat at once: the retry is waitlisted.
    Constraint::named_check("sessions_seats_within_capacity", Race),
    Constraint::named_check(
        "sessions_teaches_one_thing",
        Meaning::field("session.program_id", "a session teaches one programme or one course"),
    ),
    Constraint::named_check(
        "sessions_ends_after_start",
        Meaning::field("session.ends_at", "must be after the start"),
    ),
    Constraint::foreign_key("sessions_program_id_fkey"),
    Constraint::foreign_key("sessions_course_id_fkey"),
    Constraint::unique("enrollments_pkey", "enrollments.enrollment_id", Invariant),
    Constraint::unique(
        "enrollments_one_active",
        "enrollments.session_id, enrollments.learner_id",
        Duplicate("enrollment"),
    ),
    Constraint::check(
        "enrollments_status_check",
        "status IN ('ENROLLED', 'WAITLISTED', 'CANCELLED', 'ATTENDED', 'NO_SHOW')",
        Invariant,
    ),
    Constraint::named_check("enrollments_waitlist_has_seq", Invariant),
    Constraint::foreign_key("enrollments_session_id_fkey"),
    // assignments, progress, scores, certificates
    Constraint::unique("assignments_pkey", "assignments.assignment_id", Invariant),
    Constraint::unique(
        "assignments_one_per_learner",
        "assignments.learner_id, assignments.program_id",
        Duplicate("assignment"),
    ),
    Constraint::check(
        "assignments_source_check",
        "source IN ('MANUAL', 'REP_HIRED', 'CUSTOMER_ACTIVATED')",
        Invariant,
    ),
    Constraint::foreign_key("assignments_program_id_fkey"),
    Constraint::unique("progress_pkey", "progress.learner_id, progress.program_id", Race),
    Constraint::foreign_key("progress_program_id_fkey"),
    Constraint::unique(
        "scores_pkey",
        "scores.learner_id, scores.program_id, scores.track",
        Race,
    ),
    // The same expression guards lead-distribution's lead scores.
    Constraint::check(
        "scores_score_check",
        "score BETWEEN 0 AND 100",
        Meaning::field("score", "must be between 0 and 100"),
    ),
    Constraint::unique("certificates_pkey", "certificates.certificate_id", Invariant),
    Constraint::foreign_key("certificates_program_id_fkey"),
];
