//! The authorisation matrix: every RPC of the three services (read from the
//! descriptors) × every role, called through the gateway. The expected cell
//! is the contract's: each RPC's proto comment says `Roles: …`. So the test
//! holds the code's policy to the documented one, and an RPC added without a
//! documented role list, or without a policy, fails it. Authorisation is the
//! same code on both databases, so the matrix runs on SQLite; the token
//! tests below run against the gateway and a service directly.

use std::time::Duration;

use bytes::Bytes;
use tiejun_platform::{
    auth::{Claims, Role, TokenSpec},
    testing::TestDatabase,
};
use tiejun_tests::{
    Svc,
    connected::Connected,
    keys,
    raw::{self, Kind},
};
use tonic::Code;

/// The packages whose RPCs the gateway routes.
const PACKAGES: [&str; 3] = ["tiejun.leads.v1", "tiejun.billing.v1", "tiejun.training.v1"];

#[derive(Debug)]
struct Documented {
    path: String,
    kind: Kind,
    allowed: Allowed,
}

/// Who the contract lets through.
#[derive(Debug, PartialEq)]
enum Allowed {
    /// These roles; every other is refused for its role.
    Roles(Vec<Role>),
    /// These roles act for anyone; any other caller only for the account
    /// or learner its scope claim (`account_id`, `learner_id`) names.
    RolesOrOwnScope(Vec<Role>),
}

/// Every routed RPC with the roles its proto comment names.
fn documented() -> Vec<Documented> {
    tiejun_proto::methods()
        .into_iter()
        .filter(|m| PACKAGES.contains(&m.package.as_str()))
        .map(|m| Documented {
            kind: Kind::of(&m).unwrap_or_else(|| panic!("{}: no bidirectional RPC is expected", m.path)),
            allowed: roles_in(&m.documentation)
                .unwrap_or_else(|| panic!("{} documents no valid `Roles:` list: {:?}", m.path, m.documentation)),
            path: m.path,
        })
        .collect()
}

/// The roles after `Roles:` up to the end of that sentence; parenthesised
/// scope notes ("sales_rep (own only)") are dropped, and "account-scoped
/// token" / "learner-scoped token" open the RPC to scoped callers. None when
/// a name is neither.
fn roles_in(comment: &str) -> Option<Allowed> {
    let text = comment.replace('\n', " ");
    let (_, after) = text.split_once("Roles:")?;
    let mut plain = String::new();
    let mut depth = 0;
    for c in after.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let list = plain.split_once('.').map_or(plain.as_str(), |(list, _)| list).trim();
    if list == "any authenticated caller" {
        return Some(Allowed::Roles(Role::ALL.to_vec()));
    }
    let mut roles = Vec::new();
    let mut scoped = false;
    for name in list.split(',').map(str::trim) {
        match name {
            "account-scoped token" | "learner-scoped token" => scoped = true,
            _ => roles.push(Role::ALL.iter().copied().find(|r| r.as_str() == name)?),
        }
    }
    Some(if scoped {
        Allowed::RolesOrOwnScope(roles)
    } else {
        Allowed::Roles(roles)
    })
}

/// A token for `role`, with the scope claim a rep's token carries (a
/// manager's is unscoped: team-limited tokens are the scope matrix's,
/// `scope_matrix.rs`).
fn token_for(role: Role) -> String {
    let mut spec = TokenSpec::new("matrix", &[role], Duration::from_secs(600));
    if role == Role::SalesRep {
        spec.rep_id = Some("E9999".into());
    }
    keys().mint(&spec).expect("mint")
}

#[test]
fn the_role_lists_are_read_with_scope_notes_dropped() {
    assert_eq!(
        roles_in("Returns one rep. Roles: admin, sales_rep (own only, read), service. Idempotent."),
        Some(Allowed::Roles(vec![Role::Admin, Role::SalesRep, Role::Service]))
    );
    assert_eq!(
        roles_in("Roles: any authenticated caller."),
        Some(Allowed::Roles(Role::ALL.to_vec()))
    );
    assert_eq!(
        roles_in("Roles: admin,\n billing_admin, account-scoped token (own)."),
        Some(Allowed::RolesOrOwnScope(vec![Role::Admin, Role::BillingAdmin]))
    );
    assert_eq!(roles_in("Roles: admin, superuser."), None);
    assert_eq!(roles_in("No list here."), None);
}

/// Each service's policy has a rule for every RPC that service serves (its
/// package's and the platform's it carries), read from the descriptors.
#[test]
fn every_rpc_each_service_serves_has_a_rule_in_its_policy() {
    for svc in Svc::ALL {
        let missing = svc.policy().missing_rules(&svc.services());
        assert!(
            missing.is_empty(),
            "{svc:?}: RPCs without an access policy: {missing:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_answers_every_role_as_its_contract_documents() {
    let rpcs = documented();
    assert!(rpcs.len() >= 80, "only {} RPCs found in the descriptors", rpcs.len());
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let channel = suite.channel().await;
    let mut wrong = Vec::new();
    let mut cells = 0;
    for rpc in &rpcs {
        for role in Role::ALL {
            cells += 1;
            let status = raw::call(
                channel.clone(),
                &rpc.path,
                rpc.kind,
                Bytes::new(),
                &token_for(role),
                Duration::from_millis(200),
            )
            .await;
            let refused = status.code() == Code::PermissionDenied;
            let role_refused = refused
                && (status.message().contains("needs one of the roles")
                    || status.message().contains("no access policy"));
            let broken = matches!(
                status.code(),
                Code::Unauthenticated | Code::Unimplemented | Code::Internal | Code::Unknown | Code::Unavailable
            );
            // Listed roles pass the role gate, and for scoped RPCs the
            // handler's check too (they act for anyone); every other role,
            // with no scope claim in its token, is refused at the role gate
            // before the handler reads anything.
            let agrees = match &rpc.allowed {
                Allowed::Roles(roles) if roles.contains(&role) => !role_refused,
                Allowed::RolesOrOwnScope(roles) if roles.contains(&role) => !refused,
                Allowed::Roles(_) | Allowed::RolesOrOwnScope(_) => role_refused,
            };
            if broken || !agrees {
                wrong.push(format!(
                    "{} as {}: documented {:?}, answered {:?} {:?}",
                    rpc.path,
                    role.as_str(),
                    rpc.allowed,
                    status.code(),
                    status.message()
                ));
            }
        }
    }
    assert_eq!(cells, rpcs.len() * Role::ALL.len());
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells disagree with the contract:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn claims(exp_from_now: i64, nbf_from_now: Option<i64>) -> Claims {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    Claims {
        sub: "mallory".into(),
        roles: vec!["admin".into()],
        exp: (now + exp_from_now) as u64,
        iat: None,
        nbf: nbf_from_now.map(|d| (now + d) as u64),
        ..Default::default()
    }
}

/// `token` with its header replaced by `header_json` (base64url) and its
/// signature recomputed with the test secret under HS256 when `resign`.
fn with_header(token: &str, header_json: &str, resign: bool) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, crypto};
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let header = base64url(header_json.as_bytes());
    let input = format!("{header}.{payload}");
    let signature = if resign {
        crypto::sign(
            input.as_bytes(),
            &EncodingKey::from_secret(tiejun_tests::TEST_SECRET),
            Algorithm::HS256,
        )
        .expect("sign")
    } else {
        String::new()
    };
    format!("{input}.{signature}")
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_and_not_yet_valid_tokens_are_refused_at_the_gateway_and_the_service() {
    use tiejun_proto::leads::v1::{GetRepRequest, rep_service_client::RepServiceClient};
    let suite = Connected::start(TestDatabase::sqlite()).await;
    let valid = keys().encode(&claims(600, None)).expect("encode");
    let hs384 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS384),
        &claims(600, None),
        &jsonwebtoken::EncodingKey::from_secret(tiejun_tests::TEST_SECRET),
    )
    .expect("encode");
    let forged = [
        ("expired", keys().encode(&claims(-600, None)).expect("encode")),
        ("not yet valid", keys().encode(&claims(600, Some(600))).expect("encode")),
        (
            "alg none, no signature",
            with_header(&valid, r#"{"alg":"none","typ":"JWT"}"#, false),
        ),
        (
            "RS256 header signed with the HMAC secret",
            with_header(&valid, r#"{"alg":"RS256","typ":"JWT"}"#, true),
        ),
        ("HS384 with the right secret", hs384),
        ("payload changed after signing", {
            let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
            parts[1] = base64url(br#"{"sub":"mallory","roles":["admin"],"exp":99999999999}"#);
            parts.join(".")
        }),
    ];
    for (endpoint, channel) in [
        ("gateway", suite.channel().await),
        ("leads directly", suite.direct(Svc::Leads).await),
    ] {
        let mut client = RepServiceClient::new(channel);
        let accepted = client
            .get_rep(tiejun_tests::authed(GetRepRequest { person_id: "E1".into() }, &valid))
            .await
            .expect_err("no such rep");
        assert_eq!(accepted.code(), Code::NotFound, "the valid token passes ({endpoint})");
        for (what, token) in &forged {
            let status = client
                .get_rep(tiejun_tests::authed(GetRepRequest { person_id: "E1".into() }, token))
                .await
                .expect_err("refused");
            assert_eq!(status.code(), Code::Unauthenticated, "{what} at {endpoint}: {status:?}");
        }
    }
}
