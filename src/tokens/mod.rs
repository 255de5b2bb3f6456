//! Secret formats (opaque tokens with prefix and checksum) and, later, JWT signing keys.

pub mod jwt;
pub mod secret;
