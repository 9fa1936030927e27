//! prepare stage (to be written).
