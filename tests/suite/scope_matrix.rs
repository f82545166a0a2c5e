//! The scope matrix: every RPC of the three services whose request names a
//! rep, a team, an account or a learner (read from the descriptors, streams
//! included) × every scope claim that governs that name, through the
//! gateway. A token scoped to one rep, team, account or learner that names
//! another is refused with PERMISSION_DENIED before anything else of the
//! request is read; naming its own is not refused for its scope. Where a
//! service cannot apply a claim (billing and training know no teams), a
//! token carrying it is refused outright. A new RPC naming someone cannot
//! skip the rule: it joins the matrix by its field names.

use std::time::Duration;

use bytes::Bytes;
use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use tiejun_platform::{
    auth::{Role, TokenSpec},
    testing::TestDatabase,
};
use tiejun_proto::leads::v1::{ActivateRepRequest, RegisterRepRequest, rep_service_client::RepServiceClient};
use tiejun_tests::{
    authed,
    connected::Connected,
    keys,
    leads::admin,
    raw::{self, Kind},
};
use tonic::Code;

const PACKAGES: [&str; 3] = ["tiejun.leads.v1", "tiejun.billing.v1", "tiejun.training.v1"];

/// What a request field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Rep,
    Team,
    Account,
    Learner,
}

/// The subject a field of `package`'s requests names, by the field's name.
fn subject(package: &str, field: &str) -> Option<Subject> {
    Some(match field {
        "person_id" if package == "tiejun.training.v1" => Subject::Learner,
        "person_id" | "to_person_id" | "owner_person_id" | "sold_by_person_id" => Subject::Rep,
        "team" => Subject::Team,
        "account_id" => Subject::Account,
        "learner_id" => Subject::Learner,
        _ => return None,
    })
}

/// A scope claim a token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    Rep,
    Team,
    Account,
    Learner,
}

impl Claim {
    /// The claims that govern a name of `subject`.
    fn governing(subject: Subject) -> &'static [Claim] {
        match subject {
            Subject::Rep => &[Claim::Rep, Claim::Team],
            Subject::Team => &[Claim::Team],
            Subject::Account => &[Claim::Account],
            Subject::Learner => &[Claim::Learner],
        }
    }

    /// A token carrying this claim, with the role it goes with.
    fn token(self) -> String {
        let roles: &[Role] = match self {
            Claim::Rep => &[Role::SalesRep],
            Claim::Team => &[Role::SalesManager],
            Claim::Account | Claim::Learner => &[],
        };
        let mut spec = TokenSpec::new("scoped", roles, Duration::from_secs(600));
        match self {
            Claim::Rep => spec.rep_id = Some(OWN_REP.into()),
            Claim::Team => spec.team = Some(OWN_TEAM.into()),
            Claim::Account => spec.account_id = Some(OWN_ACCOUNT.into()),
            Claim::Learner => spec.learner_id = Some(OWN_LEARNER.into()),
        }
        keys().mint(&spec).expect("mint")
    }

    /// The caller's own name and another's, for a field naming `subject`.
    fn names(self, subject: Subject) -> (&'static str, &'static str) {
        match (self, subject) {
            (Claim::Team, Subject::Team) => (OWN_TEAM, OTHER_TEAM),
            (_, Subject::Account) => (OWN_ACCOUNT, OTHER_ACCOUNT),
            (_, Subject::Learner) => (OWN_LEARNER, OTHER_LEARNER),
            _ => (OWN_REP, OTHER_REP),
        }
    }
}

const OWN_REP: &str = "SCOPE-A";
const OTHER_REP: &str = "SCOPE-B";
const OWN_TEAM: &str = "Scope-T1";
const OTHER_TEAM: &str = "Scope-T2";
const OWN_ACCOUNT: &str = "scope-account-a";
const OTHER_ACCOUNT: &str = "scope-account-b";
const OWN_LEARNER: &str = "SCOPE-L1";
const OTHER_LEARNER: &str = "SCOPE-L2";

/// One cell: an RPC, the field, the claim.
#[derive(Debug)]
struct Cell {
    path: String,
    package: String,
    kind: Kind,
    field: String,
    number: i32,
    subject: Subject,
    claim: Claim,
}

/// Every (RPC, subject field, governing claim) of the routed packages.
fn cells() -> Vec<Cell> {
    let fds = prost_types::FileDescriptorSet::decode(tiejun_proto::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut messages = std::collections::HashMap::new();
    for file in &fds.file {
        for message in &file.message_type {
            messages.insert(format!(".{}.{}", file.package(), message.name()), message.clone());
        }
    }
    let mut out = Vec::new();
    for m in tiejun_proto::methods() {
        if !PACKAGES.contains(&m.package.as_str()) {
            continue;
        }
        let Some(kind) = Kind::of(&m) else { continue };
        let input = &messages[&m.input_type];
        for field in &input.field {
            let Some(subject) = subject(&m.package, field.name()) else {
                continue;
            };
            for claim in Claim::governing(subject) {
                out.push(Cell {
                    path: m.path.clone(),
                    package: m.package.clone(),
                    kind,
                    field: field.name().to_owned(),
                    number: field.number(),
                    subject,
                    claim: *claim,
                });
            }
        }
    }
    out
}

/// A request with only field `number` set to `value`.
fn request(number: i32, value: &str) -> Bytes {
    let mut buf = Vec::new();
    encode_key(
        u32::try_from(number).expect("field number"),
        WireType::LengthDelimited,
        &mut buf,
    );
    encode_varint(value.len() as u64, &mut buf);
    buf.extend_from_slice(value.as_bytes());
    Bytes::from(buf)
}

/// The two reps in two teams the rep-naming cells point at.
async fn reps_in_two_teams(suite: &Connected) {
    let mut reps = RepServiceClient::new(suite.channel().await);
    for (id, team) in [(OWN_REP, OWN_TEAM), (OTHER_REP, OTHER_TEAM)] {
        let register = RegisterRepRequest {
            person_id: id.into(),
            name: format!("Rep {id}"),
            team: team.into(),
            city: "杭州".into(),
            daily_quota: 0,
        };
        reps.register_rep(authed(register, &admin())).await.expect("register");
        let activate = ActivateRepRequest {
            person_id: id.into(),
            reason: String::new(),
        };
        reps.activate_rep(authed(activate, &admin())).await.expect("activate");
    }
}

fn role_gate(status: &tonic::Status) -> bool {
    status.code() == Code::PermissionDenied && status.message().contains("needs one of the roles")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_naming_someone_applies_every_scope_claim() {
    let cells = cells();
    assert!(cells.len() >= 30, "only {} cells from the descriptors", cells.len());
    assert!(
        cells.iter().any(|c| c.path.ends_with("/WatchRepEvents")),
        "streams are in the matrix"
    );
    let suite = Connected::start(TestDatabase::sqlite()).await;
    reps_in_two_teams(&suite).await;
    let channel = suite.channel().await;
    let mut wrong = Vec::new();
    let mut checked = 0;
    for cell in &cells {
        let token = cell.claim.token();
        let (own, other) = cell.claim.names(cell.subject);
        let answer = |name: &str| {
            raw::call(
                channel.clone(),
                &cell.path,
                cell.kind,
                request(cell.number, name),
                &token,
                Duration::from_millis(300),
            )
        };
        let (mine, theirs) = (answer(own).await, answer(other).await);
        let teamless = cell.claim == Claim::Team && cell.package != "tiejun.leads.v1";
        let verdict = if role_gate(&mine) && !teamless {
            // The claim's role may not call this RPC at all: the role
            // matrix covers it (authz.rs).
            continue;
        } else if teamless {
            // A service that knows no teams cannot hold a team-limited
            // token to its team: it refuses the token.
            mine.code() == Code::PermissionDenied && theirs.code() == Code::PermissionDenied
        } else {
            theirs.code() == Code::PermissionDenied && !role_gate(&theirs) && mine.code() != Code::PermissionDenied
        };
        checked += 1;
        if !verdict {
            wrong.push(format!(
                "{} {} = {:?} with a {:?} token: own {:?} {:?}, another's {:?} {:?}",
                cell.path,
                cell.field,
                cell.subject,
                cell.claim,
                mine.code(),
                mine.message(),
                theirs.code(),
                theirs.message()
            ));
        }
    }
    assert!(checked >= 20, "only {checked} cells were reachable past the role gate");
    assert!(
        wrong.is_empty(),
        "{} of {checked} cells leak or over-refuse:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
