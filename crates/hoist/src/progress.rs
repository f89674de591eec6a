//! Progress drawing for the library reporters: bars on a terminal, plain
//! lines otherwise, nothing when asked.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use hoist_model::{PackReporter, SourceFile, format_size};
use hoist_oci::{BlobOutcome, Descriptor, Digest, TransferReporter};
use hoist_store::VerifyReporter;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

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

/// A build's downloads (ADD of URLs), one after the other on the one bar.
impl hoist_build::exec::Reporter for Drawer {
    fn download_started(&self, url: &str, size: Option<u64>, resumed_from: u64) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_length(size.unwrap_or(0));
                bar.set_position(resumed_from);
                bar.set_message(url.to_string());
            }
            Mode::Plain => {
                let size = size.map(|s| format!(" ({})", format_size(s))).unwrap_or_default();
                let resumed =
                    if resumed_from > 0 { format!(", resuming at {resumed_from} bytes") } else { String::new() };
                eprintln!("downloading {url}{size}{resumed}");
            }
            Mode::Silent => {}
        }
    }

    fn downloaded(&self, bytes: u64) {
        if let Mode::Bar(bar) = &self.mode {
            bar.inc(bytes);
        }
    }
}

impl hoist_quant::Reporter for Drawer {
    fn start(&self, input_bytes: u64, tensors: usize) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_length(input_bytes);
                bar.set_message(format!("{tensors} tensors"));
            }
            Mode::Plain => eprintln!("quantizing {tensors} tensors ({})", format_size(input_bytes)),
            Mode::Silent => {}
        }
    }

    fn progress(&self, input_bytes_done: u64) {
        if let Mode::Bar(bar) = &self.mode {
            bar.set_position(input_bytes_done);
        }
    }

    fn fallback(&self, tensor: &str, wanted: hoist_gguf::GgmlType, got: hoist_gguf::GgmlType) {
        let line = format!("warning: {tensor}: rows do not divide into {} blocks, using {}", wanted.name(), got.name());
        match &self.mode {
            Mode::Bar(bar) => bar.println(line),
            Mode::Plain => eprintln!("{line}"),
            Mode::Silent => {}
        }
    }
}

impl hoist_convert::Reporter for Drawer {
    fn begin(&self, tensors: usize, bytes: u64) {
        match &self.mode {
            Mode::Bar(bar) => bar.set_length(bytes),
            Mode::Plain => eprintln!("converting {tensors} tensors ({})", format_size(bytes)),
            Mode::Silent => {}
        }
    }

    fn tensor_written(&self, name: &str, bytes: u64) {
        match &self.mode {
            Mode::Bar(bar) => {
                bar.set_message(name.to_string());
                bar.inc(bytes);
            }
            Mode::Plain => eprintln!("wrote {name} ({})", format_size(bytes)),
            Mode::Silent => {}
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

/// Draws a transfer: a bar per blob in flight under a total, on a terminal;
/// a line per finished blob otherwise.
pub struct TransferDrawer {
    mode: TransferMode,
}

enum TransferMode {
    Bars { bars: MultiProgress, total: ProgressBar, blobs: Mutex<HashMap<Digest, ProgressBar>> },
    Plain,
    Silent,
}

impl TransferDrawer {
    pub fn new(progress: Progress) -> Self {
        let mode = match progress {
            Progress::Auto if std::io::stderr().is_terminal() => {
                let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let total = bars.add(ProgressBar::new(0));
                total.set_style(bar_style(
                    "{msg:20} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}",
                ));
                total.set_message("total");
                TransferMode::Bars { bars, total, blobs: Mutex::new(HashMap::new()) }
            }
            Progress::Auto | Progress::Plain => TransferMode::Plain,
            Progress::None => TransferMode::Silent,
        };
        TransferDrawer { mode }
    }

    pub fn finish(&self) {
        if let TransferMode::Bars { bars, total, .. } = &self.mode {
            total.finish_and_clear();
            let _ = bars.clear();
        }
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl TransferReporter for TransferDrawer {
    fn blob_started(&self, descriptor: &Descriptor) {
        if let TransferMode::Bars { bars, total, blobs } = &self.mode {
            total.inc_length(descriptor.size);
            let bar = bars.add(ProgressBar::new(descriptor.size));
            bar.set_style(bar_style(
                "{msg:20} {wide_bar} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
            ));
            bar.set_message(descriptor.digest.short().to_string());
            if let Ok(mut blobs) = blobs.lock() {
                blobs.insert(descriptor.digest.clone(), bar);
            }
        }
    }

    fn blob_progress(&self, descriptor: &Descriptor, bytes: u64) {
        if let TransferMode::Bars { total, blobs, .. } = &self.mode {
            total.inc(bytes);
            if let Some(bar) = blobs.lock().ok().and_then(|b| b.get(&descriptor.digest).cloned()) {
                bar.inc(bytes);
            }
        }
    }

    fn blob_done(&self, descriptor: &Descriptor, outcome: BlobOutcome) {
        let what = match outcome {
            BlobOutcome::Copied => "copied",
            BlobOutcome::Skipped => "already there",
            BlobOutcome::Mounted => "mounted",
        };
        match &self.mode {
            TransferMode::Bars { bars, total, blobs } => {
                if outcome != BlobOutcome::Copied {
                    total.inc(descriptor.size);
                }
                if let Some(bar) = blobs.lock().ok().and_then(|mut b| b.remove(&descriptor.digest)) {
                    bar.finish_and_clear();
                    bars.remove(&bar);
                }
            }
            TransferMode::Plain => eprintln!("{} {what} ({})", descriptor.digest, format_size(descriptor.size)),
            TransferMode::Silent => {}
        }
    }
}
