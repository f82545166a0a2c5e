//! What training's ids name ([`tiejun_platform::id`]).

tiejun_platform::id_kinds! {
    /// A programme (onboarding or customer training).
    Program => ProgramId, "program";
    /// A learner: an employee or a customer's person.
    Learner => LearnerId, "learner";
    /// A city session of a programme.
    Session => SessionId, "session";
    /// A course of a programme.
    Course => CourseId, "course";
    /// One learner's place in a session.
    Enrollment => EnrollmentId, "enrollment";
    /// A certificate of completion.
    Certificate => CertificateId, "certificate";
    /// A customer's training assignment.
    Assignment => AssignmentId, "assignment";
    /// Billing's account a customer learner belongs to.
    Account => AccountId, "account";
}
