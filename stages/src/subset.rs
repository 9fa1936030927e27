//! subset stage (to be written).
