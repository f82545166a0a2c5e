//! Idempotency keys: the same key with the same request returns the first
//! response; the same key with a different request is refused with
//! `IDEMPOTENCY_KEY_REUSED`. Used inside the caller's own transaction, so the
//! key and the effect commit (or roll back) together: under concurrent
//! retries exactly one does the work (PostgreSQL makes the others wait on the
//! key's unique index until it commits; SQLite serialises writers).
//!
//! Every service's migrations create the `idempotency_keys` table:
//! `(scope, key)` primary key, the request's SHA-256, and the encoded response.

use chrono::{DateTime, Utc};
use prost::Message;
use sha2::{Digest as _, Sha256};

use crate::{
    db::{Database, Tx, Writer},
    error::Error,
    execute, on_tx,
};

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim<R> {
    /// First use: do the work, then [`record`] the response.
    Fresh,
    /// Seen before with the same request: return this response.
    Replay(R),
}

/// The fingerprint of a request (SHA-256 of its protobuf encoding).
pub fn fingerprint(request: &impl Message) -> String {
    hex::encode(Sha256::digest(request.encode_to_vec()))
}

/// Refuses keys that are too long; an empty key means "not idempotent".
pub fn validate_key(field: &str, key: &str) -> Result<(), Error> {
    if key.len() > 200 {
        return Err(Error::invalid(field, "at most 200 bytes"));
    }
    Ok(())
}

/// An RPC's idempotency key, scoped to the caller and the method, with the
/// request's fingerprint: the one thing a handler needs to replay or record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    scope: String,
    key: String,
    hash: String,
}

impl Key {
    /// The key of `request` sent by `subject` to `method`; `None` when the
    /// client sent no key (the call is then not idempotent).
    pub fn of(subject: &str, method: &str, key: &str, request: &impl Message) -> Result<Option<Self>, Error> {
        validate_key("idempotency_key", key)?;
        Ok((!key.is_empty()).then(|| Self {
            scope: format!("{subject}/{method}"),
            key: key.to_owned(),
            hash: fingerprint(request),
        }))
    }

    /// The first response, when this key was used before with the same
    /// request; claims the key otherwise (same transaction as the effect).
    pub async fn replay<R: Message + Default>(&self, tx: &mut Tx, now: DateTime<Utc>) -> Result<Option<R>, Error> {
        match claim(tx, &self.scope, &self.key, &self.hash, now).await? {
            Claim::Fresh => Ok(None),
            Claim::Replay(first) => Ok(Some(first)),
        }
    }

    /// Stores the response for later replays (same transaction).
    pub async fn record(&self, tx: &mut Tx, response: &impl Message) -> Result<(), Error> {
        record(tx, &self.scope, &self.key, response).await
    }
}

/// Runs `work` in one write transaction and commits it, with the idempotency
/// protocol around it when the call has a key: a repeat of the first
/// request gets the first response without running `work` again, and the
/// response is recorded in the same transaction as the effect. A handler
/// hands over its key and its work; the replay-and-record prelude lives here
/// once.
pub async fn transact<R>(
    db: &Database,
    key: Option<&Key>,
    now: DateTime<Utc>,
    work: impl AsyncFnOnce(&mut Tx) -> Result<R, Error>,
) -> Result<R, Error>
where
    R: Message + Default,
{
    let mut tx = db.begin().await?;
    if let Some(key) = key
        && let Some(first) = key.replay(&mut tx, now).await?
    {
        return Ok(first);
    }
    let response = work(&mut tx).await?;
    if let Some(key) = key {
        key.record(&mut tx, &response).await?;
    }
    tx.commit().await?;
    Ok(response)
}

/// Like [`transact`], for a use case that can be one statement: without a
/// key it runs in autocommit ([`Writer::Autocommit`]); with one, the key's
/// claim and record need the transaction around it.
pub async fn write<R>(
    db: &Database,
    key: Option<&Key>,
    now: DateTime<Utc>,
    work: impl AsyncFnOnce(Writer<'_>) -> Result<R, Error>,
) -> Result<R, Error>
where
    R: Message + Default,
{
    match key {
        None => work(Writer::Autocommit(db)).await,
        Some(key) => transact(db, Some(key), now, async |tx| work(Writer::Tx(tx)).await).await,
    }
}

/// Claims `key` in `scope` (e.g. the caller and the method) within `tx`.
pub async fn claim<R: Message + Default>(
    tx: &mut Tx,
    scope: &str,
    key: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<Claim<R>, Error> {
    let inserted = execute!(
        tx,
        sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(scope)
        .bind(key)
        .bind(hash)
        .bind(now)
    )?;
    if inserted == 1 {
        return Ok(Claim::Fresh);
    }
    let (stored, response): (String, Option<Vec<u8>>) = on_tx!(tx, |c| sqlx::query_as(
        "SELECT request_hash, response FROM idempotency_keys WHERE scope = $1 AND key = $2"
    )
    .bind(scope)
    .bind(key)
    .fetch_one(c)
    .await?);
    if stored != hash {
        return Err(Error::IdempotencyKeyReused);
    }
    let bytes = response.ok_or_else(|| Error::Aborted("the first request with this key is still running".into()))?;
    let decoded = R::decode(bytes.as_slice()).map_err(Error::internal)?;
    Ok(Claim::Replay(decoded))
}

/// Stores the response of a [`Claim::Fresh`] key (same transaction).
pub async fn record(tx: &mut Tx, scope: &str, key: &str, response: &impl Message) -> Result<(), Error> {
    execute!(
        tx,
        sqlx::query("UPDATE idempotency_keys SET response = $3 WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .bind(response.encode_to_vec())
    )?;
    Ok(())
}
