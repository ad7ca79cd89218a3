//! Repo listings and search answered by one query: each repo's summary row
//! (`repo_summaries`, `repo_tags`; written by the server on every ref change) joined with the
//! registry, with visibility, filters, sort and page in SQL. Substring search of ids uses a
//! trigram index on both backends (SQLite's FTS5 `trigram` tokenizer, PostgreSQL's pg_trgm),
//! then an exact match on the candidates.

use hub_types::RepoType;

use crate::store::{repo_from_row, Pool, RepoRow};
use crate::{Accounts, AccountsError, Principal, Repo};

type Result<T> = std::result::Result<T, AccountsError>;

/// What a listing asks for.
#[derive(Debug, Clone)]
pub struct ListQuery<'a> {
    pub repo_type: RepoType,
    /// Who is asking: the repos they may read are listed, as [`crate::access`] decides.
    pub viewer: Option<&'a Principal>,
    /// A substring of the id, any case (empty: all).
    pub search: &'a str,
    /// The namespace, any case.
    pub author: Option<&'a str>,
    /// Tags every result carries.
    pub tags: &'a [&'a str],
    pub pipeline_tag: Option<&'a str>,
    pub sort: ListSort,
    pub descending: bool,
    pub offset: u64,
    pub limit: u64,
    /// Parameter counts from..to (both included), if asked.
    pub params: Option<(u64, u64)>,
    /// Only gated repos (`Some(true)`) or only open ones.
    pub gated: Option<bool>,
}

/// What a listing is ordered by (ties: by id, in the same direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListSort {
    Id,
    LastModified,
    CreatedAt,
    Downloads,
    Likes,
}

/// A repo's summary as the server describes its main branch.
#[derive(Debug, Clone, Default)]
pub struct RepoSummary {
    /// The commit described.
    pub sha: String,
    pub last_modified: String,
    pub pipeline_tag: Option<String>,
    pub tags: Vec<String>,
    /// Its weights' parameter count (0: unknown).
    pub params: u64,
    /// The description, as JSON.
    pub json: String,
}

/// Trigram-index matches from which a sorted page walks its sort's index (checking each
/// entry against the matches) rather than sorting every match (SQLite; in unit tests two,
/// so both ways are tried).
const WALK_FROM_MATCHES: i64 = if cfg!(test) { 2 } else { 1000 };

/// How a page is found (see [`Accounts::page_path`]).
enum PagePath {
    Planner,
    ScanIds,
    WalkSort,
}

/// One bound value of a query built at run time.
enum Arg {
    Int(i64),
    Text(String),
}

impl Accounts {
    /// Stores what repo `repo_id`'s main branch holds (replacing what was stored), unless a
    /// summary of that very commit is there already. Returns whether anything was written.
    pub async fn put_summary(&self, repo_id: i64, s: &RepoSummary) -> Result<bool> {
        let mut tags: Vec<&str> = s.tags.iter().map(String::as_str).collect();
        tags.sort_unstable();
        tags.dedup();
        let written = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let updated = sqlx::query(
                "UPDATE repo_summaries SET listed = TRUE, sha = $2, last_modified = $3, \
                 pipeline_tag = $4, params = $5 WHERE repo_id = $1 AND (sha IS NULL OR sha <> $2)",
            )
            .bind(repo_id)
            .bind(&s.sha)
            .bind(&s.last_modified)
            .bind(s.pipeline_tag.as_deref())
            .bind(i64::try_from(s.params).unwrap_or(i64::MAX))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1 {
                sqlx::query(
                    "INSERT INTO repo_summary_docs (repo_id, summary) VALUES ($1, $2) \
                     ON CONFLICT (repo_id) DO UPDATE SET summary = excluded.summary",
                )
                .bind(repo_id)
                .bind(&s.json)
                .execute(&mut *tx)
                .await?;
                sqlx::query("DELETE FROM repo_tags WHERE repo_id = $1")
                    .bind(repo_id)
                    .execute(&mut *tx)
                    .await?;
                for tag in &tags {
                    sqlx::query("INSERT INTO repo_tags (repo_id, tag) VALUES ($1, $2)")
                        .bind(repo_id)
                        .bind(*tag)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            updated == 1
        });
        Ok(written)
    }

    /// Marks repo `repo_id` as one that could not be described (its repo on disk is missing
    /// or broken): it is left out of listings until its refs next move.
    pub async fn put_summary_failed(&self, repo_id: i64) -> Result<()> {
        on_pool!(&self.pool, p => sqlx::query(
            "UPDATE repo_summaries SET listed = FALSE, sha = '' WHERE repo_id = $1",
        )
        .bind(repo_id)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Repos of a type not described yet (made by the CLI, or before summaries existed), at
    /// most `limit`.
    pub async fn undescribed(&self, repo_type: RepoType, limit: i64) -> Result<Vec<Repo>> {
        let rows: Vec<RepoRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads \
             FROM repo_summaries s JOIN repos r ON r.id = s.repo_id \
             JOIN accounts a ON a.id = r.namespace_id \
             WHERE s.repo_type = $1 AND s.sha IS NULL LIMIT $2",
        )
        .bind(repo_type.as_str())
        .bind(limit)
        .fetch_all(p)
        .await)?;
        rows.into_iter().map(repo_from_row).collect()
    }

    /// One page of the repos `q` matches, with their stored descriptions (JSON).
    pub async fn list_summaries(&self, q: &ListQuery<'_>) -> Result<Vec<(Repo, String)>> {
        let (filter, mut args) = self.filter(q);
        let dir = if q.descending { "DESC" } else { "ASC" };
        let key = match q.sort {
            ListSort::Id => None,
            ListSort::LastModified => Some("last_modified"),
            ListSort::CreatedAt => Some("created_at"),
            ListSort::Downloads => Some("downloads"),
            ListSort::Likes => Some("likes"),
        };
        let (inner_order, outer_order) = match key {
            Some(k) => (
                format!("s.{k} {dir}, s.full_id {dir}"),
                format!("p.{k} {dir}, p.full_id {dir}"),
            ),
            None => (format!("s.full_id {dir}"), format!("p.full_id {dir}")),
        };
        let n = args.len();
        let walk = match self.page_path(q).await? {
            PagePath::Planner => String::new(),
            PagePath::ScanIds => " INDEXED BY repo_summaries_by_id".to_owned(),
            PagePath::WalkSort => {
                let index = match q.sort {
                    ListSort::Id => "repo_summaries_by_id",
                    ListSort::LastModified => "repo_summaries_by_modified",
                    ListSort::CreatedAt => "repo_summaries_by_created",
                    ListSort::Downloads => "repo_summaries_by_downloads",
                    ListSort::Likes => "repo_summaries_by_likes",
                };
                format!(" INDEXED BY {index}")
            }
        };
        // The page is picked from the narrow table alone; only its rows are joined.
        let sql = format!(
            "SELECT r.id, r.repo_type, a.name, r.name, r.private, r.created_at, r.downloads, \
             d.summary FROM (SELECT s.repo_id, s.full_id{extra} FROM repo_summaries s{walk} \
             WHERE {filter} ORDER BY {inner_order} LIMIT ${} OFFSET ${}) p \
             JOIN repos r ON r.id = p.repo_id JOIN accounts a ON a.id = r.namespace_id \
             JOIN repo_summary_docs d ON d.repo_id = p.repo_id ORDER BY {outer_order}",
            n + 1,
            n + 2,
            extra = key.map(|k| format!(", s.{k}")).unwrap_or_default(),
        );
        args.push(Arg::Int(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        args.push(Arg::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        type Row = (i64, String, String, String, bool, String, i64, String);
        let rows: Vec<Row> = on_pool!(&self.pool, p => {
            let mut query = sqlx::query_as(&sql);
            for a in args {
                query = match a {
                    Arg::Int(i) => query.bind(i),
                    Arg::Text(t) => query.bind(t),
                };
            }
            query.fetch_all(p).await?
        });
        rows.into_iter()
            .map(|r| Ok((repo_from_row((r.0, r.1, r.2, r.3, r.4, r.5, r.6))?, r.7)))
            .collect()
    }

    /// How many repos `q` matches (its page and sort aside), counted up to `cap`: more
    /// answers `cap + 1` ("over cap"), so a count costs a bounded walk whatever the hub's
    /// size.
    pub async fn count_summaries(&self, q: &ListQuery<'_>, cap: u64) -> Result<u64> {
        let (filter, args) = self.filter(q);
        let scan = if self.scans_ids(q) {
            " INDEXED BY repo_summaries_by_id"
        } else {
            ""
        };
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM repo_summaries s{scan} WHERE {filter} \
             LIMIT {}) c",
            cap.saturating_add(1).min(i64::MAX as u64)
        );
        let (n,): (i64,) = on_pool!(&self.pool, p => {
            let mut query = sqlx::query_as(&sql);
            for a in args {
                query = match a {
                    Arg::Int(i) => query.bind(i),
                    Arg::Text(t) => query.bind(t),
                };
            }
            query.fetch_one(p).await?
        });
        Ok(n.max(0) as u64)
    }

    /// How SQLite is to find a page of `q`. Its planner, once ANALYZE has seen a single repo
    /// type, would rather sort the whole table than walk an index, so it is told:
    /// - no search and nothing else that narrows the rows: walk the sort's index;
    /// - a search that matches many repos (a probe counts up to [`WALK_FROM_MATCHES`]): walk
    ///   the sort's index too, checking each entry, which finds a page at once where looking
    ///   every match up and sorting them all would not;
    /// - a search of fewer characters than a trigram that matches few: read the ids' index
    ///   whole (the match is checked on the index entry, without reading the row);
    /// - else (a few trigram matches, or tags, task or author): the planner's own way.
    ///
    /// PostgreSQL's planner picks its way well by itself.
    async fn page_path(&self, q: &ListQuery<'_>) -> Result<PagePath> {
        let Pool::Sqlite(p) = &self.pool else {
            return Ok(PagePath::Planner);
        };
        let narrowed = !q.tags.is_empty() || q.pipeline_tag.is_some() || q.author.is_some();
        let search = q.search.to_lowercase();
        if search.is_empty() {
            return Ok(if narrowed {
                PagePath::Planner
            } else {
                PagePath::WalkSort
            });
        }
        let (matches,): (i64,) = if self.scans_ids(q) {
            sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM repo_summaries s INDEXED BY \
                 repo_summaries_by_id WHERE s.repo_type = $1 AND instr(s.full_id, $2) > 0 \
                 LIMIT $3) m",
            )
            .bind(q.repo_type.as_str())
            .bind(&search)
            .bind(WALK_FROM_MATCHES)
            .fetch_one(p)
            .await?
        } else {
            sqlx::query_as(
                "SELECT COUNT(*) FROM (SELECT 1 FROM repo_search WHERE repo_search MATCH $1 \
                 LIMIT $2) m",
            )
            .bind(fts_phrase(&search))
            .bind(WALK_FROM_MATCHES)
            .fetch_one(p)
            .await?
        };
        Ok(if matches >= WALK_FROM_MATCHES && !narrowed {
            PagePath::WalkSort
        } else if self.scans_ids(q) {
            PagePath::ScanIds
        } else {
            PagePath::Planner
        })
    }

    /// Whether `q` searches SQLite for fewer characters than a trigram (see
    /// [`Accounts::page_path`]).
    fn scans_ids(&self, q: &ListQuery<'_>) -> bool {
        matches!(self.pool, Pool::Sqlite(_)) && !q.search.is_empty() && q.search.chars().count() < 3
    }

    /// The WHERE clause of `q` over `repo_summaries s`, and its arguments ($1, $2, ...).
    fn filter(&self, q: &ListQuery<'_>) -> (String, Vec<Arg>) {
        let postgres = matches!(self.pool, Pool::Postgres(_));
        let mut args = vec![Arg::Text(q.repo_type.as_str().to_owned())];
        let mut clauses = vec!["s.repo_type = $1".to_owned(), "s.listed".to_owned()];
        let arg = |args: &mut Vec<Arg>, a: Arg| {
            args.push(a);
            format!("${}", args.len())
        };
        // Visibility, as crate::access decides it: public repos, and to a signed-in user the
        // private repos of their own namespace and of organisations they belong to; all of
        // them to a site admin.
        match q.viewer {
            None => clauses.push("NOT s.private".into()),
            Some(p) if p.is_admin => {}
            Some(p) => {
                let u = arg(&mut args, Arg::Int(p.user_id));
                clauses.push(format!(
                    "(NOT s.private OR s.namespace_id = {u} OR EXISTS (SELECT 1 FROM \
                     org_members m WHERE m.org_id = s.namespace_id AND m.user_id = {u}))"
                ));
            }
        }
        let search = q.search.to_lowercase();
        if !search.is_empty() {
            // Candidates from the trigram index, then the exact substring.
            if postgres {
                // pg_trgm's index serves three characters or more; a shorter search matches
                // so many ids that walking the sort's order finds a page soonest.
                if search.chars().count() >= 3 {
                    let escaped = search
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    let like = arg(&mut args, Arg::Text(format!("%{escaped}%")));
                    clauses.push(format!("s.full_id LIKE {like}"));
                } else {
                    let exact = arg(&mut args, Arg::Text(search.clone()));
                    clauses.push(format!("strpos(s.full_id, {exact}) > 0"));
                }
            } else {
                // A phrase of the trigram tokenizer matches a substring of three or more
                // characters (shorter ones cannot use the index).
                // (The ids are lowercase, so a phrase match is the substring itself.)
                if search.chars().count() >= 3 {
                    let phrase = arg(&mut args, Arg::Text(fts_phrase(&search)));
                    clauses.push(format!(
                        "s.repo_id IN (SELECT rowid FROM repo_search WHERE repo_search MATCH {phrase})"
                    ));
                } else {
                    let exact = arg(&mut args, Arg::Text(search.clone()));
                    clauses.push(format!("instr(s.full_id, {exact}) > 0"));
                }
            }
        }
        if let Some(g) = q.gated {
            clauses.push(format!(
                "s.repo_id {} (SELECT repo_id FROM repo_settings WHERE gated <> 'false')",
                if g { "IN" } else { "NOT IN" }
            ));
        }
        if let Some((from, to)) = q.params {
            let from = arg(&mut args, Arg::Int(i64::try_from(from).unwrap_or(i64::MAX)));
            let to = arg(&mut args, Arg::Int(i64::try_from(to).unwrap_or(i64::MAX)));
            // A model whose parameters are unknown (0) matches no range.
            clauses.push(format!(
                "s.params > 0 AND s.params >= {from} AND s.params <= {to}"
            ));
        }
        if let Some(author) = q.author {
            let a = arg(&mut args, Arg::Text(author.to_owned()));
            clauses.push(format!(
                "s.namespace_id = (SELECT id FROM accounts WHERE name = {a})"
            ));
        }
        for tag in q.tags {
            let t = arg(&mut args, Arg::Text((*tag).to_owned()));
            clauses.push(format!(
                "s.repo_id IN (SELECT repo_id FROM repo_tags WHERE tag = {t})"
            ));
        }
        if let Some(task) = q.pipeline_tag {
            let t = arg(&mut args, Arg::Text(task.to_owned()));
            clauses.push(format!("s.pipeline_tag = {t}"));
        }
        (clauses.join(" AND "), args)
    }
}

/// `search` as an FTS5 phrase, which the trigram tokenizer matches as a substring.
fn fts_phrase(search: &str) -> String {
    format!("\"{}\"", search.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::both;
    use hub_types::{Name, RepoId, RepoRef, Role};

    fn model(id: &str) -> RepoRef {
        RepoRef {
            repo_type: RepoType::Model,
            id: RepoId::parse(id).unwrap(),
        }
    }

    fn ids(rows: &[(Repo, String)]) -> Vec<String> {
        rows.iter()
            .map(|(r, _)| r.repo_ref().id.to_string())
            .collect()
    }

    #[tokio::test]
    async fn listings_filter_sort_page_and_hide_private_repos_in_sql() {
        let (_dir, dbs) = both().await;
        for db in dbs {
            listings_on(db).await;
        }
    }

    async fn listings_on(db: Accounts) {
        let n = |s: &str| Name::parse(s).unwrap();
        db.create_user(&n("alice"), false).await.unwrap();
        db.create_user(&n("bob"), false).await.unwrap();
        db.create_user(&n("carol"), false).await.unwrap();
        db.create_org(&n("Acme"), "alice").await.unwrap();
        db.set_member("Acme", "bob", Role::Read).await.unwrap();
        let specs = [
            (
                "alice/Llama-Tiny",
                false,
                "2026-01-03",
                Some("text-generation"),
                vec!["pytorch", "license:mit"],
            ),
            (
                "alice/bert_base",
                false,
                "2026-01-01",
                Some("fill-mask"),
                vec!["pytorch"],
            ),
            (
                "Acme/secret-llama",
                true,
                "2026-01-02",
                Some("text-generation"),
                vec!["safetensors"],
            ),
            ("bob/llama.x", false, "2026-01-04", None, vec![]),
        ];
        let mut made = Vec::new();
        for (id, private, modified, task, tags) in &specs {
            let repo = db.create_repo(&model(id), *private).await.unwrap();
            let s = RepoSummary {
                sha: format!("sha-{id}"),
                last_modified: modified.to_string(),
                pipeline_tag: task.map(str::to_owned),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                params: 0,
                json: format!("{{\"id\":\"{id}\"}}"),
            };
            assert!(db.put_summary(repo.id, &s).await.unwrap());
            assert!(
                !db.put_summary(repo.id, &s).await.unwrap(),
                "same commit: no write"
            );
            made.push(repo);
        }
        // Made but not described: not listed, and named by undescribed().
        let fresh = db.create_repo(&model("carol/fresh"), false).await.unwrap();
        let pending = db.undescribed(RepoType::Model, 10).await.unwrap();
        assert_eq!(pending.iter().map(|r| r.id).collect::<Vec<_>>(), [fresh.id]);

        let alice = db
            .authenticate(&db.create_token("alice", Role::Read, "t").await.unwrap().1)
            .await
            .unwrap()
            .unwrap();
        let bob = db
            .authenticate(&db.create_token("bob", Role::Read, "t").await.unwrap().1)
            .await
            .unwrap()
            .unwrap();
        let carol = db
            .authenticate(&db.create_token("carol", Role::Read, "t").await.unwrap().1)
            .await
            .unwrap()
            .unwrap();
        let q = |viewer| ListQuery {
            repo_type: RepoType::Model,
            viewer,
            search: "",
            author: None,
            tags: &[],
            pipeline_tag: None,
            sort: ListSort::Id,
            descending: false,
            offset: 0,
            limit: 100,
            params: None,
            gated: None,
        };
        let all = [
            "Acme/secret-llama",
            "alice/bert_base",
            "alice/Llama-Tiny",
            "bob/llama.x",
        ];
        let public = ["alice/bert_base", "alice/Llama-Tiny", "bob/llama.x"];
        assert_eq!(
            ids(&db.list_summaries(&q(None)).await.unwrap()),
            public,
            "{}",
            db.backend()
        );
        assert_eq!(
            ids(&db.list_summaries(&q(Some(&carol))).await.unwrap()),
            public
        );
        // An organisation's members and its creator see its private repos.
        assert_eq!(ids(&db.list_summaries(&q(Some(&bob))).await.unwrap()), all);
        assert_eq!(
            ids(&db.list_summaries(&q(Some(&alice))).await.unwrap()),
            all
        );
        assert_eq!(db.count_summaries(&q(None), 100).await.unwrap(), 3);
        assert_eq!(
            db.count_summaries(&q(None), 2).await.unwrap(),
            3,
            "over the cap"
        );
        assert_eq!(
            db.count_summaries(&q(None), 1).await.unwrap(),
            2,
            "over the cap"
        );
        let short = ListQuery {
            search: "ll",
            ..q(None)
        };
        assert_eq!(db.count_summaries(&short, 100).await.unwrap(), 2);

        // Search: a substring of the id in any case, through the trigram index or not, with
        // LIKE's wildcards taken literally.
        for (search, expect) in [
            ("LLAMA", vec!["alice/Llama-Tiny", "bob/llama.x"]),
            ("ll", vec!["alice/Llama-Tiny", "bob/llama.x"]),
            ("e_t", vec![]),
            ("t_base", vec!["alice/bert_base"]),
            ("a.x", vec!["bob/llama.x"]),
            ("%", vec![]),
            ("l%a", vec![]),
            ("\"lla", vec![]),
            ("lla\" OR x", vec![]),
            ("ice/", vec!["alice/bert_base", "alice/Llama-Tiny"]),
        ] {
            let got = db
                .list_summaries(&ListQuery { search, ..q(None) })
                .await
                .unwrap();
            assert_eq!(ids(&got), expect, "search {search:?} on {}", db.backend());
        }
        let got = db
            .list_summaries(&ListQuery {
                search: "llama",
                ..q(Some(&bob))
            })
            .await
            .unwrap();
        assert_eq!(
            ids(&got),
            ["Acme/secret-llama", "alice/Llama-Tiny", "bob/llama.x"]
        );

        // Author, tags, task.
        let got = db
            .list_summaries(&ListQuery {
                author: Some("ALICE"),
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["alice/bert_base", "alice/Llama-Tiny"]);
        let tags = ["pytorch", "license:mit"];
        let got = db
            .list_summaries(&ListQuery {
                tags: &tags,
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["alice/Llama-Tiny"]);
        let got = db
            .list_summaries(&ListQuery {
                pipeline_tag: Some("text-generation"),
                ..q(Some(&alice))
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["Acme/secret-llama", "alice/Llama-Tiny"]);

        // Sorts and pages.
        let got = db
            .list_summaries(&ListQuery {
                sort: ListSort::LastModified,
                descending: true,
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(
            ids(&got),
            ["bob/llama.x", "alice/Llama-Tiny", "alice/bert_base"]
        );
        let got = db
            .list_summaries(&ListQuery {
                sort: ListSort::LastModified,
                descending: true,
                offset: 1,
                limit: 1,
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["alice/Llama-Tiny"]);

        // A new commit replaces the tags; a move renames what search finds; a delete removes.
        let tiny = &made[0];
        db.put_summary(
            tiny.id,
            &RepoSummary {
                sha: "sha-2".into(),
                last_modified: "2026-02-01".into(),
                tags: vec!["jax".into()],
                json: "{}".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let got = db
            .list_summaries(&ListQuery {
                tags: &["pytorch"],
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["alice/bert_base"]);
        db.move_repo(tiny.id, &model("bob/renamed")).await.unwrap();
        let got = db
            .list_summaries(&ListQuery {
                search: "renamed",
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["bob/renamed"]);
        assert!(db
            .list_summaries(&ListQuery {
                search: "tiny",
                ..q(None)
            })
            .await
            .unwrap()
            .is_empty());
        db.delete_repo(tiny.id).await.unwrap();
        assert!(db
            .list_summaries(&ListQuery {
                search: "renamed",
                ..q(None)
            })
            .await
            .unwrap()
            .is_empty());
        // Visibility and downloads follow the registry.
        let llama = &made[3];
        db.add_downloads(llama.id, 5).await.unwrap();
        db.add_downloads(made[1].id, 2).await.unwrap();
        let got = db
            .list_summaries(&ListQuery {
                sort: ListSort::Downloads,
                descending: true,
                ..q(None)
            })
            .await
            .unwrap();
        assert_eq!(ids(&got), ["bob/llama.x", "alice/bert_base"]);
        assert_eq!(got[0].0.downloads, 5);
        db.set_private(llama.id, true).await.unwrap();
        assert_eq!(
            ids(&db.list_summaries(&q(None)).await.unwrap()),
            ["alice/bert_base"]
        );
        assert_eq!(db.count_summaries(&q(Some(&bob)), 100).await.unwrap(), 3);
        db.set_private(llama.id, false).await.unwrap();
        // A repo that could not be described is left out.
        db.put_summary_failed(made[1].id).await.unwrap();
        assert_eq!(
            ids(&db.list_summaries(&q(None)).await.unwrap()),
            ["bob/llama.x"]
        );
    }
}
