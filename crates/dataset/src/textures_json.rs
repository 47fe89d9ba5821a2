//! A lenient reader for Stellarium's `nebulae/default/textures.json`.
//!
//! The file is *almost* JSON. The quirks it has in stellarium-data 0.22.2 (and that we repair
//! before handing the text to `serde_json`):
//! - numbers that begin with a dot: `-.9794`, `.5` (JSON needs `-0.9794`, `0.5`);
//! - trailing commas before `]` or `}` (harmless to repair, common in hand-edited files);
//! - the credit key is sometimes `"Short"` instead of `"short"` (keys are matched ignoring case);
//! - right ascensions outside 0–360° (e.g. −94.6°), normalised here into `[0, 360)`.
//!
//! Only the fields the builder uses are extracted; nested `subTiles` are walked recursively.

use std::path::Path;

use serde_json::Value;

use crate::error::DatasetError;

/// One deep-sky photo listed in `textures.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct NebulaTexture {
    /// The image file, relative to the folder of `textures.json` (e.g. `m31.png`).
    pub image_url: String,
    /// Who made the photo (the `short` credit).
    pub credit: String,
    /// Where the photo came from (`infoUrl`), if given.
    pub info_url: Option<String>,
    /// The image corners as (RA, Dec) in degrees, RA normalised into `[0, 360)`.
    pub corners: Vec<(f64, f64)>,
}

/// Reads and parses `textures.json` at `path`.
///
/// # Errors
/// [`DatasetError::Io`] if unreadable, [`DatasetError::TexturesJson`] if the repaired text is not
/// JSON or an entry lacks its `imageUrl`.
pub fn read_textures_json(path: &Path) -> Result<Vec<NebulaTexture>, DatasetError> {
    let text = std::fs::read_to_string(path).map_err(|e| DatasetError::io(path, e))?;
    parse_textures_json(&text)
        .map_err(|message| DatasetError::TexturesJson { path: path.to_path_buf(), message })
}

/// Parses the text of a `textures.json` (see the module docs for what is repaired).
///
/// # Errors
/// A message if the repaired text is not JSON or an entry lacks `imageUrl`.
pub fn parse_textures_json(text: &str) -> Result<Vec<NebulaTexture>, String> {
    let repaired = repair(text);
    let root: Value =
        serde_json::from_str(&repaired).map_err(|e| format!("not JSON even after repair: {e}"))?;
    let mut out = Vec::new();
    collect(&root, &mut out)?;
    Ok(out)
}

/// Rewrites the JSON quirks outside string literals: `.5` → `0.5`, `-.5` → `-0.5`, and drops a
/// comma that is followed (after white space) by `]` or `}`.
fn repair(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '.' => {
                let next_is_digit = chars.get(i + 1).is_some_and(char::is_ascii_digit);
                let prev_is_digit = i > 0 && chars[i - 1].is_ascii_digit();
                if next_is_digit && !prev_is_digit {
                    out.push('0');
                }
                out.push('.');
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                if !matches!(next, Some(']' | '}')) {
                    out.push(',');
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The value of `key` in `obj`, matching the key ignoring ASCII case.
fn get_ignoring_case<'v>(obj: &'v serde_json::Map<String, Value>, key: &str) -> Option<&'v Value> {
    obj.get(key).or_else(|| obj.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v))
}

/// Walks `node` and its `subTiles`, appending every entry with an `imageUrl`.
fn collect(node: &Value, out: &mut Vec<NebulaTexture>) -> Result<(), String> {
    let Some(obj) = node.as_object() else { return Ok(()) };
    if let Some(url) = get_ignoring_case(obj, "imageUrl") {
        let image_url = url.as_str().ok_or("an imageUrl is not a string")?.to_string();
        let credits = get_ignoring_case(obj, "imageCredits").and_then(Value::as_object);
        let text = |key: &str| {
            credits
                .and_then(|c| get_ignoring_case(c, key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let corners = get_ignoring_case(obj, "worldCoords")
            .and_then(Value::as_array)
            .and_then(|polys| polys.first())
            .and_then(Value::as_array)
            .map(|poly| {
                poly.iter()
                    .filter_map(|p| {
                        let p = p.as_array()?;
                        Some((p.first()?.as_f64()?.rem_euclid(360.0), p.get(1)?.as_f64()?))
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(NebulaTexture {
            image_url,
            credit: text("short").unwrap_or_default(),
            info_url: text("infoUrl"),
            corners,
        });
    }
    if let Some(tiles) = get_ignoring_case(obj, "subTiles").and_then(Value::as_array) {
        for t in tiles {
            collect(t, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three entries modelled on the real file: a leading-dot Dec, the `"Short"` key, and an RA
    /// of −94.6498° (all three occur in stellarium-data 0.22.2).
    const QUIRKY: &str = r#"{
        "shortName": "Nebulae", "minResolution" : .05,
        "subTiles" : [
        { "imageCredits" : {"short" : "Starhopper","infoUrl": "https://example.org/M002.jpg"},
          "imageUrl" : "m2.png",
          "worldCoords" : [[[323.4989,-.9794], [323.22,-.9794], [323.2201,-.6994], [323.499,-.6994]]] },
        { "imageCredits" : {"Short": "Starhopper, with a comma", "infoUrl": "https://example.org/M3.jpg"},
          "imageUrl" : "m3.png",
          "worldCoords" : [[[205.8042,28.154], [205.2979,28.1532], [205.2956,28.5993], [205.8037,28.6005]]], },
        { "imageCredits": {"short" : "Grasslands Observatory"},
          "imageUrl" : "m6.png", "note": "a string with .5 and , ] inside stays as it is",
          "worldCoords" : [[[-94.6498, -32.5023], [-95.2120, -32.5211], [-95.2327, -32.0470], [-94.6735, -32.0283]]] }
        ]
    }"#;

    #[test]
    fn leading_dot_numbers_are_read() {
        let t = parse_textures_json(QUIRKY).expect("repairable");
        assert_eq!(t[0].corners[0], (323.4989, -0.9794));
        assert_eq!(t[0].corners[2].1, -0.6994);
    }

    #[test]
    fn short_credit_key_is_matched_ignoring_case() {
        let t = parse_textures_json(QUIRKY).expect("repairable");
        assert_eq!(t[0].credit, "Starhopper");
        assert_eq!(t[1].credit, "Starhopper, with a comma");
        assert_eq!(t[1].info_url.as_deref(), Some("https://example.org/M3.jpg"));
        assert_eq!(t[2].info_url, None);
    }

    #[test]
    fn right_ascension_is_normalised_into_0_360() {
        let t = parse_textures_json(QUIRKY).expect("repairable");
        let (ra, dec) = t[2].corners[0];
        assert!((ra - 265.3502).abs() < 1e-9, "ra {ra}");
        assert_eq!(dec, -32.5023);
        assert!(t.iter().flat_map(|t| &t.corners).all(|&(ra, _)| (0.0..360.0).contains(&ra)));
    }

    #[test]
    fn strings_are_left_untouched_and_broken_text_is_an_error() {
        assert_eq!(repair(r#"{"a": ".5, ]"}"#), r#"{"a": ".5, ]"}"#);
        assert_eq!(repair("[1.5, .5, -.5,]"), "[1.5, 0.5, -0.5]");
        assert!(parse_textures_json("{\"subTiles\": [ {\"imageUrl\": 3} ]}").is_err());
        assert!(parse_textures_json("{\"subTiles\": [").is_err());
    }
}
