//! Tensor types (ggml ids, block sizes, bytes per block) and `general.file_type` names.

/// ggml tensor type; ids not in this table are kept as `Other(id)`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
    Other(u32),
}

use GgmlType::*;

/// Serialises as the type's name ("Q4_K", "TYPE_77" for unknown ids).
impl serde::Serialize for GgmlType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

/// (type, ggml id, name, elements per block, bytes per block). Ids 4, 5, 31-33 and 36-38
/// were removed from ggml and are not listed, so they parse as `Other`.
const TYPES: [(GgmlType, u32, &str, u64, u64); 32] = [
    (F32, 0, "F32", 1, 4),
    (F16, 1, "F16", 1, 2),
    (Q4_0, 2, "Q4_0", 32, 18),
    (Q4_1, 3, "Q4_1", 32, 20),
    (Q5_0, 6, "Q5_0", 32, 22),
    (Q5_1, 7, "Q5_1", 32, 24),
    (Q8_0, 8, "Q8_0", 32, 34),
    (Q8_1, 9, "Q8_1", 32, 36),
    (Q2_K, 10, "Q2_K", 256, 84),
    (Q3_K, 11, "Q3_K", 256, 110),
    (Q4_K, 12, "Q4_K", 256, 144),
    (Q5_K, 13, "Q5_K", 256, 176),
    (Q6_K, 14, "Q6_K", 256, 210),
    (Q8_K, 15, "Q8_K", 256, 292),
    (IQ2_XXS, 16, "IQ2_XXS", 256, 66),
    (IQ2_XS, 17, "IQ2_XS", 256, 74),
    (IQ3_XXS, 18, "IQ3_XXS", 256, 98),
    (IQ1_S, 19, "IQ1_S", 256, 50),
    (IQ4_NL, 20, "IQ4_NL", 32, 18),
    (IQ3_S, 21, "IQ3_S", 256, 110),
    (IQ2_S, 22, "IQ2_S", 256, 82),
    (IQ4_XS, 23, "IQ4_XS", 256, 136),
    (I8, 24, "I8", 1, 1),
    (I16, 25, "I16", 1, 2),
    (I32, 26, "I32", 1, 4),
    (I64, 27, "I64", 1, 8),
    (F64, 28, "F64", 1, 8),
    (IQ1_M, 29, "IQ1_M", 256, 56),
    (BF16, 30, "BF16", 1, 2),
    (TQ1_0, 34, "TQ1_0", 256, 54),
    (TQ2_0, 35, "TQ2_0", 256, 66),
    (MXFP4, 39, "MXFP4", 32, 17),
];

impl GgmlType {
    fn entry(self) -> Option<&'static (GgmlType, u32, &'static str, u64, u64)> {
        TYPES.iter().find(|e| e.0 == self)
    }

    /// The type for a ggml id; unknown ids become `Other(id)`.
    pub fn from_id(id: u32) -> GgmlType {
        TYPES.iter().find(|e| e.1 == id).map_or(Other(id), |e| e.0)
    }

    /// The type for a ggml name such as "Q4_K" (case-insensitive).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        TYPES.iter().find(|e| e.2.eq_ignore_ascii_case(name)).map(|e| e.0)
    }

    pub fn id(self) -> u32 {
        match self {
            Other(id) => id,
            known => known.entry().map_or(u32::MAX, |e| e.1),
        }
    }

    /// "Q4_K", "F16", ...; unknown ids as `TYPE_<id>`.
    pub fn name(self) -> String {
        match self.entry() {
            Some(e) => e.2.to_string(),
            None => format!("TYPE_{}", self.id()),
        }
    }

    /// Elements per block (1 for plain types); `None` for unknown types.
    pub fn block_size(self) -> Option<u64> {
        self.entry().map(|e| e.3)
    }

    /// Bytes per block; `None` for unknown types.
    pub fn type_size(self) -> Option<u64> {
        self.entry().map(|e| e.4)
    }

    /// Bytes of one row of `elements` elements; `None` if the type is unknown or
    /// `elements` is not a whole number of blocks (ggml cannot store that).
    pub fn row_bytes(self, elements: u64) -> Option<u64> {
        let block = self.block_size()?;
        if !elements.is_multiple_of(block) {
            return None;
        }
        (elements / block).checked_mul(self.type_size()?)
    }
}

/// `general.file_type` ids as llama.cpp names them, without the `MOSTLY_` prefix.
const FILE_TYPES: [(u32, &str); 33] = [
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (7, "Q8_0"),
    (8, "Q5_0"),
    (9, "Q5_1"),
    (10, "Q2_K"),
    (11, "Q3_K_S"),
    (12, "Q3_K_M"),
    (13, "Q3_K_L"),
    (14, "Q4_K_S"),
    (15, "Q4_K_M"),
    (16, "Q5_K_S"),
    (17, "Q5_K_M"),
    (18, "Q6_K"),
    (19, "IQ2_XXS"),
    (20, "IQ2_XS"),
    (21, "Q2_K_S"),
    (22, "IQ3_XS"),
    (23, "IQ3_XXS"),
    (24, "IQ1_S"),
    (25, "IQ4_NL"),
    (26, "IQ3_S"),
    (27, "IQ3_M"),
    (28, "IQ2_S"),
    (29, "IQ2_M"),
    (30, "IQ4_XS"),
    (31, "IQ1_M"),
    (32, "BF16"),
    (36, "TQ1_0"),
    (37, "TQ2_0"),
    (38, "MXFP4"),
];

/// `general.file_type` id -> name ("Q4_K_M" for 15, "F32" for 0, "F16" for 1 ...).
pub fn file_type_name(id: u32) -> Option<&'static str> {
    FILE_TYPES.iter().find(|e| e.0 == id).map(|e| e.1)
}

/// The `general.file_type` id a model whose weights are all `ty` would carry
/// (K-quants map to their `_M` mix, the most common choice).
pub fn file_type_id(ty: GgmlType) -> Option<u32> {
    let name = match ty {
        Q3_K => "Q3_K_M".to_string(),
        Q4_K => "Q4_K_M".to_string(),
        Q5_K => "Q5_K_M".to_string(),
        other => other.name(),
    };
    FILE_TYPES.iter().find(|e| e.1 == name).map(|e| e.0)
}

/// Rounds `x` up to a multiple of `align` (a power of two); `None` on overflow.
pub(crate) fn align_up(x: u64, align: u64) -> Option<u64> {
    let mask = align.checked_sub(1)?;
    x.checked_add(mask).map(|v| v & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_unknown_ids_are_kept() {
        for e in TYPES {
            assert_eq!(GgmlType::from_id(e.1), e.0);
            assert_eq!(e.0.id(), e.1);
            assert_eq!(GgmlType::from_name(e.2), Some(e.0));
        }
        for removed in [4, 5, 31, 32, 33, 36, 37, 38, 40, u32::MAX] {
            assert_eq!(GgmlType::from_id(removed), Other(removed));
            assert_eq!(Other(removed).block_size(), None);
        }
        assert_eq!(Q4_K.name(), "Q4_K");
        assert_eq!(Other(77).name(), "TYPE_77");
    }

    #[test]
    fn sizes_match_ggml() {
        assert_eq!(Q8_0.row_bytes(64), Some(68));
        assert_eq!(Q4_K.row_bytes(512), Some(288));
        assert_eq!(Q4_K.row_bytes(100), None);
        assert_eq!(F16.row_bytes(3), Some(6));
        assert_eq!(MXFP4.row_bytes(32), Some(17));
        assert_eq!(F32.row_bytes(u64::MAX), None);
    }

    #[test]
    fn file_types() {
        assert_eq!(file_type_name(15), Some("Q4_K_M"));
        assert_eq!(file_type_name(0), Some("F32"));
        assert_eq!(file_type_name(1), Some("F16"));
        assert_eq!(file_type_name(4), None);
        assert_eq!(file_type_id(Q8_0), Some(7));
        assert_eq!(file_type_id(Q4_K), Some(15));
        assert_eq!(file_type_id(I32), None);
    }

    #[test]
    fn align_up_works() {
        assert_eq!(align_up(0, 32), Some(0));
        assert_eq!(align_up(1, 32), Some(32));
        assert_eq!(align_up(64, 32), Some(64));
        assert_eq!(align_up(u64::MAX, 32), None);
    }
}
