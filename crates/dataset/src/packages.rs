//! The Debian packages the data sets are built from: pinned versions and SHA-256, fetching
//! with `apt-get download`, unpacking with `dpkg-deb -x`, and finding the folders we read.
//! `data/hubble` comes from [`STELLARIUM_DATA`] and [`KSTARS_DATA`]; the outside check set
//! `data/outside` ([`crate::outside`]) from [`MATE_SCREENSAVER_COMMON`] and [`MUNIPACK_DOC`].
//!
//! The builder shells out to Debian's own tools instead of reading `ar` + `tar.xz` itself: they
//! are present on every Debian/Ubuntu machine, and a missing tool gives a clear error that points
//! at `--unpacked DIR`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::DatasetError;

/// A Debian package pinned by version and by the SHA-256 of its `.deb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedPackage {
    /// Package name.
    pub name: &'static str,
    /// Exact version (with epoch).
    pub version: &'static str,
    /// The file `apt-get download` writes (the `:` of the epoch becomes `%3a`).
    pub deb_file: &'static str,
    /// SHA-256 of the `.deb`, as listed by `apt-cache show` for Debian bookworm.
    pub sha256: &'static str,
    /// The folder inside the package that the builder reads.
    pub share_dir: &'static str,
}

/// Stellarium's data: the deep-sky photos with `textures.json`, the planet maps and ring profile.
pub const STELLARIUM_DATA: PinnedPackage = PinnedPackage {
    name: "stellarium-data",
    version: "0.22.2-1",
    deb_file: "stellarium-data_0.22.2-1_all.deb",
    sha256: "45aaebf39a814acbd6dcccea058c2f5651bcb5635599da03a215feeb51f4d5a5",
    share_dir: "usr/share/stellarium",
};

/// KStars' data: the real planet photos and moon phases.
pub const KSTARS_DATA: PinnedPackage = PinnedPackage {
    name: "kstars-data",
    version: "5:3.6.2-2",
    deb_file: "kstars-data_5%3a3.6.2-2_all.deb",
    sha256: "f48e4a101ddab20f1cf35879c821f9fa2ca1b459c5ea78eef99555fe22cf35aa",
    share_dir: "usr/share/kstars",
};

/// MATE's screensaver backgrounds: the "cosmos" slideshow of Hubble and NASA photos.
pub const MATE_SCREENSAVER_COMMON: PinnedPackage = PinnedPackage {
    name: "mate-screensaver-common",
    version: "1.26.1-1+deb12u1",
    deb_file: "mate-screensaver-common_1.26.1-1+deb12u1_all.deb",
    sha256: "4882a5d2ade33bad2848d1cfbec0007847b44d182e315886a76a143f80eba81a",
    share_dir: "usr/share/backgrounds/cosmos",
};

/// The manual of munipack (photometry software), illustrated with its author's own CCD frames.
pub const MUNIPACK_DOC: PinnedPackage = PinnedPackage {
    name: "munipack-doc",
    version: "0.6.1-1",
    deb_file: "munipack-doc_0.6.1-1_all.deb",
    sha256: "a249071d3ba6224f7ad2647a2a36992f4bf7abf871c9edfb4dd1fec5162242f0",
    share_dir: "usr/share/doc/munipack",
};

/// Where the unpacked packages' data folders are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// `…/usr/share/stellarium`.
    pub stellarium: PathBuf,
    /// `…/usr/share/kstars`.
    pub kstars: PathBuf,
}

/// Where a builder takes the pinned packages from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageSource {
    /// Already unpacked under this folder, each package's data folder at `DIR/<share_dir>` (a
    /// system root, or several packages unpacked into one folder) or `DIR/<name>/<share_dir>`
    /// (each package in its own folder, as [`PackageSource::Download`] leaves them).
    Unpacked(PathBuf),
    /// Downloaded with `apt-get download` and unpacked into `cache/unpacked/<name>/`, both kept
    /// for the next run (see [`fetch_and_unpack_one`]).
    Download {
        /// The cache folder.
        cache: PathBuf,
    },
}

impl PackageSource {
    /// The data folder (`…/<share_dir>`) of package `p`, downloading and unpacking it first
    /// for [`PackageSource::Download`].
    ///
    /// # Errors
    /// [`DatasetError::MissingInput`] if an unpacked package is not where it should be; as
    /// [`fetch_and_unpack_one`] for a download.
    pub fn share_dir(&self, p: &PinnedPackage) -> Result<PathBuf, DatasetError> {
        match self {
            Self::Unpacked(dir) => locate_share_dir(dir, p),
            Self::Download { cache } => fetch_and_unpack_one(p, cache),
        }
    }

    /// The data folders of `data/hubble`'s two packages, [`STELLARIUM_DATA`] and
    /// [`KSTARS_DATA`].
    ///
    /// # Errors
    /// As [`PackageSource::share_dir`].
    pub fn hubble_sources(&self) -> Result<Sources, DatasetError> {
        Ok(Sources {
            stellarium: self.share_dir(&STELLARIUM_DATA)?,
            kstars: self.share_dir(&KSTARS_DATA)?,
        })
    }
}

/// The command-line options of the builders that choose the [`PackageSource`]
/// (`build-dataset`, `build-outside`).
#[derive(Debug, Clone, clap::Args)]
pub struct PackageArgs {
    /// Use already-unpacked packages: each package's data folder at DIR/usr/share/... (a system
    /// root) or DIR/<package>/usr/share/... (one folder per package, as the cache keeps them).
    #[arg(long, value_name = "DIR")]
    pub unpacked: Option<PathBuf>,
    /// Where to download and unpack the .deb files (when --unpacked is not given).
    #[arg(long, value_name = "DIR", default_value = "target/dataset-cache")]
    pub cache: PathBuf,
}

impl PackageArgs {
    /// `--unpacked DIR` if given, else a download into `--cache`.
    pub fn source(&self) -> PackageSource {
        match &self.unpacked {
            Some(dir) => PackageSource::Unpacked(dir.clone()),
            None => PackageSource::Download { cache: self.cache.clone() },
        }
    }
}

/// One package's data folder under `dir`: `dir/<share_dir>` or `dir/<name>/<share_dir>` (the
/// two layouts of [`PackageSource::Unpacked`]).
///
/// # Errors
/// [`DatasetError::MissingInput`] if it is in neither place.
pub fn locate_share_dir(dir: &Path, p: &PinnedPackage) -> Result<PathBuf, DatasetError> {
    [dir.join(p.share_dir), dir.join(p.name).join(p.share_dir)]
        .into_iter()
        .find(|c| c.is_dir())
        .ok_or_else(|| DatasetError::MissingInput {
            path: dir.join(p.share_dir),
            what: format!(
                "the unpacked {} {} (also looked in {}/{})",
                p.name, p.version, p.name, p.share_dir
            ),
        })
}

/// SHA-256 of a file, as lower-case hex.
///
/// # Errors
/// [`DatasetError::Io`] if the file cannot be read.
pub fn sha256_file(path: &Path) -> Result<String, DatasetError> {
    let mut file = std::fs::File::open(path).map_err(|e| DatasetError::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| DatasetError::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `cmd`; a missing program becomes [`DatasetError::MissingTool`], a non-zero exit
/// [`DatasetError::CommandFailed`] with the end of its stderr.
fn run(mut cmd: Command, tool: &'static str, purpose: &'static str) -> Result<(), DatasetError> {
    let shown = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => DatasetError::MissingTool { tool, purpose },
        _ => DatasetError::CommandFailed {
            command: shown.clone(),
            status: e.to_string(),
            stderr: String::new(),
        },
    })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(5)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" | ");
    Err(DatasetError::CommandFailed {
        command: shown,
        status: out.status.to_string(),
        stderr: tail,
    })
}

/// Makes sure `cache/<deb_file>` is the pinned package (downloading it with `apt-get download`
/// if it is missing) and returns its path.
///
/// # Errors
/// [`DatasetError::MissingTool`] without `apt-get`, [`DatasetError::CommandFailed`] if the
/// download fails (e.g. no bookworm source in apt's lists), [`DatasetError::ChecksumMismatch`]
/// if the file is not the pinned one.
pub fn fetch(p: &PinnedPackage, cache: &Path) -> Result<PathBuf, DatasetError> {
    std::fs::create_dir_all(cache).map_err(|e| DatasetError::io(cache, e))?;
    let deb = cache.join(p.deb_file);
    if !deb.is_file() {
        let mut cmd = Command::new("apt-get");
        cmd.arg("download").arg(format!("{}={}", p.name, p.version)).current_dir(cache);
        run(cmd, "apt-get", "downloading the pinned Debian packages")?;
    }
    let got = sha256_file(&deb)?;
    if got != p.sha256 {
        return Err(DatasetError::ChecksumMismatch { path: deb, expected: p.sha256, got });
    }
    Ok(deb)
}

/// Fetches (see [`fetch`]) and unpacks one package into `cache/unpacked/<name>/`, skipping the
/// unpacking when a marker from an earlier run says it is done, and returns its data folder
/// (`…/<name>/<share_dir>`).
///
/// # Errors
/// As [`fetch`], plus [`DatasetError::MissingTool`] without `dpkg-deb` and
/// [`DatasetError::MissingInput`] if the package lacks its data folder.
pub fn fetch_and_unpack_one(p: &PinnedPackage, cache: &Path) -> Result<PathBuf, DatasetError> {
    let unpacked = cache.join("unpacked");
    let deb = fetch(p, cache)?;
    let dest = unpacked.join(p.name);
    let marker = dest.join(format!(".unpacked-{}", p.sha256));
    if !marker.is_file() {
        std::fs::create_dir_all(&dest).map_err(|e| DatasetError::io(&dest, e))?;
        let mut cmd = Command::new("dpkg-deb");
        cmd.arg("-x").arg(&deb).arg(&dest);
        run(cmd, "dpkg-deb", "unpacking the downloaded .deb files")?;
        std::fs::write(&marker, p.version).map_err(|e| DatasetError::io(&marker, e))?;
    }
    locate_share_dir(&unpacked, p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_a_known_string() {
        let dir = std::env::temp_dir().join(format!("dataset-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("abc");
        std::fs::write(&f, b"abc").expect("write");
        // FIPS 180-2, appendix B.1.
        assert_eq!(
            sha256_file(&f).expect("readable"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn locate_accepts_both_layouts_and_names_what_is_missing() {
        let dir = std::env::temp_dir().join(format!("dataset-locate-{}", std::process::id()));
        let one = dir.join("one");
        std::fs::create_dir_all(one.join("usr/share/stellarium")).expect("mkdir");
        std::fs::create_dir_all(one.join("kstars-data/usr/share/kstars")).expect("mkdir");
        let s = PackageSource::Unpacked(one).hubble_sources().expect("both present");
        assert!(
            s.stellarium.ends_with("usr/share/stellarium")
                && s.kstars.ends_with("kstars-data/usr/share/kstars")
        );
        let e = PackageSource::Unpacked(dir.clone()).hubble_sources().expect_err("nothing there");
        assert!(e.to_string().contains("stellarium-data"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
