//! The bottom layer: helpers every other layer uses, knowing nothing of
//! packing, reading or unpacking.

pub mod compression;
pub mod glob;
pub mod media;
pub mod shards;
pub mod shell;
pub mod size;
pub mod stream;
