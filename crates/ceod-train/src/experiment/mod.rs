//! Experiments: one config file reruns a whole comparison (arms × seeds) on one dataset and
//! writes its table and figures (`ceod-train experiment CONFIG`).

pub mod data;
