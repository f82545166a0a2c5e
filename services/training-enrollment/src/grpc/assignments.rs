//! `AssignmentService`, `CertificateService` and `ComplianceService`: who
//! must complete what, whether they did, and who is behind.

use crate::domain::ids::{CertificateId, ProgramId};
use tiejun_platform::{
    auth::Principal,
    clock::{self, to_proto},
    error::Error,
    paging::Page,
};
use tiejun_proto::training::v1::{
    AssignProgramRequest, AssignProgramResponse, AssignmentSource, AssignmentStatus, CheckRequirementRequest,
    CheckRequirementResponse, GetComplianceReportRequest, GetComplianceReportResponse, ListAssignmentsRequest,
    ListAssignmentsResponse, ListCertificatesRequest, ListCertificatesResponse, UntrainedAccount,
    VerifyCertificateRequest, VerifyCertificateResponse, assignment_service_server::AssignmentService,
    certificate_service_server::CertificateService, compliance_service_server::ComplianceService,
};

use super::Training;
use crate::{
    convert::{self, certificate},
    domain::{assignment, key, learner_id, text},
    store::{
        assignments::{self, NewAssignment},
        catalog, completion,
    },
};

fn instant_or_now(
    ts: &Option<prost_types::Timestamp>,
    field: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, Error> {
    Ok(clock::instant(field, ts.as_ref())?.unwrap_or(now))
}

#[tiejun_platform::grpc_service(AssignmentService)]
impl Training {
    async fn assign_program(&self, r: &AssignProgramRequest) -> Result<AssignProgramResponse, Error> {
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        let program_id = ProgramId::from(key(&r.program_id).map_err(|e| Error::invalid("program_id", e))?);
        let city = text(&r.city, 0, 50).map_err(|e| Error::invalid("city", e))?;
        let due_at = clock::instant("due_at", r.due_at.as_ref())?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let program = catalog::program(db, &program_id)
            .await?
            .ok_or_else(|| Error::missing(&program_id))?;
        let due_at = assignment::due_at(due_at, program.due_within_days, now)?;
        let mut tx = db.begin().await?;
        let assignment = NewAssignment {
            learner_id: &learner,
            program_id: &program_id,
            source: AssignmentSource::Manual,
            city: &city,
            account_id: None,
            due_at,
        };
        let row = assignments::assign(&mut tx, &assignment, now).await?;
        tx.commit().await?;
        Ok(AssignProgramResponse {
            assignment: Some(convert::assignment(row, now)),
        })
    }

    async fn list_assignments(
        &self,
        principal: &Principal,
        r: &ListAssignmentsRequest,
    ) -> Result<ListAssignmentsResponse, Error> {
        let page = Page::parse(r.page_size, &r.page_token)?;
        let mut learner = r.learner_id.trim().to_owned();
        if let Some(own) = principal.own_learner()? {
            if learner.is_empty() {
                learner = own.to_owned();
            }
            principal.may_act_for_learner(&learner)?;
        }
        let wanted = AssignmentStatus::try_from(r.status).map_err(|_| Error::invalid("status", "unknown status"))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut rows = assignments::list(db, &learner, r.program_id.trim(), &page).await?;
        let next_page_token = page.finish(&mut rows);
        let assignments = rows
            .into_iter()
            .map(|row| convert::assignment(row, now))
            .filter(|a| wanted == AssignmentStatus::Unspecified || a.status() == wanted)
            .collect();
        Ok(ListAssignmentsResponse {
            assignments,
            next_page_token,
        })
    }

    async fn check_requirement(
        &self,
        principal: &Principal,
        r: &CheckRequirementRequest,
    ) -> Result<CheckRequirementResponse, Error> {
        let person = learner_id(&r.person_id).map_err(|e| Error::invalid("person_id", e))?;
        principal.may_act_for_learner(&person)?;
        let at = instant_or_now(&r.at, "at", self.clock.now())?;
        let db = self.db.get()?;
        let cert = completion::valid(db, &person, &ProgramId::required("program_id", &r.program_id)?, at).await?;
        Ok(match cert {
            Some(c) => CheckRequirementResponse {
                satisfied: true,
                completed_at: Some(to_proto(c.issued_at)),
                valid_until: c.valid_until.map(to_proto),
                certificate_id: c.certificate_id.into(),
            },
            None => CheckRequirementResponse::default(),
        })
    }
}

#[tiejun_platform::grpc_service(CertificateService)]
impl Training {
    async fn verify_certificate(&self, r: &VerifyCertificateRequest) -> Result<VerifyCertificateResponse, Error> {
        let id = CertificateId::required("certificate_id", &r.certificate_id)?;
        let db = self.db.get()?;
        let row = completion::certificate(db, &id)
            .await?
            .ok_or_else(|| Error::missing(&id))?;
        let now = self.clock.now();
        let valid = row.issued_at <= now && row.valid_until.is_none_or(|v| v > now);
        Ok(VerifyCertificateResponse {
            certificate: Some(certificate(&row)?),
            valid,
        })
    }

    async fn list_certificates(
        &self,
        principal: &Principal,
        r: &ListCertificatesRequest,
    ) -> Result<ListCertificatesResponse, Error> {
        let learner = learner_id(&r.learner_id).map_err(|e| Error::invalid("learner_id", e))?;
        principal.may_act_for_learner(&learner)?;
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let mut rows: Vec<_> = completion::certificates(db, &learner)
            .await?
            .into_iter()
            .skip(page.offset as usize)
            .collect();
        rows.truncate(page.size as usize + 1);
        let next_page_token = page.finish(&mut rows);
        Ok(ListCertificatesResponse {
            certificates: rows.iter().map(certificate).collect::<Result<_, _>>()?,
            next_page_token,
        })
    }
}

#[tiejun_platform::grpc_service(ComplianceService)]
impl Training {
    async fn get_compliance_report(
        &self,
        r: &GetComplianceReportRequest,
    ) -> Result<GetComplianceReportResponse, Error> {
        let at = instant_or_now(&r.at, "at", self.clock.now())?;
        let db = self.db.get()?;
        let mut report = GetComplianceReportResponse::default();
        for row in assignments::incomplete(db, &ProgramId::from(r.program_id.trim())).await? {
            if row.assigned_at > at {
                continue;
            }
            let a = convert::assignment(row, at);
            if a.status() == AssignmentStatus::Overdue {
                report.overdue.push(a)
            } else {
                report.open.push(a)
            }
        }
        for row in assignments::customer(db).await? {
            if assignment::customer_untrained(row.assigned_at, row.completed_at, at) {
                report.untrained_accounts.push(UntrainedAccount {
                    account_id: row.account_id.unwrap_or_default().into(),
                    contact_person_id: row.learner_id.into(),
                    activated_at: Some(to_proto(row.assigned_at)),
                });
            }
        }
        Ok(report)
    }
}
