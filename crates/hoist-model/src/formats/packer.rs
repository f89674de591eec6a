//! gguf-packer images (FORMATS.md §4): an ordinary OCI image whose tar layers
//! hold the GGUF files and whose image config stores the command that serves
//! them (`Entrypoint` + `Cmd`: llama-server's arguments, `-m` naming the
//! model inside the image, against `WorkingDir`).
//!
//! Everything hoist reads of such an image lives here, so that what writes
//! one (the build engine) and what reads it agree in one place:
//! - [`stored_command`], [`command_value`], [`command_has`], [`command_file`]:
//!   the stored command, the flags in it and the image files they name;
//! - [`read_tar_headers`]: the model's GGUF files found in the tar layers and
//!   their headers read through any source, without fetching the weights;
//!   [`has_tar_layers`] says whether there are tar layers to look in;
//! - [`ImageConfig`]: the image config the build engine writes (`Cmd`,
//!   `Labels`, history, and the [`GgufFacts`] of the files CMD names).

mod command;
mod image_config;
mod tar_headers;

pub use self::command::{command_file, command_has, command_value, stored_command};
pub use self::image_config::{GgufFacts, History, ImageConfig, rfc3339};
pub use self::tar_headers::{TarGguf, TarHeaders, has_tar_layers, read_tar_headers};
