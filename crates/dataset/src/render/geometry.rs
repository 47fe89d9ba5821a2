//! Where a pixel lands on the body: an oblate spheroid seen orthographically.
//!
//! Body frame: z along the north pole, x towards longitude 0 on the equator, y towards 90° E.
//! A surface point at planetocentric longitude λ and latitude φ on the unit sphere is
//! `(cos φ cos λ, cos φ sin λ, sin φ)`; the spheroid is `x² + y² + z²/b² = 1` with polar radius
//! `b = 1 − f` (f = oblateness), lengths in equatorial radii.
//!
//! The camera looks from the direction `e_z = (cos φ₀ cos λ₀, cos φ₀ sin λ₀, sin φ₀)` (the
//! sub-observer point λ₀, φ₀). Image "up" `e_y` is the pole projected onto the image plane and
//! image "right" is `e_x = e_y × e_z`, which at the sub-observer point is the local east
//! direction: east appears to the right, as on a globe seen from outside with north up.
//! A pixel at image-plane position (x, y) (equatorial radii, y up, before roll) is the ray
//! `P(t) = x·e_x + y·e_y + t·e_z`; larger t is nearer the observer.

/// A 3-vector in the body frame.
pub type Vec3 = [f64; 3];

/// Dot product.
pub fn dot(a: Vec3, b: Vec3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: Vec3, b: Vec3) -> Vec3 {
    [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
}

fn normalize(a: Vec3) -> Vec3 {
    let n = dot(a, a).sqrt();
    [a[0] / n, a[1] / n, a[2] / n]
}

/// The first point a ray meets on the spheroid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The point, body frame.
    pub point: Vec3,
    /// Outward unit normal there.
    pub normal: Vec3,
    /// Ray parameter (distance towards the observer from the image plane through the centre).
    pub t: f64,
    /// Planetocentric longitude, radians in (−π, π].
    pub lon: f64,
    /// Planetocentric latitude, radians.
    pub lat: f64,
}

/// The viewing geometry of one render.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Image right, body frame.
    pub e_x: Vec3,
    /// Image up, body frame.
    pub e_y: Vec3,
    /// Towards the observer, body frame.
    pub e_z: Vec3,
    /// Polar radius b = 1 − f.
    pub polar: f64,
}

impl View {
    /// The view from sub-observer longitude and latitude (degrees) of a body with flattening
    /// `oblateness`.
    pub fn new(sub_lon_deg: f64, sub_lat_deg: f64, oblateness: f64) -> Self {
        let (lon, lat) = (sub_lon_deg.to_radians(), sub_lat_deg.to_radians());
        let e_z = [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()];
        let e_y = [-lat.sin() * lon.cos(), -lat.sin() * lon.sin(), lat.cos()];
        let e_x = cross(e_y, e_z);
        Self { e_x, e_y, e_z, polar: 1.0 - oblateness }
    }

    /// The body-frame point of image position (x, y) at ray parameter t.
    pub fn ray_point(&self, x: f64, y: f64, t: f64) -> Vec3 {
        [0, 1, 2].map(|k| x * self.e_x[k] + y * self.e_y[k] + t * self.e_z[k])
    }

    /// The body-frame direction of an image-plane direction at angle `theta` from image right
    /// (counter-clockwise), tilted by `alpha` away from the observer direction: the Sun seen at
    /// phase angle `alpha` with its light coming from image position angle `theta`.
    pub fn direction(&self, alpha: f64, theta: f64) -> Vec3 {
        let (sa, ca) = alpha.sin_cos();
        let (st, ct) = theta.sin_cos();
        [0, 1, 2].map(|k| ca * self.e_z[k] + sa * (ct * self.e_x[k] + st * self.e_y[k]))
    }

    /// Nearest intersection of the ray from `origin` along unit `dir` with the spheroid, as the
    /// ray parameter s ≥ `min_s` (`origin + s·dir`), if any.
    ///
    /// Solves `A s² + B s + C = 0` in coordinates where the spheroid is the unit sphere
    /// (z divided by b).
    pub fn intersect(&self, origin: Vec3, dir: Vec3, min_s: f64) -> Option<f64> {
        let b2 = self.polar * self.polar;
        let a = dir[0] * dir[0] + dir[1] * dir[1] + dir[2] * dir[2] / b2;
        let b = 2.0 * (origin[0] * dir[0] + origin[1] * dir[1] + origin[2] * dir[2] / b2);
        let c = origin[0] * origin[0] + origin[1] * origin[1] + origin[2] * origin[2] / b2 - 1.0;
        let disc = b * b - 4.0 * a * c;
        if disc < 0.0 {
            return None;
        }
        let root = disc.sqrt();
        let (s0, s1) = ((-b - root) / (2.0 * a), (-b + root) / (2.0 * a));
        [s0, s1].into_iter().find(|&s| s >= min_s)
    }

    /// The visible surface point at image position (x, y), if the ray meets the body.
    pub fn hit(&self, x: f64, y: f64) -> Option<Hit> {
        // Start the ray far in front (t = 4 > any radius) and march away from the observer.
        let start = self.ray_point(x, y, 4.0);
        let away = self.e_z.map(|c| -c);
        let s = self.intersect(start, away, 0.0)?;
        let t = 4.0 - s;
        let point = self.ray_point(x, y, t);
        let b2 = self.polar * self.polar;
        let normal = normalize([point[0], point[1], point[2] / b2]);
        let lon = point[1].atan2(point[0]);
        let lat = point[2].atan2(point[0].hypot(point[1]));
        Some(Hit { point, normal, t, lon, lat })
    }

    /// Where the ray of image position (x, y) crosses the equatorial (ring) plane z = 0: the
    /// radius there and the ray parameter t. `None` when the ring plane is seen exactly edge-on.
    pub fn ring_plane(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if self.e_z[2].abs() < 1e-9 {
            return None;
        }
        // z(t) = x·e_x.z + y·e_y.z + t·e_z.z = 0
        let t = -(x * self.e_x[2] + y * self.e_y[2]) / self.e_z[2];
        let p = self.ray_point(x, y, t);
        Some((p[0].hypot(p[1]), t))
    }
}
