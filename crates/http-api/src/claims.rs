//! The registry's claims (`accounts::claims`) as the content stores ask for them: an upload
//! claims what it looks for or stores before it does, so a garbage collector running at the
//! same time never deletes it.

use accounts::{Accounts, AccountsError};
use content_store::{Claims, StoreError};

/// [`Claims`] backed by the registry, for the Xet store (whose methods run on the blocking
/// pool, so they wait on `runtime` for the database).
pub struct StoreClaims {
    accounts: Accounts,
    runtime: tokio::runtime::Handle,
}

impl StoreClaims {
    pub fn new(accounts: Accounts, runtime: tokio::runtime::Handle) -> Self {
        StoreClaims { accounts, runtime }
    }
}

impl Claims for StoreClaims {
    fn claim_blocking(&self, names: &[String]) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.accounts.claim(names))
            .map_err(claim_error)
    }
}

/// A failed claim as a store error: the collector still deleting, or the database down, is
/// "try again later" (503) either way.
pub(crate) fn claim_error(e: AccountsError) -> StoreError {
    match e {
        AccountsError::Collecting(_) => StoreError::Unavailable(e.to_string()),
        e if e.is_unavailable() => StoreError::Unavailable(e.to_string()),
        e => StoreError::Io(std::io::Error::other(e.to_string())),
    }
}
