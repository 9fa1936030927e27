//! The stages' integration tests, in one binary (each test binary links candle and polars):
//! the checkpoint loader on real-format fixtures, and `fetch` / `prepare` against a loopback hub.

mod checkpoint;
mod hub;
