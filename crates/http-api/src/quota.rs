//! Storage limits of users and organisations (`modelhub quota set`), checked before bytes are
//! accepted: an LFS batch upload, a Xet write token and a Xet shard ask how much room the
//! repo's namespace has left. What a namespace uses is the bytes of the distinct LFS objects
//! linked to its repos plus their git data on disk (as `modelhub usage` counts it); an object
//! the namespace holds already costs nothing again.

use accounts::{AccountsError, Repo};

use crate::AppState;

/// The room a namespace with a limit has left.
pub struct Room {
    ns: String,
    limit: u64,
    used: u64,
    /// Bytes this request has taken so far.
    taken: u64,
}

/// The room `repo`'s namespace has left, or `None` when it has no limit.
pub async fn room(state: &AppState, repo: &Repo) -> Result<Option<Room>, AccountsError> {
    let ns = repo.namespace.to_string();
    let Some(limit) = state.accounts().quota(&ns).await? else {
        return Ok(None);
    };
    let used = state.inner.hub.namespace_usage(&ns).await?.total();
    Ok(Some(Room {
        ns,
        limit,
        used,
        taken: 0,
    }))
}

impl Room {
    /// Whether the namespace is full already (nothing more may be uploaded).
    pub fn full(&self) -> Option<String> {
        (self.used >= self.limit).then(|| self.refusal(0))
    }

    /// The message refusing an upload of `size` new bytes, if they do not fit.
    pub fn refuses(&self, size: u64) -> Option<String> {
        (self.used + self.taken + size > self.limit).then(|| self.refusal(size))
    }

    /// Takes object `oid` of `size` bytes from the room, unless the namespace holds it
    /// already; `Err` with a message for the client when it does not fit.
    pub async fn take(
        &mut self,
        state: &AppState,
        oid: &str,
        size: u64,
    ) -> Result<Result<(), String>, AccountsError> {
        if state.accounts().namespace_holds(&self.ns, oid).await? {
            return Ok(Ok(()));
        }
        if self.used + self.taken + size > self.limit {
            return Ok(Err(self.refusal(size)));
        }
        self.taken += size;
        Ok(Ok(()))
    }

    fn refusal(&self, size: u64) -> String {
        crate::Hub::quota_refusal(&self.ns, self.limit, self.used + self.taken, size)
    }
}
