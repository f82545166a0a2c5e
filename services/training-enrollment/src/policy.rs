//! Who may call each RPC (DESIGN §3). Methods marked "own" in the contract
//! are open to any authenticated caller here and scoped by the handler
//! (a `learner_id`-scoped token sees only its own enrollments).

use tiejun_platform::auth::{
    Allowed::{self, AnyAuthenticated, Roles},
    Policy,
    Role::{Admin, Operator, SalesManager, Service, Trainer},
};

const TRAINERS: Allowed = Roles(&[Admin, Trainer]);
const OPERATORS: Allowed = Roles(&[Admin, Operator]);
/// Scoped by the handler to the caller's own learner id unless staff.
const OWN_LEARNER: Allowed = AnyAuthenticated;

/// The access policy of `tiejun.training.v1` and the event consumer.
pub fn policy() -> Policy {
    Policy::for_packages(&[crate::PACKAGE, "tiejun.events.v1"])
        .service(
            "tiejun.training.v1.ProgramService",
            &[
                ("CreateProgram", TRAINERS),
                ("GetProgram", AnyAuthenticated),
                ("ListPrograms", AnyAuthenticated),
                ("CreateCourse", TRAINERS),
                ("ListCourses", AnyAuthenticated),
            ],
        )
        .service(
            "tiejun.training.v1.SessionService",
            &[
                ("ScheduleSession", TRAINERS),
                ("GetSession", AnyAuthenticated),
                ("ListSessions", AnyAuthenticated),
                ("CancelSession", TRAINERS),
            ],
        )
        .service(
            "tiejun.training.v1.AssignmentService",
            &[
                ("AssignProgram", Roles(&[Admin, Trainer, Operator, Service])),
                ("ListAssignments", OWN_LEARNER),
                ("CheckRequirement", OWN_LEARNER),
            ],
        )
        .service(
            "tiejun.training.v1.EnrollmentService",
            &[
                ("Enroll", OWN_LEARNER),
                ("AutoEnroll", OWN_LEARNER),
                ("CancelEnrollment", OWN_LEARNER),
                ("GetEnrollment", OWN_LEARNER),
                ("ListEnrollments", OWN_LEARNER),
                ("RecordAttendance", TRAINERS),
                ("RecordAssessment", TRAINERS),
            ],
        )
        .service(
            "tiejun.training.v1.CertificateService",
            &[
                ("VerifyCertificate", AnyAuthenticated),
                ("ListCertificates", OWN_LEARNER),
            ],
        )
        .service(
            "tiejun.training.v1.ComplianceService",
            &[("GetComplianceReport", Roles(&[Admin, Trainer, Operator, SalesManager]))],
        )
        .service(
            "tiejun.training.v1.OutboxService",
            &[
                ("GetOutboxStatus", OPERATORS),
                ("ListParkedEvents", OPERATORS),
                ("ReplayParkedEvents", OPERATORS),
            ],
        )
        .service(
            "tiejun.events.v1.EventConsumerService",
            &[("Deliver", Roles(&[Admin, Service]))],
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_rpc_served_has_a_policy() {
        let missing = super::policy().missing_rules(&crate::services());
        assert!(missing.is_empty(), "RPCs without an access policy: {missing:?}");
    }
}
