//! The artifact formats, one module each: what their configs, manifests and
//! layers look like and the rules each format sets. Above [`util`](crate::util)
//! only; packing, reading and unpacking build on these.

pub mod cog;
pub mod docker;
pub mod layer_path;
pub mod modelpack;
pub mod packer;
