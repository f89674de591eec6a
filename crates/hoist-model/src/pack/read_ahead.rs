//! Reading a file on its own thread while the caller hashes and stores the
//! chunks already read: reading then overlaps hashing, so packing a file costs
//! about what hashing it does (as a build's layer does), not the two added.

use std::io::{self, Read};
use std::sync::mpsc;

/// Chunks read ahead of the one being handled.
const DEPTH: usize = 2;

/// Reads `reader` to its end in chunks of `chunk` bytes on another thread and
/// hands each to `each`, which returns a buffer to reuse. Stops at the first
/// error, of either side; a read error is `on_read`'s.
pub(super) fn read_ahead<R, E>(
    mut reader: R,
    chunk: usize,
    on_read: impl FnOnce(io::Error) -> E,
    mut each: impl FnMut(Vec<u8>) -> Result<Vec<u8>, E>,
) -> Result<(), E>
where
    R: Read + Send,
{
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (spare_tx, spare_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut buf = spare_rx.try_recv().unwrap_or_default();
                buf.clear();
                // `take` + `read_to_end` fills the buffer's spare capacity without zeroing it first.
                buf.reserve(chunk);
                // A send fails once the caller has stopped: nothing more to do.
                match (&mut reader).take(chunk as u64).read_to_end(&mut buf) {
                    Ok(0) => return,
                    Ok(_) if full_tx.send(Ok(buf)).is_ok() => {}
                    Ok(_) => return,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return;
                    }
                }
            }
        });
        // Ends when the reader is done; an early return drops the receiver,
        // which stops the reader at its next send.
        for read in full_rx {
            match read {
                Ok(buf) => {
                    let _ = spare_tx.send(each(buf)?);
                }
                Err(e) => return Err(on_read(e)),
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_in_order_and_errors_of_both_sides() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let mut got = Vec::new();
        let mut sizes = Vec::new();
        read_ahead(
            data.as_slice(),
            4096,
            |e| e.to_string(),
            |c| {
                sizes.push(c.len());
                got.extend_from_slice(&c);
                Ok(c)
            },
        )
        .unwrap();
        assert_eq!(got, data);
        assert_eq!(sizes, [4096, 4096, 1808]);

        // The caller stops: the reader stops too, and the error comes back.
        let mut calls = 0;
        let stopped = read_ahead(
            data.as_slice(),
            100,
            |e| e.to_string(),
            |_| {
                calls += 1;
                Err("full".to_string())
            },
        );
        assert_eq!((stopped, calls), (Err("full".to_string()), 1));

        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk gone"))
            }
        }
        let failed = read_ahead(Failing, 100, |e| format!("reading: {e}"), Ok);
        assert_eq!(failed, Err("reading: disk gone".to_string()));
    }
}
