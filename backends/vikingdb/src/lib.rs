//! VikingDB export-task source.
#![forbid(unsafe_code)]
