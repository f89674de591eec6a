//! Metadata values: the thirteen GGUF value types.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::GgufError;

/// Byte order of every number in a file. GGUF is little-endian unless the version
/// field reads byte-swapped, which marks a big-endian file (s390x builds write those).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    #[default]
    Little,
    Big,
}

/// GGUF metadata value type ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum ValueType {
    U8 = 0,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        const ALL: [ValueType; 13] = [U8, I8, U16, I16, U32, I32, F32, Bool, String, Array, U64, I64, F64];
        ALL.get(usize::try_from(id).ok()?).copied()
    }

    pub fn id(self) -> u32 {
        self as u32
    }

    /// Bytes of one value, for the types whose values all have the same size.
    pub(crate) fn fixed_size(self) -> Option<u64> {
        match self {
            ValueType::U8 | ValueType::I8 | ValueType::Bool => Some(1),
            ValueType::U16 | ValueType::I16 => Some(2),
            ValueType::U32 | ValueType::I32 | ValueType::F32 => Some(4),
            ValueType::U64 | ValueType::I64 | ValueType::F64 => Some(8),
            ValueType::String | ValueType::Array => None,
        }
    }
}

/// One metadata value.
///
/// Equality is bitwise for floats, so a value (and a header) always equals itself, even
/// holding NaN (tokenizer score arrays can).
#[derive(Debug, Clone)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (U8(a), U8(b)) => a == b,
            (I8(a), I8(b)) => a == b,
            (U16(a), U16(b)) => a == b,
            (I16(a), I16(b)) => a == b,
            (U32(a), U32(b)) => a == b,
            (I32(a), I32(b)) => a == b,
            (F32(a), F32(b)) => a.to_bits() == b.to_bits(),
            (Bool(a), Bool(b)) => a == b,
            (String(a), String(b)) => a == b,
            (Array(a), Array(b)) => a == b,
            (U64(a), U64(b)) => a == b,
            (I64(a), I64(b)) => a == b,
            (F64(a), F64(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Value {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::String(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer type holding a non-negative value (writers disagree on the integer
    /// type of keys such as `general.file_type`, so readers should not insist on one).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Human/JSON-ish string: numbers plain, bool true/false, strings as-is, arrays as
    /// "[1, 2, 3]" with strings quoted.
    pub fn to_display_string(&self) -> String {
        let mut out = String::new();
        self.display_into(&mut out, false);
        out
    }

    fn display_into(&self, out: &mut String, quote_strings: bool) {
        // `write!` into a String cannot fail, so its result is ignored.
        let _ = match self {
            Value::U8(v) => write!(out, "{v}"),
            Value::I8(v) => write!(out, "{v}"),
            Value::U16(v) => write!(out, "{v}"),
            Value::I16(v) => write!(out, "{v}"),
            Value::U32(v) => write!(out, "{v}"),
            Value::I32(v) => write!(out, "{v}"),
            Value::F32(v) => write!(out, "{v}"),
            Value::Bool(v) => write!(out, "{v}"),
            Value::U64(v) => write!(out, "{v}"),
            Value::I64(v) => write!(out, "{v}"),
            Value::F64(v) => write!(out, "{v}"),
            Value::String(s) if quote_strings => {
                quote_into(out, s);
                Ok(())
            }
            Value::String(s) => {
                out.push_str(s);
                Ok(())
            }
            Value::Array(a) => {
                a.display_into(out);
                Ok(())
            }
        };
    }
}

/// A typed array, one vector per element type, so that a 150,000-token vocabulary is a
/// few allocations rather than one per item. Arrays of arrays are allowed (each inner
/// array has its own element type).
///
/// Equality is bitwise for floats, as for [`Value`].
#[derive(Debug, Clone)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(StringArray),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

impl PartialEq for Array {
    fn eq(&self, other: &Array) -> bool {
        match (self, other) {
            (Array::U8(a), Array::U8(b)) => a == b,
            (Array::I8(a), Array::I8(b)) => a == b,
            (Array::U16(a), Array::U16(b)) => a == b,
            (Array::I16(a), Array::I16(b)) => a == b,
            (Array::U32(a), Array::U32(b)) => a == b,
            (Array::I32(a), Array::I32(b)) => a == b,
            (Array::F32(a), Array::F32(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Array::Bool(a), Array::Bool(b)) => a == b,
            (Array::String(a), Array::String(b)) => a == b,
            (Array::Array(a), Array::Array(b)) => a == b,
            (Array::U64(a), Array::U64(b)) => a == b,
            (Array::I64(a), Array::I64(b)) => a == b,
            (Array::F64(a), Array::F64(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            _ => false,
        }
    }
}

impl Array {
    /// An array of `element_type` from values of that type; an error names the first
    /// value of another type.
    pub fn from_values(element_type: ValueType, values: impl IntoIterator<Item = Value>) -> Result<Array, GgufError> {
        let mut array = Array::empty(element_type);
        for v in values {
            let found = v.value_type();
            match (&mut array, v) {
                (Array::U8(a), Value::U8(x)) => a.push(x),
                (Array::I8(a), Value::I8(x)) => a.push(x),
                (Array::U16(a), Value::U16(x)) => a.push(x),
                (Array::I16(a), Value::I16(x)) => a.push(x),
                (Array::U32(a), Value::U32(x)) => a.push(x),
                (Array::I32(a), Value::I32(x)) => a.push(x),
                (Array::F32(a), Value::F32(x)) => a.push(x),
                (Array::Bool(a), Value::Bool(x)) => a.push(x),
                (Array::String(a), Value::String(x)) => a.push(x),
                (Array::Array(a), Value::Array(x)) => a.push(x),
                (Array::U64(a), Value::U64(x)) => a.push(x),
                (Array::I64(a), Value::I64(x)) => a.push(x),
                (Array::F64(a), Value::F64(x)) => a.push(x),
                _ => return Err(GgufError::InvalidArgument(format!("array of {element_type:?} holds a {found:?}"))),
            }
        }
        Ok(array)
    }

    fn empty(element_type: ValueType) -> Array {
        match element_type {
            ValueType::U8 => Array::U8(Vec::new()),
            ValueType::I8 => Array::I8(Vec::new()),
            ValueType::U16 => Array::U16(Vec::new()),
            ValueType::I16 => Array::I16(Vec::new()),
            ValueType::U32 => Array::U32(Vec::new()),
            ValueType::I32 => Array::I32(Vec::new()),
            ValueType::F32 => Array::F32(Vec::new()),
            ValueType::Bool => Array::Bool(Vec::new()),
            ValueType::String => Array::String(StringArray::default()),
            ValueType::Array => Array::Array(Vec::new()),
            ValueType::U64 => Array::U64(Vec::new()),
            ValueType::I64 => Array::I64(Vec::new()),
            ValueType::F64 => Array::F64(Vec::new()),
        }
    }

    pub fn element_type(&self) -> ValueType {
        match self {
            Array::U8(_) => ValueType::U8,
            Array::I8(_) => ValueType::I8,
            Array::U16(_) => ValueType::U16,
            Array::I16(_) => ValueType::I16,
            Array::U32(_) => ValueType::U32,
            Array::I32(_) => ValueType::I32,
            Array::F32(_) => ValueType::F32,
            Array::Bool(_) => ValueType::Bool,
            Array::String(_) => ValueType::String,
            Array::Array(_) => ValueType::Array,
            Array::U64(_) => ValueType::U64,
            Array::I64(_) => ValueType::I64,
            Array::F64(_) => ValueType::F64,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Array::U8(a) => a.len(),
            Array::I8(a) => a.len(),
            Array::U16(a) => a.len(),
            Array::I16(a) => a.len(),
            Array::U32(a) => a.len(),
            Array::I32(a) => a.len(),
            Array::F32(a) => a.len(),
            Array::Bool(a) => a.len(),
            Array::String(a) => a.len(),
            Array::Array(a) => a.len(),
            Array::U64(a) => a.len(),
            Array::I64(a) => a.len(),
            Array::F64(a) => a.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `i` as a [`Value`]: strings decoded lossily, inner arrays cloned.
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(a) => Value::U8(*a.get(i)?),
            Array::I8(a) => Value::I8(*a.get(i)?),
            Array::U16(a) => Value::U16(*a.get(i)?),
            Array::I16(a) => Value::I16(*a.get(i)?),
            Array::U32(a) => Value::U32(*a.get(i)?),
            Array::I32(a) => Value::I32(*a.get(i)?),
            Array::F32(a) => Value::F32(*a.get(i)?),
            Array::Bool(a) => Value::Bool(*a.get(i)?),
            Array::String(a) => Value::String(a.get(i)?.into_owned()),
            Array::Array(a) => Value::Array(a.get(i)?.clone()),
            Array::U64(a) => Value::U64(*a.get(i)?),
            Array::I64(a) => Value::I64(*a.get(i)?),
            Array::F64(a) => Value::F64(*a.get(i)?),
        })
    }

    /// The items as [`Value`]s (see [`get`](Self::get)); for short arrays, such as
    /// per-layer hyperparameters.
    pub fn iter(&self) -> impl Iterator<Item = Value> + '_ {
        (0..self.len()).map_while(|i| self.get(i))
    }

    pub fn as_strings(&self) -> Option<&StringArray> {
        match self {
            Array::String(a) => Some(a),
            _ => None,
        }
    }

    /// "[1, 2, 3]", strings quoted (see [`Value::to_display_string`]).
    pub fn to_display_string(&self) -> String {
        let mut out = String::new();
        self.display_into(&mut out);
        out
    }

    fn display_into(&self, out: &mut String) {
        fn join<T>(out: &mut String, items: impl Iterator<Item = T>, mut one: impl FnMut(&mut String, T)) {
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                one(out, item);
            }
        }
        fn plain<T: fmt::Display>(out: &mut String, v: T) {
            // `write!` into a String cannot fail.
            let _ = write!(out, "{v}");
        }
        out.push('[');
        match self {
            Array::U8(a) => join(out, a.iter(), plain),
            Array::I8(a) => join(out, a.iter(), plain),
            Array::U16(a) => join(out, a.iter(), plain),
            Array::I16(a) => join(out, a.iter(), plain),
            Array::U32(a) => join(out, a.iter(), plain),
            Array::I32(a) => join(out, a.iter(), plain),
            Array::F32(a) => join(out, a.iter(), plain),
            Array::Bool(a) => join(out, a.iter(), plain),
            Array::String(a) => join(out, a.iter(), |out, s| quote_into(out, &s)),
            Array::Array(a) => join(out, a.iter(), |out, inner| inner.display_into(out)),
            Array::U64(a) => join(out, a.iter(), plain),
            Array::I64(a) => join(out, a.iter(), plain),
            Array::F64(a) => join(out, a.iter(), plain),
        }
        out.push(']');
    }
}

/// An array of strings in one buffer: the bytes of all items back to back and where each
/// ends. Items are kept as the file has them, since tokenizer byte pieces are not always
/// valid UTF-8; [`get`](Self::get) and [`iter`](Self::iter) decode them lossily.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StringArray {
    bytes: Vec<u8>,
    ends: Ends,
}

/// Where each item ends in `bytes`. u32 offsets take half the memory of usize for a
/// vocabulary (and a parse pays for every fresh page); past 4 GiB they switch to usize.
/// Which form is used follows from the content, so derived equality stays right.
#[derive(Clone, PartialEq, Eq)]
enum Ends {
    Narrow(Vec<u32>),
    Wide(Vec<usize>),
}

impl Default for Ends {
    fn default() -> Self {
        Ends::Narrow(Vec::new())
    }
}

impl StringArray {
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for `items` strings (their bytes grow as they come).
    pub(crate) fn with_capacity(items: usize) -> Self {
        StringArray { bytes: Vec::new(), ends: Ends::Narrow(Vec::with_capacity(items)) }
    }

    pub fn len(&self) -> usize {
        match &self.ends {
            Ends::Narrow(e) => e.len(),
            Ends::Wide(e) => e.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn push(&mut self, s: impl AsRef<[u8]>) {
        self.bytes.extend_from_slice(s.as_ref());
        let end = self.bytes.len();
        match &mut self.ends {
            Ends::Narrow(ends) => match u32::try_from(end) {
                Ok(end) => ends.push(end),
                Err(_) => {
                    let mut wide: Vec<usize> = ends.iter().map(|&e| e as usize).collect();
                    wide.push(end);
                    self.ends = Ends::Wide(wide);
                }
            },
            Ends::Wide(ends) => ends.push(end),
        }
    }

    fn end(&self, i: usize) -> Option<usize> {
        match &self.ends {
            Ends::Narrow(e) => e.get(i).map(|&e| e as usize),
            Ends::Wide(e) => e.get(i).copied(),
        }
    }

    /// Item `i` as stored.
    pub fn get_bytes(&self, i: usize) -> Option<&[u8]> {
        let end = self.end(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => self.end(prev)?,
            None => 0,
        };
        self.bytes.get(start..end)
    }

    /// Item `i`, invalid UTF-8 replaced by U+FFFD.
    pub fn get(&self, i: usize) -> Option<Cow<'_, str>> {
        self.get_bytes(i).map(String::from_utf8_lossy)
    }

    /// The items as stored.
    pub fn iter_bytes(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len()).map_while(|i| self.get_bytes(i))
    }

    /// The items, invalid UTF-8 replaced by U+FFFD.
    pub fn iter(&self) -> impl Iterator<Item = Cow<'_, str>> + '_ {
        self.iter_bytes().map(String::from_utf8_lossy)
    }
}

impl<S: AsRef<[u8]>> FromIterator<S> for StringArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut a = StringArray::new();
        for s in iter {
            a.push(s);
        }
        a
    }
}

impl fmt::Debug for StringArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// `s` JSON-style quoted, as inside an array's display form.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::new();
    quote_into(&mut out, s);
    out
}

/// JSON-style string quoting.
fn quote_into(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_type_ids() {
        for id in 0..13 {
            assert_eq!(ValueType::from_id(id).map(ValueType::id), Some(id));
        }
        assert_eq!(ValueType::from_id(13), None);
        assert_eq!(ValueType::from_id(u32::MAX), None);
    }

    /// Fuzzing regression (header target): a header holding NaN scores compared unequal
    /// to itself, so parses of the same bytes looked different.
    #[test]
    fn nan_values_equal_themselves() {
        assert_eq!(Value::F32(f32::NAN), Value::F32(f32::NAN));
        assert_eq!(Value::F64(f64::NAN), Value::F64(f64::NAN));
        assert_ne!(Value::F32(0.0), Value::F32(-0.0));
        assert_ne!(Value::F32(1.0), Value::F64(1.0));
        let scores = Array::F32(vec![f32::NAN]);
        assert_eq!(Value::Array(scores.clone()), Value::Array(scores));
        assert_eq!(Array::F64(vec![f64::NAN]), Array::F64(vec![f64::NAN]));
        assert_ne!(Array::F32(vec![0.0]), Array::F32(vec![-0.0]));
        assert_ne!(Array::F32(vec![]), Array::F64(vec![]));
    }

    #[test]
    fn typed_arrays() {
        let values = [Value::U16(1), Value::U16(2)];
        let a = Array::from_values(ValueType::U16, values.clone()).unwrap();
        assert_eq!(a, Array::U16(vec![1, 2]));
        assert_eq!((a.len(), a.is_empty(), a.element_type()), (2, false, ValueType::U16));
        assert_eq!(a.get(1), Some(Value::U16(2)));
        assert_eq!(a.get(2), None);
        assert_eq!(a.iter().collect::<Vec<_>>(), values);
        assert!(matches!(
            Array::from_values(ValueType::U8, [Value::I8(1)]),
            Err(GgufError::InvalidArgument(m)) if m == "array of U8 holds a I8"
        ));
        let empty = Array::from_values(ValueType::Array, []).unwrap();
        assert_eq!((empty.element_type(), empty.is_empty()), (ValueType::Array, true));
        let x: StringArray = ["x"].into_iter().collect();
        let nested = Array::Array(vec![Array::Bool(vec![true]), Array::String(x.clone())]);
        assert_eq!(nested.get(1), Some(Value::Array(Array::String(x))));
        assert_eq!(nested.to_display_string(), r#"[[true], ["x"]]"#);
    }

    #[test]
    fn string_arrays_keep_bytes() {
        let mut a = StringArray::new();
        a.push("a");
        a.push(b"\xff\xfe");
        a.push("");
        a.push("\u{2581}b");
        assert_eq!(a.len(), 4);
        assert_eq!(a.get_bytes(1), Some(&b"\xff\xfe"[..]));
        assert_eq!(a.get(1).as_deref(), Some("\u{fffd}\u{fffd}"));
        assert_eq!(a.get(2).as_deref(), Some(""));
        assert_eq!(a.get(4), None);
        let items: Vec<_> = a.iter().collect();
        assert_eq!(items, ["a", "\u{fffd}\u{fffd}", "", "\u{2581}b"]);
        assert_eq!(a.iter_bytes().nth(3), Some("\u{2581}b".as_bytes()));
        assert_eq!(format!("{a:?}"), "[\"a\", \"\u{fffd}\u{fffd}\", \"\", \"\u{2581}b\"]");
        // Different bytes are different strings, even where they decode alike.
        let decoded: StringArray = items.iter().map(|s| s.as_bytes()).collect();
        assert_ne!(a, decoded);
        assert_eq!(Array::String(a).to_display_string(), "[\"a\", \"\u{fffd}\u{fffd}\", \"\", \"\u{2581}b\"]");
    }

    #[test]
    fn accessors() {
        assert_eq!(Value::I32(7).as_u64(), Some(7));
        assert_eq!(Value::I64(-1).as_u64(), None);
        assert_eq!(Value::F32(1.0).as_u64(), None);
        assert_eq!(Value::String("x".into()).as_str(), Some("x"));
        assert_eq!(Value::U8(1).as_str(), None);
    }

    #[test]
    fn display() {
        assert_eq!(Value::F32(1.5).to_display_string(), "1.5");
        assert_eq!(Value::Bool(true).to_display_string(), "true");
        assert_eq!(Value::String("a\"b".into()).to_display_string(), "a\"b");
        let ints = Array::I32(vec![1, 2, 3]);
        assert_eq!(Value::Array(ints.clone()).to_display_string(), "[1, 2, 3]");
        let strs = Array::String(["a\"\n"].into_iter().collect());
        assert_eq!(Value::Array(strs).to_display_string(), r#"["a\"\n"]"#);
        let nested = Array::Array(vec![ints]);
        assert_eq!(Value::Array(nested).to_display_string(), "[[1, 2, 3]]");
    }
}
