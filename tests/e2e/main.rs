//! End-to-end tests: the real `modelhub` binary on 127.0.0.1:0, driven by real clients.

mod auth;
mod bad_input;
mod cli;
mod cluster;
mod collections;
mod discussions;
mod fsck;
mod gated;
mod gc;
mod git_http;
mod harness;
mod hub_api;
mod hub_upload;
mod lfs;
mod likes;
mod mirror;
mod model_tree;
mod ops;
mod pages;
mod postgres;
mod s3;
mod usage;
mod validation;
mod webhooks;
mod weights;
mod xet;
