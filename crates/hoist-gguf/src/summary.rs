//! Model facts derived from a header: what `hoist list` and image labels show.

use crate::{GgmlType, GgufError, GgufHeader, Value, file_type_name};

/// Headline facts about a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelSummary {
    pub architecture: Option<String>,
    pub name: Option<String>,
    /// Sum of tensor element counts.
    pub parameters: u64,
    /// Sum of tensor byte sizes.
    pub tensor_bytes: u64,
    /// `tensor_bytes * 8 / parameters` (0 if no parameters).
    pub bits_per_weight: f64,
    /// From `general.file_type`; if absent, the most common (by bytes) type among 2-D+ tensors.
    pub file_type: Option<String>,
    /// `{arch}.context_length`.
    pub context_length: Option<u64>,
    /// `tokenizer.chat_template` present.
    pub has_chat_template: bool,
    /// (`split.no`, `split.count`) when present.
    pub split: Option<(u16, u16)>,
}

impl GgufHeader {
    /// Computes the [`ModelSummary`]; fails if a tensor's size is unknown or overflows.
    pub fn summary(&self) -> Result<ModelSummary, GgufError> {
        let overflow = |what: &str| GgufError::Overflow { what: what.to_string() };
        let mut parameters = 0u64;
        let mut tensor_bytes = 0u64;
        // (type, bytes) of 2-D+ tensors in first-seen order, so ties resolve deterministically.
        let mut by_type: Vec<(GgmlType, u64)> = Vec::new();
        for t in &self.tensors {
            let count = t.element_count().ok_or_else(|| overflow("parameter count"))?;
            let bytes = t.checked_byte_size()?;
            parameters = parameters.checked_add(count).ok_or_else(|| overflow("parameter count"))?;
            tensor_bytes = tensor_bytes.checked_add(bytes).ok_or_else(|| overflow("tensor bytes"))?;
            if t.dims.len() >= 2 {
                match by_type.iter_mut().find(|(ty, _)| *ty == t.ggml_type) {
                    Some(entry) => entry.1 = entry.1.saturating_add(bytes),
                    None => by_type.push((t.ggml_type, bytes)),
                }
            }
        }
        let bits_per_weight = if parameters == 0 { 0.0 } else { tensor_bytes as f64 * 8.0 / parameters as f64 };
        let declared = self
            .get("general.file_type")
            .and_then(Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .and_then(file_type_name)
            .map(str::to_string);
        let dominant = || {
            by_type.iter().fold(None, |best: Option<(GgmlType, u64)>, &(ty, b)| match best {
                Some((_, bb)) if bb >= b => best,
                _ => Some((ty, b)),
            })
        };
        let file_type = declared.or_else(|| dominant().map(|(ty, _)| ty.name()));
        let architecture = self.architecture().map(str::to_string);
        let context_length =
            architecture.as_ref().and_then(|a| self.get(&format!("{a}.context_length"))).and_then(Value::as_u64);
        let u16_of = |key: &str| self.get(key).and_then(Value::as_u64).and_then(|v| u16::try_from(v).ok());
        let split = u16_of("split.no").zip(u16_of("split.count"));
        Ok(ModelSummary {
            architecture,
            name: self.get("general.name").and_then(Value::as_str).map(str::to_string),
            parameters,
            tensor_bytes,
            bits_per_weight,
            file_type,
            context_length,
            has_chat_template: self.get("tokenizer.chat_template").is_some(),
            split,
        })
    }
}

/// "494.03M" style: below 1000 plain ("999"), then K, M, B, T with two decimals ("1.50B").
pub fn format_parameters(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    const UNITS: [(f64, &str); 4] = [(1e3, "K"), (1e6, "M"), (1e9, "B"), (1e12, "T")];
    let mut out = String::new();
    for (scale, unit) in UNITS {
        out = format!("{:.2}{unit}", n as f64 / scale);
        // Move up a unit when rounding reaches 1000 ("1000.00K" reads as "1.00M").
        if out.len() < "1000.00".len() + unit.len() {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ByteOrder, TensorInfo};

    #[test]
    fn parameters_format() {
        assert_eq!(format_parameters(0), "0");
        assert_eq!(format_parameters(999), "999");
        assert_eq!(format_parameters(1000), "1.00K");
        assert_eq!(format_parameters(494_030_000), "494.03M");
        assert_eq!(format_parameters(1_500_000_000), "1.50B");
        assert_eq!(format_parameters(7_240_000), "7.24M");
        assert_eq!(format_parameters(999_999), "1.00M");
        assert_eq!(format_parameters(70_550_000_000_000), "70.55T");
        assert_eq!(format_parameters(u64::MAX), "18446744.07T");
    }

    fn header(tensors: Vec<TensorInfo>, metadata: Vec<(String, Value)>) -> GgufHeader {
        GgufHeader { version: 3, byte_order: ByteOrder::Little, metadata, tensors, alignment: 32, data_offset: 0 }
    }

    fn t(name: &str, dims: &[u64], ty: GgmlType) -> TensorInfo {
        TensorInfo { name: name.into(), dims: dims.to_vec(), ggml_type: ty, offset: 0 }
    }

    #[test]
    fn derives_file_type_from_dominant_matrix_type() {
        let h = header(
            vec![t("a", &[4096], GgmlType::F32), t("b", &[64, 64], GgmlType::Q8_0), t("c", &[32, 2], GgmlType::F16)],
            vec![
                ("general.architecture".into(), Value::String("qwen2".into())),
                ("qwen2.context_length".into(), Value::U32(32768)),
                ("split.no".into(), Value::U16(0)),
                ("split.count".into(), Value::U16(3)),
            ],
        );
        let s = h.summary().unwrap();
        assert_eq!(s.file_type.as_deref(), Some("Q8_0"));
        assert_eq!(s.parameters, 4096 + 4096 + 64);
        assert_eq!(s.context_length, Some(32768));
        assert_eq!(s.split, Some((0, 3)));
        assert!(!s.has_chat_template);
        assert_eq!(s.name, None);

        let declared = header(vec![], vec![("general.file_type".into(), Value::U32(15))]);
        let s = declared.summary().unwrap();
        assert_eq!(s.file_type.as_deref(), Some("Q4_K_M"));
        assert_eq!(s.bits_per_weight, 0.0);
    }

    #[test]
    fn bits_per_weight_of_q8_0_is_8_5() {
        let h = header(vec![t("w", &[256, 16], GgmlType::Q8_0), t("v", &[32], GgmlType::Q8_0)], vec![]);
        assert_eq!(h.summary().unwrap().bits_per_weight, 8.5);
    }
}
