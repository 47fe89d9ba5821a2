//! The project's two source tables in `data/labels/`: the deep-sky label table
//! (`dso_labels.csv`, one row per Stellarium deep-sky photo) and the solar-system body table
//! (`solar_bodies.csv`, one row per renderable body). Readers only; no image work.

use std::path::Path;

use crate::csv::Table;
use crate::error::DatasetError;

/// The class a deep-sky photo was labelled with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeepSkyClass {
    /// A galaxy (or a field of galaxies).
    Galaxy,
    /// An emission, reflection, planetary or dark nebula, or a supernova remnant.
    Nebula,
    /// A star cluster: not one of the three classes, never shipped.
    Cluster,
}

/// One row of `dso_labels.csv`.
#[derive(Debug, Clone)]
pub struct DsoLabel {
    /// The PNG in Stellarium's `nebulae/default/` folder, e.g. `m31.png`.
    pub file: String,
    /// The object's designation (`M 31`); may be empty.
    pub designation: String,
    /// Right ascension of the image centre, degrees.
    pub ra_deg: f64,
    /// Declination of the image centre, degrees.
    pub dec_deg: f64,
    /// Radius of the image's field, degrees.
    pub radius_deg: f64,
    /// The label.
    pub class: DeepSkyClass,
    /// Why the row is left out of the data set (`None` = usable).
    pub exclude: Option<String>,
}

impl DsoLabel {
    /// Usable rows are galaxies and nebulae without an exclusion reason.
    pub fn is_usable(&self) -> bool {
        self.exclude.is_none() && self.class != DeepSkyClass::Cluster
    }
}

/// Reads `dso_labels.csv`.
///
/// # Errors
/// [`DatasetError::Csv`] for a missing column, a non-numeric coordinate or an unknown class.
pub fn read_dso_labels(path: &Path) -> Result<Vec<DsoLabel>, DatasetError> {
    let table = Table::read(path)?;
    table.require(&["file", "designation", "ra", "dec", "radius_deg", "cls", "exclude"])?;
    table
        .rows()
        .map(|r| {
            let class = match r.get("cls") {
                "galaxy" => DeepSkyClass::Galaxy,
                "nebula" => DeepSkyClass::Nebula,
                "cluster" => DeepSkyClass::Cluster,
                other => return Err(r.error(format!("unknown class `{other}`"))),
            };
            let exclude = Some(r.get("exclude").trim().to_string()).filter(|s| !s.is_empty());
            Ok(DsoLabel {
                file: r.get("file").to_string(),
                designation: r.get("designation").trim().to_string(),
                ra_deg: r.number("ra")?,
                dec_deg: r.number("dec")?,
                radius_deg: r.number("radius_deg")?,
                class,
                exclude,
            })
        })
        .collect()
}

/// How a body's surface scatters light (which limb-darkening law the renderer uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// Thick atmosphere (gas giants, Venus, Titan): Minnaert law.
    Gas,
    /// Airless or thin-atmosphere rock or ice: Lambert / Lommel-Seeliger mix.
    Rock,
    /// The Earth: Minnaert-like surface plus a cloud layer.
    Earth,
}

/// One row of `solar_bodies.csv`: what the renderer needs to know about a body.
#[derive(Debug, Clone, PartialEq)]
pub struct SolarBody {
    /// Lower-case name, also the manifest group (`jupiter`).
    pub name: String,
    /// Equirectangular map in Stellarium's `textures/` folder.
    pub texture: String,
    /// Scattering behaviour.
    pub kind: SurfaceKind,
    /// Flattening f = 1 − polar radius / equatorial radius.
    pub oblateness: f32,
    /// Largest Sun–body–observer angle seen from Earth (or the cap we allow), degrees.
    pub max_phase_deg: f32,
    /// Largest |sub-observer latitude| to draw, degrees.
    pub max_sub_observer_lat_deg: f32,
    /// Range of the Minnaert exponent k: required for [`SurfaceKind::Gas`]; for
    /// [`SurfaceKind::Earth`] optional (without it, k = 1: Lambert).
    pub minnaert_k: Option<(f32, f32)>,
    /// Inner and outer ring radii in equatorial radii.
    pub rings: Option<(f32, f32)>,
    /// Strength of a thin limb haze (Mars), 0 for none.
    pub haze: f32,
    /// The body keeps one face to us (the Moon): sub-observer longitude is only libration.
    pub lon_fixed: bool,
    /// The night side may show earthshine (the Moon).
    pub earthshine: bool,
    /// A cloud map drawn over the surface (the Earth).
    pub clouds: Option<String>,
    /// How many renders of this body the data set holds.
    pub renders: usize,
    /// Credit and licence of the body's map (from Stellarium's CREDITS file).
    pub credit: String,
}

/// Reads `solar_bodies.csv` (the `extra` column holds `key=value` words separated by spaces).
///
/// # Errors
/// [`DatasetError::Csv`] for a missing column, a bad number or an unknown kind or extra.
pub fn read_solar_bodies(path: &Path) -> Result<Vec<SolarBody>, DatasetError> {
    let table = Table::read(path)?;
    table.require(&[
        "body",
        "texture",
        "kind",
        "oblateness",
        "max_phase_deg",
        "max_sub_observer_lat_deg",
        "minnaert_k",
        "rings_inner_outer_radii",
        "extra",
        "renders",
        "credit",
    ])?;
    table
        .rows()
        .map(|r| {
            let pair = |col: &str| -> Result<Option<(f32, f32)>, DatasetError> {
                let s = r.get(col).trim();
                if s.is_empty() {
                    return Ok(None);
                }
                let v: Vec<f32> =
                    s.split_whitespace().map(str::parse).collect::<Result<_, _>>().map_err(
                        |_| r.error(format!("column `{col}`: `{s}` is not two numbers")),
                    )?;
                match v[..] {
                    [a, b] if a <= b => Ok(Some((a, b))),
                    _ => {
                        Err(r.error(format!("column `{col}`: `{s}` is not two ascending numbers")))
                    }
                }
            };
            let kind = match r.get("kind") {
                "gas" => SurfaceKind::Gas,
                "rock" => SurfaceKind::Rock,
                "earth" => SurfaceKind::Earth,
                other => return Err(r.error(format!("unknown kind `{other}`"))),
            };
            let mut body = SolarBody {
                name: r.get("body").to_string(),
                texture: r.get("texture").to_string(),
                kind,
                oblateness: r.number("oblateness")? as f32,
                max_phase_deg: r.number("max_phase_deg")? as f32,
                max_sub_observer_lat_deg: r.number("max_sub_observer_lat_deg")? as f32,
                minnaert_k: pair("minnaert_k")?,
                rings: pair("rings_inner_outer_radii")?,
                haze: 0.0,
                lon_fixed: false,
                earthshine: false,
                clouds: None,
                renders: r.number("renders")? as usize,
                credit: r.get("credit").to_string(),
            };
            for word in r.get("extra").split_whitespace() {
                match word.split_once('=') {
                    Some(("haze", v)) => {
                        body.haze = v
                            .parse()
                            .map_err(|_| r.error(format!("extra `{word}`: not a number")))?;
                    }
                    Some(("lon_fixed", v)) => body.lon_fixed = v.eq_ignore_ascii_case("true"),
                    Some(("earthshine", v)) => body.earthshine = v.eq_ignore_ascii_case("true"),
                    Some(("clouds", v)) => body.clouds = Some(v.to_string()),
                    _ => return Err(r.error(format!("unknown extra `{word}`"))),
                }
            }
            if body.kind == SurfaceKind::Gas && body.minnaert_k.is_none() {
                return Err(r.error("a gas body needs a minnaert_k range"));
            }
            Ok(body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solar_body_extras_and_rings_are_parsed() {
        let dir = std::env::temp_dir().join(format!("dataset-bodies-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("b.csv");
        std::fs::write(
            &path,
            "body,texture,kind,oblateness,max_phase_deg,max_sub_observer_lat_deg,minnaert_k,rings_inner_outer_radii,extra,renders,credit\n\
             saturn,saturn.png,gas,0.098,6,27,0.85 1.0,1.2363 2.3294,,3,\"a, b\"\n\
             moon,moon_4k.jpg,rock,0.0,125,7,,,lon_fixed=True earthshine=True,2,c\n",
        )
        .expect("write");
        let b = read_solar_bodies(&path).expect("valid table");
        assert_eq!(b[0].rings, Some((1.2363, 2.3294)));
        assert_eq!(b[0].minnaert_k, Some((0.85, 1.0)));
        assert!(b[1].lon_fixed && b[1].earthshine && b[1].renders == 2);
        assert_eq!(b[0].credit, "a, b");
        std::fs::write(&path, "body,texture,kind,oblateness,max_phase_deg,max_sub_observer_lat_deg,minnaert_k,rings_inner_outer_radii,extra,renders,credit\nx,x.png,gas,0,1,1,,,,1,c\n").expect("write");
        assert!(read_solar_bodies(&path).is_err(), "gas body without minnaert_k must be rejected");
        std::fs::remove_dir_all(&dir).ok();
    }
}
