//! Progress drawing for the library reporters: bars on a terminal, plain
//! lines otherwise, nothing when asked.

use std::io::IsTerminal;

use hoist_model::{PackReporter, SourceFile, format_size};
use hoist_oci::Digest;
use hoist_store::VerifyReporter;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::Progress;

enum Mode {
    Bar(ProgressBar),
    Plain,
    Silent,
}

fn mode(progress: Progress, total: u64) -> Mode {
    let terminal = std::io::stderr().is_terminal();
    match progress {
        Progress::Auto if terminal => {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:30!} {wide_bar} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            Mode::Bar(bar)
        }
        Progress::Auto | Progress::Plain => Mode::Plain,
        Progress::None => Mode::Silent,
    }
}

/// Draws progress of a pack or a verify: one bar for all bytes, its message
/// the current file or blob.
pub struct Drawer {
    mode: Mode,
}

impl Drawer {
    pub fn new(progress: Progress, total: u64) -> Self {
        Drawer { mode: mode(progress, total) }
    }

    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}

impl PackReporter for Drawer {
    fn file_started(&self, file: &SourceFile) {
        match &self.mode {
            Mode::Bar(bar) => bar.set_message(file.rel_path.clone()),
            Mode::Plain => eprintln!("packing {} ({})", file.rel_path, format_size(file.size)),
            Mode::Silent => {}
        }
    }

    fn bytes_read(&self, bytes: u64) {
        if let Mode::Bar(bar) = &self.mode {
            bar.inc(bytes);
        }
    }
}

impl VerifyReporter for Drawer {
    fn blob_checked(&self, digest: &Digest, size: u64) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_message(digest.short().to_string());
                bar.inc(size);
            }
            Mode::Plain => eprintln!("checked {digest} ({})", format_size(size)),
            Mode::Silent => {}
        }
    }
}
