//! Finding where a header ends without building it.
//!
//! The parser restarts from the top whenever its input ends early, so a driver that read
//! a large header in growing steps would parse most of it several times. The scan only
//! steps over lengths, and it resumes where it stopped: drivers feed it until it has seen
//! the whole header, then parse once.

use crate::{ByteOrder, ValueType};

/// Arrays nested deeper than this are the parser's error to report (as it does).
const MAX_ARRAY_DEPTH: usize = 16;

/// A resumable walk over the start of a file.
#[derive(Debug, Clone)]
pub(crate) struct HeaderScan {
    /// Everything before this has been walked.
    pos: u64,
    order: ByteOrder,
    wide: bool,
    step: Step,
    /// Arrays being walked, outermost first: element type and items left.
    arrays: Vec<(ValueType, u64)>,
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Start,
    Keys { left: u64, tensors: u64 },
    Tensors { left: u64 },
    Done,
}

/// Why a walk stopped short.
enum Stop {
    /// The header goes on past the bytes given: at least this many are needed.
    Need(u64),
    /// Not a header the scan can walk; the parser will say what is wrong.
    Invalid,
}

impl HeaderScan {
    pub(crate) fn new() -> Self {
        HeaderScan { pos: 0, order: ByteOrder::Little, wide: true, step: Step::Start, arrays: Vec::new() }
    }

    /// Walks on through `buf`, which must start with the bytes given to earlier calls.
    /// `Some(n)`: the header needs at least the first `n` bytes, more than `buf` holds.
    /// `None`: time to parse, because the header ends within `buf` or the bytes are
    /// malformed (the parser then reports the error).
    pub(crate) fn needed(&mut self, buf: &[u8]) -> Option<u64> {
        match self.walk(buf) {
            Ok(()) => None,
            Err(Stop::Need(n)) => Some(n),
            Err(Stop::Invalid) => {
                self.step = Step::Done;
                self.arrays.clear();
                None
            }
        }
    }

    /// Each item is read whole or not at all; `self.pos` moves past it only once it is.
    fn walk(&mut self, buf: &[u8]) -> Result<(), Stop> {
        loop {
            let mut r = Reader { buf, pos: self.pos, order: self.order, wide: self.wide };
            if let Some(&(ty, left)) = self.arrays.last() {
                match ty {
                    _ if left == 0 => {
                        self.arrays.pop();
                    }
                    ValueType::String => {
                        // The bulk of a vocabulary: commit after every string.
                        for done in 0..left {
                            if let Err(stop) = r.string() {
                                self.set_left(left - done);
                                return Err(stop);
                            }
                            self.pos = r.pos;
                        }
                        self.arrays.pop();
                    }
                    ValueType::Array => {
                        let (inner, len) = (r.value_type()?, r.len()?);
                        self.pos = r.pos;
                        self.set_left(left - 1);
                        self.open(inner, len)?;
                    }
                    fixed => {
                        let size = fixed.fixed_size().ok_or(Stop::Invalid)?;
                        r.skip(left.checked_mul(size).ok_or(Stop::Invalid)?)?;
                        self.pos = r.pos;
                        self.arrays.pop();
                    }
                }
                continue;
            }
            match self.step {
                Step::Start => {
                    if &r.bytes::<4>()? != b"GGUF" {
                        return Err(Stop::Invalid);
                    }
                    let raw = r.bytes::<4>()?;
                    let (version, order) = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
                        (v @ 1..=3, _) => (v, ByteOrder::Little),
                        (_, v @ 1..=3) => (v, ByteOrder::Big),
                        _ => return Err(Stop::Invalid),
                    };
                    (r.order, r.wide) = (order, version >= 2);
                    let (tensors, keys) = (r.len()?, r.len()?);
                    (self.order, self.wide) = (order, version >= 2);
                    self.pos = r.pos;
                    self.step = Step::Keys { left: keys, tensors };
                }
                Step::Keys { left: 0, tensors } => self.step = Step::Tensors { left: tensors },
                Step::Keys { left, tensors } => {
                    r.string()?;
                    let ty = r.value_type()?;
                    let array = match ty {
                        ValueType::String => {
                            r.string()?;
                            None
                        }
                        ValueType::Array => Some((r.value_type()?, r.len()?)),
                        fixed => {
                            r.skip(fixed.fixed_size().ok_or(Stop::Invalid)?)?;
                            None
                        }
                    };
                    self.pos = r.pos;
                    self.step = Step::Keys { left: left - 1, tensors };
                    if let Some((inner, len)) = array {
                        self.open(inner, len)?;
                    }
                }
                Step::Tensors { left: 0 } => self.step = Step::Done,
                Step::Tensors { left } => {
                    r.string()?;
                    let n_dims = r.u32()?;
                    if n_dims > 4 {
                        return Err(Stop::Invalid);
                    }
                    // Dims, then the type (u32) and the offset (u64).
                    r.skip(u64::from(n_dims) * r.len_size() + 12)?;
                    self.pos = r.pos;
                    self.step = Step::Tensors { left: left - 1 };
                }
                Step::Done => return Ok(()),
            }
        }
    }

    fn open(&mut self, element_type: ValueType, len: u64) -> Result<(), Stop> {
        if self.arrays.len() >= MAX_ARRAY_DEPTH {
            return Err(Stop::Invalid);
        }
        self.arrays.push((element_type, len));
        Ok(())
    }

    fn set_left(&mut self, left: u64) {
        if let Some(last) = self.arrays.last_mut() {
            last.1 = left;
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: u64,
    order: ByteOrder,
    wide: bool,
}

impl Reader<'_> {
    fn skip(&mut self, n: u64) -> Result<(), Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Invalid)?;
        if end > self.buf.len() as u64 {
            return Err(Stop::Need(end));
        }
        self.pos = end;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let at = usize::try_from(self.pos).map_err(|_| Stop::Invalid)?;
        self.skip(N as u64)?;
        self.buf.get(at..).and_then(<[u8]>::first_chunk).copied().ok_or(Stop::Invalid)
    }

    fn u32(&mut self) -> Result<u32, Stop> {
        let b = self.bytes()?;
        Ok(if self.order == ByteOrder::Little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn len_size(&self) -> u64 {
        if self.wide { 8 } else { 4 }
    }

    /// A count or length: u64 in v2+, u32 in v1.
    fn len(&mut self) -> Result<u64, Stop> {
        if !self.wide {
            return self.u32().map(u64::from);
        }
        let b = self.bytes()?;
        Ok(if self.order == ByteOrder::Little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }

    fn string(&mut self) -> Result<(), Stop> {
        let len = self.len()?;
        self.skip(len)
    }

    fn value_type(&mut self) -> Result<ValueType, Stop> {
        ValueType::from_id(self.u32()?).ok_or(Stop::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Array, GgmlType, GgufWriter, Value, parse_header};

    fn file(order: ByteOrder, version: u32) -> Vec<u8> {
        let mut w = GgufWriter::new().with_version(version).with_byte_order(order);
        w.add_metadata("general.architecture", Value::String("llama".into()));
        let tokens = (0..300).map(|i| format!("tok{i}")).collect();
        w.add_metadata("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
        w.add_metadata("t.f32", Value::Array(Array::F32(vec![0.5; 40])));
        let nested = Array::Array(vec![Array::U16(vec![1, 2]), Array::String(["a", "b"].into_iter().collect())]);
        w.add_metadata("t.nested", Value::Array(Array::Array(vec![nested, Array::Bool(vec![])])));
        w.add_metadata("t.u8", Value::U8(1));
        w.add_tensor("w", &[32, 2], GgmlType::Q8_0).unwrap();
        w.add_tensor("v", &[8], GgmlType::F32).unwrap();
        let mut out = Vec::new();
        w.write_file(&mut out, |_, _, b| b.fill(9)).unwrap();
        out
    }

    /// Fed any growing prefixes, the scan asks for bytes until the header is in, never
    /// for more than the header, and then the parse succeeds.
    #[test]
    fn finds_the_end_in_any_steps() {
        for (order, version) in [(ByteOrder::Little, 3), (ByteOrder::Big, 2), (ByteOrder::Little, 1)] {
            let f = file(order, version);
            let header = parse_header(&f, None).unwrap();
            for step in [1, 3, 64, 1000, f.len()] {
                let mut scan = HeaderScan::new();
                let mut have = 0;
                let end = loop {
                    have = (have + step).min(f.len());
                    match scan.needed(&f[..have]) {
                        Some(n) => assert!(n > have as u64 && n <= header.data_offset, "{n} at {have}"),
                        None => break have,
                    }
                };
                assert_eq!(parse_header(&f[..end], None).unwrap(), header, "{order:?} v{version} step {step}");
                assert!(end as u64 <= header.data_offset + step as u64);
            }
        }
    }

    #[test]
    fn malformed_bytes_go_to_the_parser() {
        assert_eq!(HeaderScan::new().needed(b"GGUF"), Some(8));
        assert_eq!(HeaderScan::new().needed(b"GGML\x03\0\0\0"), None);
        assert_eq!(HeaderScan::new().needed(b"GGUF\x09\0\0\0"), None);
        let mut f = file(ByteOrder::Little, 3);
        // The first key's type id (after counts and the 20-byte key) made unknown.
        f[52..56].copy_from_slice(&99u32.to_le_bytes());
        assert_eq!(HeaderScan::new().needed(&f), None);
    }
}
