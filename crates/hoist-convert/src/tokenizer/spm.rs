//! SentencePiece: tokenizer.model (a protobuf `ModelProto`) read by hand. Only the
//! pieces are needed: field 1, each a message of piece (1), score (2) and type (3).

use std::path::Path;

use hoist_gguf::{Array, StringArray};

use super::{BYTE, CONTROL, NORMAL, UNKNOWN, UNUSED, USER_DEFINED, looks_special, read_json_object, special};
use crate::ConvertError;
use crate::arch::Kv;
use crate::config::Config;

/// One piece of the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    pub piece: Vec<u8>,
    pub score: f32,
    /// SentencePiece's type: 1 normal, 2 unknown, 3 control, 4 user defined, 5 unused, 6 byte.
    pub kind: u64,
}

/// Parses the pieces of a serialized `ModelProto`; other fields are skipped.
pub fn parse_pieces(bytes: &[u8]) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut r = Reader { b: bytes, pos: 0 };
    while !r.done() {
        let (field, wire) = r.key()?;
        if field == 1 && wire == 2 {
            pieces.push(parse_piece(r.bytes()?)?);
        } else {
            r.skip(wire)?;
        }
    }
    Ok(pieces)
}

fn parse_piece(bytes: &[u8]) -> Result<Piece, String> {
    let mut p = Piece { piece: Vec::new(), score: 0.0, kind: 1 };
    let mut r = Reader { b: bytes, pos: 0 };
    while !r.done() {
        match r.key()? {
            (1, 2) => p.piece = r.bytes()?.to_vec(),
            (2, 5) => p.score = f32::from_le_bytes(r.fixed::<4>()?),
            (3, 0) => p.kind = r.varint()?,
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(p)
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint longer than 10 bytes".into())
    }

    fn key(&mut self) -> Result<(u64, u64), String> {
        let k = self.varint()?;
        Ok((k >> 3, k & 7))
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length overflows")?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("field runs past the end")?;
        let s = self.b.get(self.pos..end).ok_or("field runs past the end")?;
        self.pos = end;
        Ok(s)
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        self.take(n)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N as u64)?;
        s.try_into().map_err(|_| "short fixed field".to_string())
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.take(8).map(drop),
            2 => self.bytes().map(drop),
            5 => self.take(4).map(drop),
            w => Err(format!("unsupported wire type {w}")),
        }
    }
}

/// The length of the token list `set_vocab` writes (gemma3 keeps that many embedding rows).
pub fn vocab_len(dir: &Path, cfg: &Config) -> Result<usize, ConvertError> {
    match cfg.find_u64(&["vocab_size_per_layer_input", "vocab_size"])? {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Ok(read_pieces(dir)?.len()),
    }
}

fn read_pieces(dir: &Path) -> Result<Vec<Piece>, ConvertError> {
    let path = dir.join("tokenizer.model");
    let bytes = std::fs::read(&path).map_err(ConvertError::io(&path))?;
    parse_pieces(&bytes)
        .map_err(|reason| ConvertError::Tokenizer { path, reason: format!("invalid SentencePiece model: {reason}") })
}

/// Tokens, scores and types of a SentencePiece vocabulary.
struct Vocab {
    tokens: Vec<Vec<u8>>,
    scores: Vec<f32>,
    types: Vec<i32>,
}

fn base_vocab(dir: &Path, vocab_size: Option<u64>) -> Result<Vocab, ConvertError> {
    let pieces = read_pieces(dir)?;
    let size = match vocab_size {
        Some(n) if n > 0 => n as usize,
        _ => pieces.len(),
    };
    let mut v = Vocab {
        tokens: (0..size).map(|i| format!("[PAD{i}]").into_bytes()).collect(),
        scores: vec![-10000.0f32; size],
        types: vec![UNUSED; size],
    };
    for (id, p) in pieces.iter().enumerate().take(size) {
        v.tokens[id] = p.piece.clone();
        v.scores[id] = p.score;
        v.types[id] = match p.kind {
            2 => UNKNOWN,
            3 => CONTROL,
            5 => UNUSED,
            6 => BYTE,
            _ => NORMAL,
        };
    }
    if let Some(added) = read_json_object(&dir.join("added_tokens.json"))? {
        for (text, id) in added {
            if let Some(id) = id.as_u64().map(|i| i as usize).filter(|&i| i < size) {
                v.set(id, text.into_bytes(), USER_DEFINED);
            }
        }
    }
    Ok(v)
}

impl Vocab {
    fn set(&mut self, id: usize, token: Vec<u8>, kind: i32) {
        self.tokens[id] = token;
        self.scores[id] = -1000.0;
        self.types[id] = kind;
    }

    fn write(self, dir: &Path, kv: &mut Kv) -> Result<(), ConvertError> {
        let n_vocab = self.tokens.len();
        kv.string("tokenizer.ggml.model", "llama");
        kv.string("tokenizer.ggml.pre", "default");
        let mut list = StringArray::new();
        for t in &self.tokens {
            list.push(t);
        }
        kv.array("tokenizer.ggml.tokens", Array::String(list));
        kv.array("tokenizer.ggml.scores", Array::F32(self.scores));
        kv.array("tokenizer.ggml.token_type", Array::I32(self.types));
        special::SpecialVocab::load(dir, false, Some(n_vocab))?.write(kv)
    }
}

/// tokenizer_config.json's `added_tokens_decoder` as (id, content, special), ids in range.
fn added_tokens_decoder(dir: &Path, size: usize) -> Result<Vec<(usize, String, bool)>, ConvertError> {
    let Some(tc) = read_json_object(&dir.join("tokenizer_config.json"))? else { return Ok(Vec::new()) };
    let Some(decoder) = tc.get("added_tokens_decoder").and_then(|d| d.as_object()) else { return Ok(Vec::new()) };
    Ok(decoder
        .iter()
        .filter_map(|(id, data)| {
            let id = id.parse::<usize>().ok().filter(|&i| i < size)?;
            let content = data.get("content")?.as_str()?.to_string();
            Some((id, content, data.get("special").and_then(|s| s.as_bool()).unwrap_or(false)))
        })
        .collect())
}

/// llama.cpp's `_set_vocab_sentencepiece`: tokens, scores and types from tokenizer.model,
/// overridden by added_tokens.json and tokenizer_config.json's `added_tokens_decoder`.
pub fn set_vocab(dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
    let mut v = base_vocab(dir, cfg.find_u64(&["vocab_size_per_layer_input", "vocab_size"])?)?;
    for (id, content, special) in added_tokens_decoder(dir, v.tokens.len())? {
        if special || looks_special(&content) {
            v.set(id, content.into_bytes(), CONTROL);
        } else {
            v.set(id, content.replace('\u{2581}', " ").into_bytes(), USER_DEFINED);
        }
    }
    v.write(dir, kv)
}

/// phi3's own SentencePiece reading: added tokens from tokenizer_config.json and then
/// tokenizer.json, control when marked special, never re-spaced.
pub fn set_vocab_phi3(dir: &Path, cfg: &Config, kv: &mut Kv) -> Result<(), ConvertError> {
    let mut v = base_vocab(dir, cfg.find_u64(&["vocab_size"])?)?;
    let size = v.tokens.len();
    let mut added = added_tokens_decoder(dir, size)?;
    if let Some(tok) = read_json_object(&dir.join("tokenizer.json"))? {
        for t in tok.get("added_tokens").and_then(|a| a.as_array()).into_iter().flatten() {
            let id = t.get("id").and_then(|i| i.as_u64()).map(|i| i as usize).filter(|&i| i < size);
            if let (Some(id), Some(content)) = (id, t.get("content").and_then(|c| c.as_str())) {
                added.push((id, content.to_string(), t.get("special").and_then(|s| s.as_bool()).unwrap_or(false)));
            }
        }
    }
    for (id, content, special) in added {
        v.set(id, content.into_bytes(), if special { CONTROL } else { USER_DEFINED });
    }
    v.write(dir, kv)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn piece(text: &str, score: f32, kind: u8) -> Vec<u8> {
        let mut m = vec![0x0a, text.len() as u8];
        m.extend_from_slice(text.as_bytes());
        m.push(0x15);
        m.extend_from_slice(&score.to_le_bytes());
        m.extend_from_slice(&[0x18, kind]);
        let mut out = vec![0x0a, m.len() as u8];
        out.extend(m);
        out
    }

    #[test]
    fn reads_pieces_and_skips_other_fields() {
        let mut model = piece("<unk>", 0.0, 2);
        model.extend(piece("\u{2581}a", -1.5, 1));
        model.extend([0x12, 0x02, 0x08, 0x01]); // trainer_spec, skipped
        let pieces = parse_pieces(&model).unwrap();
        assert_eq!(pieces.len(), 2);
        assert_eq!(pieces[1], Piece { piece: "\u{2581}a".as_bytes().to_vec(), score: -1.5, kind: 1 });
        assert_eq!(pieces[0].kind, 2);
    }

    #[test]
    fn every_prefix_of_a_real_model_parses_or_fails_cleanly() {
        let model = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/spm/tokenizer.model")).unwrap();
        assert_eq!(parse_pieces(&model).unwrap().len(), 400);
        let mut failed = 0;
        for len in 0..model.len() {
            // A prefix ends inside a field (an error) or between fields (fewer pieces).
            match parse_pieces(&model[..len]) {
                Ok(pieces) => assert!(pieces.len() <= 400),
                Err(_) => failed += 1,
            }
        }
        assert!(failed > model.len() / 2, "{failed} of {} prefixes failed", model.len());
    }

    #[test]
    fn truncated_model_is_an_error() {
        let model = piece("abc", 1.0, 1);
        assert!(parse_pieces(&model[..model.len() - 3]).unwrap_err().contains("past the end"));
    }
}
