//! Collections: a user's or organisation's curated, ordered lists of repos, papers and other
//! collections, each item with a note (the Hub's `create_collection`, `add_collection_item`
//! and the rest). Who may see or change one is decided by the caller with
//! [`crate::access_to`]; this module stores them and keeps positions dense (0, 1, 2, ...).

use crate::{new_public_id, now_iso, Accounts, AccountsError, Repo};

type Result<T> = std::result::Result<T, AccountsError>;

/// Longest title, description and note, in characters (the Hub's limits).
pub const MAX_TITLE: usize = 60;
pub const MAX_DESCRIPTION: usize = 150;
pub const MAX_NOTE: usize = 500;
/// Most items in one collection, and collections of one namespace.
pub const MAX_ITEMS: i64 = 1000;
pub const MAX_COLLECTIONS: i64 = 1000;
/// The colours a collection may take.
pub const THEMES: &[&str] = &["orange", "blue", "green", "purple", "pink", "indigo"];

/// A collection as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collection {
    pub id: i64,
    /// The 24 hex digits that end its slug.
    pub public_id: String,
    pub namespace: String,
    /// `user` or `org`.
    pub namespace_kind: String,
    pub title: String,
    pub description: String,
    pub private: bool,
    pub theme: String,
    /// Its place among its namespace's collections.
    pub position: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl Collection {
    /// `ns/title-words-<id>`, as the Hub makes them: the title lowercased, every run of other
    /// characters than letters and digits one `-`.
    pub fn slug(&self) -> String {
        let mut words = String::new();
        for c in self.title.chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                words.push(c);
            } else if !words.is_empty() && !words.ends_with('-') {
                words.push('-');
            }
        }
        let words = words.trim_end_matches('-');
        if words.is_empty() {
            format!("{}/{}", self.namespace, self.public_id)
        } else {
            format!("{}/{words}-{}", self.namespace, self.public_id)
        }
    }
}

/// The public id a slug ends with (`ns/words-<id>` or `ns/<id>`), if it is one.
pub fn slug_id(slug: &str) -> Option<&str> {
    let last = slug.rsplit(['-', '/']).next()?;
    (last.len() == 24 && last.bytes().all(|b| b.is_ascii_hexdigit())).then_some(last)
}

/// What an item names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Repo(Repo),
    Collection(Box<Collection>),
    /// An arXiv id.
    Paper(String),
}

/// What to add: a repo or collection by row id, or a paper by arXiv id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewItem {
    Repo(i64),
    Collection(i64),
    Paper(String),
}

impl NewItem {
    fn key(&self) -> String {
        match self {
            NewItem::Repo(id) => format!("repo:{id}"),
            NewItem::Collection(id) => format!("collection:{id}"),
            NewItem::Paper(p) => format!("paper:{p}"),
        }
    }
}

/// One item of a collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub public_id: String,
    pub position: i64,
    pub note: String,
    pub target: Target,
}

/// What a change to a collection's items came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemChange {
    Done,
    /// The item is in the collection already.
    Exists,
    /// The collection holds [`MAX_ITEMS`].
    Full,
    /// No such item in this collection.
    Missing,
}

/// How a listing of collections is ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionSort {
    /// Most recently changed first.
    LastModified,
    /// By namespace, then the namespace's own order.
    Position,
}

/// Who asks for a listing: private collections show only to their namespace's user, its
/// organisation's members, and site admins.
#[derive(Debug, Clone, Copy)]
pub struct Viewer {
    pub user_id: i64,
    pub is_admin: bool,
}

const COLUMNS: &str = "c.id, c.public_id, a.name, a.kind, c.title, c.description, c.private, \
                       c.theme, c.position, c.created_at, c.updated_at";

type Row = (
    i64,
    String,
    String,
    String,
    String,
    String,
    bool,
    String,
    i64,
    String,
    String,
);

fn from_row(r: Row) -> Collection {
    Collection {
        id: r.0,
        public_id: r.1,
        namespace: r.2,
        namespace_kind: r.3,
        title: r.4,
        description: r.5,
        private: r.6,
        theme: r.7,
        position: r.8,
        created_at: r.9,
        updated_at: r.10,
    }
}

/// Moves `moving` (an id among `ids`, in their order) to index `to` (clamped): the new order.
fn reorder(mut ids: Vec<i64>, moving: i64, to: i64) -> Vec<i64> {
    ids.retain(|&i| i != moving);
    let at = usize::try_from(to.max(0)).unwrap_or(0).min(ids.len());
    ids.insert(at, moving);
    ids
}

impl Accounts {
    /// Creates a collection at the end of namespace `ns`'s list; `None` if `ns` has
    /// [`MAX_COLLECTIONS`] already.
    pub async fn create_collection(
        &self,
        ns: &str,
        title: &str,
        description: &str,
        private: bool,
    ) -> Result<Option<Collection>> {
        let public_id = new_public_id();
        let theme = THEMES[(public_id.as_bytes()[0] as usize) % THEMES.len()];
        let created = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let (ns_id,): (i64,) = sqlx::query_as("SELECT id FROM accounts WHERE name = $1")
                .bind(ns)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| AccountsError::NoSuchNamespace(ns.to_owned()))?;
            let (count, last): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(position) FROM collections WHERE namespace_id = $1",
            )
            .bind(ns_id)
            .fetch_one(&mut *tx)
            .await?;
            if count >= MAX_COLLECTIONS {
                false
            } else {
                sqlx::query(
                    "INSERT INTO collections (public_id, namespace_id, title, description, \
                     private, theme, position) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&public_id)
                .bind(ns_id)
                .bind(title)
                .bind(description)
                .bind(private)
                .bind(theme)
                .bind(last.map_or(0, |l| l + 1))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                true
            }
        });
        if !created {
            return Ok(None);
        }
        self.collection(&public_id).await
    }

    /// The collection with this public id.
    pub async fn collection(&self, public_id: &str) -> Result<Option<Collection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM collections c JOIN accounts a ON a.id = c.namespace_id \
             WHERE c.public_id = $1"
        );
        let row: Option<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(public_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(from_row))
    }

    /// Namespace `ns`'s collection titled `title` (any case), if any.
    pub async fn collection_titled(&self, ns: &str, title: &str) -> Result<Option<Collection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM collections c JOIN accounts a ON a.id = c.namespace_id \
             WHERE a.name = $1 AND LOWER(c.title) = LOWER($2) ORDER BY c.id LIMIT 1"
        );
        let row: Option<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(ns)
            .bind(title)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(from_row))
    }

    /// Changes what is given of a collection's title, description, visibility, theme and
    /// place in its namespace's list.
    pub async fn update_collection(
        &self,
        c: &Collection,
        title: Option<&str>,
        description: Option<&str>,
        private: Option<bool>,
        theme: Option<&str>,
        position: Option<i64>,
    ) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE collections SET title = COALESCE($2, title), \
                 description = COALESCE($3, description), private = COALESCE($4, private), \
                 theme = COALESCE($5, theme), updated_at = $6 WHERE id = $1",
            )
            .bind(c.id)
            .bind(title)
            .bind(description)
            .bind(private)
            .bind(theme)
            .bind(now_iso())
            .execute(&mut *tx)
            .await?;
            if let Some(to) = position {
                let ids: Vec<(i64,)> = sqlx::query_as(
                    "SELECT c.id FROM collections c JOIN accounts a ON a.id = c.namespace_id \
                     WHERE a.name = $1 ORDER BY c.position, c.id",
                )
                .bind(&c.namespace)
                .fetch_all(&mut *tx)
                .await?;
                let order = reorder(ids.into_iter().map(|r| r.0).collect(), c.id, to);
                for (i, id) in order.into_iter().enumerate() {
                    sqlx::query("UPDATE collections SET position = $2 WHERE id = $1")
                        .bind(id)
                        .bind(i as i64)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes a collection and its items (and its place in other collections).
    pub async fn delete_collection(&self, id: i64) -> Result<()> {
        on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            for sql in [
                "DELETE FROM collection_items WHERE collection_id = $1 OR target_id = $1",
                "DELETE FROM collections WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Collections `viewer` may see, newest change first or in their namespaces' order:
    /// those of namespace `owner` if given, holding the item `item_key` if given.
    pub async fn list_collections(
        &self,
        viewer: Option<Viewer>,
        owner: Option<&str>,
        item: Option<&str>,
        sort: CollectionSort,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Collection>> {
        let order = match sort {
            CollectionSort::LastModified => "c.updated_at DESC, c.id DESC",
            CollectionSort::Position => "a.name, c.position, c.id",
        };
        // Every parameter is used whatever the filters ('' or 0: none), as SQLite wants.
        let sql = format!(
            "SELECT {COLUMNS} FROM collections c JOIN accounts a ON a.id = c.namespace_id \
             WHERE (c.private = FALSE OR $6 OR c.namespace_id = $1 OR c.namespace_id IN \
             (SELECT org_id FROM org_members WHERE user_id = $1)) \
             AND ($2 = '' OR a.name = $2) \
             AND ($3 = '' OR c.id IN (SELECT collection_id FROM collection_items \
             WHERE item_key = $3)) ORDER BY {order} LIMIT $4 OFFSET $5"
        );
        let rows: Vec<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(viewer.map_or(0, |v| v.user_id))
            .bind(owner.unwrap_or_default())
            .bind(item.unwrap_or_default())
            .bind(limit)
            .bind(offset)
            .bind(viewer.is_some_and(|v| v.is_admin))
            .fetch_all(p)
            .await)?;
        Ok(rows.into_iter().map(from_row).collect())
    }

    /// The items of a collection in order, `limit` of them after the first `offset`.
    pub async fn collection_items(
        &self,
        collection_id: i64,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Item>> {
        type ItemRow = (
            String,
            i64,
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<bool>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<String>,
        );
        // Repos come with their items (one query); collections, rarer, one at a time.
        let rows: Vec<ItemRow> = on_pool!(&self.pool, p => sqlx::query_as(
            "SELECT i.public_id, i.position, i.note, r.id, r.repo_type, a.name, r.name, \
             r.private, r.created_at, r.downloads, i.target_id, i.paper_id \
             FROM collection_items i LEFT JOIN repos r ON r.id = i.repo_id \
             LEFT JOIN accounts a ON a.id = r.namespace_id \
             WHERE i.collection_id = $1 ORDER BY i.position, i.id LIMIT $2 OFFSET $3",
        )
        .bind(collection_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let target = match r {
                (
                    _,
                    _,
                    _,
                    Some(id),
                    Some(t),
                    Some(ns),
                    Some(name),
                    Some(private),
                    Some(at),
                    Some(dl),
                    _,
                    _,
                ) => Target::Repo(crate::store::repo_from_row((
                    id, t, ns, name, private, at, dl,
                ))?),
                (_, _, _, _, _, _, _, _, _, _, Some(id), _) => {
                    match self.collection_by_id(id).await? {
                        Some(c) => Target::Collection(Box::new(c)),
                        None => continue,
                    }
                }
                (_, _, _, _, _, _, _, _, _, _, _, Some(ref p)) => Target::Paper(p.clone()),
                _ => continue,
            };
            out.push(Item {
                public_id: r.0,
                position: r.1,
                note: r.2,
                target,
            });
        }
        Ok(out)
    }

    async fn collection_by_id(&self, id: i64) -> Result<Option<Collection>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM collections c JOIN accounts a ON a.id = c.namespace_id \
             WHERE c.id = $1"
        );
        let row: Option<Row> = on_pool!(&self.pool, p => sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(p)
            .await)?;
        Ok(row.map(from_row))
    }

    /// Adds an item at the end of a collection, with a note.
    pub async fn add_collection_item(
        &self,
        collection_id: i64,
        item: &NewItem,
        note: &str,
    ) -> Result<ItemChange> {
        let (repo, target, paper) = match item {
            NewItem::Repo(id) => (Some(*id), None, None),
            NewItem::Collection(id) => (None, Some(*id), None),
            NewItem::Paper(p) => (None, None, Some(p.as_str())),
        };
        let change = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            // Taking the collection's row first orders two adds to one collection.
            sqlx::query("UPDATE collections SET updated_at = $2 WHERE id = $1")
                .bind(collection_id)
                .bind(now_iso())
                .execute(&mut *tx)
                .await?;
            let (count, last): (i64, Option<i64>) = sqlx::query_as(
                "SELECT COUNT(*), MAX(position) FROM collection_items WHERE collection_id = $1",
            )
            .bind(collection_id)
            .fetch_one(&mut *tx)
            .await?;
            let there: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM collection_items WHERE collection_id = $1 AND item_key = $2",
            )
            .bind(collection_id)
            .bind(item.key())
            .fetch_optional(&mut *tx)
            .await?;
            if there.is_some() {
                ItemChange::Exists
            } else if count >= MAX_ITEMS {
                ItemChange::Full
            } else {
                sqlx::query(
                    "INSERT INTO collection_items (public_id, collection_id, item_key, repo_id, \
                     target_id, paper_id, position, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(new_public_id())
                .bind(collection_id)
                .bind(item.key())
                .bind(repo)
                .bind(target)
                .bind(paper)
                .bind(last.map_or(0, |l| l + 1))
                .bind(note)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                ItemChange::Done
            }
        });
        Ok(change)
    }

    /// Changes an item's note and place.
    pub async fn update_collection_item(
        &self,
        collection_id: i64,
        item_public_id: &str,
        note: Option<&str>,
        position: Option<i64>,
    ) -> Result<ItemChange> {
        let change = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            sqlx::query("UPDATE collections SET updated_at = $2 WHERE id = $1")
                .bind(collection_id)
                .bind(now_iso())
                .execute(&mut *tx)
                .await?;
            let found: Option<(i64,)> = sqlx::query_as(
                "SELECT id FROM collection_items WHERE collection_id = $1 AND public_id = $2",
            )
            .bind(collection_id)
            .bind(item_public_id)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                None => ItemChange::Missing,
                Some((id,)) => {
                    if let Some(note) = note {
                        sqlx::query("UPDATE collection_items SET note = $2 WHERE id = $1")
                            .bind(id)
                            .bind(note)
                            .execute(&mut *tx)
                            .await?;
                    }
                    if let Some(to) = position {
                        let ids: Vec<(i64,)> = sqlx::query_as(
                            "SELECT id FROM collection_items WHERE collection_id = $1 \
                             ORDER BY position, id",
                        )
                        .bind(collection_id)
                        .fetch_all(&mut *tx)
                        .await?;
                        let order = reorder(ids.into_iter().map(|r| r.0).collect(), id, to);
                        for (i, item) in order.into_iter().enumerate() {
                            sqlx::query("UPDATE collection_items SET position = $2 WHERE id = $1")
                                .bind(item)
                                .bind(i as i64)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    ItemChange::Done
                }
            }
        });
        Ok(change)
    }

    /// Removes an item from a collection.
    pub async fn delete_collection_item(
        &self,
        collection_id: i64,
        item_public_id: &str,
    ) -> Result<ItemChange> {
        let n = on_pool!(&self.pool, p => {
            let mut tx = p.begin().await?;
            let n = sqlx::query(
                "DELETE FROM collection_items WHERE collection_id = $1 AND public_id = $2",
            )
            .bind(collection_id)
            .bind(item_public_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // The rest close up: positions stay 0, 1, 2, ...
            let ids: Vec<(i64,)> = sqlx::query_as(
                "SELECT id FROM collection_items WHERE collection_id = $1 ORDER BY position, id",
            )
            .bind(collection_id)
            .fetch_all(&mut *tx)
            .await?;
            for (i, (id,)) in ids.into_iter().enumerate() {
                sqlx::query("UPDATE collection_items SET position = $2 WHERE id = $1 AND position <> $2")
                    .bind(id)
                    .bind(i as i64)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE collections SET updated_at = $2 WHERE id = $1")
                .bind(collection_id)
                .bind(now_iso())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            n
        });
        Ok(if n == 0 {
            ItemChange::Missing
        } else {
            ItemChange::Done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_made_as_the_hub_makes_them() {
        let c = Collection {
            id: 1,
            public_id: "0123456789abcdef01234567".into(),
            namespace: "alice".into(),
            namespace_kind: "user".into(),
            title: "Recent models: v2 (Q3)!".into(),
            description: String::new(),
            private: false,
            theme: "blue".into(),
            position: 0,
            created_at: String::new(),
            updated_at: String::new(),
        };
        assert_eq!(
            c.slug(),
            "alice/recent-models-v2-q3-0123456789abcdef01234567"
        );
        assert_eq!(slug_id(&c.slug()), Some("0123456789abcdef01234567"));
        assert_eq!(
            slug_id("alice/0123456789abcdef01234567"),
            Some("0123456789abcdef01234567")
        );
        assert_eq!(slug_id("alice/recent-models"), None);
        assert_eq!(reorder(vec![1, 2, 3, 4], 4, 1), [1, 4, 2, 3]);
        assert_eq!(reorder(vec![1, 2, 3], 1, 99), [2, 3, 1]);
        assert_eq!(reorder(vec![1, 2, 3], 3, -5), [3, 1, 2]);
    }
}
