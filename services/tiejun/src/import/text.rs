//! Reading a spreadsheet export as text: UTF-8 with or without a byte-order
//! mark (what most tools write), UTF-16 with a mark (Excel's "Unicode
//! text"), and GB18030 (what Chinese Excel saves a CSV in by default).

use std::io::{BufRead as _, BufReader, Read};

use encoding_rs::{Encoding, GB18030, UTF_8};
use encoding_rs_io::DecodeReaderBytesBuilder;

/// How the file's bytes are read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TextEncoding {
    /// A byte-order mark decides; without one, UTF-8 if the file's start is
    /// valid UTF-8, else GB18030.
    Auto,
    /// UTF-8 (a leading byte-order mark is skipped).
    Utf8,
    /// GB18030, a superset of GBK and GB2312.
    Gb18030,
}

/// How much of the file [`TextEncoding::Auto`] looks at.
const SNIFF_BYTES: usize = 64 * 1024;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const UTF16LE_BOM: &[u8] = b"\xFF\xFE";
const UTF16BE_BOM: &[u8] = b"\xFE\xFF";

/// The encoding `head` (the file's first bytes, maybe cut mid-character)
/// is in, for [`TextEncoding::Auto`].
pub fn sniff(head: &[u8]) -> &'static Encoding {
    if head.starts_with(UTF8_BOM) {
        return UTF_8;
    }
    if head.starts_with(UTF16LE_BOM) {
        return encoding_rs::UTF_16LE;
    }
    if head.starts_with(UTF16BE_BOM) {
        return encoding_rs::UTF_16BE;
    }
    match std::str::from_utf8(head) {
        Ok(_) => UTF_8,
        // Cut in the middle of the last character: still UTF-8.
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => GB18030,
    }
}

/// `raw` as UTF-8 text, decoded from `encoding` (any byte-order mark is
/// removed), and the encoding chosen.
pub fn decoded<R: Read + 'static>(
    raw: R,
    encoding: TextEncoding,
) -> std::io::Result<(Box<dyn Read>, &'static Encoding)> {
    let mut buffered = BufReader::with_capacity(SNIFF_BYTES, raw);
    let chosen = match encoding {
        TextEncoding::Utf8 => UTF_8,
        TextEncoding::Gb18030 => GB18030,
        TextEncoding::Auto => sniff(buffered.fill_buf()?),
    };
    let reader = DecodeReaderBytesBuilder::new()
        .encoding(Some(chosen))
        // A mark in the file says what it is, whatever was asked.
        .bom_override(true)
        .strip_bom(true)
        .build(buffered);
    Ok((Box::new(reader), chosen))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &'static [u8], encoding: TextEncoding) -> (String, &'static str) {
        let (mut reader, chosen) = decoded(bytes, encoding).expect("decode");
        let mut text = String::new();
        reader.read_to_string(&mut text).expect("text");
        (text, chosen.name())
    }

    #[test]
    fn utf8_with_and_without_a_mark_and_gb18030_read_the_same() {
        let text = "公司名称,城市\n杭州纺织有限公司,杭州\n";
        let (gb, _, _) = GB18030.encode(text);
        let gb: &'static [u8] = Box::leak(gb.into_owned().into_boxed_slice());
        let with_bom: &'static [u8] = Box::leak([UTF8_BOM, text.as_bytes()].concat().into_boxed_slice());
        assert_eq!(read(text.as_bytes(), TextEncoding::Auto), (text.to_owned(), "UTF-8"));
        assert_eq!(read(with_bom, TextEncoding::Auto), (text.to_owned(), "UTF-8"));
        assert_eq!(read(gb, TextEncoding::Auto), (text.to_owned(), "gb18030"));
        assert_eq!(read(gb, TextEncoding::Gb18030).0, text);
        // A mark wins over what was asked.
        assert_eq!(read(with_bom, TextEncoding::Gb18030).0, text);
    }

    #[test]
    fn a_start_cut_mid_character_is_still_utf8() {
        let text = "杭州".as_bytes();
        assert_eq!(sniff(&text[..4]), UTF_8);
        assert_eq!(sniff(b"\xBA\xBC\xD6\xDD"), GB18030, "杭州 in GBK");
    }
}
