//! fetch stage (to be written).
