//! llama.cpp's file types (`llama_ftype`): the names `llama-quantize` accepts, their
//! `general.file_type` ids and the tensor type each one defaults to.

use hoist_gguf::GgmlType;

use crate::QuantError;

/// The file types hoist quantizes to (the subset of llama.cpp's list named in the
/// issue); the IQ1/IQ2/IQ3 families are recognised only to be refused clearly.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    F32,
    F16,
    BF16,
    Q8_0,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q2_K,
    Q2_K_S,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
    IQ4_NL,
    IQ4_XS,
    TQ1_0,
    TQ2_0,
}

use FileType::*;

/// (file type, name, llama_ftype id, default tensor type).
const TABLE: [(FileType, &str, u32, GgmlType); 22] = [
    (F32, "F32", 0, GgmlType::F32),
    (F16, "F16", 1, GgmlType::F16),
    (BF16, "BF16", 32, GgmlType::BF16),
    (Q8_0, "Q8_0", 7, GgmlType::Q8_0),
    (Q4_0, "Q4_0", 2, GgmlType::Q4_0),
    (Q4_1, "Q4_1", 3, GgmlType::Q4_1),
    (Q5_0, "Q5_0", 8, GgmlType::Q5_0),
    (Q5_1, "Q5_1", 9, GgmlType::Q5_1),
    (Q2_K, "Q2_K", 10, GgmlType::Q2_K),
    (Q2_K_S, "Q2_K_S", 21, GgmlType::Q2_K),
    (Q3_K_S, "Q3_K_S", 11, GgmlType::Q3_K),
    (Q3_K_M, "Q3_K_M", 12, GgmlType::Q3_K),
    (Q3_K_L, "Q3_K_L", 13, GgmlType::Q3_K),
    (Q4_K_S, "Q4_K_S", 14, GgmlType::Q4_K),
    (Q4_K_M, "Q4_K_M", 15, GgmlType::Q4_K),
    (Q5_K_S, "Q5_K_S", 16, GgmlType::Q5_K),
    (Q5_K_M, "Q5_K_M", 17, GgmlType::Q5_K),
    (Q6_K, "Q6_K", 18, GgmlType::Q6_K),
    (IQ4_NL, "IQ4_NL", 25, GgmlType::IQ4_NL),
    (IQ4_XS, "IQ4_XS", 30, GgmlType::IQ4_XS),
    (TQ1_0, "TQ1_0", 36, GgmlType::TQ1_0),
    (TQ2_0, "TQ2_0", 37, GgmlType::TQ2_0),
];

/// llama-quantize's aliases: the bare K-quant names mean the `_M` mix.
const ALIASES: [(&str, FileType); 3] = [("Q3_K", Q3_K_M), ("Q4_K", Q4_K_M), ("Q5_K", Q5_K_M)];

/// Types llama-quantize offers that hoist does not produce yet (they need an importance
/// matrix and the IQ lattice searches).
const NOT_YET: [(&str, u32); 10] = [
    ("IQ2_XXS", 19),
    ("IQ2_XS", 20),
    ("IQ2_S", 28),
    ("IQ2_M", 29),
    ("IQ1_S", 24),
    ("IQ1_M", 31),
    ("IQ3_XXS", 23),
    ("IQ3_S", 26),
    ("IQ3_M", 27),
    ("IQ3_XS", 22),
];

impl FileType {
    fn entry(self) -> &'static (FileType, &'static str, u32, GgmlType) {
        // Every variant has a row; the fallback is never taken.
        TABLE.iter().find(|e| e.0 == self).unwrap_or(&TABLE[0])
    }

    /// Parses a type as llama-quantize does: a name (case-insensitive, with the
    /// `Q3_K`/`Q4_K`/`Q5_K` aliases) or a numeric `llama_ftype` id.
    pub fn parse(s: &str) -> Result<FileType, QuantError> {
        if let Some(e) = TABLE.iter().find(|e| e.1.eq_ignore_ascii_case(s)) {
            return Ok(e.0);
        }
        if let Some(a) = ALIASES.iter().find(|a| a.0.eq_ignore_ascii_case(s)) {
            return Ok(a.1);
        }
        let id = s.trim().parse::<u32>().ok();
        if let Some(e) = TABLE.iter().find(|e| Some(e.2) == id) {
            return Ok(e.0);
        }
        if let Some(n) = NOT_YET.iter().find(|n| n.0.eq_ignore_ascii_case(s) || Some(n.1) == id) {
            return Err(QuantError::FileTypeNotYet { name: n.0.to_string() });
        }
        Err(QuantError::UnknownFileType { name: s.to_string() })
    }

    /// [`parse`](Self::parse), but first refusing, as llama-quantize does
    /// before it reads the model, a type that needs an importance matrix when
    /// `has_imatrix` is false (IQ1_*, IQ2_* and Q2_K_S).
    pub fn parse_given_imatrix(s: &str, has_imatrix: bool) -> Result<FileType, QuantError> {
        const NEED_IMATRIX: [&str; 6] = ["IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "Q2_K_S"];
        match NEED_IMATRIX.iter().find(|n| n.eq_ignore_ascii_case(s.trim())) {
            Some(name) if !has_imatrix => Err(QuantError::ImatrixRequired { name }),
            _ => FileType::parse(s),
        }
    }

    /// The name llama-quantize prints ("Q4_K_M").
    pub fn name(self) -> &'static str {
        self.entry().1
    }

    /// The `general.file_type` value written.
    pub fn id(self) -> u32 {
        self.entry().2
    }

    /// The tensor type most weights get.
    pub fn default_type(self) -> GgmlType {
        self.entry().3
    }

    /// Every file type, in llama-quantize's listing order.
    pub fn all() -> impl Iterator<Item = FileType> {
        TABLE.iter().map(|e| e.0)
    }
}

/// Whether a tensor type is block-quantized (ggml's `ggml_is_quantized`): plain
/// float and integer types are not.
pub(crate) fn is_quantized(ty: GgmlType) -> bool {
    !matches!(
        ty,
        GgmlType::F32
            | GgmlType::F16
            | GgmlType::BF16
            | GgmlType::F64
            | GgmlType::I8
            | GgmlType::I16
            | GgmlType::I32
            | GgmlType::I64
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_aliases_and_ids() {
        assert_eq!(FileType::parse("q4_k_m").unwrap(), Q4_K_M);
        assert_eq!(FileType::parse("Q4_K").unwrap(), Q4_K_M);
        assert_eq!(FileType::parse("15").unwrap(), Q4_K_M);
        assert_eq!(FileType::parse("bf16").unwrap().id(), 32);
        assert!(matches!(FileType::parse("IQ2_XXS"), Err(QuantError::FileTypeNotYet { .. })));
        assert!(matches!(FileType::parse_given_imatrix("iq2_xs", false), Err(QuantError::ImatrixRequired { .. })));
        assert!(matches!(FileType::parse_given_imatrix("IQ2_XS", true), Err(QuantError::FileTypeNotYet { .. })));
        assert!(matches!(FileType::parse_given_imatrix("Q2_K_S", false), Err(QuantError::ImatrixRequired { .. })));
        assert_eq!(FileType::parse_given_imatrix("Q2_K_S", true).unwrap().name(), "Q2_K_S");
        assert_eq!(FileType::parse_given_imatrix("Q4_K_M", false).unwrap().name(), "Q4_K_M");
        assert!(matches!(FileType::parse("Q9_Z"), Err(QuantError::UnknownFileType { .. })));
        assert_eq!(FileType::all().count(), 22);
        for ft in FileType::all() {
            assert_eq!(FileType::parse(ft.name()).unwrap(), ft);
            assert_eq!(FileType::parse(&ft.id().to_string()).unwrap(), ft);
            assert_eq!(hoist_gguf::file_type_name(ft.id()), Some(ft.name()));
        }
    }
}
