//! `private_pools`: how many leads each rep keeps private, capped by the
//! CHECK `private_pools_cap` (`domain::rules::PRIVATE_POOL_CAP`). Last in
//! the lock order: changed after the leads it counts are locked.

use crate::domain::ids::PersonId;
use tiejun_platform::{
    db::{Database, Tx},
    error::{Error, violated_check},
    execute, on_pool, on_tx,
};

use crate::domain::private_pool::PoolFull;

/// The CHECK that caps a pool.
const CAP: &str = "private_pools_cap";

/// A rep's pool size, its row created if missing and locked.
pub async fn lock(tx: &mut Tx, person_id: &PersonId) -> Result<i32, Error> {
    Ok(on_tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO private_pools (person_id) VALUES ($1) ON CONFLICT (person_id) \
         DO UPDATE SET size = private_pools.size RETURNING size"
    )
    .bind(person_id)
    .fetch_one(c)
    .await?))
}

/// Changes a rep's pool size by `delta`; above the cap the database refuses
/// (PRIVATE_POOL_FULL), whatever the interleaving.
pub async fn add(tx: &mut Tx, person_id: &PersonId, delta: i32) -> Result<(), Error> {
    // A CHECK applies to the row an upsert proposes before the conflict is
    // found, so a decrease (of a pool that exists: it holds the lead being
    // given back) is a plain update.
    let result = if delta < 0 {
        execute!(
            tx,
            sqlx::query("UPDATE private_pools SET size = size + $2 WHERE person_id = $1")
                .bind(person_id)
                .bind(delta)
        )
    } else {
        execute!(
            tx,
            sqlx::query(
                "INSERT INTO private_pools (person_id, size) VALUES ($1, $2) ON CONFLICT (person_id) \
                 DO UPDATE SET size = private_pools.size + $2"
            )
            .bind(person_id)
            .bind(delta)
        )
    };
    match result {
        Err(err) if delta > 0 && violated_check(&err).as_deref() == Some(CAP) => {
            Err(PoolFull { release_more: delta }.error())
        }
        Err(err) => Err(err.into()),
        Ok(_) => Ok(()),
    }
}

/// A rep's pool size, for display.
pub async fn size(db: &Database, person_id: &PersonId) -> Result<i32, Error> {
    let size: Option<i32> = on_pool!(db, |p| sqlx::query_scalar(
        "SELECT size FROM private_pools WHERE person_id = $1"
    )
    .bind(person_id)
    .fetch_optional(p)
    .await?);
    Ok(size.unwrap_or(0))
}
