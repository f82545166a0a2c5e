//! Who may call each RPC (DESIGN §3). Scope rules ("a rep acts only on their
//! own leads") are the handlers'; this table is the first gate.

use tiejun_platform::auth::{
    Allowed::{self, Roles},
    Policy,
    Role::{Admin, Operator, SalesManager, SalesRep, Service},
};

const STAFF: Allowed = Roles(&[Admin, Operator, SalesManager]);
const MANAGERS: Allowed = Roles(&[Admin, SalesManager]);
const OPERATORS: Allowed = Roles(&[Admin, Operator]);
const REP_OR_MANAGER: Allowed = Roles(&[Admin, SalesManager, SalesRep]);
const SALES_VIEW: Allowed = Roles(&[Admin, Operator, SalesManager, SalesRep]);

/// The access policy of `tiejun.leads.v1` and the event consumer.
pub fn policy() -> Policy {
    Policy::for_storage_service(crate::PACKAGE)
        .with_teams()
        .service(
            "tiejun.leads.v1.RepService",
            &[
                ("RegisterRep", STAFF),
                ("GetRep", Roles(&[Admin, Operator, SalesManager, SalesRep, Service])),
                ("ListReps", STAFF),
                ("SetRepQuota", MANAGERS),
                ("ActivateRep", OPERATORS),
                ("SuspendRep", MANAGERS),
                ("ResumeRep", MANAGERS),
                ("DepartRep", MANAGERS),
            ],
        )
        .service(
            "tiejun.leads.v1.LeadService",
            &[
                ("CreateLead", Roles(&[Admin, Operator, SalesManager, Service])),
                ("ImportLeads", OPERATORS),
                ("GetLead", SALES_VIEW),
                ("ListLeads", SALES_VIEW),
                ("RunDistribution", OPERATORS),
                ("ClaimLead", Roles(&[SalesRep])),
                ("RecordFollowUp", Roles(&[SalesRep])),
                ("KeepPrivate", Roles(&[SalesRep])),
                ("ReleaseLead", REP_OR_MANAGER),
                ("ConvertLead", REP_OR_MANAGER),
                ("CloseLead", REP_OR_MANAGER),
                ("ReassignLead", MANAGERS),
                ("RunReclaimSweep", OPERATORS),
                ("ListDistributionRuns", STAFF),
                ("GetDistributionRun", STAFF),
                ("ListLeadHistory", SALES_VIEW),
                ("WatchRepEvents", REP_OR_MANAGER),
            ],
        )
        .service(
            "tiejun.leads.v1.ReportService",
            &[
                ("GetRepStats", SALES_VIEW),
                ("GetTeamStats", STAFF),
                ("SubmitDailyReport", Roles(&[SalesRep])),
                ("ListDailyReports", STAFF),
            ],
        )
}
