//! The writer: header bytes, then streamed tensor data.

use std::io::{self, Write};

use crate::types::align_up;
use crate::{Array, ByteOrder, GgmlType, GgufError, TensorInfo, Value};

const DEFAULT_ALIGNMENT: u64 = 32;

/// Builds a GGUF file: metadata and tensor descriptions first, tensor bytes streamed at
/// the end by a caller-supplied fill function, so multi-GB files never sit in memory.
#[derive(Debug, Clone)]
pub struct GgufWriter {
    version: u32,
    byte_order: ByteOrder,
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// Version 3, little-endian, alignment 32.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            byte_order: ByteOrder::Little,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// 1..=3; other values make the writes fail.
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    pub fn with_byte_order(mut self, byte_order: ByteOrder) -> Self {
        self.byte_order = byte_order;
        self
    }

    /// A power of two that fits in u32; other values make the writes fail. Values other
    /// than 32 are recorded as `general.alignment` automatically.
    pub fn with_alignment(mut self, alignment: u64) -> Self {
        self.alignment = alignment;
        self.relayout();
        self
    }

    /// Adds a key, or replaces its value if already present (GGUF keys are unique).
    pub fn add_metadata(&mut self, key: impl Into<String>, value: Value) {
        let key = key.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.metadata.push((key, value)),
        }
    }

    /// The tensors added so far, with their assigned offsets.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Adds a tensor; its offset is assigned (aligned) after the previous one. Returns the
    /// tensor's byte size.
    pub fn add_tensor(&mut self, name: impl Into<String>, dims: &[u64], ggml_type: GgmlType) -> Result<u64, GgufError> {
        let name = name.into();
        let invalid = |reason: String| GgufError::InvalidTensor { tensor: name.clone(), reason };
        if dims.len() > 4 {
            return Err(invalid(format!("{} dimensions (at most 4 allowed)", dims.len())));
        }
        if self.tensors.iter().any(|t| t.name == name) {
            return Err(invalid("added twice".into()));
        }
        let offset = self.next_offset().ok_or_else(|| invalid("offset overflows".into()))?;
        let tensor = TensorInfo { name: name.clone(), dims: dims.to_vec(), ggml_type, offset };
        let size = tensor.checked_byte_size()?;
        offset.checked_add(size).ok_or_else(|| invalid("end offset overflows".into()))?;
        self.tensors.push(tensor);
        Ok(size)
    }

    /// Writes magic, counts, metadata, tensor infos and padding. Returns bytes written (== data_offset).
    pub fn write_header<W: Write>(&self, w: &mut W) -> io::Result<u64> {
        let bytes = self.header_bytes()?;
        w.write_all(&bytes)?;
        Ok(bytes.len() as u64)
    }

    /// Streams the whole file: the header, then for each tensor in order the bytes that
    /// `fill(tensor_index, tensor, buf)` puts into a reused buffer of exactly the tensor's
    /// size, with alignment padding after each tensor. Returns bytes written.
    pub fn write_file<W: Write>(
        &self,
        w: &mut W,
        mut fill: impl FnMut(usize, &TensorInfo, &mut [u8]),
    ) -> io::Result<u64> {
        let data_offset = self.write_header(w)?;
        let mut buf = Vec::new();
        let mut written = 0u64; // relative to the data section
        for (i, t) in self.tensors.iter().enumerate() {
            write_zeros(w, t.offset.saturating_sub(written))?;
            let size = t.checked_byte_size().map_err(invalid_input)?;
            buf.resize(usize::try_from(size).map_err(invalid_input)?, 0);
            fill(i, t, &mut buf);
            w.write_all(&buf)?;
            written = t.offset.saturating_add(size);
        }
        let end = align_up(written, self.alignment).ok_or_else(|| invalid_input("data length overflows"))?;
        write_zeros(w, end - written)?;
        data_offset.checked_add(end).ok_or_else(|| invalid_input("file length overflows"))
    }

    fn next_offset(&self) -> Option<u64> {
        match self.tensors.last() {
            None => Some(0),
            Some(t) => align_up(t.offset.checked_add(t.byte_size()?)?, self.alignment),
        }
    }

    fn relayout(&mut self) {
        let mut next = 0u64;
        for t in &mut self.tensors {
            t.offset = next;
            next = t.byte_size().and_then(|s| align_up(next.checked_add(s)?, self.alignment)).unwrap_or(u64::MAX);
        }
    }

    fn header_bytes(&self) -> io::Result<Vec<u8>> {
        if !(1..=3).contains(&self.version) {
            return Err(invalid_input(format!("GGUF version {} (supported: 1 to 3)", self.version)));
        }
        let align32 = u32::try_from(self.alignment)
            .ok()
            .filter(|a| a.is_power_of_two())
            .ok_or_else(|| invalid_input(format!("alignment {} is not a power of two <= 2^31", self.alignment)))?;
        let mut extra = None;
        match self.metadata.iter().find(|(k, _)| k == "general.alignment") {
            Some((_, Value::U32(a))) if *a == align32 => {}
            Some(_) => return Err(invalid_input("general.alignment metadata disagrees with with_alignment")),
            None if self.alignment != DEFAULT_ALIGNMENT => extra = Some(("general.alignment", Value::U32(align32))),
            None => {}
        }
        let mut e = Encoder { out: b"GGUF".to_vec(), order: self.byte_order, wide: self.version >= 2 };
        e.u32(self.version);
        e.len(self.tensors.len() as u64)?;
        e.len(self.metadata.len() as u64 + u64::from(extra.is_some()))?;
        let all = self.metadata.iter().map(|(k, v)| (k.as_str(), v)).chain(extra.iter().map(|(k, v)| (*k, v)));
        for (key, value) in all {
            e.string(key.as_bytes())?;
            e.u32(value.value_type().id());
            e.value(value)?;
        }
        for t in &self.tensors {
            e.string(t.name.as_bytes())?;
            e.u32(t.dims.len() as u32);
            for &d in &t.dims {
                e.len(d)?;
            }
            e.u32(t.ggml_type.id());
            e.put(t.offset.to_le_bytes(), t.offset.to_be_bytes());
        }
        let end = align_up(e.out.len() as u64, self.alignment).ok_or_else(|| invalid_input("header too large"))?;
        e.out.resize(usize::try_from(end).map_err(invalid_input)?, 0);
        Ok(e.out)
    }
}

fn invalid_input(e: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
}

fn write_zeros<W: Write>(w: &mut W, mut n: u64) -> io::Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while n > 0 {
        let k = n.min(ZEROS.len() as u64);
        w.write_all(ZEROS.get(..k as usize).unwrap_or_default())?;
        n -= k;
    }
    Ok(())
}

struct Encoder {
    out: Vec<u8>,
    order: ByteOrder,
    wide: bool,
}

impl Encoder {
    fn put<const N: usize>(&mut self, le: [u8; N], be: [u8; N]) {
        self.out.extend_from_slice(if self.order == ByteOrder::Little { &le } else { &be });
    }

    fn u32(&mut self, v: u32) {
        self.put(v.to_le_bytes(), v.to_be_bytes());
    }

    /// Counts, lengths and dims: u64 in v2+, u32 in v1.
    fn len(&mut self, n: u64) -> io::Result<()> {
        if self.wide {
            self.put(n.to_le_bytes(), n.to_be_bytes());
        } else {
            let n = u32::try_from(n).map_err(|_| invalid_input(format!("{n} does not fit GGUF v1's u32 lengths")))?;
            self.u32(n);
        }
        Ok(())
    }

    fn string(&mut self, s: &[u8]) -> io::Result<()> {
        self.len(s.len() as u64)?;
        self.out.extend_from_slice(s);
        Ok(())
    }

    /// The value's payload (its type id is written by the caller, or by the array header).
    fn value(&mut self, v: &Value) -> io::Result<()> {
        match v {
            Value::U8(x) => self.out.push(*x),
            Value::I8(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::U16(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::I16(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::U32(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::I32(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::F32(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::U64(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::I64(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::F64(x) => self.put(x.to_le_bytes(), x.to_be_bytes()),
            Value::Bool(x) => self.out.push(u8::from(*x)),
            Value::String(s) => self.string(s.as_bytes())?,
            Value::Array(a) => self.array(a)?,
        }
        Ok(())
    }

    /// An array's element type, length and items.
    fn array(&mut self, a: &Array) -> io::Result<()> {
        self.u32(a.element_type().id());
        self.len(a.len() as u64)?;
        macro_rules! nums {
            ($items:expr) => {
                for x in $items {
                    self.put(x.to_le_bytes(), x.to_be_bytes());
                }
            };
        }
        match a {
            Array::U8(v) => self.out.extend_from_slice(v),
            Array::I8(v) => nums!(v),
            Array::U16(v) => nums!(v),
            Array::I16(v) => nums!(v),
            Array::U32(v) => nums!(v),
            Array::I32(v) => nums!(v),
            Array::F32(v) => nums!(v),
            Array::U64(v) => nums!(v),
            Array::I64(v) => nums!(v),
            Array::F64(v) => nums!(v),
            Array::Bool(v) => self.out.extend(v.iter().map(|&b| u8::from(b))),
            Array::String(v) => {
                for s in v.iter_bytes() {
                    self.string(s)?;
                }
            }
            Array::Array(v) => {
                for inner in v {
                    self.array(inner)?;
                }
            }
        }
        Ok(())
    }
}
