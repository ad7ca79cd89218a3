//! How a request enters: what every surface (git, LFS, the Hub API, Xet, pages) shares at the
//! edge, so that no surface imports another for it. [`repo`]: the typed extractors that find
//! and authorize the repo a route names; [`access`]: the access rules behind them; [`http`]:
//! the base URL, the one `Range` parser, percent-encoding, dates and paging.

pub mod access;
pub mod http;
pub mod repo;

pub use access::Denied;
pub use repo::{Admin, At, Read, RepoAccess, RepoTarget, Surface, Write};
