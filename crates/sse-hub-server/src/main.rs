//! The `sse-hub` server binary.

fn main() {}
