//! aggregate stage (to be written).
