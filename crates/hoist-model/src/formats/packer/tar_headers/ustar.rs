//! Tar headers (ustar, GNU, pax) parsed from untrusted bytes: every field is
//! checked, every size bounded, nothing panics; a problem is a reason string
//! the caller turns into an error naming the layer and the entry.

/// A tar block: headers are one, data is padded to whole ones.
pub(super) const BLOCK: u64 = 512;
/// Pax records and GNU long names larger than this are refused: real ones hold
/// a path or two, and a hostile size would have us fetch the layer for it.
pub(super) const MAX_EXTENSION: u64 = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// A pax extended header for the next entry (`x`).
    PaxLocal,
    /// A pax extended header for all later entries (`g`).
    PaxGlobal,
    /// A GNU long name for the next entry (`L`).
    GnuLongName,
    /// Devices, fifos, GNU long link names, vendor types: data skipped.
    Other,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) struct Header {
    /// The name field, with the ustar prefix when there is one.
    pub name: String,
    pub size: u64,
    pub kind: Kind,
}

/// A header block, or `None` for an all-zero block (the end of the archive).
pub(super) fn parse_header(block: &[u8; BLOCK as usize]) -> Result<Option<Header>, String> {
    if block.iter().all(|&b| b == 0) {
        return Ok(None);
    }
    check_sum(block)?;
    let kind = match block[156] {
        b'0' | b'\0' | b'7' => Kind::File,
        b'5' => Kind::Dir,
        b'2' => Kind::Symlink,
        b'1' => Kind::HardLink,
        b'x' => Kind::PaxLocal,
        b'g' => Kind::PaxGlobal,
        b'L' => Kind::GnuLongName,
        // Old GNU sparse files continue their map in extra header blocks that
        // the walk would read as entries.
        b'S' if block[482] != 0 => return Err("a GNU sparse file with an extended map is not supported".into()),
        _ => Kind::Other,
    };
    let size = number(&block[124..136]).map_err(|e| format!("size field: {e}"))?;
    let mut name = text(&block[..100]);
    // POSIX ustar keeps long names' directories in `prefix`; GNU ("ustar  ")
    // uses those bytes for other fields.
    if &block[257..263] == b"ustar\0" {
        let prefix = text(&block[345..500]);
        if !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
    }
    Ok(Some(Header { name, size, kind }))
}

/// The header checksum: the sum of its bytes with the checksum field read as
/// spaces (unsigned, or signed as some old tars wrote it).
fn check_sum(block: &[u8; BLOCK as usize]) -> Result<(), String> {
    let stored = number(&block[148..156]).map_err(|e| format!("checksum field: {e}"))?;
    let field = 148..156;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if field.contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    if stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed) {
        Ok(())
    } else {
        Err(format!("bad header checksum (stored {stored}, computed {unsigned}): not a tar header"))
    }
}

/// A numeric field: octal digits (space or NUL padded), or GNU base-256 (the
/// first byte's high bit set) for sizes of 8 GiB and more.
fn number(field: &[u8]) -> Result<u64, String> {
    if let Some((&first, rest)) = field.split_first()
        && first & 0x80 != 0
    {
        if first & 0x40 != 0 {
            return Err("a negative base-256 number".into());
        }
        return rest.iter().try_fold(u64::from(first & 0x3f), |acc, &b| {
            acc.checked_mul(256).and_then(|v| v.checked_add(u64::from(b))).ok_or_else(|| "too large".to_string())
        });
    }
    let digits = field.iter().skip_while(|&&b| b == b' ').take_while(|&&b| b != b'\0' && b != b' ');
    digits.into_iter().try_fold(0u64, |acc, &b| {
        if !(b'0'..=b'7').contains(&b) {
            return Err(format!("{:?} is not octal", String::from_utf8_lossy(field)));
        }
        acc.checked_mul(8).and_then(|v| v.checked_add(u64::from(b - b'0'))).ok_or_else(|| "too large".to_string())
    })
}

/// A NUL-terminated (or full-width) text field.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A GNU long name's data: the name, NUL-terminated.
pub(super) fn long_name(data: &[u8]) -> String {
    text(data)
}

/// What pax records say about an entry (the keys this walk needs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Pax {
    pub path: Option<String>,
    pub size: Option<u64>,
}

impl Pax {
    /// Records of `data` over `self`: `LEN key=value\n`, LEN counting the
    /// whole record. An empty value unsets the key.
    pub fn apply(&mut self, data: &[u8]) -> Result<(), String> {
        let mut rest = data;
        while !rest.is_empty() {
            // Some writers pad the data with NULs.
            if rest.iter().all(|&b| b == 0) {
                break;
            }
            let space = rest.iter().position(|&b| b == b' ').ok_or("a pax record without a length")?;
            let len: usize = std::str::from_utf8(&rest[..space])
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("a pax record with a bad length")?;
            let record = rest.get(..len).filter(|r| len > space + 1 && r.ends_with(b"\n"));
            let record = record.ok_or_else(|| format!("a pax record of {len} bytes overruns its data or its line"))?;
            let body = &record[space + 1..len - 1];
            let eq = body.iter().position(|&b| b == b'=').ok_or("a pax record without `=`")?;
            let (key, value) = (&body[..eq], &body[eq + 1..]);
            match key {
                b"path" => self.path = (!value.is_empty()).then(|| String::from_utf8_lossy(value).into_owned()),
                b"size" if value.is_empty() => self.size = None,
                b"size" => {
                    let size = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
                    self.size = Some(size.ok_or_else(|| format!("pax size {:?}", String::from_utf8_lossy(value)))?);
                }
                _ => {}
            }
            rest = &rest[len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &str, kind: u8, size_field: &[u8]) -> [u8; 512] {
        let mut block = [0u8; 512];
        block[..name.len()].copy_from_slice(name.as_bytes());
        block[124..124 + size_field.len()].copy_from_slice(size_field);
        block[156] = kind;
        block[257..263].copy_from_slice(b"ustar\0");
        seal(&mut block);
        block
    }

    fn seal(block: &mut [u8; 512]) {
        block[148..156].fill(b' ');
        let sum: u64 = block.iter().map(|&b| u64::from(b)).sum();
        block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    }

    #[test]
    fn ustar_gnu_and_base256_headers() {
        let parsed = parse_header(&header("a/b.gguf", b'0', b"00000001750\0")).unwrap().unwrap();
        assert_eq!(parsed, Header { name: "a/b.gguf".into(), size: 1000, kind: Kind::File });
        let mut block = header("m.gguf", b'0', b"");
        block[345..351].copy_from_slice(b"models");
        seal(&mut block);
        assert_eq!(parse_header(&block).unwrap().unwrap().name, "models/m.gguf");
        // 16 GiB in base-256, as GNU tar writes sizes past 8 GiB.
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[7] = 4;
        assert_eq!(parse_header(&header("big", b'0', &big)).unwrap().unwrap().size, 16 << 30);
        assert_eq!(parse_header(&[0; 512]).unwrap(), None);
    }

    #[test]
    fn hostile_headers_are_errors() {
        let mut bad_sum = header("x", b'0', b"1");
        bad_sum[0] = b'y';
        assert!(parse_header(&bad_sum).unwrap_err().contains("checksum"));
        assert!(parse_header(&header("x", b'0', b"99999")).unwrap_err().contains("octal"));
        let huge = [0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert!(parse_header(&header("x", b'0', &huge)).unwrap_err().contains("too large"));
        assert!(parse_header(&header("x", b'0', &[0xff; 12])).unwrap_err().contains("negative"));
        let mut sparse = header("s", b'S', b"1");
        sparse[482] = 1;
        seal(&mut sparse);
        assert!(parse_header(&sparse).is_err());
        // Random bytes are not a header.
        let mut noise = [0u8; 512];
        noise.iter_mut().enumerate().for_each(|(i, b)| *b = (i * 7 + 3) as u8);
        assert!(parse_header(&noise).is_err());
    }

    /// A pax record with its length prefix computed.
    fn record(key: &str, value: &str) -> String {
        let body = format!(" {key}={value}\n");
        let mut len = body.len() + 1;
        while format!("{len}").len() + body.len() != len {
            len += 1;
        }
        format!("{len}{body}")
    }

    #[test]
    fn pax_records() {
        let mut pax = Pax::default();
        let data = [record("mtime", "1700000000.123456789"), record("path", "models/m.gguf"), record("size", "123456")];
        pax.apply(data.concat().as_bytes()).unwrap();
        assert_eq!(pax, Pax { path: Some("models/m.gguf".into()), size: Some(123456) });
        pax.apply(format!("{}\0\0\0", record("path", "")).as_bytes()).unwrap();
        assert_eq!(pax.path, None);
        let absurd = record("size", "99999999999999999999");
        let negative = record("size", "-1");
        for hostile in [
            "99999999999999999999999 path=x\n",
            "100 path=x\n",
            "3 path=x\n",
            "0 x",
            "11 path=x\nx",
            "10 novalue\n",
            "nolength",
            &absurd,
            &negative,
        ] {
            assert!(Pax::default().apply(hostile.as_bytes()).is_err(), "{hostile:?}");
        }
    }
}
