//! The header parser.
//!
//! It runs over whatever prefix of the file the caller has. When the prefix ends early it
//! reports [`GgufError::Incomplete`] with a lower bound of the bytes needed, and the caller
//! parses again from scratch with more. Restarting keeps the parser free of saved state;
//! callers grow their buffer geometrically (or scan ahead, see `scan.rs`) so the total
//! work stays linear. A file on disk is instead read as the parse goes, through a small
//! window: a 6 MB header then never sits in memory whole, only the values parsed from it.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::types::align_up;
use crate::value::StringArray;
use crate::{Array, ByteOrder, GgmlType, GgufError, GgufHeader, TensorInfo, Value, ValueType};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Arrays of arrays recurse; a cap keeps hostile nesting from exhausting the stack.
const MAX_ARRAY_DEPTH: u32 = 16;
/// Bytes read from a file at a time: each read lands in the same few pages, and at most
/// this much beyond the header is read.
const FILE_READ_STEP: u64 = 256 << 10;
/// Items reserved ahead for an array; beyond that, vectors grow as items arrive (a
/// declared count is only as true as the file).
const MAX_RESERVE: u64 = 1 << 20;

/// Parse a header from the first bytes of a file. `total_len`: the file length if known.
///
/// Returns [`GgufError::Incomplete`] when `buf` ends before the header does; `needed` is
/// the number of bytes from the file start needed to make progress. If `total_len` is
/// known and the header would need bytes beyond it, that is a corruption error instead.
pub fn parse_header(buf: &[u8], total_len: Option<u64>) -> Result<GgufHeader, GgufError> {
    check_magic(buf)?;
    parse(Input::Prefix(buf), total_len)
}

/// Parses the header of `file` (`file_len` bytes long), reading from its start once.
pub(crate) fn parse_file(file: &mut File, path: &Path, file_len: u64) -> Result<GgufHeader, GgufError> {
    let mut window = FileWindow { file, path, bytes: Vec::new(), start: 0 };
    window.read(FILE_READ_STEP.min(file_len))?;
    check_magic(&window.bytes)?;
    parse(Input::File(window), Some(file_len))
}

/// A prefix that cannot start a GGUF file is refused at once, however short.
fn check_magic(prefix: &[u8]) -> Result<(), GgufError> {
    let seen = prefix.get(..prefix.len().min(4)).unwrap_or_default();
    if MAGIC.get(..seen.len()) != Some(seen) {
        let mut found = [0u8; 4];
        for (f, b) in found.iter_mut().zip(seen) {
            *f = *b;
        }
        return Err(GgufError::BadMagic { found });
    }
    Ok(())
}

fn parse(input: Input<'_>, total_len: Option<u64>) -> Result<GgufHeader, GgufError> {
    let mut cur = Cursor {
        input,
        pos: 0,
        total: total_len,
        order: ByteOrder::Little,
        wide: true,
        place: Place::Magic,
        name: String::new(),
    };
    cur.bytes::<4>()?;
    cur.place = Place::Version;
    let raw = cur.bytes::<4>()?;
    let (version, order) = match (u32::from_le_bytes(raw), u32::from_be_bytes(raw)) {
        (v @ 1..=3, _) => (v, ByteOrder::Little),
        (_, v @ 1..=3) => (v, ByteOrder::Big),
        (v, _) => return Err(GgufError::UnsupportedVersion { version: v }),
    };
    cur.order = order;
    cur.wide = version >= 2;

    cur.place = Place::TensorCount;
    let at = cur.pos;
    let tensor_count = cur.len()?;
    cur.place = Place::KvCount;
    let kv_at = cur.pos;
    let kv_count = cur.len()?;
    // Every KV and tensor info has a minimum size, so absurd counts fail before any work.
    cur.declared(tensor_count, cur.len_size() + 16, at, "tensor count")?;
    cur.declared(kv_count, cur.len_size() + 5, kv_at, "key/value count")?;

    let mut metadata = Vec::with_capacity(cur.capacity(kv_count, cur.len_size() + 5));
    let mut keys = HashSet::new();
    for i in 0..kv_count {
        cur.place = Place::KeyNo(i);
        let at = cur.pos;
        let key = cur.string()?;
        if !keys.insert(key.clone()) {
            return Err(GgufError::DuplicateKey { key, offset: at });
        }
        // The key names the errors in its value.
        cur.name = key;
        cur.place = Place::Key;
        let ty = cur.value_type()?;
        let value = cur.value(ty, 0)?;
        metadata.push((std::mem::take(&mut cur.name), value));
    }
    let alignment = alignment(&metadata)?;

    let mut tensors = Vec::with_capacity(cur.capacity(tensor_count, cur.len_size() + 16));
    let mut names = HashSet::new();
    for i in 0..tensor_count {
        cur.place = Place::TensorNo(i);
        let at = cur.pos;
        let name = cur.string()?;
        if !names.insert(name.clone()) {
            return Err(GgufError::DuplicateTensor { tensor: name, offset: at });
        }
        cur.name = name;
        cur.place = Place::Tensor;
        let dims_at = cur.pos;
        let n_dims = cur.u32()?;
        if n_dims > 4 {
            return Err(GgufError::TooManyDims { tensor: std::mem::take(&mut cur.name), offset: dims_at, n_dims });
        }
        let mut dims = Vec::with_capacity(4);
        for _ in 0..n_dims {
            dims.push(cur.len()?);
        }
        let ggml_type = GgmlType::from_id(cur.u32()?);
        let offset = cur.u64()?;
        let tensor = TensorInfo { name: std::mem::take(&mut cur.name), dims, ggml_type, offset };
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

/// What is being read, for error messages; rendered only when an error needs it, since
/// formatting it per key and per tensor would cost more than the reads.
#[derive(Clone, Copy)]
enum Place {
    Magic,
    Version,
    TensorCount,
    KvCount,
    KeyNo(u64),
    /// The key in `Cursor::name`.
    Key,
    TensorNo(u64),
    /// The tensor in `Cursor::name`.
    Tensor,
}

/// Where the bytes come from.
enum Input<'a> {
    /// The caller's prefix of the file; reads past it are `Incomplete`.
    Prefix(&'a [u8]),
    /// A file, read on demand.
    File(FileWindow<'a>),
}

/// The bytes of a file from offset `start` on, as far as read so far. Reads are
/// sequential, so what lies before the read position is dropped at each refill.
struct FileWindow<'a> {
    file: &'a mut File,
    path: &'a Path,
    bytes: Vec<u8>,
    start: u64,
}

impl FileWindow<'_> {
    /// Appends up to `n` bytes; fewer only at the end of the file.
    fn read(&mut self, n: u64) -> Result<(), GgufError> {
        let io_err = |source| GgufError::Io { path: self.path.to_path_buf(), source };
        (&mut *self.file).take(n).read_to_end(&mut self.bytes).map_err(io_err)?;
        Ok(())
    }

    /// The file's bytes `pos..end` (`pos` at or after `start`).
    fn fill(&mut self, pos: u64, end: u64) -> Result<&[u8], GgufError> {
        let skip = usize::try_from(pos.saturating_sub(self.start)).unwrap_or(usize::MAX);
        let n = usize::try_from(end.saturating_sub(pos)).unwrap_or(usize::MAX);
        if self.bytes.len().saturating_sub(skip) < n {
            self.bytes.drain(..skip.min(self.bytes.len()));
            self.start = pos;
            while self.bytes.len() < n {
                let have = self.bytes.len();
                self.read(((n - have) as u64).max(FILE_READ_STEP))?;
                if self.bytes.len() == have {
                    // The file is shorter than when its length was taken.
                    let actual = self.start + have as u64;
                    return Err(GgufError::Truncated { what: "header".into(), needed: end, actual });
                }
            }
        }
        Ok(self.after(pos).get(..n).unwrap_or_default())
    }

    /// The bytes from `pos` that have been read.
    fn after(&self, pos: u64) -> &[u8] {
        let skip = usize::try_from(pos.saturating_sub(self.start)).unwrap_or(usize::MAX);
        self.bytes.get(skip..).unwrap_or_default()
    }
}

/// A read position over the input; every read is bounds-checked against both the
/// available bytes (-> Incomplete for a prefix) and the known file length (-> corruption).
struct Cursor<'a> {
    input: Input<'a>,
    pos: u64,
    total: Option<u64>,
    order: ByteOrder,
    /// v2+ uses u64 counts, lengths and dims; v1 uses u32.
    wide: bool,
    place: Place,
    /// The key or tensor being read, for `place`.
    name: String,
}

impl Cursor<'_> {
    fn place(&self) -> String {
        match self.place {
            Place::Magic => "magic".into(),
            Place::Version => "version".into(),
            Place::TensorCount => "tensor count".into(),
            Place::KvCount => "key/value count".into(),
            Place::KeyNo(i) => format!("key #{i}"),
            Place::Key => format!("key '{}'", self.name),
            Place::TensorNo(i) => format!("tensor #{i}"),
            Place::Tensor => format!("tensor '{}'", self.name),
        }
    }

    fn take(&mut self, n: u64) -> Result<&[u8], GgufError> {
        let start = self.pos;
        let end = start
            .checked_add(n)
            .ok_or_else(|| GgufError::Overflow { what: format!("offset of {} at {}", self.place(), start) })?;
        if let Some(total) = self.total
            && end > total
        {
            let what = format!("{} at offset {}", self.place(), start);
            return Err(GgufError::Truncated { what, needed: end, actual: total });
        }
        let bytes = match &mut self.input {
            Input::Prefix(buf) => {
                let range = usize::try_from(start).ok().zip(usize::try_from(end).ok());
                range.and_then(|(s, e)| buf.get(s..e)).ok_or(GgufError::Incomplete { needed: end })?
            }
            Input::File(window) => window.fill(start, end)?,
        };
        self.pos = end;
        Ok(bytes)
    }

    /// The bytes from the read position that are at hand and within the file.
    fn available(&self) -> &[u8] {
        let bytes = match &self.input {
            Input::Prefix(buf) => buf.get(usize::try_from(self.pos).unwrap_or(usize::MAX)..).unwrap_or_default(),
            Input::File(window) => window.after(self.pos),
        };
        let in_file = self.total.map_or(u64::MAX, |t| t.saturating_sub(self.pos));
        bytes.get(..usize::try_from(in_file).unwrap_or(usize::MAX).min(bytes.len())).unwrap_or_default()
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
    /// end is corruption; past a prefix is Incomplete with that lower bound.
    fn declared(&self, count: u64, each: u64, at: u64, what: &str) -> Result<(), GgufError> {
        let end = count.checked_mul(each).and_then(|b| self.pos.checked_add(b));
        match end {
            Some(end) if self.total.is_none_or(|t| end <= t) => match self.input {
                Input::Prefix(buf) if end > buf.len() as u64 => Err(GgufError::Incomplete { needed: end }),
                _ => Ok(()),
            },
            _ => Err(GgufError::LengthTooLarge {
                what: format!("{what} of {}", self.place()),
                offset: at,
                length: count,
            }),
        }
    }

    /// A Vec capacity for `count` items that the remaining bytes could hold.
    fn capacity(&self, count: u64, each: u64) -> usize {
        let remaining = match &self.input {
            Input::Prefix(buf) => (buf.len() as u64).saturating_sub(self.pos),
            Input::File(_) => self.total.unwrap_or(0).saturating_sub(self.pos),
        };
        usize::try_from(count.min(remaining / each.max(1)).min(MAX_RESERVE)).unwrap_or(0)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        // Keys, names and single values are few: decode them lossily now.
        Ok(String::from_utf8_lossy(self.string_bytes()?).into_owned())
    }

    fn string_bytes(&mut self) -> Result<&[u8], GgufError> {
        let at = self.pos;
        let len = self.len()?;
        self.declared(len, 1, at, "string length")?;
        self.take(len)
    }

    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let at = self.pos;
        let id = self.u32()?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType { id, offset: at, what: self.place() })
    }

    fn min_size(&self, ty: ValueType) -> u64 {
        match ty {
            ValueType::String => self.len_size(),
            ValueType::Array => 4 + self.len_size(),
            fixed => fixed.fixed_size().unwrap_or(1),
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
            return Err(GgufError::NestingTooDeep { what: self.place(), offset: self.pos });
        }
        let element_type = self.value_type()?;
        let at = self.pos;
        let len = self.len()?;
        let each = self.min_size(element_type);
        self.declared(len, each, at, "array length")?;
        let little = self.order == ByteOrder::Little;
        macro_rules! nums {
            ($variant:ident, $t:ty) => {
                Array::$variant(
                    self.fixed(len, |b| if little { <$t>::from_le_bytes(b) } else { <$t>::from_be_bytes(b) })?,
                )
            };
        }
        Ok(match element_type {
            ValueType::U8 => nums!(U8, u8),
            ValueType::I8 => nums!(I8, i8),
            ValueType::U16 => nums!(U16, u16),
            ValueType::I16 => nums!(I16, i16),
            ValueType::U32 => nums!(U32, u32),
            ValueType::I32 => nums!(I32, i32),
            ValueType::F32 => nums!(F32, f32),
            ValueType::U64 => nums!(U64, u64),
            ValueType::I64 => nums!(I64, i64),
            ValueType::F64 => nums!(F64, f64),
            ValueType::Bool => Array::Bool(self.fixed(len, |[b]| b != 0)?),
            ValueType::String => Array::String(self.strings(len, each)?),
            ValueType::Array => {
                let mut arrays = Vec::with_capacity(self.capacity(len, each));
                for _ in 0..len {
                    arrays.push(self.array(depth + 1)?);
                }
                Array::Array(arrays)
            }
        })
    }

    /// `len` items of N bytes each, decoded in bulk a read window's worth at a time (the
    /// caller has checked that they fit in the file or the prefix).
    fn fixed<T, const N: usize>(&mut self, len: u64, decode: impl Fn([u8; N]) -> T) -> Result<Vec<T>, GgufError> {
        let mut items = Vec::with_capacity(self.capacity(len, N as u64));
        let mut left = len;
        while left > 0 {
            let n = left.min(FILE_READ_STEP / N as u64);
            let (chunks, _) = self.take(n * N as u64)?.as_chunks::<N>();
            items.extend(chunks.iter().map(|b| decode(*b)));
            left -= n;
        }
        Ok(items)
    }

    /// `len` strings. Those wholly within the bytes at hand (nearly all of a vocabulary)
    /// go through a tight loop; a string crossing their end takes the checked path, which
    /// reads on or names the error.
    fn strings(&mut self, len: u64, each: u64) -> Result<StringArray, GgufError> {
        let mut strings = StringArray::with_capacity(self.capacity(len, each));
        let mut done = 0;
        while done < len {
            let (n, used) = match (self.wide, self.order) {
                (true, ByteOrder::Little) => {
                    push_strings(self.available(), len - done, u64::from_le_bytes, &mut strings)
                }
                (true, ByteOrder::Big) => push_strings(self.available(), len - done, u64::from_be_bytes, &mut strings),
                (false, ByteOrder::Little) => {
                    push_strings(self.available(), len - done, |b| u32::from_le_bytes(b).into(), &mut strings)
                }
                (false, ByteOrder::Big) => {
                    push_strings(self.available(), len - done, |b| u32::from_be_bytes(b).into(), &mut strings)
                }
            };
            self.pos += used;
            done += n;
            if done < len {
                strings.push(self.string_bytes()?);
                done += 1;
            }
        }
        Ok(strings)
    }
}

/// Pushes up to `max` strings lying wholly in `bytes` (each a length of N bytes, read by
/// `len_of`, then its bytes). Returns how many, and the bytes they took.
fn push_strings<const N: usize>(
    bytes: &[u8],
    max: u64,
    len_of: impl Fn([u8; N]) -> u64,
    out: &mut StringArray,
) -> (u64, u64) {
    let mut rest = bytes;
    let mut n = 0;
    while n < max {
        let Some((len, body)) = rest.split_first_chunk::<N>() else { break };
        let Some((s, after)) = usize::try_from(len_of(*len)).ok().and_then(|l| body.split_at_checked(l)) else {
            break;
        };
        out.push(s);
        rest = after;
        n += 1;
    }
    (n, (bytes.len() - rest.len()) as u64)
}
