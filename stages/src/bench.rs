//! bench stage (to be written).
