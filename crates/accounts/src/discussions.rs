//! Discussions and pull requests: their numbers, titles and statuses, and their events
//! (comments with their edit history, status and title changes). A pull request's commits
//! are not stored here: they are what its ref holds. Who may do what is the caller's rule;
//! every change here is one transaction (a status change and its comment land together).

use crate::{new_public_id, now_iso, Accounts, AccountsError};

type Result<T> = std::result::Result<T, AccountsError>;

/// Longest title and comment accepted (characters, bytes).
pub const MAX_TITLE: usize = 200;
pub const MAX_COMMENT: usize = 64 * 1024;
/// Most events one discussion holds (and one view reads): a thread that long takes no more
/// comments; open a new one.
pub const MAX_EVENTS: i64 = 5_000;

/// A discussion or pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discussion {
    pub id: i64,
    pub repo_id: i64,
    pub num: i64,
    pub is_pr: bool,
    pub title: String,
    /// `open`, `closed`, `merged` or `draft`.
    pub status: String,
    /// Its author's name (`None`: the account is gone).
    pub author: Option<String>,
    pub author_id: Option<i64>,
    /// A pull request's target, `refs/heads/NAME`.
    pub base_ref: Option<String>,
    /// The commit a pull request started from.
    pub base_commit: Option<String>,
    pub merge_commit: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only the repo's writers may comment.
    pub locked: bool,
}

/// One stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: i64,
    pub public_id: String,
    /// `comment`, `status-change` or `title-change`.
    pub kind: String,
    pub author: Option<String>,
    pub author_id: Option<i64>,
    /// JSON (see the HTTP layer for its shape).
    pub data: String,
    pub created_at: String,
}

/// Which discussions a listing shows.
#[derive(Debug, Clone, Default)]
pub struct DiscussionFilter<'a> {
    /// `Some(true)`: pull requests only; `Some(false)`: discussions only.
    pub pull_requests: Option<bool>,
    /// `open` (open and draft) or `closed` (closed and merged).
    pub status: Option<&'a str>,
    pub author: Option<&'a str>,
}

const COLUMNS: &str = "d.id, d.repo_id, d.num, d.is_pr, d.title, d.status, a.name, d.author_id, \
                       d.base_ref, d.base_commit, d.merge_commit, d.created_at, d.updated_at, d.locked";

type Row = (
    i64,
    i64,
    i64,
    bool,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    String,
    bool,
);

fn from_row(r: Row) -> Discussion {
    Discussion {
        id: r.0,
        repo_id: r.1,
        num: r.2,
        is_pr: r.3,
        title: r.4,
        status: r.5,
        author: r.6,
        author_id: r.7,
        base_ref: r.8,
        base_commit: r.9,
        merge_commit: r.10,
        created_at: r.11,
        updated_at: r.12,
        locked: r.13,
    }
}

type EventRow = (
    i64,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
);

fn event_from_row(r: EventRow) -> Event {
    Event {
        id: r.0,
        public_id: r.1,
        kind: r.2,
        author: r.3,
        author_id: r.4,
        data: r.5,
        created_at: r.6,
    }
}

/// A new event to write with a change: kind, author, JSON data.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub author_id: i64,
    pub data: String,
}

impl Accounts {
    /// The highest number any discussion of the repo has (0: none).
    pub async fn last_discussion_num(&self, repo_id: i64) -> Result<i64> {
        let (n,): (Option<i64>,) = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT MAX(num) FROM discussions WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_one(p)
        .await)?;
        Ok(n.unwrap_or(0))
    }

    /// Opens discussion `num` with its first events, in one transaction; a pull request with
    /// its `base` (target ref, commit it starts from). The caller holds the repo's lock and
    /// picked `num` above every number used (and every `refs/pr/N`).
    #[allow(clippy::too_many_arguments)]
    pub async fn open_discussion(
        &self,
        repo_id: i64,
        num: i64,
        is_pr: bool,
        title: &str,
        author_id: i64,
        base: Option<(&str, &str)>,
        events: &[NewEvent<'_>],
    ) -> Result<Discussion> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO discussions (repo_id, num, is_pr, title, status, author_id, base_ref, \
                 base_commit) VALUES ($1, $2, $3, $4, 'open', $5, $6, $7) RETURNING id",
            )
            .bind(repo_id)
            .bind(num)
            .bind(is_pr)
            .bind(title)
            .bind(author_id)
            .bind(base.map(|b| b.0))
            .bind(base.map(|b| b.1))
            .fetch_one(&mut *tx)
            .await?;
            let mut first = None;
            for e in events {
                let public_id = new_public_id();
                sqlx::query(
                    "INSERT INTO discussion_events (public_id, discussion_id, kind, author_id, data) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&public_id)
                .bind(id)
                .bind(e.kind)
                .bind(e.author_id)
                .bind(&e.data)
                .execute(&mut *tx)
                .await?;
                first.get_or_insert(public_id);
            }
            let first = first.unwrap_or_default();
            tell!(self, tx, Some(repo_id), &[(crate::webhooks::COMMENT_ID_MARK, first.as_str())]);
            tx.commit().await?;
        });
        self.discussion(repo_id, num)
            .await?
            .ok_or_else(|| AccountsError::Database(sqlx::Error::RowNotFound))
    }

    /// Discussion `num` of a repo.
    pub async fn discussion(&self, repo_id: i64, num: i64) -> Result<Option<Discussion>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM discussions d LEFT JOIN accounts a ON a.id = d.author_id \
             WHERE d.repo_id = $1 AND d.num = $2"
        );
        let row: Option<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(repo_id)
            .bind(num)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(from_row))
    }

    /// A page of a repo's discussions, newest first, and how many match in all.
    pub async fn list_discussions(
        &self,
        repo_id: i64,
        f: &DiscussionFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<Discussion>, i64)> {
        // Every parameter is used whatever the filter ('' or -1: none), as SQLite wants.
        let filter = "d.repo_id = $1 \
             AND ($2 = -1 OR d.is_pr = ($2 = 1)) \
             AND ($3 = '' OR ($3 = 'open' AND d.status IN ('open', 'draft')) \
                  OR ($3 = 'closed' AND d.status IN ('closed', 'merged'))) \
             AND ($4 = '' OR a.name = $4)";
        let kind: i64 = match f.pull_requests {
            None => -1,
            Some(true) => 1,
            Some(false) => 0,
        };
        let status = f.status.unwrap_or_default();
        let author = f.author.unwrap_or_default();
        let sql = format!(
            "SELECT {COLUMNS} FROM discussions d LEFT JOIN accounts a ON a.id = d.author_id \
             WHERE {filter} ORDER BY d.num DESC LIMIT $5 OFFSET $6"
        );
        let count_sql = format!(
            "SELECT COUNT(*) FROM discussions d LEFT JOIN accounts a ON a.id = d.author_id \
             WHERE {filter}"
        );
        let (rows, total): (Vec<Row>, (i64,)) = on_pool!(&self.pool, p => {
            let rows = sqlx::query_as(&sql)
                .bind(repo_id)
                .bind(kind)
                .bind(status)
                .bind(author)
                .bind(limit)
                .bind(offset)
                .fetch_all(p)
                .await?;
            let total = sqlx::query_as(&count_sql)
                .bind(repo_id)
                .bind(kind)
                .bind(status)
                .bind(author)
                .fetch_one(p)
                .await?;
            (rows, total)
        });
        Ok((rows.into_iter().map(from_row).collect(), total.0))
    }

    /// A discussion's events in order.
    pub async fn discussion_events(&self, discussion_id: i64) -> Result<Vec<Event>> {
        let rows: Vec<EventRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT e.id, e.public_id, e.kind, a.name, e.author_id, e.data, e.created_at \
             FROM discussion_events e LEFT JOIN accounts a ON a.id = e.author_id \
             WHERE e.discussion_id = $1 ORDER BY e.id LIMIT $2",
        )
        .bind(discussion_id)
        .bind(MAX_EVENTS)
        .fetch_all(p)
        .await)?;
        Ok(rows.into_iter().map(event_from_row).collect())
    }

    /// How many events a discussion holds.
    pub async fn discussion_event_count(&self, discussion_id: i64) -> Result<i64> {
        let (n,): (i64,) = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT COUNT(*) FROM discussion_events WHERE discussion_id = $1",
        )
        .bind(discussion_id)
        .fetch_one(p)
        .await)?;
        Ok(n)
    }

    /// One event of a discussion, by its public id.
    pub async fn discussion_event(
        &self,
        discussion_id: i64,
        public_id: &str,
    ) -> Result<Option<Event>> {
        let row: Option<EventRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT e.id, e.public_id, e.kind, a.name, e.author_id, e.data, e.created_at \
             FROM discussion_events e LEFT JOIN accounts a ON a.id = e.author_id \
             WHERE e.discussion_id = $1 AND e.public_id = $2",
        )
        .bind(discussion_id)
        .bind(public_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(event_from_row))
    }

    /// Records a change of a discussion: its new title, status and merge commit where given,
    /// and its events, all in one transaction. Returns the events as stored.
    pub async fn change_discussion(
        &self,
        discussion_id: i64,
        title: Option<&str>,
        status: Option<&str>,
        merge_commit: Option<&str>,
        events: &[NewEvent<'_>],
    ) -> Result<Vec<Event>> {
        let mut ids = Vec::new();
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE discussions SET title = COALESCE($2, title), \
                 status = COALESCE($3, status), merge_commit = COALESCE($4, merge_commit), \
                 updated_at = $5 WHERE id = $1",
            )
            .bind(discussion_id)
            .bind(title)
            .bind(status)
            .bind(merge_commit)
            .bind(now_iso())
            .execute(&mut *tx)
            .await?;
            for e in events {
                let public_id = new_public_id();
                sqlx::query(
                    "INSERT INTO discussion_events (public_id, discussion_id, kind, author_id, data) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&public_id)
                .bind(discussion_id)
                .bind(e.kind)
                .bind(e.author_id)
                .bind(&e.data)
                .execute(&mut *tx)
                .await?;
                ids.push(public_id);
            }
            let first = ids.first().cloned().unwrap_or_default();
            tell!(self, tx, None, &[(crate::webhooks::COMMENT_ID_MARK, first.as_str())]);
            tx.commit().await?;
        });
        let mut out = Vec::new();
        for id in ids {
            if let Some(e) = self.discussion_event(discussion_id, &id).await? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Locks or unlocks a discussion.
    pub async fn set_discussion_locked(&self, discussion_id: i64, locked: bool) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "UPDATE discussions SET locked = $2, updated_at = $3 WHERE id = $1",
        )
        .bind(discussion_id)
        .bind(locked)
        .bind(now_iso())
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Replaces an event's data (a comment edited or hidden).
    pub async fn set_event_data(&self, event_id: i64, data: &str) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE discussion_events SET data = $2 WHERE id = $1")
                .bind(event_id)
                .bind(data)
                .execute(&mut *tx)
                .await?;
            tell!(self, tx, None, &[]);
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether discussions are turned off for a repo.
    pub async fn discussions_disabled(&self, repo_id: i64) -> Result<bool> {
        let row: Option<(bool,)> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT discussions_disabled FROM repo_settings WHERE repo_id = $1",
        )
        .bind(repo_id)
        .fetch_optional(p)
        .await)?;
        Ok(row.is_some_and(|r| r.0))
    }

    pub async fn set_discussions_disabled(&self, repo_id: i64, disabled: bool) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO repo_settings (repo_id, discussions_disabled) VALUES ($1, $2) \
                 ON CONFLICT (repo_id) DO UPDATE SET discussions_disabled = excluded.discussions_disabled",
            )
            .bind(repo_id)
            .bind(disabled)
            .execute(&mut *tx)
            .await?;
            tell!(self, tx, Some(repo_id), &[]);
            tx.commit().await?;
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::store::tests::both;
    use hub_types::{Name, RepoId, RepoRef, RepoType};

    #[tokio::test]
    async fn discussions_keep_numbers_events_and_counts_on_both_backends() {
        let (_dir, dbs) = both().await;
        for db in &dbs {
            let alice = db
                .create_user(&Name::parse("alice").unwrap(), false)
                .await
                .unwrap();
            let repo = db
                .create_repo(
                    &RepoRef {
                        repo_type: RepoType::Model,
                        id: RepoId::parse("alice/m").unwrap(),
                    },
                    false,
                )
                .await
                .unwrap();
            assert_eq!(db.last_discussion_num(repo.id).await.unwrap(), 0);
            let comment = |text: &str| super::NewEvent {
                kind: "comment",
                author_id: alice.id,
                data: format!("{{\"raw\": {text:?}}}"),
            };
            let d = db
                .open_discussion(
                    repo.id,
                    3,
                    false,
                    "Hello",
                    alice.id,
                    None,
                    &[comment("first")],
                )
                .await
                .unwrap();
            assert_eq!((d.num, d.status.as_str(), d.locked), (3, "open", false));
            assert_eq!(db.last_discussion_num(repo.id).await.unwrap(), 3);
            let added = db
                .change_discussion(d.id, Some("Hi"), Some("closed"), None, &[comment("second")])
                .await
                .unwrap();
            assert_eq!(added.len(), 1);
            assert_eq!(db.discussion_event_count(d.id).await.unwrap(), 2);
            let d = db.discussion(repo.id, 3).await.unwrap().unwrap();
            assert_eq!((d.title.as_str(), d.status.as_str()), ("Hi", "closed"));
            let events = db.discussion_events(d.id).await.unwrap();
            assert_eq!(events.len(), 2);
            assert_eq!(events[0].author.as_deref(), Some("alice"));
        }
    }
}
