//! `tiejun.leads.v1.ReportService`: rep and team figures over a date range,
//! and the evening daily report.

use chrono::NaiveDate;
use tiejun_platform::{
    auth::Principal,
    clock::{DEFAULT_ZONE, business_day, to_proto},
    error::Error,
    paging::Page,
};
use tiejun_proto::leads::v1::{
    DailyReport, GetRepStatsRequest, GetRepStatsResponse, GetTeamStatsRequest, GetTeamStatsResponse,
    ListDailyReportsRequest, ListDailyReportsResponse, RepStats, SubmitDailyReportRequest, SubmitDailyReportResponse,
    report_service_server::ReportService,
};

use super::Leads;
use crate::{
    domain::{access, lead::text, stats},
    store::{reports, reps},
};

/// The longest range a stats query may cover.
const MAX_RANGE_DAYS: i64 = 366;

fn day(field: &str, raw: &str) -> Result<NaiveDate, Error> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").map_err(|_| Error::invalid(field, "must be YYYY-MM-DD"))
}

fn range(from: &str, to: &str) -> Result<(String, String), Error> {
    let (from, to) = (day("from_day", from)?, day("to_day", to)?);
    if to < from {
        return Err(Error::invalid("to_day", "must not be before from_day"));
    }
    if (to - from).num_days() > MAX_RANGE_DAYS {
        return Err(Error::invalid("to_day", "the range may cover at most 366 days"));
    }
    Ok((from.to_string(), to.to_string()))
}

fn message(person_id: &str, t: &stats::Tally) -> RepStats {
    RepStats {
        person_id: person_id.to_owned(),
        received: t.received,
        followed_up_in_time: t.followed_up_in_time,
        followed_up_in_time_bp: stats::basis_points(t.followed_up_in_time, t.received),
        reclaimed: t.reclaimed,
        converted: t.converted,
        conversion_rate_bp: stats::basis_points(t.converted, t.received),
    }
}

#[tiejun_platform::grpc_service(ReportService)]
impl Leads {
    async fn get_rep_stats(&self, principal: &Principal, r: &GetRepStatsRequest) -> Result<GetRepStatsResponse, Error> {
        let db = self.db.get()?;
        crate::app::scope::person(db, principal, &r.person_id).await?;
        let person_id = crate::domain::rep::person_id(&r.person_id).map_err(|e| Error::invalid("person_id", e))?;
        let (from, to) = range(&r.from_day, &r.to_day)?;
        let rows = reports::assignments(db, Some(&person_id), None, &from, &to).await?;
        let tally = stats::tally(rows.iter().map(|a| &a.1));
        Ok(GetRepStatsResponse {
            stats: Some(message(&person_id, &tally)),
        })
    }

    async fn get_team_stats(
        &self,
        principal: &Principal,
        r: &GetTeamStatsRequest,
    ) -> Result<GetTeamStatsResponse, Error> {
        let team = text(&r.team, 1, 100).map_err(|e| Error::invalid("team", e))?;
        access::may_manage(principal, &team)?;
        let (from, to) = range(&r.from_day, &r.to_day)?;
        let db = self.db.get()?;
        let members = reps::list(
            db,
            &reps::RepFilter {
                team: team.clone(),
                ..Default::default()
            },
            &Page {
                size: 10_000,
                offset: 0,
            },
        )
        .await?;
        let rows = reports::assignments(db, None, Some(&team), &from, &to).await?;
        let total = stats::tally(rows.iter().map(|a| &a.1));
        let reps = members
            .iter()
            .map(|m| {
                message(
                    &m.person_id,
                    &stats::tally(rows.iter().filter(|a| m.person_id == a.0.as_str()).map(|a| &a.1)),
                )
            })
            .collect();
        Ok(GetTeamStatsResponse {
            total: Some(message("", &total)),
            reps,
        })
    }

    async fn submit_daily_report(
        &self,
        principal: &Principal,
        r: &SubmitDailyReportRequest,
    ) -> Result<SubmitDailyReportResponse, Error> {
        let me = access::own_rep_id(principal)?.to_owned();
        let today = business_day(self.clock.now(), DEFAULT_ZONE);
        let day = if r.business_day.trim().is_empty() {
            today
        } else {
            day("business_day", &r.business_day)?
        };
        if day > today {
            return Err(Error::invalid("business_day", "must not be in the future"));
        }
        if (today - day).num_days() > 7 {
            return Err(Error::invalid(
                "business_day",
                "reports may be submitted up to 7 days late",
            ));
        }
        for (field, n) in [("calls", r.calls), ("visits", r.visits), ("deals", r.deals)] {
            if !(0..=10_000).contains(&n) {
                return Err(Error::invalid(field, "must be between 0 and 10000"));
            }
        }
        let summary = text(&r.summary, 1, 5000).map_err(|e| Error::invalid("summary", e))?;
        let db = self.db.get()?;
        let now = self.clock.now();
        let mut tx = db.begin().await?;
        let team = reps::team_of(&mut tx, &me).await?.ok_or_else(|| Error::missing(&me))?;
        let report = DailyReport {
            person_id: me.to_string(),
            business_day: day.to_string(),
            calls: r.calls,
            visits: r.visits,
            deals: r.deals,
            summary,
            submitted_at: Some(to_proto(now)),
            team,
        };
        reports::upsert_daily(&mut tx, &report, now).await?;
        tx.commit().await?;
        Ok(SubmitDailyReportResponse { report: Some(report) })
    }

    async fn list_daily_reports(
        &self,
        principal: &Principal,
        r: &ListDailyReportsRequest,
    ) -> Result<ListDailyReportsResponse, Error> {
        let team = text(&r.team, 1, 100).map_err(|e| Error::invalid("team", e))?;
        access::may_manage(principal, &team)?;
        let day = day("business_day", &r.business_day)?.to_string();
        let page = Page::parse(r.page_size, &r.page_token)?;
        let db = self.db.get()?;
        let mut reports = reports::daily(db, &team, &day, &page).await?;
        let next_page_token = page.finish(&mut reports);
        let missing_person_ids = reports::missing_daily(db, &team, &day).await?;
        Ok(ListDailyReportsResponse {
            reports,
            missing_person_ids,
            next_page_token,
        })
    }
}
