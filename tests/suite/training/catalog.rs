//! Programmes and courses: a duplicate names the row that exists.

use tiejun_platform::{both_backends, testing::TestDatabase};
use tiejun_tests::{
    authed,
    training::{TrainingFixture, trainer},
};

/// Every create of the catalog whose id is taken names the row that has it:
/// a programme, the employee onboarding (one at most), a course.
#[both_backends]
async fn a_duplicate_in_the_catalog_names_the_row_that_exists(db: TestDatabase) {
    use tiejun_proto::training::v1::{Course, CreateCourseRequest, CreateProgramRequest, Program, Track};
    use tonic_types::StatusExt as _;

    let f = TrainingFixture::start(db).await;
    f.onboarding().await;
    let mut programs = f.programs().await;
    let named = |status: tonic::Status, existing: &str| {
        assert_eq!(status.code(), tonic::Code::AlreadyExists, "{status:?}");
        let info = status.get_details_resource_info().expect("ResourceInfo");
        assert_eq!(info.resource_name, existing, "{status:?}");
    };
    let second = Program {
        program_id: "employee_onboarding_2".into(),
        name: "Another onboarding".into(),
        audience: tiejun_proto::training::v1::Audience::Employee as i32,
        mandatory: true,
        tracks: vec![Track::CultureValues as i32],
        employee_onboarding: true,
        ..Default::default()
    };
    let status = programs
        .create_program(authed(CreateProgramRequest { program: Some(second) }, &trainer()))
        .await
        .expect_err("one onboarding");
    named(status, "employee_onboarding_2");
    let course = Course {
        course_id: "culture_101".into(),
        name: "Culture".into(),
        track: Track::CultureValues as i32,
        prerequisite_course_ids: vec![],
        hours: 4,
    };
    programs
        .create_course(authed(
            CreateCourseRequest {
                course: Some(course.clone()),
            },
            &trainer(),
        ))
        .await
        .expect("first");
    let status = programs
        .create_course(authed(CreateCourseRequest { course: Some(course) }, &trainer()))
        .await
        .expect_err("taken");
    named(status, "culture_101");
}
