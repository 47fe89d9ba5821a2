//! Is a JPEG file whole? The `image` crate's JPEG decoder fills whatever a truncated file lacks
//! (gray rows at the bottom, or a progressive scan that never arrives) and reports success, so
//! a half-copied photo would train or be classified as silent garbage. Every other format we
//! read reports a short file as a decode error; for JPEG we check the structure ourselves.
//!
//! A JPEG is a sequence of markers, each `0xFF` then a code byte:
//!
//! ```text
//! SOI (FF D8) · segments (FF xx, 2-byte big-endian length counting itself, payload) ·
//! SOS (FF DA, a segment) · entropy-coded data · [more segments and scans] · EOI (FF D9)
//! ```
//!
//! Inside entropy-coded data a literal `0xFF` byte is written as `FF 00`, and `FF D0`–`FF D7`
//! are restart markers, so any other `FF xx` there ends the scan. The file is whole if walking
//! segments by their lengths, and scans byte by byte, reaches EOI before the data ends.
//! Segment payloads are skipped by length, so an EOI inside an embedded thumbnail (APP1, Exif)
//! does not count. Bytes after EOI are allowed, as every decoder allows them.

/// `Ok` if `bytes` (a file that starts with SOI) reaches its end-of-image marker; otherwise
/// what is wrong, for the error message. Files that do not start with SOI are left to the
/// decoder.
pub(crate) fn check_complete(bytes: &[u8]) -> Result<(), String> {
    const TRUNCATED: &str = "the JPEG data ends before its end-of-image marker (FF D9): \
                             the file is truncated (an interrupted download or copy?)";
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(());
    }
    let mut at = 2; // just after SOI
    loop {
        // The next marker: tolerate stray bytes before it and fill bytes (extra 0xFF) in it.
        while at < bytes.len() && bytes[at] != 0xFF {
            at += 1;
        }
        while at < bytes.len() && bytes[at] == 0xFF {
            at += 1;
        }
        let Some(&code) = bytes.get(at) else {
            return Err(TRUNCATED.to_owned());
        };
        at += 1;
        match code {
            0xD9 => return Ok(()),
            // Markers without a payload: SOI, TEM, RST0–7.
            0xD8 | 0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(length) =
            bytes.get(at..at + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return Err(TRUNCATED.to_owned());
        };
        if length < 2 {
            return Err(format!(
                "a JPEG segment (marker FF {code:02X}) has the impossible length {length}"
            ));
        }
        at += length;
        if at > bytes.len() {
            return Err(TRUNCATED.to_owned());
        }
        if code == 0xDA {
            at = end_of_scan(bytes, at).ok_or_else(|| TRUNCATED.to_owned())?;
        }
    }
}

/// The offset of the `0xFF` that starts the first marker after the entropy-coded data which
/// begins at `start`, or `None` if the data runs to the end of the file.
fn end_of_scan(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let ff = at + bytes.get(at..)?.iter().position(|&b| b == 0xFF)?;
        // Fill bytes: a run of 0xFF belongs to the marker after it.
        let mut next = ff + 1;
        while bytes.get(next) == Some(&0xFF) {
            next += 1;
        }
        match bytes.get(next)? {
            // A stuffed data byte or a restart marker: still inside the scan.
            0x00 | 0xD0..=0xD7 => at = next + 1,
            _ => return Some(next - 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an APP0-like segment, SOS with a 2-byte header, entropy data with a stuffed byte
    /// and a restart marker, a second segment and scan (as in progressive files), then EOI.
    fn whole() -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend([0xFF, 0xE0, 0x00, 0x04, 0xAA, 0xBB]);
        b.extend([0xFF, 0xDA, 0x00, 0x03, 0x01]);
        b.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
        b.extend([0xFF, 0xC4, 0x00, 0x03, 0x07]);
        b.extend([0xFF, 0xDA, 0x00, 0x02, 0x78, 0x9A]);
        b.extend([0xFF, 0xFF, 0xD9]);
        b
    }

    #[test]
    fn a_whole_file_passes_and_so_do_bytes_after_its_end() {
        assert_eq!(check_complete(&whole()), Ok(()));
        let mut trailing = whole();
        trailing.extend(b"trailing metadata");
        assert_eq!(check_complete(&trailing), Ok(()));
    }

    #[test]
    fn every_cut_before_the_end_marker_is_caught() {
        let full = whole();
        for cut in 2..full.len() - 1 {
            assert!(check_complete(&full[..cut]).is_err(), "cut at {cut} of {}", full.len());
        }
    }

    #[test]
    fn an_end_marker_inside_a_segment_or_a_stuffed_byte_does_not_count() {
        // A thumbnail's EOI inside APP1, and FF D9 spelled with stuffing inside the scan.
        let mut b = vec![0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x04, 0xFF, 0xD9];
        b.extend([0xFF, 0xDA, 0x00, 0x02, 0xFF, 0x00, 0xD9]);
        assert!(check_complete(&b).is_err());
    }

    #[test]
    fn a_segment_length_below_two_is_an_error_not_a_loop() {
        let b = [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0xFF, 0xD9];
        assert!(check_complete(&b).unwrap_err().contains("impossible length"));
    }

    /// Two 48×48 gradients from another encoder (Pillow 13): a progressive file (ten scans, a
    /// Huffman table between scans) and a baseline file with restart markers every 4 blocks.
    #[test]
    fn progressive_and_restart_marker_files_pass_and_their_cuts_do_not() {
        let files: [&[u8]; 2] = [
            include_bytes!("../tests/fixtures/progressive.jpg"),
            include_bytes!("../tests/fixtures/restart-markers.jpg"),
        ];
        for (name, bytes) in ["progressive", "restart markers"].iter().zip(files) {
            assert!(::image::load_from_memory(bytes).is_ok(), "{name}: the fixture decodes");
            assert_eq!(check_complete(bytes), Ok(()), "{name}");
            for cut in 2..bytes.len() - 1 {
                assert!(check_complete(&bytes[..cut]).is_err(), "{name} cut at {cut}");
            }
        }
    }

    /// Every JPEG in data/ (written by the dataset builder through the `image` crate's
    /// encoder): none may be called truncated, and a cut inside each is.
    #[test]
    fn every_jpeg_the_project_ships_is_whole_and_a_cut_copy_is_not() {
        let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data");
        let files = crate::folder::files_under(&data).expect("data/ is readable");
        let jpegs: Vec<_> =
            files.iter().filter(|p| p.extension().is_some_and(|e| e == "jpg")).collect();
        assert!(jpegs.len() > 600, "found only {} JPEGs under {}", jpegs.len(), data.display());
        for (i, path) in jpegs.iter().enumerate() {
            let bytes = std::fs::read(path).expect("a shipped file is readable");
            assert_eq!(check_complete(&bytes), Ok(()), "{}", path.display());
            // A cut at a different place in each file: from the headers to the last scan.
            let cut = 2 + (bytes.len() - 4) * (i % 97 + 1) / 98;
            assert!(check_complete(&bytes[..cut]).is_err(), "{} cut at {cut}", path.display());
        }
    }

    #[test]
    fn other_formats_are_left_to_their_decoders() {
        assert_eq!(check_complete(b"\x89PNG\r\n\x1a\n"), Ok(()));
    }
}
