//! The revoked-token table (RFC 7009): revocations are stored until the token would have
//! expired anyway, so introspection can refuse a revoked token on every instance.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::{DbConn, schema::revoked_tokens};
use crate::error::{Error, Result};

/// Records that the token `jti` of `client_id` is revoked until `expires_at`; revoking it
/// again changes nothing.
pub fn store(
    conn: &mut DbConn,
    jti: &str,
    client_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<()> {
    let inserted = diesel::insert_into(revoked_tokens::table)
        .values((
            revoked_tokens::jti.eq(jti),
            revoked_tokens::client_id.eq(client_id),
            revoked_tokens::expires_at.eq(expires_at.naive_utc()),
            revoked_tokens::revoked_at.eq(now.naive_utc()),
        ))
        .execute(conn);
    match inserted.map_err(Error::on_duplicate(String::new)) {
        Ok(_) | Err(Error::Conflict(_)) => Ok(()),
        Err(other) => Err(other),
    }
}

/// Whether the token `jti` was revoked (and has not expired since).
pub fn is_revoked(conn: &mut DbConn, jti: &str) -> Result<bool> {
    let count: i64 = revoked_tokens::table
        .filter(revoked_tokens::jti.eq(jti))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Forgets revocations of tokens that have expired anyway.
pub fn prune_revoked(conn: &mut DbConn, now: DateTime<Utc>) -> Result<()> {
    diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.le(now.naive_utc())))
        .execute(conn)?;
    Ok(())
}
