//! `ProgramService`: programmes and courses.

use crate::domain::ids::ProgramId;
use tiejun_platform::{error::Error, paging::Page};
use tiejun_proto::training::v1::{
    Audience, CreateCourseRequest, CreateCourseResponse, CreateProgramRequest, CreateProgramResponse,
    GetProgramRequest, GetProgramResponse, ListCoursesRequest, ListCoursesResponse, ListProgramsRequest,
    ListProgramsResponse, Track, program_service_server::ProgramService,
};

use super::{Training, convert};
use crate::{
    domain::program::{NewCourse, NewProgram},
    store::catalog,
};

#[tiejun_platform::grpc_service(ProgramService)]
impl Training {
    async fn create_program(&self, r: &CreateProgramRequest) -> Result<CreateProgramResponse, Error> {
        let input = r
            .program
            .as_ref()
            .ok_or_else(|| Error::invalid("program", "is required"))?;
        let new = NewProgram::parse(input)?;
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        catalog::create_program(&mut tx, &new, self.clock.now()).await?;
        tx.commit().await?;
        let row = catalog::program(db, &new.program_id)
            .await?
            .ok_or_else(|| Error::missing(&new.program_id))?;
        Ok(CreateProgramResponse {
            program: Some(convert::program(row)),
        })
    }

    async fn get_program(&self, r: &GetProgramRequest) -> Result<GetProgramResponse, Error> {
        let id = ProgramId::required("program_id", &r.program_id)?;
        let db = self.db.get()?;
        let row = catalog::program(db, &id).await?.ok_or_else(|| Error::missing(&id))?;
        Ok(GetProgramResponse {
            program: Some(convert::program(row)),
        })
    }

    async fn list_programs(&self, r: &ListProgramsRequest) -> Result<ListProgramsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let audience = tiejun_platform::stored::filter::<Audience>("audience", r.audience)?;
        let db = self.db.get()?;
        let mut rows = catalog::programs(db, audience, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListProgramsResponse {
            programs: rows.into_iter().map(convert::program).collect(),
            next_page_token,
        })
    }

    async fn create_course(&self, r: &CreateCourseRequest) -> Result<CreateCourseResponse, Error> {
        let input = r
            .course
            .as_ref()
            .ok_or_else(|| Error::invalid("course", "is required"))?;
        let new = NewCourse::parse(input)?;
        let db = self.db.get()?;
        let mut tx = db.begin().await?;
        catalog::create_course(&mut tx, &new).await?;
        tx.commit().await?;
        let course = tiejun_proto::training::v1::Course {
            course_id: new.course_id.into(),
            name: new.name,
            track: new.track as i32,
            prerequisite_course_ids: new.prerequisites,
            hours: new.hours,
        };
        Ok(CreateCourseResponse { course: Some(course) })
    }

    async fn list_courses(&self, r: &ListCoursesRequest) -> Result<ListCoursesResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let track = tiejun_platform::stored::filter::<Track>("track", r.track)?;
        let db = self.db.get()?;
        let mut rows = catalog::courses(db, track, &page).await?;
        let next_page_token = page.finish(&mut rows);
        Ok(ListCoursesResponse {
            courses: rows.into_iter().map(convert::course).collect(),
            next_page_token,
        })
    }
}
