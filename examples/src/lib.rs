//! Runnable examples of jwt-revoke.
//!
//! The demo service (`cargo run -p jwt-revoke-examples --bin demo`) is built from the pieces
//! here so that tests drive the very router the binary serves.

pub mod demo;
pub mod store;

/// The README's code blocks, compiled as doctests so that the quick start stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
