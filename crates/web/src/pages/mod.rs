//! One page per file: template struct, handler, queries and tests together.

pub mod assets;
pub mod health;
pub mod home;
