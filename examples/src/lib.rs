//! Runnable examples of jwt-revoke.
//!
//! The demo services are built from the pieces here so that tests drive the very services the
//! binaries serve: `demo` (Axum, [`demo`]), `demo-grpc` (Tonic, [`grpc`]) and `demo-hyper`
//! (a bare Hyper 1 server, [`hyper_demo`]).

pub mod config;
pub mod demo;
pub mod grpc;
pub mod hyper_demo;

/// The README's code blocks, compiled as doctests so that the quick start stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
