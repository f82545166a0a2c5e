//! Who may call each RPC (DESIGN §3). Methods marked "own" in the contract
//! admit their listed roles and, of any other role, only a token with a
//! `learner_id` scope; the handler then holds that token to its learner.

use tiejun_platform::auth::{
    Allowed::{self, AnyAuthenticated, Roles, RolesOrScope},
    Policy, Role,
    Role::{Admin, Operator, SalesManager, Service, Trainer},
    Scope,
};

const TRAINERS: Allowed = Roles(&[Admin, Trainer]);
/// These roles for any learner; any other caller only with a `learner_id`
/// scope, which the handler then holds to that learner.
const fn own_learner_or(roles: &'static [Role]) -> Allowed {
    RolesOrScope(roles, Scope::Learner)
}
const LEARNER_VIEW: Allowed = own_learner_or(&[Admin, Trainer, Operator]);

/// The access policy of `tiejun.training.v1` and the event consumer.
pub fn policy() -> Policy {
    Policy::for_storage_service(crate::PACKAGE)
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
                ("ListAssignments", LEARNER_VIEW),
                ("CheckRequirement", own_learner_or(&[Service, Admin, Trainer, Operator])),
            ],
        )
        .service(
            "tiejun.training.v1.EnrollmentService",
            &[
                ("Enroll", own_learner_or(&[Admin, Trainer, Service])),
                ("AutoEnroll", own_learner_or(&[Admin, Trainer, Service])),
                ("CancelEnrollment", own_learner_or(&[Admin, Trainer])),
                ("GetEnrollment", LEARNER_VIEW),
                ("ListEnrollments", LEARNER_VIEW),
                ("RecordAttendance", TRAINERS),
                ("RecordAssessment", TRAINERS),
            ],
        )
        .service(
            "tiejun.training.v1.CertificateService",
            &[
                ("VerifyCertificate", AnyAuthenticated),
                ("ListCertificates", LEARNER_VIEW),
            ],
        )
        .service(
            "tiejun.training.v1.ComplianceService",
            &[("GetComplianceReport", Roles(&[Admin, Trainer, Operator, SalesManager]))],
        )
}
