//! Loading an image folder into memory, torchvision `ImageFolder` style.
//!
//! Layout: `root/<class>/…/<file>`, one sub-folder per class; class indices follow the sorted
//! folder names (byte order, like Python's `sorted`). Files are found recursively; names starting
//! with `.` (e.g. `.DS_Store`) and plain files directly in `root` (e.g. `README.md`,
//! `manifest.csv`) are ignored. Everything else in a class folder must be an image the `image`
//! crate decodes (PNG, JPEG, GIF, BMP, TIFF, WebP): gray, gray+alpha, RGBA and 16-bit images
//! become 8-bit RGB, alpha composited on black (`rgb·α`, the colour of empty sky).
//!
//! Decoding runs in parallel (rayon), under a decoder memory limit, and each image is resized on
//! load to the working size the caller picks ([`LoadSize`]), then kept as 8-bit RGB: a quarter of
//! the memory of f32, and 8 bits is what the JPEG/PNG sources hold anyway.
//!
//! If `root/manifest.csv` exists (columns `file,class,group,split`, more allowed, `file` relative
//! to `root` with `/`), it must list exactly the files found (else
//! [`AugmentError::ManifestMismatch`]); it supplies each sample's group and split.

use crate::split::{Part, group_of};
use crate::transforms::geometry::center_crop;
use crate::transforms::resize::resize_shorter_side;
use crate::{AugmentError, Image};
use image::{DynamicImage, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};

/// What size images are kept at after decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadSize {
    /// Keep every image as decoded (sizes may differ; pipelines must then resize).
    Original,
    /// Shorter side resized to `S` (antialiased bilinear), then the central `S × S` square.
    /// Images already `S × S` are kept untouched.
    CenterSquare(u32),
}

/// What to do with a file that cannot be used (corrupt, truncated, empty, not an image,
/// unreadable, too large or too small).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadImagePolicy {
    /// Stop with the first bad file's error (in sorted path order, so the same one every run).
    Fail,
    /// Leave bad files out and list them in [`Dataset::skipped`] for the caller to report.
    Skip,
}

/// Options of [`load`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Working size (default `CenterSquare(256)`).
    pub size: LoadSize,
    /// Images whose shorter side is below this are rejected as too small (default 32): blowing a
    /// thumbnail up to the working size invents detail the network would learn from.
    pub min_side: u32,
    /// Decoder allocation limit in bytes (default 512 MiB, e.g. a 10000×10000 RGBA16 image is
    /// 800 MB and is refused), which also stops forged headers claiming enormous sizes.
    pub max_decode_bytes: u64,
    /// Bad-file policy (default [`BadImagePolicy::Fail`]).
    pub bad_images: BadImagePolicy,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            size: LoadSize::CenterSquare(256),
            min_side: 32,
            max_decode_bytes: 512 << 20,
            bad_images: BadImagePolicy::Fail,
        }
    }
}

/// One loaded image.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Path on disk.
    pub path: PathBuf,
    /// Path relative to the root with `/` separators (lossy for non-UTF-8 names), e.g.
    /// `galaxies/m31.jpg`: the key used by `manifest.csv`.
    pub file: String,
    /// Class index into [`Dataset::classes`].
    pub class: usize,
    /// The object this file shows: from the manifest, else [`group_of`] the file stem.
    pub group: String,
    /// The split the manifest assigns, if there is a manifest.
    pub split: Option<Part>,
    /// The pixels at the working size.
    pub pixels: RgbImage,
}

impl Sample {
    /// The pixels as an f32 [`Image`] in `[0, 1]`.
    pub fn image(&self) -> Image {
        Image::from_rgb8(&self.pixels).expect("loaded images are at least 1x1")
    }
}

/// A file left out under [`BadImagePolicy::Skip`], with the reason.
#[derive(Debug)]
pub struct SkippedFile {
    /// The file.
    pub path: PathBuf,
    /// Why it was left out.
    pub error: AugmentError,
}

/// An image folder in memory.
#[derive(Debug)]
pub struct Dataset {
    /// The folder.
    pub root: PathBuf,
    /// Class names (sorted folder names); index = class id.
    pub classes: Vec<String>,
    /// The images, sorted by class then path.
    pub samples: Vec<Sample>,
    /// Files left out under [`BadImagePolicy::Skip`] (always empty under `Fail`).
    pub skipped: Vec<SkippedFile>,
    /// The manifest used, if any.
    pub manifest: Option<PathBuf>,
}

impl Dataset {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Number of samples per class, indexed by class id.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for s in &self.samples {
            counts[s.class] += 1;
        }
        counts
    }
}

/// Loads the image folder at `root` (module docs for the layout and the rules).
///
/// # Errors
/// [`AugmentError::Io`] for unreadable folders, [`AugmentError::NoClasses`],
/// [`AugmentError::NonUtf8ClassName`], [`AugmentError::EmptyClass`] (also when every file of a
/// class was skipped), manifest errors, and under [`BadImagePolicy::Fail`] the first bad file's
/// error ([`AugmentError::EmptyFile`], [`AugmentError::NotAnImage`], [`AugmentError::Decode`],
/// [`AugmentError::ImageTooLarge`], [`AugmentError::ImageTooSmall`], [`AugmentError::Io`]).
pub fn load(root: &Path, opts: &LoadOptions) -> Result<Dataset, AugmentError> {
    if let LoadSize::CenterSquare(0) = opts.size {
        return Err(AugmentError::bad("load", "working size CenterSquare(0)"));
    }
    let classes = class_folders(root)?;
    // (class, path) for every candidate file, in sorted order.
    let mut files = Vec::new();
    for (class, name) in classes.iter().enumerate() {
        let dir = root.join(name);
        let mut found = Vec::new();
        walk(&dir, &mut found)?;
        if found.is_empty() {
            return Err(AugmentError::EmptyClass { path: dir.display().to_string() });
        }
        found.sort();
        files.extend(found.into_iter().map(|p| (class, p)));
    }
    let manifest_path = root.join("manifest.csv");
    let manifest = if manifest_path.is_file() {
        let m = read_manifest(&manifest_path)?;
        check_manifest(&manifest_path, &m, root, &classes, &files)?;
        Some(m)
    } else {
        None
    };

    let decoded: Vec<Result<Sample, AugmentError>> = files
        .par_iter()
        .map(|(class, path)| {
            let pixels = read_image(path, opts)?;
            let file = relative(root, path);
            let (group, split) = match manifest.as_ref().and_then(|m| m.get(&file)) {
                Some(row) => (row.group.clone(), Some(row.split)),
                None => (group_of(&path.file_stem().unwrap_or_default().to_string_lossy()), None),
            };
            Ok(Sample { path: path.clone(), file, class: *class, group, split, pixels })
        })
        .collect();

    let mut samples = Vec::with_capacity(decoded.len());
    let mut skipped = Vec::new();
    for ((_, path), result) in files.iter().zip(decoded) {
        match (result, opts.bad_images) {
            (Ok(s), _) => samples.push(s),
            (Err(e), BadImagePolicy::Fail) => return Err(e),
            (Err(error), BadImagePolicy::Skip) => {
                skipped.push(SkippedFile { path: path.clone(), error })
            }
        }
    }
    let ds = Dataset {
        root: root.to_path_buf(),
        classes,
        samples,
        skipped,
        manifest: manifest.map(|_| manifest_path),
    };
    if let Some(class) = ds.class_counts().iter().position(|&n| n == 0) {
        return Err(AugmentError::EmptyClass {
            path: root.join(&ds.classes[class]).display().to_string(),
        });
    }
    Ok(ds)
}

/// The sorted names of the sub-folders of `root` (dot-folders ignored).
fn class_folders(root: &Path) -> Result<Vec<String>, AugmentError> {
    let mut classes = Vec::new();
    for entry in std::fs::read_dir(root).map_err(|e| AugmentError::io(root, e))? {
        let entry = entry.map_err(|e| AugmentError::io(root, e))?;
        let path = entry.path();
        if !path.is_dir() || entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        match entry.file_name().into_string() {
            Ok(name) => classes.push(name),
            Err(_) => {
                return Err(AugmentError::NonUtf8ClassName { path: path.display().to_string() });
            }
        }
    }
    if classes.is_empty() {
        return Err(AugmentError::NoClasses { path: root.display().to_string() });
    }
    classes.sort();
    Ok(classes)
}

/// Every file under `dir`, recursively, in the order the file system lists them; names starting
/// with `.` (files and folders) are skipped, as [`load`] skips them.
///
/// # Errors
/// [`AugmentError`] naming the folder that cannot be listed.
pub fn files_under(dir: &Path) -> Result<Vec<PathBuf>, AugmentError> {
    let mut found = Vec::new();
    walk(dir, &mut found)?;
    Ok(found)
}

/// Every non-hidden file under `dir`, recursively.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), AugmentError> {
    for entry in std::fs::read_dir(dir).map_err(|e| AugmentError::io(dir, e))? {
        let entry = entry.map_err(|e| AugmentError::io(dir, e))?;
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// `path` relative to `root`, `/`-separated, lossy for non-UTF-8 components.
fn relative(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

/// Reads, decodes, converts to RGB and resizes one file, exactly as [`load`] does for each file
/// of a folder (`opts.bad_images` does not apply: a bad file is always an error). Classifying a
/// single file this way gives it the pixels it would have in a folder.
///
/// # Errors
/// The same typed errors as [`load`], each naming the file: unreadable, empty, not an image,
/// corrupt or truncated, too large to decode, smaller than `opts.min_side`.
pub fn read_image(path: &Path, opts: &LoadOptions) -> Result<RgbImage, AugmentError> {
    let shown = || path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| AugmentError::io(path, e))?;
    if bytes.is_empty() {
        return Err(AugmentError::EmptyFile { path: shown() });
    }
    let mut reader = ImageReader::new(Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| AugmentError::io(path, e))?;
    match reader.format() {
        None => return Err(AugmentError::NotAnImage { path: shown() }),
        // The JPEG decoder fills a truncated file's missing rows and succeeds; catch it first.
        Some(ImageFormat::Jpeg) => crate::jpeg::check_complete(&bytes)
            .map_err(|reason| AugmentError::Decode { path: shown(), reason })?,
        Some(_) => {}
    }
    let mut limits = Limits::default();
    limits.max_alloc = Some(opts.max_decode_bytes);
    reader.limits(limits);
    let decoded = reader.decode().map_err(|e| match e {
        ImageError::Limits(_) => AugmentError::ImageTooLarge {
            path: shown(),
            limit_bytes: opts.max_decode_bytes,
            reason: e.to_string(),
        },
        ImageError::Unsupported(_) => AugmentError::NotAnImage { path: shown() },
        other => AugmentError::Decode { path: shown(), reason: other.to_string() },
    })?;
    let (width, height) = (decoded.width(), decoded.height());
    if width.min(height) < opts.min_side.max(1) {
        return Err(AugmentError::ImageTooSmall {
            path: shown(),
            width,
            height,
            min_side: opts.min_side,
        });
    }
    let rgb = to_rgb_on_black(decoded);
    match opts.size {
        LoadSize::Original => Ok(rgb),
        LoadSize::CenterSquare(s) if (width, height) == (s, s) => Ok(rgb),
        LoadSize::CenterSquare(s) => {
            let s = s as usize;
            let img = Image::from_rgb8(&rgb)?;
            Ok(center_crop(&resize_shorter_side(&img, s)?, s, s)?.to_rgb8())
        }
    }
}

/// 8-bit RGB with any alpha composited on black: `out = rgb · α`.
fn to_rgb_on_black(img: DynamicImage) -> RgbImage {
    if !img.color().has_alpha() {
        return img.to_rgb8();
    }
    let rgba = img.to_rgba32f();
    let raw: Vec<u8> = rgba
        .pixels()
        .flat_map(|p| {
            let a = p.0[3].clamp(0.0, 1.0);
            [0, 1, 2].map(|c| (p.0[c].clamp(0.0, 1.0) * a * 255.0).round() as u8)
        })
        .collect();
    RgbImage::from_raw(rgba.width(), rgba.height(), raw)
        .expect("3 bytes per pixel of the RGBA image")
}

/// One manifest row.
#[derive(Debug, Clone)]
struct ManifestRow {
    class: String,
    group: String,
    split: Part,
    line: usize,
}

/// Splits one CSV line into fields: commas separate, `"…"` quotes (with `""` for a quote).
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(ch) = chars.next() {
        let field = fields.last_mut().expect("fields starts non-empty");
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    Ok(fields)
}

/// Parses `manifest.csv` into `file → row`.
fn read_manifest(path: &Path) -> Result<BTreeMap<String, ManifestRow>, AugmentError> {
    let text = std::fs::read_to_string(path).map_err(|e| AugmentError::io(path, e))?;
    let err = |line: usize, problem: String| AugmentError::Manifest {
        path: path.display().to_string(),
        line,
        problem,
    };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, header) = lines.next().ok_or_else(|| err(1, "empty manifest".into()))?;
    let header = csv_fields(header).map_err(|p| err(1, p))?;
    let column = |name: &str| {
        header.iter().position(|h| h.trim() == name).ok_or_else(|| {
            err(1, format!("header {header:?} lacks column {name:?} (need file,class,group,split)"))
        })
    };
    let (cf, cc, cg, cs) = (column("file")?, column("class")?, column("group")?, column("split")?);
    let mut rows = BTreeMap::new();
    for (line, text) in lines {
        if text.trim().is_empty() {
            continue;
        }
        let fields = csv_fields(text).map_err(|p| err(line, p))?;
        let get = |i: usize| {
            fields.get(i).map(|s| s.trim().to_string()).ok_or_else(|| {
                err(line, format!("{} fields, header has {}", fields.len(), header.len()))
            })
        };
        let (file, class, group, split) = (get(cf)?, get(cc)?, get(cg)?, get(cs)?);
        let split = split.parse::<Part>().map_err(|p| err(line, p))?;
        if file.is_empty() || group.is_empty() {
            return Err(err(line, "empty file or group".into()));
        }
        if let Some(first) = rows.insert(file.clone(), ManifestRow { class, group, split, line }) {
            return Err(err(
                line,
                format!("{file} is listed twice (first on line {})", first.line),
            ));
        }
    }
    Ok(rows)
}

/// Checks the manifest lists exactly the files found, each under its folder's class.
fn check_manifest(
    path: &Path,
    manifest: &BTreeMap<String, ManifestRow>,
    root: &Path,
    classes: &[String],
    files: &[(usize, PathBuf)],
) -> Result<(), AugmentError> {
    const SHOWN: usize = 10;
    let on_disk: BTreeSet<String> = files.iter().map(|(_, p)| relative(root, p)).collect();
    for (class, p) in files {
        let rel = relative(root, p);
        if let Some(row) = manifest.get(&rel)
            && row.class != classes[*class]
        {
            return Err(AugmentError::Manifest {
                path: path.display().to_string(),
                line: row.line,
                problem: format!(
                    "{rel} has class {:?} but lies in folder {:?}",
                    row.class, classes[*class]
                ),
            });
        }
    }
    let missing: Vec<String> =
        manifest.keys().filter(|f| !on_disk.contains(*f)).take(SHOWN).cloned().collect();
    let unlisted: Vec<String> =
        on_disk.iter().filter(|f| !manifest.contains_key(*f)).take(SHOWN).cloned().collect();
    if missing.is_empty() && unlisted.is_empty() {
        Ok(())
    } else {
        Err(AugmentError::ManifestMismatch { path: path.display().to_string(), missing, unlisted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_handle_quotes() {
        assert_eq!(csv_fields("a,\"b,c\",\"d\"\"e\",").unwrap(), ["a", "b,c", "d\"e", ""]);
        assert!(csv_fields("a,\"b").is_err());
    }
}
