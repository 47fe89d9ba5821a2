//! `data/outside`: a few real telescope images from two Debian packages that `data/hubble` does
//! not use, to judge a trained model on images made elsewhere (other telescopes, other
//! processing, other framing). It is a check, not a training or tuning set: every image is in
//! the `test` split, and nothing in the recipe was chosen on it.
//!
//! `data/labels/outside.csv` lists each image: its class and object (`group`), the package and
//! file it comes from, the square cut from the photo (`centre`, or `x y side` in the photo's
//! pixels), its credit, and where `data/hubble` holds the same object (`in_hubble`: a different
//! photo of it, in that split), so that results can be read for new objects apart.
//! Each photo gets the same treatment as `data/hubble`'s ([`crate::photo`]): alpha onto black,
//! the square, a Lanczos-3 resize to 224×224, JPEG.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::csv::{Record, Table};
use crate::error::DatasetError;
use crate::manifest::{CLASSES, Counts, ManifestRow, clear_class_folders, verify, write_manifest};
use crate::packages::{MATE_SCREENSAVER_COMMON, MUNIPACK_DOC, PinnedPackage, hex};
use crate::photo::{SIZE, centre_square, encode_jpeg, flatten_on_black, resize_square};
use crate::split::Split;

/// The packages `data/outside` is cut from.
pub const OUTSIDE_PACKAGES: [PinnedPackage; 2] = [MATE_SCREENSAVER_COMMON, MUNIPACK_DOC];

/// Which square of the source photo becomes the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crop {
    /// The largest centred square ([`centre_square`]).
    Centre,
    /// The square with top-left corner (`x`, `y`) and side `side`, in the photo's pixels, for a
    /// photo whose object is not in the middle.
    Square {
        /// Left edge.
        x: u32,
        /// Top edge.
        y: u32,
        /// Side.
        side: u32,
    },
}

impl Crop {
    /// Parses `centre` or `x y side` (three whole numbers, side > 0).
    pub fn parse(s: &str) -> Option<Self> {
        if s.trim() == "centre" {
            return Some(Self::Centre);
        }
        let numbers: Vec<u32> =
            s.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
        match numbers[..] {
            [x, y, side] if side > 0 => Some(Self::Square { x, y, side }),
            _ => None,
        }
    }

    /// The crop as written in the manifest's `render_params` column.
    pub fn describe(self) -> String {
        match self {
            Self::Centre => "crop=centre".to_string(),
            Self::Square { x, y, side } => format!("crop={x} {y} {side}"),
        }
    }
}

/// One row of `outside.csv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideLabel {
    /// Output path relative to the set's root, `<class>/<name>.jpg`.
    pub file: String,
    /// One of [`CLASSES`].
    pub class: String,
    /// The astronomical object.
    pub group: String,
    /// The package's name (one of [`OUTSIDE_PACKAGES`]).
    pub package: &'static PinnedPackage,
    /// The photo, relative to the package's data folder.
    pub source_file: String,
    /// The square cut from it.
    pub crop: Crop,
    /// Who made it, as far as the package says.
    pub credit: String,
    /// Where it is described, if known.
    pub credit_url: String,
    /// Where `data/hubble` holds the same object (empty: a new object).
    pub in_hubble: String,
}

fn label(r: Record<'_>) -> Result<OutsideLabel, DatasetError> {
    let class = r.get("class");
    if !CLASSES.contains(&class) {
        return Err(r.error(format!("class `{class}` is not one of {CLASSES:?}")));
    }
    let file = r.get("file");
    if !file.starts_with(&format!("{class}/")) || !file.ends_with(".jpg") {
        return Err(r.error(format!("file `{file}` must be `{class}/<name>.jpg`")));
    }
    let name = r.get("package");
    let package = OUTSIDE_PACKAGES.iter().find(|p| p.name == name).ok_or_else(|| {
        r.error(format!("package `{name}` is not one of the pinned outside packages"))
    })?;
    let crop = Crop::parse(r.get("crop")).ok_or_else(|| {
        r.error(format!("crop `{}` is neither `centre` nor `x y side`", r.get("crop")))
    })?;
    Ok(OutsideLabel {
        file: file.to_string(),
        class: class.to_string(),
        group: r.get("group").to_string(),
        package,
        source_file: r.get("source_file").to_string(),
        crop,
        credit: r.get("credit").to_string(),
        credit_url: r.get("credit_url").to_string(),
        in_hubble: r.get("in_hubble").to_string(),
    })
}

/// Reads `outside.csv`.
///
/// # Errors
/// [`DatasetError::Csv`] for a missing column, an unknown class or package, a file name outside
/// its class folder, or a crop that does not parse.
pub fn read_outside_labels(path: &Path) -> Result<Vec<OutsideLabel>, DatasetError> {
    let table = Table::read(path)?;
    table.require(&[
        "file",
        "class",
        "group",
        "package",
        "source_file",
        "crop",
        "credit",
        "credit_url",
        "in_hubble",
    ])?;
    table.rows().map(label).collect()
}

/// Cuts `crop` out of `photo` (after compositing alpha onto black) and resizes it to
/// [`SIZE`]×[`SIZE`].
///
/// # Errors
/// [`DatasetError::Label`] naming `file` if the square does not lie inside the photo.
pub fn cut(
    photo: &image::DynamicImage,
    crop: Crop,
    file: &str,
) -> Result<image::RgbImage, DatasetError> {
    let rgb = flatten_on_black(photo);
    let square = match crop {
        Crop::Centre => centre_square(&rgb),
        Crop::Square { x, y, side } => {
            let fits = u64::from(x) + u64::from(side) <= u64::from(rgb.width())
                && u64::from(y) + u64::from(side) <= u64::from(rgb.height());
            if !fits {
                return Err(DatasetError::Label {
                    file: file.to_string(),
                    message: format!(
                        "crop {x} {y} {side} does not fit in the {}×{} photo",
                        rgb.width(),
                        rgb.height()
                    ),
                });
            }
            image::imageops::crop_imm(&rgb, x, y, side, side).to_image()
        }
    };
    Ok(resize_square(&square, SIZE))
}

/// Where to read from and write to.
#[derive(Debug, Clone)]
pub struct OutsideConfig {
    /// The data folder of each package in [`OUTSIDE_PACKAGES`], in that order.
    pub package_dirs: [PathBuf; 2],
    /// `outside.csv`.
    pub labels: PathBuf,
    /// The output folder (`data/outside`).
    pub out_dir: PathBuf,
    /// JPEG quality.
    pub jpeg_quality: u8,
}

/// Builds the set: one JPEG per label, `manifest.csv` (every row in the `test` split) and
/// `CREDITS.md`; old `.jpg` files in the class folders are removed first. Returns the counts of
/// the verified result.
///
/// # Errors
/// A label error ([`read_outside_labels`], [`cut`]), an unreadable photo (named), or a manifest
/// that does not verify.
pub fn build_outside(config: &OutsideConfig) -> Result<Counts, DatasetError> {
    let labels = read_outside_labels(&config.labels)?;
    let out = &config.out_dir;
    clear_class_folders(out)?;
    let mut rows = Vec::with_capacity(labels.len());
    for l in &labels {
        let index = OUTSIDE_PACKAGES.iter().position(|p| p.name == l.package.name);
        let source = config.package_dirs[index.expect("read_outside_labels checked the package")]
            .join(&l.source_file);
        let photo = image::open(&source).map_err(|e| DatasetError::image(&source, e))?;
        let jpeg = encode_jpeg(&cut(&photo, l.crop, &l.file)?, config.jpeg_quality)
            .map_err(|e| DatasetError::image(out.join(&l.file), e))?;
        let path = out.join(&l.file);
        std::fs::write(&path, &jpeg).map_err(|e| DatasetError::io(&path, e))?;
        rows.push(ManifestRow {
            file: l.file.clone(),
            class: l.class.clone(),
            group: l.group.clone(),
            split: Split::Test,
            source_package: l.package.name.to_string(),
            source_version: l.package.version.to_string(),
            source_file: format!("{}/{}", l.package.share_dir, l.source_file),
            credit: l.credit.clone(),
            credit_url: l.credit_url.clone(),
            render_params: l.crop.describe(),
            sha256: hex(&Sha256::digest(&jpeg)),
        });
    }
    write_manifest(&out.join("manifest.csv"), &rows)?;
    let credits = out.join("CREDITS.md");
    std::fs::write(&credits, credits_markdown(&labels))
        .map_err(|e| DatasetError::io(&credits, e))?;
    verify(out)
}

/// `CREDITS.md`: every image with its source, credit and whether `data/hubble` has its object.
fn credits_markdown(labels: &[OutsideLabel]) -> String {
    let mut s = String::from(
        "# Credits of every image in data/outside\n\n\
         Generated by `build-outside` from `data/labels/outside.csv`. The packages are free\n\
         software (mate-screensaver-common: GPL-2+ or LGPL-2+; munipack-doc: GPL-3+); the\n\
         credit column says what is known of each photo's author.\n",
    );
    for class in CLASSES {
        s.push_str(&format!("\n## {class}\n\n"));
        for l in labels.iter().filter(|l| l.class == class) {
            let url = if l.credit_url.is_empty() {
                String::new()
            } else {
                format!(" <{}>", l.credit_url)
            };
            let seen = if l.in_hubble.is_empty() {
                "an object data/hubble does not have".to_string()
            } else {
                format!("data/hubble has this object: {}", l.in_hubble)
            };
            s.push_str(&format!(
                "- `{}`: {}{} (from `{}/{}` in {} {}; {seen})\n",
                l.file,
                l.credit,
                url,
                l.package.share_dir,
                l.source_file,
                l.package.name,
                l.package.version
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, Rgb, RgbImage};

    #[test]
    fn crops_parse_and_bad_ones_do_not() {
        assert_eq!(Crop::parse("centre"), Some(Crop::Centre));
        assert_eq!(Crop::parse(" 0 16  800 "), Some(Crop::Square { x: 0, y: 16, side: 800 }));
        for bad in ["", "center", "1 2", "1 2 3 4", "0 0 0", "-1 0 5", "a b c"] {
            assert_eq!(Crop::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Crop::Square { x: 1, y: 2, side: 3 }.describe(), "crop=1 2 3");
    }

    /// A 40×20 photo, black but for one bright pixel at (5, 3).
    fn photo() -> DynamicImage {
        let mut img = RgbImage::new(40, 20);
        img.put_pixel(5, 3, Rgb([255, 255, 255]));
        DynamicImage::ImageRgb8(img)
    }

    #[test]
    fn a_square_crop_keeps_its_corner_and_the_centre_crop_drops_it() {
        let brightest = |img: &RgbImage| img.pixels().map(|p| p.0[0]).max().unwrap_or(0);
        let left = cut(&photo(), Crop::Square { x: 0, y: 0, side: 20 }, "t.jpg").expect("fits");
        assert_eq!(left.dimensions(), (SIZE, SIZE));
        assert!(brightest(&left) > 200, "the pixel at (5, 3) is inside the left square");
        let centre = cut(&photo(), Crop::Centre, "t.jpg").expect("fits");
        assert_eq!(brightest(&centre), 0, "the centre square (x 10..30) misses it");
    }

    #[test]
    fn a_crop_outside_the_photo_names_the_file() {
        let e = cut(&photo(), Crop::Square { x: 30, y: 0, side: 20 }, "galaxies/x.jpg")
            .expect_err("x 30..50 is outside a 40 px wide photo");
        let message = e.to_string();
        assert!(message.contains("galaxies/x.jpg") && message.contains("40×20"), "{message}");
    }

    #[test]
    fn labels_reject_unknown_classes_packages_and_crops() {
        let header = "file,class,group,package,source_file,crop,credit,credit_url,in_hubble\n";
        let good = "galaxies/a.jpg,galaxies,m-1,munipack-doc,a.png,centre,me,,\n";
        let dir = std::env::temp_dir().join(format!("outside-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("outside.csv");
        std::fs::write(&path, format!("{header}{good}")).expect("write");
        let labels = read_outside_labels(&path).expect("a good table");
        assert_eq!((labels[0].package.name, labels[0].crop), ("munipack-doc", Crop::Centre));
        for (bad, why) in [
            ("galaxies/a.jpg,comets,m-1,munipack-doc,a.png,centre,me,,\n", "class `comets`"),
            ("nebulae/a.jpg,galaxies,m-1,munipack-doc,a.png,centre,me,,\n", "must be `galaxies/"),
            ("galaxies/a.jpg,galaxies,m-1,stellarium-data,a.png,centre,me,,\n", "package"),
            ("galaxies/a.jpg,galaxies,m-1,munipack-doc,a.png,0 0,me,,\n", "crop `0 0`"),
        ] {
            std::fs::write(&path, format!("{header}{good}{bad}")).expect("write");
            let e = read_outside_labels(&path).expect_err(why).to_string();
            assert!(e.contains("line 3") && e.contains(why), "{e}");
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
