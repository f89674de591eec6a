//! Metadata values: the thirteen GGUF value types.

use std::fmt::Write as _;

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

/// A typed array; arrays of arrays are allowed (each inner array has its own element type).
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub element_type: ValueType,
    pub values: Vec<Value>,
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
                out.push('[');
                for (i, v) in a.values.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.display_into(out, true);
                }
                out.push(']');
                Ok(())
            }
        };
    }
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
        let scores = Array { element_type: ValueType::F32, values: vec![Value::F32(f32::NAN)] };
        assert_eq!(Value::Array(scores.clone()), Value::Array(scores));
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
        let ints = Array { element_type: ValueType::I32, values: vec![Value::I32(1), Value::I32(2), Value::I32(3)] };
        assert_eq!(Value::Array(ints.clone()).to_display_string(), "[1, 2, 3]");
        let strs = Array { element_type: ValueType::String, values: vec![Value::String("a\"\n".into())] };
        assert_eq!(Value::Array(strs).to_display_string(), r#"["a\"\n"]"#);
        let nested = Array { element_type: ValueType::Array, values: vec![Value::Array(ints)] };
        assert_eq!(Value::Array(nested).to_display_string(), "[[1, 2, 3]]");
    }
}
