//! The claim, as the database applies it. On PostgreSQL it is one statement
//! (a data-modifying CTE), run in autocommit when the call has no
//! idempotency key: it takes the locks in the service's order — the rep
//! `FOR SHARE`, the lead, the rep's day row — and applies the claim only when
//! `domain::claim::check`'s predicate holds on what it locked; otherwise it
//! returns the facts and the domain says why. Since the lead is locked and
//! checked before the day row takes a place, the statement never applies
//! half a claim. On SQLite, whose `BEGIN IMMEDIATE` holds the write lock,
//! the facts are read, the domain decides, and the claim is applied.

use crate::domain::ids::{LeadId, PersonId};
use chrono::{DateTime, Utc};
use sqlx::FromRow as _;
use tiejun_platform::stored;
use tiejun_platform::{
    db::{Database, Tx, Writer},
    error::{Error, violated_check},
    on_tx,
};
use tiejun_proto::leads::v1::{LeadState, RepStatus, TransitionRule};

use super::{
    leads::{LeadRow, lead_columns},
    transitions::{self, Assignment, assigned_set, first_deadline, next_sequence},
};
use crate::domain::{
    claim::{self, ClaimFacts, ClaimRefusal},
    rules::CLAIMS_PER_DAY,
};

/// One claim to apply.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    /// The claiming rep.
    pub person_id: &'a PersonId,
    /// The pool lead.
    pub lead_id: &'a LeadId,
    /// Today, in the business zone.
    pub business_day: &'a str,
    /// The caller's subject, for the history.
    pub actor: &'a str,
}

/// A claim that went through.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The lead, now ASSIGNED to the rep.
    pub lead: LeadRow,
    /// The rep's claims today, this one included.
    pub claimed_today: i32,
}

/// The database's own guard of the claim limit (CHECK `rep_days_claim_limit`)
/// answers as the rule does, should a claim ever get past the predicate.
fn limit_reached(err: sqlx::Error) -> Error {
    if violated_check(&err).as_deref() == Some("rep_days_claim_limit") {
        ClaimRefusal::ClaimLimit.error(&PersonId::default(), &LeadId::default())
    } else {
        err.into()
    }
}

/// Why the history says a lead was claimed.
const REASON: &str = "claimed from the pool";

/// Applies `c` through `w`, or says why not.
pub async fn apply(w: Writer<'_>, c: &Claim<'_>, now: DateTime<Utc>) -> Result<Result<Claimed, ClaimRefusal>, Error> {
    match w {
        Writer::Tx(Tx::Postgres(tx)) => in_one_statement(tx, c, now).await,
        Writer::Autocommit(Database::Postgres(pool)) => {
            let mut conn = pool.acquire().await?;
            in_one_statement(&mut conn, c, now).await
        }
        Writer::Tx(tx) => step_by_step(tx, c, now).await,
        Writer::Autocommit(db) => {
            let mut tx = db.begin().await?;
            let outcome = step_by_step(&mut tx, c, now).await?;
            if outcome.is_ok() {
                tx.commit().await?;
            }
            Ok(outcome)
        }
    }
}

/// The facts a claim is decided on, as one statement returns them.
#[derive(Debug, sqlx::FromRow)]
struct Facts {
    rep_status: Option<String>,
    rep_quota: Option<i32>,
    lead_state: Option<String>,
    cooling: bool,
    claimed_seen: i32,
    received_seen: i32,
}

impl Facts {
    fn parse(self) -> Result<ClaimFacts, Error> {
        let corrupt = |e: tiejun_platform::stored::Corrupt| Error::internal(e);
        let rep = match (self.rep_status, self.rep_quota) {
            (Some(status), Some(quota)) => Some((stored::parse::<RepStatus>(&status).map_err(corrupt)?, quota)),
            _ => None,
        };
        let lead = self
            .lead_state
            .map(|s| stored::parse::<LeadState>(&s))
            .transpose()
            .map_err(corrupt)?;
        Ok(ClaimFacts {
            rep,
            lead,
            cooling: self.cooling,
            claimed_today: self.claimed_seen,
            received_today: self.received_seen,
        })
    }
}

/// What the claim statement did.
#[derive(Debug, sqlx::FromRow)]
struct Applied {
    /// The day row after the claim took a place, if it did.
    day_claimed: Option<i32>,
    /// The lead moved to the rep.
    moved: bool,
}

/// The rep (share), then the lead (its lock waits for a claim in flight
/// and reads the lead as that one left it), then the day row: the lock
/// order. The lead's scan is made to depend on the rep's, so the planner
/// cannot take them the other way round.
const CLAIM: &str = concat!(
    "WITH rep AS (SELECT status, daily_quota FROM reps WHERE person_id = $1 FOR SHARE), \
     lead AS (SELECT state FROM leads WHERE lead_id = $2 AND EXISTS (SELECT 1 FROM rep) FOR NO KEY UPDATE), \
     cooling AS (SELECT EXISTS (SELECT 1 FROM lead_cooldowns WHERE lead_id = $2 AND person_id = $1 AND until > $4) \
       AS cooling), \
     seen AS (SELECT claimed, distributed FROM rep_days WHERE person_id = $1 AND business_day = $3), \
     day AS (INSERT INTO rep_days AS d (person_id, business_day, claimed) SELECT $1, $3, 1 FROM rep, lead, cooling \
       WHERE rep.status = 'ACTIVE' AND lead.state = 'POOL' AND NOT cooling.cooling AND rep.daily_quota > 0 AND $5 > 0 \
       ON CONFLICT (person_id, business_day) DO UPDATE SET claimed = d.claimed + 1 \
       WHERE d.claimed < $5 AND d.distributed + d.claimed < (SELECT daily_quota FROM rep) RETURNING d.claimed), \
     moved AS (UPDATE leads SET ",
    assigned_set!("$1", "$4", "$6", "$7"),
    " FROM day WHERE leads.lead_id = $2 AND leads.state = 'POOL' RETURNING ",
    lead_columns!("leads."),
    "), \
     opened AS (INSERT INTO assignments (assignment_id, lead_id, person_id, business_day, rule, reason, assigned_at) \
       SELECT $7, lead_id, $1, $3, 'SELF_CLAIM', $9, $4 FROM moved), \
     logged AS (INSERT INTO lead_history (lead_id, sequence, occurred_at, actor, from_state, to_state, from_owner, \
       to_owner, rule, reason) SELECT moved.lead_id, ",
    next_sequence!("moved.lead_id"),
    ", $4, $8, 'POOL', 'ASSIGNED', NULL, $1, 'SELF_CLAIM', $9 FROM moved), \
     fed AS (INSERT INTO rep_events (person_id, kind, lead_id, rule, deadline_at, created_at) \
       SELECT $1, 'ASSIGNED', lead_id, 'SELF_CLAIM', $6, $4 FROM moved) \
     SELECT (SELECT status FROM rep) AS rep_status, (SELECT daily_quota FROM rep) AS rep_quota, \
       (SELECT state FROM lead) AS lead_state, (SELECT cooling FROM cooling) AS cooling, \
       COALESCE((SELECT claimed FROM seen), 0) AS claimed_seen, \
       COALESCE((SELECT claimed + distributed FROM seen), 0) AS received_seen, \
       (SELECT claimed FROM day) AS day_claimed, moved.lead_id IS NOT NULL AS moved, moved.* \
     FROM (SELECT 1) AS one LEFT JOIN moved ON TRUE"
);

/// PostgreSQL: the whole claim in one statement, on a transaction's
/// connection or on the pool.
async fn in_one_statement(
    on: &mut sqlx::PgConnection,
    c: &Claim<'_>,
    now: DateTime<Utc>,
) -> Result<Result<Claimed, ClaimRefusal>, Error> {
    let row = sqlx::query(CLAIM)
        .bind(c.person_id)
        .bind(c.lead_id)
        .bind(c.business_day)
        .bind(now)
        .bind(CLAIMS_PER_DAY)
        .bind(first_deadline(now))
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(c.actor)
        .bind(REASON)
        .fetch_one(&mut *on)
        .await
        .map_err(limit_reached)?;
    let applied = Applied::from_row(&row)?;
    if let (true, Some(claimed_today)) = (applied.moved, applied.day_claimed) {
        let lead = LeadRow::from_row(&row)?;
        return Ok(Ok(Claimed { lead, claimed_today }));
    }
    let mut facts = Facts::from_row(&row)?.parse()?;
    if claim::check(&facts).is_ok() {
        // What the rule allowed on the statement's snapshot, the locked day
        // row refused: another claim or a distribution took the rep's last
        // place meanwhile. Read the day as it is now to say which limit.
        let (claimed, received): (i32, i32) = sqlx::query_as(
            "SELECT claimed, distributed + claimed FROM rep_days WHERE person_id = $1 AND business_day = $2",
        )
        .bind(c.person_id)
        .bind(c.business_day)
        .fetch_one(on)
        .await?;
        facts.claimed_today = claimed;
        facts.received_today = received;
    }
    Ok(Err(claim::check(&facts).err().unwrap_or(ClaimRefusal::NotInPool)))
}

/// SQLite: the facts, the rule, then the changes, under the write lock.
async fn step_by_step(tx: &mut Tx, c: &Claim<'_>, now: DateTime<Utc>) -> Result<Result<Claimed, ClaimRefusal>, Error> {
    let facts: Facts = on_tx!(tx, |conn| sqlx::query_as(
        "SELECT (SELECT status FROM reps WHERE person_id = $1) AS rep_status, \
         (SELECT daily_quota FROM reps WHERE person_id = $1) AS rep_quota, \
         (SELECT state FROM leads WHERE lead_id = $2) AS lead_state, \
         EXISTS (SELECT 1 FROM lead_cooldowns WHERE lead_id = $2 AND person_id = $1 AND until > $4) AS cooling, \
         COALESCE((SELECT claimed FROM rep_days WHERE person_id = $1 AND business_day = $3), 0) AS claimed_seen, \
         COALESCE((SELECT distributed + claimed FROM rep_days WHERE person_id = $1 AND business_day = $3), 0) \
           AS received_seen"
    )
    .bind(c.person_id)
    .bind(c.lead_id)
    .bind(c.business_day)
    .bind(now)
    .fetch_one(conn)
    .await?);
    if let Err(refusal) = claim::check(&facts.parse()?) {
        return Ok(Err(refusal));
    }
    let claimed_today: i32 = on_tx!(tx, |conn| sqlx::query_scalar(
        "INSERT INTO rep_days (person_id, business_day, claimed) VALUES ($1, $2, 1) \
         ON CONFLICT (person_id, business_day) DO UPDATE SET claimed = rep_days.claimed + 1 RETURNING claimed"
    )
    .bind(c.person_id)
    .bind(c.business_day)
    .fetch_one(conn)
    .await
    .map_err(limit_reached)?);
    let assignment = Assignment {
        lead_id: c.lead_id,
        person_id: c.person_id,
        business_day: c.business_day,
        rule: TransitionRule::SelfClaim,
        reason: REASON,
        actor: c.actor,
    };
    let lead = transitions::assign(tx, &assignment, now).await?;
    Ok(Ok(Claimed { lead, claimed_today }))
}
