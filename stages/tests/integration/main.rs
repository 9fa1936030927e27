//! The stages' integration tests, in one binary (each test binary links candle and polars):
//! the checkpoint loader on real-format fixtures, `fetch` / `prepare` against a loopback hub, and
//! the influence study's linear algebra against numpy and leave-one-out retraining.

mod checkpoint;
mod hub;
mod hub_server;
mod influence;
