//! Webhooks: who watches what, the outbox of events, and their deliveries.
//!
//! An event is durable before the change that caused it is answered: a change made by the
//! server writes its event and the event's deliveries in one transaction
//! ([`Accounts::record_event`]); a push writes a *tentative* event from its hook, before git
//! moves the refs ([`Accounts::record_push`]), which the server makes real once it sees the
//! refs moved, or drops if they never did ([`Accounts::confirm_event`],
//! [`Accounts::drop_event`]). Deliveries are claimed one node at a time
//! ([`Accounts::claim_deliveries`]), retried with backoff, and each attempt is logged.

use crate::{new_public_id, now_iso, Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// Most webhooks one user keeps, and most things one webhook watches.
pub const MAX_WEBHOOKS: i64 = 50;
pub const MAX_WATCHED: usize = 100;
/// Log entries kept per webhook (the oldest go first).
pub const MAX_LOGS: i64 = 200;
/// Events are kept this long after their last delivery ended (replays need them).
pub const EVENT_KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// Stands in a [`Outgoing`] payload for the id of a repo not yet made.
pub const REPO_ID_MARK: &str = "@@repo-id@@";
/// Stands in a payload for the public id of the first event a discussion change stores.
pub const COMMENT_ID_MARK: &str = "@@comment-id@@";

/// An event to write with the next change made through [`Accounts::telling`]'s handle.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub uid: String,
    pub repo_id: Option<i64>,
    pub domain: String,
    pub repo_type: String,
    pub namespace: String,
    pub full_id: String,
    /// The payload without `webhook` (see [`REPO_ID_MARK`]).
    pub payload: String,
}

impl Outgoing {
    pub fn new(repo_id: Option<i64>, target: &EventTarget<'_>, payload: String) -> Self {
        Outgoing {
            uid: new_public_id(),
            repo_id,
            domain: target.domain.to_owned(),
            repo_type: target.repo_type.to_owned(),
            namespace: target.namespace.to_owned(),
            full_id: target.full_id.to_owned(),
            payload,
        }
    }
}

/// One webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: String,
    pub owner_id: i64,
    pub url: String,
    pub secret: Option<String>,
    /// `repo`, `discussion`.
    pub domains: Vec<String>,
    pub disabled: bool,
    /// Why the server disabled it, if it did.
    pub note: Option<String>,
    /// `(kind, name)`: kind `user`, `org`, `model`, `dataset` or `space`; name as given.
    pub watched: Vec<(String, String)>,
    pub created_at: String,
}

/// What a new or changed webhook says.
#[derive(Debug, Clone)]
pub struct WebhookSpec<'a> {
    pub url: &'a str,
    pub secret: Option<&'a str>,
    pub domains: &'a [String],
    pub watched: &'a [(String, String)],
}

/// Who an event concerns: its repo's namespace and id (lowercase), and its domain.
#[derive(Debug, Clone)]
pub struct EventTarget<'a> {
    pub domain: &'a str,
    pub repo_type: &'a str,
    pub namespace: &'a str,
    pub full_id: &'a str,
}

/// A tentative event of a push (see the module's notes).
#[derive(Debug, Clone)]
pub struct Tentative {
    pub id: i64,
    pub uid: String,
    pub repo_id: i64,
    /// JSON: the push's ref updates, `[{ref, oldSha, newSha}]`.
    pub refs: String,
    pub created_ms: i64,
}

/// A delivery a node claimed: where, what, and how often it was tried.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: i64,
    pub webhook_id: String,
    pub owner_id: i64,
    pub url: String,
    pub secret: Option<String>,
    pub event_id: i64,
    pub event_uid: String,
    pub repo_id: Option<i64>,
    /// JSON without `webhook` (added when sent).
    pub payload: String,
    pub attempts: i64,
    pub replay: bool,
    pub created_ms: i64,
}

/// One attempt, as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub id: i64,
    pub event_uid: String,
    pub scope: String,
    /// The HTTP status; `None` when nothing answered.
    pub status: Option<i64>,
    pub latency_ms: i64,
    /// The answer's first KiB, or the error.
    pub response: String,
    pub replay: bool,
    pub created_at: String,
    /// Whether the event is still kept (a replay can send it).
    pub replayable: bool,
}

/// What became of an attempt.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub scope: &'a str,
    pub status: Option<i64>,
    pub latency_ms: i64,
    pub response: &'a str,
    pub ok: bool,
    /// When to try again after a failure; `None`: give up.
    pub retry_at: Option<i64>,
    /// Disable the webhook (it failed for a day) with this note.
    pub disable: Option<&'a str>,
    /// Not sent (its owner can no longer read the repo): done, unlogged, and neither a
    /// failure nor a success of the webhook.
    pub skipped: bool,
}

type HookRow = (
    String,
    i64,
    String,
    Option<String>,
    String,
    bool,
    Option<String>,
    String,
);

impl Accounts {
    /// This handle with `event` attached: the next change made through it that tells
    /// webhooks (a repo created, deleted, moved or changed; a discussion opened, changed or
    /// commented) writes `event` in its own transaction.
    pub fn telling(&self, event: Outgoing) -> Accounts {
        let mut told = self.clone();
        told.outbox = Some(std::sync::Arc::new(event));
        told
    }

    /// A new webhook of `owner_id`; `None` when they have [`MAX_WEBHOOKS`] already.
    pub async fn create_webhook(
        &self,
        owner_id: i64,
        spec: &WebhookSpec<'_>,
    ) -> Result<Option<Webhook>> {
        let id = new_public_id();
        let made = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let (count,): (i64,) =
                sqlx::query_as("SELECT count(*) FROM webhooks WHERE owner_id = $1")
                    .bind(owner_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if count >= MAX_WEBHOOKS {
                false
            } else {
                sqlx::query(
                    "INSERT INTO webhooks (id, owner_id, url, secret, domains) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(owner_id)
                .bind(spec.url)
                .bind(spec.secret)
                .bind(spec.domains.join(","))
                .execute(&mut *tx)
                .await?;
                for (kind, name) in spec.watched {
                    sqlx::query(
                        "INSERT INTO webhook_watches (webhook_id, kind, name) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&id)
                    .bind(kind)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                true
            }
        });
        if !made {
            return Ok(None);
        }
        self.webhook(&id).await
    }

    /// Changes a webhook: its URL, watched things and domains; its secret when `secret` is
    /// `Some`. False if it does not exist.
    pub async fn update_webhook(
        &self,
        id: &str,
        url: &str,
        domains: &[String],
        watched: &[(String, String)],
        secret: Option<Option<&str>>,
    ) -> Result<bool> {
        let found = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query("UPDATE webhooks SET url = $2, domains = $3 WHERE id = $1")
                .bind(id)
                .bind(url)
                .bind(domains.join(","))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n > 0 {
                if let Some(secret) = secret {
                    sqlx::query("UPDATE webhooks SET secret = $2 WHERE id = $1")
                        .bind(id)
                        .bind(secret)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query("DELETE FROM webhook_watches WHERE webhook_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                for (kind, name) in watched {
                    sqlx::query(
                        "INSERT INTO webhook_watches (webhook_id, kind, name) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(kind)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
            n > 0
        });
        Ok(found)
    }

    /// Turns a webhook off (with the server's `note` why, or none when its owner did) or on.
    /// Off drops the deliveries it still owed; on clears the run of failures. False if it
    /// does not exist.
    pub async fn set_webhook_disabled(
        &self,
        id: &str,
        disabled: bool,
        note: Option<&str>,
    ) -> Result<bool> {
        let found = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE webhooks SET disabled = $2, note = $3, failing_since = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(disabled)
            .bind(note)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if disabled {
                sqlx::query(
                    "UPDATE webhook_deliveries SET done = TRUE WHERE webhook_id = $1 AND NOT done",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            n > 0
        });
        Ok(found)
    }

    /// Deletes a webhook with its deliveries and logs; false if it did not exist.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        let n = on_pool!(&self.pool, p => sqlx::query("DELETE FROM webhooks WHERE id = $1")
            .bind(id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// One webhook, with what it watches.
    pub async fn webhook(&self, id: &str) -> Result<Option<Webhook>> {
        let row: Option<HookRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, owner_id, url, secret, domains, disabled, note, created_at \
             FROM webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        match row {
            Some(row) => Ok(Some(self.with_watches(row).await?)),
            None => Ok(None),
        }
    }

    /// The webhooks of `owner_id`, oldest first.
    pub async fn webhooks_of(&self, owner_id: i64) -> Result<Vec<Webhook>> {
        let rows: Vec<HookRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, owner_id, url, secret, domains, disabled, note, created_at \
             FROM webhooks WHERE owner_id = $1 ORDER BY created_at, id",
        )
        .bind(owner_id)
        .fetch_all(p)
        .await)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(self.with_watches(row).await?);
        }
        Ok(out)
    }

    async fn with_watches(&self, row: HookRow) -> Result<Webhook> {
        let (id, owner_id, url, secret, domains, disabled, note, created_at) = row;
        let watched: Vec<(String, String)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT kind, name FROM webhook_watches WHERE webhook_id = $1 ORDER BY kind, name",
        )
        .bind(&id)
        .fetch_all(p)
        .await)?;
        Ok(Webhook {
            id,
            owner_id,
            url,
            secret,
            domains: domains
                .split(',')
                .filter(|d| !d.is_empty())
                .map(str::to_owned)
                .collect(),
            disabled,
            note,
            watched,
            created_at,
        })
    }

    /// Writes an event and its deliveries (one per enabled webhook watching its repo, its
    /// namespace, for its domain) in one transaction; its uid. `payload` is the JSON without
    /// `webhook`.
    pub async fn record_event(
        &self,
        repo_id: Option<i64>,
        target: &EventTarget<'_>,
        payload: &str,
    ) -> Result<String> {
        let event = Outgoing::new(repo_id, target, payload.to_owned());
        let uid = event.uid.clone();
        let told = self.telling(event);
        on_pool!(&told.pool, p => {
            let mut tx = p.begin().await?;
            tell!(told, tx, None, &[]);
            tx.commit().await?;
        });
        Ok(uid)
    }

    /// A push's tentative event, written by its hook before git moves the refs: `refs` is
    /// JSON `[{ref, oldSha, newSha}]`.
    pub async fn record_push(&self, repo_id: i64, refs: &str) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO webhook_events (uid, repo_id, domain, state, payload, created_ms) \
             VALUES ($1, $2, 'repo', 'tentative', $3, $4)",
        )
        .bind(new_public_id())
        .bind(repo_id)
        .bind(refs)
        .bind(crate::now_ms())
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Tentative events: of `repo_id`, or of every repo when `None`, written before
    /// `before_ms`; oldest first, at most `limit`.
    pub async fn tentative_events(
        &self,
        repo_id: Option<i64>,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<Tentative>> {
        let rows: Vec<(i64, String, Option<i64>, String, i64)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, uid, repo_id, payload, created_ms FROM webhook_events \
             WHERE state = 'tentative' AND ($1 IS NULL OR repo_id = $1) AND created_ms < $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(repo_id)
        .bind(before_ms)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, uid, repo_id, refs, created_ms)| Tentative {
                id,
                uid,
                repo_id: repo_id.unwrap_or_default(),
                refs,
                created_ms,
            })
            .collect())
    }

    /// Makes a tentative event real with its full payload and makes its deliveries, in one
    /// transaction; false if another node did first (or dropped it).
    pub async fn confirm_event(
        &self,
        id: i64,
        target: &EventTarget<'_>,
        payload: &str,
    ) -> Result<bool> {
        let now = crate::now_ms();
        let done = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "UPDATE webhook_events SET state = 'sent', payload = $2, domain = $3 \
                 WHERE id = $1 AND state = 'tentative'",
            )
            .bind(id)
            .bind(payload)
            .bind(target.domain)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n > 0 {
                fan_out!(tx, id, now, target.domain, target.namespace, target.repo_type, target.full_id);
            }
            tx.commit().await?;
            n > 0
        });
        Ok(done)
    }

    /// Drops a tentative event whose push never moved the refs.
    pub async fn drop_event(&self, id: i64) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "DELETE FROM webhook_events WHERE id = $1 AND state = 'tentative'",
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Claims up to `limit` deliveries due at `now_ms` (of enabled webhooks) for `lease_ms`:
    /// no other node sends them meanwhile. A webhook has one delivery under way at a time
    /// (its oldest due), so a receiver that hangs holds up only its own.
    pub async fn claim_deliveries(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        // Most polls find nothing due: a read says so without taking a write lock.
        let due: Option<(i64,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id FROM webhook_deliveries WHERE NOT done AND due_ms <= $1 \
             AND claimed_until <= $1 LIMIT 1",
        )
        .bind(now_ms)
        .fetch_optional(p)
        .await)?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let rows: Vec<Delivery> = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            // The outer conditions are checked again on the row a concurrent claim left
            // (PostgreSQL re-reads it), so two nodes never claim one delivery.
            let ids: Vec<(i64,)> = sqlx::query_as(
                "UPDATE webhook_deliveries SET claimed_until = $1 + $2 \
                 WHERE NOT done AND claimed_until <= $1 AND due_ms <= $1 AND id IN ( \
                   SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                   WHERE NOT d.done AND d.due_ms <= $1 AND d.claimed_until <= $1 \
                   AND NOT w.disabled \
                   AND d.id = (SELECT min(x.id) FROM webhook_deliveries x \
                               WHERE x.webhook_id = d.webhook_id AND NOT x.done \
                               AND x.due_ms <= $1) \
                   AND NOT EXISTS (SELECT 1 FROM webhook_deliveries b \
                                   WHERE b.webhook_id = d.webhook_id AND NOT b.done \
                                   AND b.claimed_until > $1) \
                   ORDER BY d.due_ms, d.id LIMIT $3) \
                 RETURNING id",
            )
            .bind(now_ms)
            .bind(lease_ms)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            let mut rows = Vec::with_capacity(ids.len());
            for (id,) in ids {
                let row: Delivery = sqlx::query_as(
                    "SELECT d.id, w.id AS webhook_id, w.owner_id, w.url, w.secret, \
                     e.id AS event_id, e.uid AS event_uid, e.repo_id, e.payload, d.attempts, \
                     d.replay, d.created_ms \
                     FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
                     JOIN webhook_events e ON e.id = d.event_id WHERE d.id = $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                rows.push(row);
            }
            tx.commit().await?;
            rows
        });
        Ok(rows)
    }

    /// Records an attempt of `d`: its log entry, and the delivery done or due again; a
    /// failure starts (or continues) the webhook's run of failures, a success ends it; with
    /// `disable`, the webhook is turned off. One transaction.
    pub async fn finish_delivery(&self, d: &Delivery, a: &Attempt<'_>) -> Result<()> {
        let now = crate::now_ms();
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            // A delivery not sent because its owner cannot read the repo leaves no trace the
            // owner could read: private answers as missing.
            if !a.skipped {
                sqlx::query(
                    "INSERT INTO webhook_logs (webhook_id, event_id, event_uid, scope, status, \
                     latency_ms, response, replay, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&d.webhook_id)
                .bind(d.event_id)
                .bind(&d.event_uid)
                .bind(a.scope)
                .bind(a.status)
                .bind(a.latency_ms)
                .bind(a.response)
                .bind(d.replay)
                .bind(now_iso())
                .execute(&mut *tx)
                .await?;
            }
            match (a.ok, a.retry_at) {
                (false, Some(at)) => sqlx::query(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, due_ms = $2, \
                     claimed_until = 0 WHERE id = $1",
                )
                .bind(d.id)
                .bind(at),
                _ => sqlx::query(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, done = TRUE \
                     WHERE id = $1",
                )
                .bind(d.id),
            }
            .execute(&mut *tx)
            .await?;
            // A success ends the webhook's run of failures, a failure starts or continues it.
            if !a.skipped {
                if a.ok {
                    sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1")
                        .bind(&d.webhook_id)
                } else {
                    sqlx::query(
                        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $2) \
                         WHERE id = $1",
                    )
                    .bind(&d.webhook_id)
                    .bind(now)
                }
                .execute(&mut *tx)
                .await?;
            }
            let turned_off = match a.disable {
                Some(note) => sqlx::query(
                    "UPDATE webhooks SET disabled = TRUE, note = $2 WHERE id = $1 AND NOT disabled",
                )
                .bind(&d.webhook_id)
                .bind(note)
                .execute(&mut *tx)
                .await?
                .rows_affected() > 0,
                None => false,
            };
            if let (true, Some(note)) = (turned_off, a.disable) {
                // The log says so too, after the attempt that decided it (once, however many
                // attempts were under way).
                sqlx::query(
                    "INSERT INTO webhook_logs (webhook_id, event_id, event_uid, scope, status, \
                     latency_ms, response, replay, created_at) \
                     VALUES ($1, NULL, $2, 'webhook', NULL, 0, $3, FALSE, $4)",
                )
                .bind(&d.webhook_id)
                .bind(&d.event_uid)
                .bind(note)
                .bind(now_iso())
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE webhook_deliveries SET done = TRUE WHERE webhook_id = $1 AND NOT done",
                )
                .bind(&d.webhook_id)
                .execute(&mut *tx)
                .await?;
            }
            // The log keeps the newest entries of each webhook.
            sqlx::query(
                "DELETE FROM webhook_logs WHERE webhook_id = $1 AND id <= ( \
                   SELECT id FROM webhook_logs WHERE webhook_id = $1 \
                   ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(&d.webhook_id)
            .bind(MAX_LOGS)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user with this id, if there is one.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<crate::User>> {
        let row: Option<(i64, String, bool)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, name, is_admin FROM accounts WHERE kind = 'user' AND id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(id, name, is_admin)| crate::User { id, name, is_admin }))
    }

    /// When the webhook's current run of failures began (unix ms), if it is failing.
    pub async fn webhook_failing_since(&self, id: &str) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT failing_since FROM webhooks WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        Ok(row.and_then(|(f,)| f))
    }

    /// Sends again the event of log entry `log_id` of webhook `id` (a new delivery, due now,
    /// marked a replay). False if there is no such entry or its event is no longer kept.
    pub async fn replay_delivery(&self, id: &str, log_id: i64) -> Result<bool> {
        let now = crate::now_ms();
        let n = on_pool!(&self.pool, p => sqlx::query(
            "INSERT INTO webhook_deliveries (webhook_id, event_id, due_ms, replay, created_ms) \
             SELECT l.webhook_id, l.event_id, $3, TRUE, $3 FROM webhook_logs l \
             WHERE l.webhook_id = $1 AND l.id = $2 AND l.event_id IS NOT NULL",
        )
        .bind(id)
        .bind(log_id)
        .bind(now)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// The newest `limit` log entries of a webhook, newest first.
    pub async fn webhook_logs(&self, id: &str, limit: i64) -> Result<Vec<LogEntry>> {
        type Row = (
            i64,
            String,
            String,
            Option<i64>,
            i64,
            String,
            bool,
            String,
            Option<i64>,
        );
        let rows: Vec<Row> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT id, event_uid, scope, status, latency_ms, response, replay, created_at, \
             event_id FROM webhook_logs WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(id)
        .bind(limit)
        .fetch_all(p)
        .await)?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    id,
                    event_uid,
                    scope,
                    status,
                    latency_ms,
                    response,
                    replay,
                    created_at,
                    event,
                )| {
                    LogEntry {
                        id,
                        event_uid,
                        scope,
                        status,
                        latency_ms,
                        response,
                        replay,
                        created_at,
                        replayable: event.is_some(),
                    }
                },
            )
            .collect())
    }

    /// Forgets events older than [`EVENT_KEEP_MS`] that owe no delivery; how many.
    pub async fn prune_webhook_events(&self, now_ms: i64) -> Result<u64> {
        let n = on_pool!(&self.pool, p => sqlx::query(
            "DELETE FROM webhook_events WHERE state = 'sent' AND created_ms < $1 \
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d \
                             WHERE d.event_id = webhook_events.id AND NOT d.done)",
        )
        .bind(now_ms - EVENT_KEEP_MS)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n)
    }
}

/// One delivery per enabled webhook that watches the event's repo or namespace for its
/// domain: $1 event id, $2 now, $3 `%,DOMAIN,%`, $4 namespace, $5 repo type, $6 repo id
/// (all lowercase).
pub const FAN_OUT: &str =
    "INSERT INTO webhook_deliveries (webhook_id, event_id, due_ms, created_ms) \
     SELECT w.id, $1, $2, $2 FROM webhooks w WHERE NOT w.disabled \
     AND (',' || w.domains || ',') LIKE $3 \
     AND EXISTS (SELECT 1 FROM webhook_watches x WHERE x.webhook_id = w.id \
                 AND ((x.kind IN ('user', 'org') AND lower(x.name) = $4) \
                      OR (x.kind = $5 AND lower(x.name) = $6)))";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::both;
    use hub_types::Name;

    #[tokio::test]
    async fn events_fan_out_to_watchers_and_deliveries_are_claimed_once_on_both_backends() {
        let (_dir, dbs) = both().await;
        for db in &dbs {
            let alice = db
                .create_user(&Name::parse("alice").unwrap(), false)
                .await
                .unwrap();
            let domains = vec!["repo".to_owned()];
            let by_user = vec![("user".to_owned(), "Alice".to_owned())];
            let by_repo = vec![("model".to_owned(), "bob/m".to_owned())];
            let spec = |watched| WebhookSpec {
                url: "http://example.invalid/hook",
                secret: Some("s3cret"),
                domains: &domains,
                watched,
            };
            let a = db
                .create_webhook(alice.id, &spec(&by_user))
                .await
                .unwrap()
                .unwrap();
            let b = db
                .create_webhook(alice.id, &spec(&by_repo))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(a.watched, vec![("user".into(), "Alice".into())]);
            assert_eq!(db.webhooks_of(alice.id).await.unwrap().len(), 2);
            let target = |ns, id, domain| EventTarget {
                domain,
                repo_type: "model",
                namespace: ns,
                full_id: id,
            };
            // alice/x: only the user watch; a discussion event: nobody (domain repo only).
            db.record_event(Some(1), &target("alice", "alice/x", "repo"), "{}")
                .await
                .unwrap();
            db.record_event(Some(1), &target("alice", "alice/x", "discussion"), "{}")
                .await
                .unwrap();
            // A push: tentative until confirmed, then it fans out like the rest.
            db.record_push(2, "[]").await.unwrap();
            let t = db.tentative_events(Some(2), i64::MAX, 10).await.unwrap();
            assert_eq!(t.len(), 1);
            assert!(db
                .confirm_event(t[0].id, &target("bob", "bob/m", "repo"), "{\"x\":1}")
                .await
                .unwrap());
            assert!(!db
                .confirm_event(t[0].id, &target("bob", "bob/m", "repo"), "{}")
                .await
                .unwrap());
            let now = crate::now_ms();
            let claimed = db.claim_deliveries(now, 60_000, 10).await.unwrap();
            let mut hooks: Vec<&str> = claimed.iter().map(|d| d.webhook_id.as_str()).collect();
            hooks.sort();
            let mut want = vec![a.id.as_str(), b.id.as_str()];
            want.sort();
            assert_eq!(hooks, want);
            // Claimed: nobody else gets them while the claim holds.
            assert!(db
                .claim_deliveries(now, 60_000, 10)
                .await
                .unwrap()
                .is_empty());
            // A failure is due again later; a success is done and logged.
            let d = &claimed[0];
            let fail = Attempt {
                scope: "repo.content",
                status: Some(500),
                latency_ms: 3,
                response: "boom",
                ok: false,
                retry_at: Some(now + 1000),
                disable: None,
                skipped: false,
            };
            db.finish_delivery(d, &fail).await.unwrap();
            assert!(db
                .webhook_failing_since(&d.webhook_id)
                .await
                .unwrap()
                .is_some());
            assert!(db.claim_deliveries(now, 1, 10).await.unwrap().is_empty());
            let again = db.claim_deliveries(now + 1000, 1, 10).await.unwrap();
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].attempts, 1);
            let ok = Attempt {
                ok: true,
                status: Some(200),
                retry_at: None,
                ..fail
            };
            db.finish_delivery(&again[0], &ok).await.unwrap();
            assert_eq!(db.webhook_failing_since(&d.webhook_id).await.unwrap(), None);
            let logs = db.webhook_logs(&d.webhook_id, 10).await.unwrap();
            assert_eq!(
                logs.iter().map(|l| l.status).collect::<Vec<_>>(),
                vec![Some(200), Some(500)]
            );
            // A replay sends the event again.
            assert!(db.replay_delivery(&d.webhook_id, logs[0].id).await.unwrap());
            let replayed = db.claim_deliveries(now + 2000, 1, 10).await.unwrap();
            assert!(replayed
                .iter()
                .any(|r| r.replay && r.event_id == d.event_id));
            // Disabled: its pending deliveries are dropped and none are claimed.
            assert!(db.set_webhook_disabled(&b.id, true, None).await.unwrap());
            assert!(db
                .claim_deliveries(now + 100_000, 1, 10)
                .await
                .unwrap()
                .iter()
                .all(|r| r.webhook_id != b.id));
            assert!(db.delete_webhook(&a.id).await.unwrap());
            assert!(db.webhook(&a.id).await.unwrap().is_none());
        }
    }
}
