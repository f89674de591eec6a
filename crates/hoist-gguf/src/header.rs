//! The parsed header: metadata, tensor infos and where the tensor data lives.

use crate::{ByteOrder, GgmlType, GgufError, Value};

/// One tensor's description from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (fastest-varying).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Relative to the start of the data section ([`GgufHeader::data_offset`]).
    pub offset: u64,
}

impl TensorInfo {
    /// Product of the dims; `None` on overflow.
    pub fn element_count(&self) -> Option<u64> {
        self.dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))
    }

    /// Bytes of the tensor's data; `None` if the type is unknown, the row length is not
    /// a whole number of blocks, or the size overflows.
    pub fn byte_size(&self) -> Option<u64> {
        let (row, rest) = self.dims.split_first().map_or((1, &[][..]), |(r, rest)| (*r, rest));
        let rows = rest.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?;
        self.ggml_type.row_bytes(row)?.checked_mul(rows)
    }

    /// `byte_size`, or an error naming the tensor and why its size is unknown.
    pub(crate) fn checked_byte_size(&self) -> Result<u64, GgufError> {
        if let GgmlType::Other(id) = self.ggml_type {
            return Err(GgufError::UnknownTensorType { tensor: self.name.clone(), id });
        }
        self.byte_size().ok_or_else(|| GgufError::InvalidTensor {
            tensor: self.name.clone(),
            reason: format!(
                "dims {:?} do not fit type {} (row not a whole number of blocks, or size overflows)",
                self.dims,
                self.ggml_type.name()
            ),
        })
    }
}

/// A parsed GGUF header.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufHeader {
    pub version: u32,
    pub byte_order: ByteOrder,
    /// Key/value pairs in file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// `general.alignment`, or 32.
    pub alignment: u64,
    /// Absolute file offset where tensor data starts (after padding).
    pub data_offset: u64,
}

impl GgufHeader {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Option<&str> {
        self.get("general.architecture").and_then(Value::as_str)
    }

    /// Bytes the tensor data section needs: max(offset + byte_size) over tensors (0 if none).
    pub fn tensor_data_len(&self) -> Result<u64, GgufError> {
        self.tensors.iter().try_fold(0u64, |end, t| {
            let t_end = t
                .offset
                .checked_add(t.checked_byte_size()?)
                .ok_or_else(|| GgufError::Overflow { what: format!("end of tensor '{}'", t.name) })?;
            Ok(end.max(t_end))
        })
    }

    /// Error unless `data_offset + tensor_data_len <= file_len`.
    pub fn check_file_len(&self, file_len: u64) -> Result<(), GgufError> {
        let needed = self
            .data_offset
            .checked_add(self.tensor_data_len()?)
            .ok_or_else(|| GgufError::Overflow { what: "end of tensor data".into() })?;
        if needed > file_len {
            return Err(GgufError::Truncated { what: "tensor data".into(), needed, actual: file_len });
        }
        Ok(())
    }

    /// Whether every tensor type is known, so sizes (and the file length) can be checked.
    pub(crate) fn sizes_known(&self) -> bool {
        self.tensors.iter().all(|t| !matches!(t.ggml_type, GgmlType::Other(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(dims: &[u64], ty: GgmlType, offset: u64) -> TensorInfo {
        TensorInfo { name: "t".into(), dims: dims.to_vec(), ggml_type: ty, offset }
    }

    #[test]
    fn sizes() {
        assert_eq!(tensor(&[64, 3], GgmlType::Q8_0, 0).byte_size(), Some(204));
        assert_eq!(tensor(&[], GgmlType::F32, 0).byte_size(), Some(4));
        assert_eq!(tensor(&[33], GgmlType::Q8_0, 0).byte_size(), None);
        assert_eq!(tensor(&[u64::MAX, 2], GgmlType::F32, 0).element_count(), None);
        assert_eq!(tensor(&[1 << 40, 1 << 30], GgmlType::F32, 0).byte_size(), None);
    }

    #[test]
    fn data_len_and_file_len() {
        let h = GgufHeader {
            version: 3,
            byte_order: ByteOrder::Little,
            metadata: vec![],
            tensors: vec![tensor(&[8], GgmlType::F32, 64), tensor(&[4], GgmlType::F16, 0)],
            alignment: 32,
            data_offset: 96,
        };
        assert_eq!(h.tensor_data_len().unwrap(), 96);
        assert!(h.check_file_len(192).is_ok());
        match h.check_file_len(191) {
            Err(GgufError::Truncated { needed: 192, actual: 191, .. }) => {}
            other => panic!("unexpected {other:?}"),
        }
        let mut unknown = h.clone();
        unknown.tensors[0].ggml_type = GgmlType::Other(99);
        assert!(matches!(unknown.tensor_data_len(), Err(GgufError::UnknownTensorType { id: 99, .. })));
        let mut huge = h;
        huge.tensors[0].offset = u64::MAX - 8;
        assert!(matches!(huge.tensor_data_len(), Err(GgufError::Overflow { .. })));
    }
}
