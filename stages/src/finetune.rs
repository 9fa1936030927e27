//! finetune stage (to be written).
