//! pretrain stage (to be written).
