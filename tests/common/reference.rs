//! Plain-Rust reference implementations in double precision, for shapes the oracle does not cover.
