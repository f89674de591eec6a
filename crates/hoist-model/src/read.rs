//! Reading an artifact of any format back: what it refers to ([`Parts`], by
//! hoist-oci's one successor rule), what it says about the model
//! ([`describe`]), its GGUF files and their headers over any source
//! ([`gguf_layers`], [`read_layer_header`]), and choosing parts of it (an
//! index's image by platform, a pull's layers by path).

mod describe;
mod gguf_layers;
mod parts;
mod select;

pub use self::describe::{ArtifactKind, LayerInfo, ModelInfo, StoredModel, describe};
pub use self::gguf_layers::{LayerHeader, gguf_layers, read_layer_header};
pub use self::parts::Parts;
pub use self::select::{LayerSelection, PlatformSpec, image_for_platform};
