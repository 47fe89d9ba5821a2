//! Building `data/hubble` from the unpacked packages and the label tables: the jobs (deep-sky
//! photos, KStars photos, renders), run in parallel with a progress bar, then duplicate check,
//! groups and split, and the files: images, `manifest.csv`, `CREDITS.md`, `LICENSES.md`.
//!
//! Every random choice comes from `Rng::keyed(seed, &[job kind, index, …])`, so the output does
//! not depend on the thread count or on the order in which jobs finish.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbImage};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tensor::Rng;

use crate::error::DatasetError;
use crate::labels::{DeepSkyClass, DsoLabel, SolarBody, read_dso_labels, read_solar_bodies};
use crate::manifest::{Counts, ManifestRow, clear_class_folders, write_manifest};
use crate::packages::{KSTARS_DATA, PinnedPackage, STELLARIUM_DATA, Sources, hex};
use crate::photo::{
    GRAY_CHROMA, SIZE, encode_jpeg, has_plain_sky_border, mean_chroma, standard_crop, to_gray,
    zoom_out,
};
use crate::render::map::{RingProfile, SurfaceMap};
use crate::render::{BodyAssets, RenderParams, render};
use crate::split::{Split, assign_splits, group_deep_sky};
use crate::textures_json::{NebulaTexture, read_textures_json};

/// Share of deep-sky photos turned gray (against "gray means solar system": the 29 real moon
/// phases are gray, so the other classes need gray images too).
pub const DEEP_SKY_GRAY_SHARE: f32 = 0.3;
/// Share of renders turned gray (lower, since the moon phases already make the solar-system
/// class partly gray): all three classes end up 27–31 % gray.
pub const RENDER_GRAY_SHARE: f32 = 0.15;
/// Share of galaxy photos shown zoomed out, and the range of the zoom (against "a galaxy always
/// fills the frame"). Only photos with a plain dark-sky border are eligible
/// ([`has_plain_sky_border`]), so the realised share is lower.
pub const GALAXY_ZOOM_OUT: (f32, (f32, f32)) = (0.3, (0.45, 0.8));
/// Share of nebula photos shown zoomed out, and the range of the zoom (nebulae are extended, so
/// less often and less far).
pub const NEBULA_ZOOM_OUT: (f32, (f32, f32)) = (0.15, (0.6, 0.85));
/// A render is redrawn (with the next key) if less than this fraction of its disk area is
/// visibly lit: this removes near-black frames and hair-thin crescents.
pub const MIN_LIT_FRACTION: f32 = 0.3;
/// How many redraws a render gets before the build fails.
const MAX_ATTEMPTS: u64 = 64;
/// The KStars planet photos used (not `sun.png`).
pub const KSTARS_PLANETS: [&str; 8] =
    ["mercury", "venus", "mars", "jupiter", "saturn", "uranus", "neptune", "pluto"];
/// Number of KStars moon-phase files (`moon00.png` … `moon35.png`).
pub const KSTARS_MOON_PHASES: usize = 36;

/// What [`build`] needs.
#[derive(Debug, Clone)]
pub struct BuildConfig {
    /// The unpacked packages.
    pub sources: Sources,
    /// Folder with `dso_labels.csv` and `solar_bodies.csv`.
    pub labels_dir: PathBuf,
    /// Output folder (`data/hubble`); its class folders' `.jpg` files are replaced.
    pub out_dir: PathBuf,
    /// Seed of every random choice.
    pub seed: u64,
    /// JPEG quality 1–100.
    pub jpeg_quality: u8,
    /// Show progress bars on stderr.
    pub progress: bool,
}

/// What [`build`] made.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Images per class and split.
    pub counts: Counts,
    /// Bytes of all JPEG files.
    pub jpeg_bytes: u64,
    /// Gray images per class, measured: mean chroma below [`GRAY_CHROMA`] before encoding.
    pub gray: BTreeMap<String, usize>,
    /// Renders redrawn because they were too dark.
    pub redrawn_renders: usize,
}

/// One image to make.
#[derive(Debug, Clone)]
enum Job {
    DeepSky { label: DsoLabel, texture: NebulaTexture, gray: bool },
    KStarsPhoto { name: String, group: String, path: PathBuf },
    Render { body: usize, index: usize, gray: bool },
}

/// A made image before the split is known.
struct Made {
    row: ManifestRow,
    jpeg: Vec<u8>,
    redraws: usize,
    gray: bool,
}

fn progress_bar(len: usize, what: &str, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} {elapsed}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

fn open_image(path: &Path) -> Result<DynamicImage, DatasetError> {
    image::open(path).map_err(|e| DatasetError::image(path, e))
}

fn folder_of(class: DeepSkyClass) -> &'static str {
    match class {
        DeepSkyClass::Galaxy => "galaxies",
        DeepSkyClass::Nebula | DeepSkyClass::Cluster => "nebulae",
    }
}

/// Loads a body's map, clouds and rings from Stellarium's `textures/` folder.
fn load_body(textures: &Path, body: &SolarBody) -> Result<BodyAssets, DatasetError> {
    let map = SurfaceMap::from_rgba(&open_image(&textures.join(&body.texture))?.to_rgba8());
    let clouds = match &body.clouds {
        Some(c) => Some(SurfaceMap::from_rgba(&open_image(&textures.join(c))?.to_rgba8())),
        None => None,
    };
    let rings = match body.rings {
        Some((inner, outer)) => {
            let img = open_image(&textures.join("saturn_rings_radial.png"))?.to_rgba8();
            Some(RingProfile::from_rgba_row(&img, inner, outer))
        }
        None => None,
    };
    Ok(BodyAssets { body: body.clone(), map, clouds, rings })
}

/// SHA-256 of decoded RGBA pixels plus size: equal for pixel-identical files.
fn pixel_hash(img: &DynamicImage) -> String {
    let rgba = img.to_rgba8();
    let mut h = Sha256::new();
    h.update(rgba.width().to_le_bytes());
    h.update(rgba.height().to_le_bytes());
    h.update(rgba.as_raw());
    hex(&h.finalize())
}

fn row(
    file: String,
    class: &str,
    group: String,
    package: &PinnedPackage,
    source_file: String,
) -> ManifestRow {
    ManifestRow {
        file,
        class: class.to_string(),
        group,
        split: Split::Train,
        source_package: package.name.to_string(),
        source_version: package.version.to_string(),
        source_file,
        credit: String::new(),
        credit_url: String::new(),
        render_params: String::new(),
        sha256: String::new(),
    }
}

/// Builds the data set described in `data/README.md` into `config.out_dir`.
///
/// # Errors
/// Any missing or unreadable input (named), a label without a photo or credit, a render that
/// stays too dark after all redraws, or two identical output images.
pub fn build(config: &BuildConfig) -> Result<BuildReport, DatasetError> {
    let labels = read_dso_labels(&config.labels_dir.join("dso_labels.csv"))?;
    let bodies = read_solar_bodies(&config.labels_dir.join("solar_bodies.csv"))?;
    let nebulae_dir = config.sources.stellarium.join("nebulae/default");
    let textures_dir = config.sources.stellarium.join("textures");
    let kstars_dir = config.sources.kstars.join("textures");
    let textures: HashMap<String, NebulaTexture> =
        read_textures_json(&nebulae_dir.join("textures.json"))?
            .into_iter()
            .map(|t| (t.image_url.clone(), t))
            .collect();

    // Jobs: usable deep-sky photos, the KStars photos (moon phases de-duplicated), renders.
    let mut jobs = Vec::new();
    let usable: Vec<&DsoLabel> = labels.iter().filter(|l| l.is_usable()).collect();
    for l in &usable {
        let texture = textures.get(&l.file).ok_or_else(|| DatasetError::Label {
            file: l.file.clone(),
            message: "not listed in textures.json (no credit)".into(),
        })?;
        jobs.push(Job::DeepSky { label: (*l).clone(), texture: texture.clone(), gray: false });
    }
    let mut phase_hashes: HashMap<String, String> = HashMap::new();
    for planet in KSTARS_PLANETS {
        jobs.push(Job::KStarsPhoto {
            name: planet.to_string(),
            group: planet.to_string(),
            path: kstars_dir.join(format!("{planet}.png")),
        });
    }
    for i in 0..KSTARS_MOON_PHASES {
        let name = format!("moon{i:02}");
        let path = kstars_dir.join(format!("{name}.png"));
        let hash = pixel_hash(&open_image(&path)?);
        if phase_hashes.insert(hash, name.clone()).is_none() {
            jobs.push(Job::KStarsPhoto { name, group: "moon".into(), path });
        }
    }
    for (b, body) in bodies.iter().enumerate() {
        jobs.extend((0..body.renders).map(|index| Job::Render { body: b, index, gray: false }));
    }
    choose_gray(&mut jobs, config.seed);

    let bar = progress_bar(bodies.len(), "loading maps", config.progress);
    let assets: Vec<BodyAssets> = bodies
        .par_iter()
        .map(|b| {
            let a = load_body(&textures_dir, b);
            bar.inc(1);
            a
        })
        .collect::<Result<_, _>>()?;
    bar.finish();

    let bar = progress_bar(jobs.len(), "images", config.progress);
    let made: Vec<Made> = jobs
        .par_iter()
        .enumerate()
        .map(|(i, job)| {
            let m = make(job, i as u64, &assets, &nebulae_dir, config);
            bar.inc(1);
            m
        })
        .collect::<Result<_, _>>()?;
    bar.finish();

    // No two shipped images may be identical.
    let mut by_hash: HashMap<&str, &str> = HashMap::new();
    for m in &made {
        if let Some(other) = by_hash.insert(&m.row.sha256, &m.row.file) {
            return Err(DatasetError::DuplicateImage {
                a: other.to_string(),
                b: m.row.file.clone(),
            });
        }
    }

    // Groups of deep-sky photos come from their sky fields; the split from the groups.
    let groups = group_deep_sky(&usable);
    let group_of: HashMap<&str, &str> =
        usable.iter().zip(&groups).map(|(l, g)| (l.file.as_str(), g.as_str())).collect();
    let mut rows: Vec<ManifestRow> = made.iter().map(|m| m.row.clone()).collect();
    for r in rows.iter_mut() {
        if let Some(g) =
            r.source_file.strip_prefix("nebulae/default/").and_then(|f| group_of.get(f))
        {
            r.group = (*g).to_string();
        }
    }
    let items: Vec<(&str, &str)> =
        rows.iter().map(|r| (r.class.as_str(), r.group.as_str())).collect();
    let splits = assign_splits(&items, config.seed);
    for (r, s) in rows.iter_mut().zip(splits) {
        r.split = s;
    }

    write_outputs(config, &rows, &made)?;
    let counts = crate::manifest::verify(&config.out_dir)?;
    let mut gray = BTreeMap::new();
    for m in made.iter().filter(|m| m.gray) {
        *gray.entry(m.row.class.clone()).or_insert(0) += 1;
    }
    Ok(BuildReport {
        counts,
        jpeg_bytes: made.iter().map(|m| m.jpeg.len() as u64).sum(),
        gray,
        redrawn_renders: made.iter().map(|m| m.redraws).sum(),
    })
}

/// Marks exactly `round(share · n)` jobs of each kind gray, chosen by a seeded shuffle: galaxies
/// and nebulae with [`DEEP_SKY_GRAY_SHARE`], renders with [`RENDER_GRAY_SHARE`]. (Exact
/// counts rather than a coin per image, so no class is left with an unlucky share.)
fn choose_gray(jobs: &mut [Job], seed: u64) {
    // (key of the kind, its share) for each job that may be turned gray.
    let kind = |job: &Job| match job {
        Job::DeepSky { label, .. } if label.class == DeepSkyClass::Galaxy => {
            Some((0, DEEP_SKY_GRAY_SHARE))
        }
        Job::DeepSky { .. } => Some((1, DEEP_SKY_GRAY_SHARE)),
        Job::Render { .. } => Some((2, RENDER_GRAY_SHARE)),
        Job::KStarsPhoto { .. } => None,
    };
    for (key, share) in
        [(0u64, DEEP_SKY_GRAY_SHARE), (1, DEEP_SKY_GRAY_SHARE), (2, RENDER_GRAY_SHARE)]
    {
        let mut members: Vec<usize> =
            (0..jobs.len()).filter(|&i| kind(&jobs[i]) == Some((key, share))).collect();
        Rng::keyed(seed, &[4, key]).shuffle(&mut members);
        let k = (share * members.len() as f32).round() as usize;
        for &i in &members[..k] {
            if let Job::DeepSky { gray, .. } | Job::Render { gray, .. } = &mut jobs[i] {
                *gray = true;
            }
        }
    }
}

/// Makes one image: decides its edits from its own keyed RNG, encodes it, fills its row.
fn make(
    job: &Job,
    index: u64,
    assets: &[BodyAssets],
    nebulae_dir: &Path,
    config: &BuildConfig,
) -> Result<Made, DatasetError> {
    let finish =
        |mut row: ManifestRow, img: RgbImage, redraws: usize| -> Result<Made, DatasetError> {
            let jpeg = encode_jpeg(&img, config.jpeg_quality)
                .map_err(|e| DatasetError::image(&row.file, e))?;
            row.sha256 = hex(&Sha256::digest(&jpeg));
            Ok(Made { row, jpeg, redraws, gray: mean_chroma(&img) < GRAY_CHROMA })
        };
    match job {
        Job::DeepSky { label, texture, gray } => {
            let mut rng = Rng::keyed(config.seed, &[1, index]);
            let folder = folder_of(label.class);
            let stem = label.file.trim_end_matches(".png").to_lowercase();
            let mut r = row(
                format!("{folder}/{stem}.jpg"),
                folder,
                String::new(),
                &STELLARIUM_DATA,
                format!("nebulae/default/{}", label.file),
            );
            r.credit = texture.credit.clone();
            r.credit_url = texture.info_url.clone().unwrap_or_default();
            let mut img = standard_crop(&open_image(&nebulae_dir.join(&label.file))?);
            let (share, (lo, hi)) =
                if label.class == DeepSkyClass::Galaxy { GALAXY_ZOOM_OUT } else { NEBULA_ZOOM_OUT };
            let mut params = vec!["crop=centre".to_string()];
            if rng.bernoulli(share) && has_plain_sky_border(&img) {
                let scale = rng.uniform(lo, hi);
                img = zoom_out(&img, scale, &mut rng);
                params.push(format!("zoom_out={scale:.3}"));
            }
            if *gray {
                img = to_gray(&img);
                params.push("gray=1".into());
            }
            r.render_params = params.join(";");
            finish(r, img, 0)
        }
        Job::KStarsPhoto { name, group, path } => {
            let mut r = row(
                format!("solar_system/kstars-{name}.jpg"),
                "solar_system",
                group.clone(),
                &KSTARS_DATA,
                format!("textures/{name}.png"),
            );
            r.credit = "KStars team (kstars-data); GPL-2+".into();
            r.credit_url = "https://invent.kde.org/education/kstars".into();
            r.render_params = "crop=centre".into();
            finish(r, standard_crop(&open_image(path)?), 0)
        }
        Job::Render { body, index: n, gray } => {
            let a = &assets[*body];
            let b = &a.body;
            for attempt in 0..MAX_ATTEMPTS {
                let mut rng = Rng::keyed(config.seed, &[3, *body as u64, *n as u64, attempt]);
                let p = RenderParams::sample(b, &mut rng);
                let out = render(a, &p, SIZE as usize, &mut rng);
                if out.lit_fraction < MIN_LIT_FRACTION {
                    continue;
                }
                let mut source = format!("textures/{}", b.texture);
                if let Some(c) = &b.clouds {
                    source.push_str(&format!(" + textures/{c}"));
                }
                if a.rings.is_some() {
                    source.push_str(" + textures/saturn_rings_radial.png");
                }
                let mut r = row(
                    format!("solar_system/render-{}-{n:02}.jpg", b.name),
                    "solar_system",
                    b.name.clone(),
                    &STELLARIUM_DATA,
                    source,
                );
                r.credit = format!("rendered by astroconv's build-dataset from the {}", b.credit);
                r.render_params = format!("{};gray={}", p.describe(), u8::from(*gray));
                let img = if *gray { to_gray(&out.image) } else { out.image };
                return finish(r, img, attempt as usize);
            }
            Err(DatasetError::Label {
                file: b.name.clone(),
                message: format!(
                    "render {n} stayed below {MIN_LIT_FRACTION} lit after {MAX_ATTEMPTS} draws"
                ),
            })
        }
    }
}

/// Replaces the `.jpg` files in the class folders and writes the manifest, credits and licences.
fn write_outputs(
    config: &BuildConfig,
    rows: &[ManifestRow],
    made: &[Made],
) -> Result<(), DatasetError> {
    let out = &config.out_dir;
    clear_class_folders(out)?;
    for m in made {
        let path = out.join(&m.row.file);
        std::fs::write(&path, &m.jpeg).map_err(|e| DatasetError::io(&path, e))?;
    }
    write_manifest(&out.join("manifest.csv"), rows)?;
    let credits = out.join("CREDITS.md");
    std::fs::write(&credits, credits_markdown(rows)).map_err(|e| DatasetError::io(&credits, e))?;
    let licences = out.join("LICENSES.md");
    std::fs::write(&licences, LICENSES).map_err(|e| DatasetError::io(&licences, e))
}

/// `CREDITS.md`: every image with its source and credit, by class.
fn credits_markdown(rows: &[ManifestRow]) -> String {
    let mut s = String::from(
        "# Credits of every image in data/hubble\n\n\
         Generated by `build-dataset` from `manifest.csv`; see `LICENSES.md` for the licences.\n\
         Deep-sky photos: credits from Stellarium's `nebulae/default/textures.json`.\n\
         Renders: made by this project's renderer from the planet maps credited below.\n",
    );
    let mut sorted: Vec<&ManifestRow> = rows.iter().collect();
    sorted.sort_by(|a, b| a.file.cmp(&b.file));
    for class in crate::manifest::CLASSES {
        s.push_str(&format!("\n## {class}\n\n"));
        for r in sorted.iter().filter(|r| r.class == class) {
            let url = if r.credit_url.is_empty() {
                String::new()
            } else {
                format!(" <{}>", r.credit_url)
            };
            s.push_str(&format!(
                "- `{}`: {}{} (from `{}` in {} {})\n",
                r.file, r.credit, url, r.source_file, r.source_package, r.source_version
            ));
        }
    }
    s
}

/// `LICENSES.md`, written verbatim.
const LICENSES: &str = include_str!("licenses.md");
