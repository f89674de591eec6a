//! The header parser.
//!
//! It runs over whatever prefix of the file the caller has. When the prefix ends early it
//! reports [`GgufError::Incomplete`] with a lower bound of the bytes needed, and the caller
//! parses again from scratch with more. Restarting keeps the parser free of saved state;
//! callers grow their buffer geometrically so the total work stays linear.

use std::collections::HashSet;

use crate::types::align_up;
use crate::{Array, ByteOrder, GgmlType, GgufError, GgufHeader, TensorInfo, Value, ValueType};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Arrays of arrays recurse; a cap keeps hostile nesting from exhausting the stack.
const MAX_ARRAY_DEPTH: u32 = 16;

/// Parse a header from the first bytes of a file. `total_len`: the file length if known.
///
/// Returns [`GgufError::Incomplete`] when `buf` ends before the header does; `needed` is
/// the number of bytes from the file start needed to make progress. If `total_len` is
/// known and the header would need bytes beyond it, that is a corruption error instead.
pub fn parse_header(buf: &[u8], total_len: Option<u64>) -> Result<GgufHeader, GgufError> {
    let seen = buf.get(..buf.len().min(4)).unwrap_or_default();
    if MAGIC.get(..seen.len()) != Some(seen) {
        let mut found = [0u8; 4];
        for (f, b) in found.iter_mut().zip(seen) {
            *f = *b;
        }
        return Err(GgufError::BadMagic { found });
    }
    let mut cur = Cursor { buf, pos: 0, total: total_len, order: ByteOrder::Little, wide: true, place: "magic".into() };
    cur.bytes::<4>()?;
    cur.place = "version".into();
    let raw = cur.bytes::<4>()?;
    let (version, order) = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
        (v @ 1..=3, _) => (v, ByteOrder::Little),
        (_, v @ 1..=3) => (v, ByteOrder::Big),
        (v, _) => return Err(GgufError::UnsupportedVersion { version: v }),
    };
    cur.order = order;
    cur.wide = version >= 2;

    cur.place = "tensor count".into();
    let at = cur.pos;
    let tensor_count = cur.len()?;
    cur.place = "key/value count".into();
    let kv_at = cur.pos;
    let kv_count = cur.len()?;
    // Every KV and tensor info has a minimum size, so absurd counts fail before any work.
    cur.declared(tensor_count, cur.len_size() + 16, at, "tensor count")?;
    cur.declared(kv_count, cur.len_size() + 5, kv_at, "key/value count")?;

    let mut metadata = Vec::with_capacity(cur.capacity(kv_count, cur.len_size() + 5));
    let mut keys = HashSet::new();
    for i in 0..kv_count {
        cur.place = format!("key #{i}");
        let at = cur.pos;
        let key = cur.string()?;
        cur.place = format!("key '{key}'");
        if !keys.insert(key.clone()) {
            return Err(GgufError::DuplicateKey { key, offset: at });
        }
        let ty = cur.value_type()?;
        let value = cur.value(ty, 0)?;
        metadata.push((key, value));
    }
    let alignment = alignment(&metadata)?;

    let mut tensors = Vec::with_capacity(cur.capacity(tensor_count, cur.len_size() + 16));
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        cur.place = format!("tensor #{i}");
        let at = cur.pos;
        let name = cur.string()?;
        cur.place = format!("tensor '{name}'");
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { tensor: name, offset: at });
        }
        let dims_at = cur.pos;
        let n_dims = cur.u32()?;
        if n_dims > 4 {
            return Err(GgufError::TooManyDims { tensor: name, offset: dims_at, n_dims });
        }
        let mut dims = Vec::with_capacity(4);
        for _ in 0..n_dims {
            dims.push(cur.len()?);
        }
        let ggml_type = GgmlType::from_id(cur.u32()?);
        let offset = cur.u64()?;
        let tensor = TensorInfo { name, dims, ggml_type, offset };
        validate_tensor(&tensor, alignment)?;
        tensors.push(tensor);
    }
    let data_offset =
        align_up(cur.pos, alignment).ok_or_else(|| GgufError::Overflow { what: "data section offset".into() })?;
    Ok(GgufHeader { version, byte_order: order, metadata, tensors, alignment, data_offset })
}

fn alignment(metadata: &[(String, Value)]) -> Result<u64, GgufError> {
    match metadata.iter().find(|(k, _)| k == "general.alignment").map(|(_, v)| v) {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(Value::U32(a)) if a.is_power_of_two() => Ok(u64::from(*a)),
        Some(Value::U32(a)) => Err(GgufError::InvalidAlignment { reason: format!("{a} is not a power of two") }),
        Some(v) => Err(GgufError::InvalidAlignment { reason: format!("type {:?}, expected U32", v.value_type()) }),
    }
}

fn validate_tensor(t: &TensorInfo, alignment: u64) -> Result<(), GgufError> {
    if !t.offset.is_multiple_of(alignment) {
        return Err(GgufError::MisalignedTensor { tensor: t.name.clone(), offset: t.offset, alignment });
    }
    if t.element_count().is_none() {
        return Err(GgufError::InvalidTensor {
            tensor: t.name.clone(),
            reason: format!("element count of dims {:?} overflows", t.dims),
        });
    }
    // Unknown (newer) types stay readable; only known types can be size-checked here.
    if !matches!(t.ggml_type, GgmlType::Other(_)) {
        t.checked_byte_size()?;
    }
    Ok(())
}

/// A read position over the available prefix; every read is bounds-checked against both
/// the prefix (-> Incomplete) and the known file length (-> corruption).
struct Cursor<'a> {
    buf: &'a [u8],
    pos: u64,
    total: Option<u64>,
    order: ByteOrder,
    /// v2+ uses u64 counts, lengths and dims; v1 uses u32.
    wide: bool,
    /// What is being read, for error messages.
    place: String,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], GgufError> {
        let end = self
            .pos
            .checked_add(n)
            .ok_or_else(|| GgufError::Overflow { what: format!("offset of {} at {}", self.place, self.pos) })?;
        if let Some(total) = self.total
            && end > total
        {
            let what = format!("{} at offset {}", self.place, self.pos);
            return Err(GgufError::Truncated { what, needed: end, actual: total });
        }
        let range = usize::try_from(self.pos).ok().zip(usize::try_from(end).ok());
        match range.and_then(|(s, e)| self.buf.get(s..e)) {
            Some(bytes) => {
                self.pos = end;
                Ok(bytes)
            }
            None => Err(GgufError::Incomplete { needed: end }),
        }
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let end = self.pos.saturating_add(N as u64);
        self.take(N as u64)?.first_chunk::<N>().copied().ok_or(GgufError::Incomplete { needed: end })
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        let b = self.bytes()?;
        Ok(if self.order == ByteOrder::Little { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) })
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        let b = self.bytes()?;
        Ok(if self.order == ByteOrder::Little { u64::from_le_bytes(b) } else { u64::from_be_bytes(b) })
    }

    fn len_size(&self) -> u64 {
        if self.wide { 8 } else { 4 }
    }

    /// A count, length or dim: u64 in v2+, u32 in v1.
    fn len(&mut self) -> Result<u64, GgufError> {
        if self.wide { self.u64() } else { self.u32().map(u64::from) }
    }

    /// Checks that `count` items of at least `each` bytes can exist: past the known file
    /// end is corruption; past the prefix is Incomplete with that lower bound.
    fn declared(&self, count: u64, each: u64, at: u64, what: &str) -> Result<(), GgufError> {
        let end = count.checked_mul(each).and_then(|b| self.pos.checked_add(b));
        match end {
            Some(end) if self.total.is_none_or(|t| end <= t) => {
                if end > self.buf.len() as u64 {
                    return Err(GgufError::Incomplete { needed: end });
                }
                Ok(())
            }
            _ => {
                Err(GgufError::LengthTooLarge { what: format!("{what} of {}", self.place), offset: at, length: count })
            }
        }
    }

    /// A Vec capacity for `count` items that the remaining prefix bytes could hold.
    fn capacity(&self, count: u64, each: u64) -> usize {
        let remaining = (self.buf.len() as u64).saturating_sub(self.pos);
        usize::try_from(count.min(remaining / each.max(1))).unwrap_or(0)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let at = self.pos;
        let len = self.len()?;
        self.declared(len, 1, at, "string length")?;
        let bytes = self.take(len)?;
        // Tokenizer vocabularies hold byte pieces that are not valid UTF-8; keep them lossily.
        Ok(match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        })
    }

    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let at = self.pos;
        let id = self.u32()?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType { id, offset: at, what: self.place.clone() })
    }

    fn min_size(&self, ty: ValueType) -> u64 {
        match ty {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => 1,
            ValueType::U16 | ValueType::I16 => 2,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 4,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 8,
            ValueType::String => self.len_size(),
            ValueType::Array => 4 + self.len_size(),
        }
    }

    fn value(&mut self, ty: ValueType, depth: u32) -> Result<Value, GgufError> {
        let little = self.order == ByteOrder::Little;
        macro_rules! num {
            ($variant:ident, $t:ty) => {{
                let b = self.bytes()?;
                Value::$variant(if little { <$t>::from_le_bytes(b) } else { <$t>::from_be_bytes(b) })
            }};
        }
        Ok(match ty {
            ValueType::U8 => num!(U8, u8),
            ValueType::I8 => num!(I8, i8),
            ValueType::U16 => num!(U16, u16),
            ValueType::I16 => num!(I16, i16),
            ValueType::U32 => num!(U32, u32),
            ValueType::I32 => num!(I32, i32),
            ValueType::F32 => num!(F32, f32),
            ValueType::U64 => num!(U64, u64),
            ValueType::I64 => num!(I64, i64),
            ValueType::F64 => num!(F64, f64),
            ValueType::Bool => Value::Bool(self.bytes::<1>()? != [0]),
            ValueType::String => Value::String(self.string()?),
            ValueType::Array => Value::Array(self.array(depth)?),
        })
    }

    fn array(&mut self, depth: u32) -> Result<Array, GgufError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(GgufError::NestingTooDeep { what: self.place.clone(), offset: self.pos });
        }
        let element_type = self.value_type()?;
        let at = self.pos;
        let len = self.len()?;
        let each = self.min_size(element_type);
        self.declared(len, each, at, "array length")?;
        let mut values = Vec::with_capacity(self.capacity(len, each));
        for _ in 0..len {
            values.push(self.value(element_type, depth + 1)?);
        }
        Ok(Array { element_type, values })
    }
}
