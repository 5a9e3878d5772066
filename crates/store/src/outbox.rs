//! The outbox: e-mail written with the change it tells of, delivered by a worker on any node. A message
//! is claimed by one conditional update (whoever sets `claimed_until` first holds it), so no two workers
//! send it at once; a worker that dies mid-send lets it go when the lease ends.

use keyward_core::UnixTime;
use keyward_core::ids::AccountId;
use keyward_core::mail::Message;
use keyward_core::store::{OutboxStore, QueuedMail, StoreResult};
use keyward_core::user::Email;

use crate::{SqlStore, backend, seconds, time, with_pool};

#[derive(sqlx::FromRow)]
struct MailRow {
    id: i64,
    to_address: String,
    subject: String,
    text_body: String,
    html_body: String,
    links: String,
    attempts: i64,
    created_at: i64,
    last_error: Option<String>,
}

impl MailRow {
    fn into_mail(self) -> StoreResult<QueuedMail> {
        let links = self.links.lines().map(str::to_owned).collect();
        Ok(QueuedMail {
            id: self.id,
            message: Message {
                to: Email::parse(&self.to_address)?,
                subject: self.subject,
                text: self.text_body,
                html: self.html_body,
                links,
            },
            attempts: u32::try_from(self.attempts).unwrap_or(u32::MAX),
            created_at: time(self.created_at)?,
            last_error: self.last_error,
        })
    }
}

macro_rules! columns {
    () => {
        "id, to_address, subject, text_body, html_body, links, attempts, created_at, last_error"
    };
}

impl OutboxStore for SqlStore {
    async fn enqueue_mail(&self, message: &Message, now: UnixTime) -> StoreResult<()> {
        let sql = "INSERT INTO outbox (to_address, subject, text_body, html_body, links, created_at, next_attempt_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $6)";
        with_pool!(self, pool => {
            sqlx::query(sql)
                .bind(message.to.as_str())
                .bind(&message.subject)
                .bind(&message.text)
                .bind(&message.html)
                .bind(message.links.join("\n"))
                .bind(seconds(now))
                .execute(pool)
                .await
                .map_err(backend)?;
        });
        Ok(())
    }

    async fn claim_mail(&self, now: UnixTime, lease_until: UnixTime) -> StoreResult<Option<QueuedMail>> {
        let sql = concat!(
            "UPDATE outbox SET claimed_until = $2, attempts = attempts + 1 WHERE id = (",
            "SELECT id FROM outbox WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1 ",
            "AND claimed_until <= $1 ORDER BY next_attempt_at, id LIMIT 1) ",
            "AND delivered_at IS NULL AND given_up_at IS NULL AND claimed_until <= $1 RETURNING ",
            columns!()
        );
        let row: Option<MailRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(seconds(now)).bind(seconds(lease_until)).fetch_optional(pool).await.map_err(backend)?
        });
        row.map(MailRow::into_mail).transpose()
    }

    async fn mail_delivered(&self, id: i64, now: UnixTime) -> StoreResult<()> {
        let sql = "UPDATE outbox SET delivered_at = $1, claimed_until = 0 WHERE id = $2";
        with_pool!(self, pool => {
            sqlx::query(sql).bind(seconds(now)).bind(id).execute(pool).await.map_err(backend)?;
        });
        Ok(())
    }

    async fn mail_not_delivered(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<UnixTime>,
        now: UnixTime,
    ) -> StoreResult<()> {
        let error: String = error.chars().take(1000).collect();
        let sql = match retry_at {
            Some(_) => {
                "UPDATE outbox SET last_error = $1, next_attempt_at = $2, claimed_until = 0 WHERE id = $3"
            }
            None => "UPDATE outbox SET last_error = $1, given_up_at = $2, claimed_until = 0 WHERE id = $3",
        };
        let at = seconds(retry_at.unwrap_or(now));
        with_pool!(self, pool => {
            sqlx::query(sql).bind(&error).bind(at).bind(id).execute(pool).await.map_err(backend)?;
        });
        Ok(())
    }

    async fn undelivered_mail(&self, account: AccountId, limit: u32) -> StoreResult<Vec<QueuedMail>> {
        let sql = concat!(
            "SELECT o.id, o.to_address, o.subject, o.text_body, o.html_body, o.links, o.attempts, o.created_at, ",
            "o.last_error FROM outbox o JOIN users u ON u.email = o.to_address ",
            "WHERE u.account_id = $1 AND o.given_up_at IS NOT NULL ORDER BY o.id DESC LIMIT $2"
        );
        let rows: Vec<MailRow> = with_pool!(self, pool => {
            sqlx::query_as(sql).bind(account.0).bind(i64::from(limit)).fetch_all(pool).await.map_err(backend)?
        });
        rows.into_iter().map(MailRow::into_mail).collect()
    }

    async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        let sql = "SELECT \
                   COALESCE(SUM(CASE WHEN delivered_at IS NULL AND given_up_at IS NULL THEN 1 ELSE 0 END), 0), \
                   COALESCE(SUM(CASE WHEN given_up_at IS NOT NULL THEN 1 ELSE 0 END), 0) FROM outbox";
        let (waiting, given_up): (i64, i64) = with_pool!(self, pool => {
            sqlx::query_as(sql).fetch_one(pool).await.map_err(backend)?
        });
        Ok((u64::try_from(waiting).unwrap_or(0), u64::try_from(given_up).unwrap_or(0)))
    }
}
