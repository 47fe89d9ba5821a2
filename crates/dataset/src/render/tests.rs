//! Renderer geometry and photometry on small synthetic maps made here: where the sub-observer
//! point lands, which way east is, limb darkening, ring occlusion and the lit part of the disk.

use super::*;
use crate::labels::{SolarBody, SurfaceKind};

fn body(kind: SurfaceKind, oblateness: f32, rings: Option<(f32, f32)>) -> SolarBody {
    SolarBody {
        name: "test".into(),
        texture: "test.png".into(),
        kind,
        oblateness,
        max_phase_deg: 0.0,
        max_sub_observer_lat_deg: 0.0,
        minnaert_k: Some((1.0, 1.0)),
        rings,
        haze: 0.0,
        lon_fixed: false,
        earthshine: false,
        clouds: None,
        renders: 1,
        credit: String::new(),
    }
}

fn assets(map: SurfaceMap, rings: Option<RingProfile>) -> BodyAssets {
    let r = rings.as_ref().map(|r| (r.inner, r.outer));
    BodyAssets { body: body(SurfaceKind::Gas, 0.0, r), map, clouds: None, rings }
}

/// Geometry-only parameters: zero phase, Lambert, no roll, no offset, no sky or noise.
fn params(sub_lon_deg: f64, sub_lat_deg: f64, diameter: f64) -> RenderParams {
    RenderParams {
        sub_lon_deg,
        sub_lat_deg,
        roll_deg: 0.0,
        phase_deg: 0.0,
        sun_angle_deg: 0.0,
        diameter,
        offset: (0.0, 0.0),
        scattering: Scattering::Minnaert { k: 1.0 },
        exposure: 1.0,
        earthshine: 0.0,
        haze: 0.0,
        seeing_px: 0.0,
        sensor_noise: 0.0,
        sky: None,
    }
}

fn px(layer: &[[f32; 4]], side: usize, row: usize, col: usize) -> [f32; 4] {
    layer[row * side + col]
}

/// A map whose red channel is the longitude and green the latitude, both scaled into [0, 1].
fn position_map() -> SurfaceMap {
    SurfaceMap::from_fn(360, 180, |lon, lat| {
        [((lon + 180.0) / 360.0) as f32, ((lat + 90.0) / 180.0) as f32, 0.0]
    })
}

#[test]
fn sub_observer_point_samples_the_right_map_location() {
    for (lon, lat) in [(40.0, 20.0), (-120.0, -35.0), (0.0, 0.0)] {
        let h = View::new(lon, lat, 0.06).hit(0.0, 0.0).expect("the centre ray hits");
        assert!((h.lon.to_degrees() - lon).abs() < 1e-9 && (h.lat.to_degrees() - lat).abs() < 1e-6);
        // The same through the whole pipeline: the centre pixel of an odd frame is the disk centre.
        let side = 41;
        let layer = render_body(&assets(position_map(), None), &params(lon, lat, 0.8), side, 1);
        let c = px(&layer, side, 20, 20);
        let want = [((lon + 180.0) / 360.0) as f32, ((lat + 90.0) / 180.0) as f32];
        assert!(
            (c[0] - want[0]).abs() < 2e-3 && (c[1] - want[1]).abs() < 2e-3,
            "{c:?} vs {want:?}"
        );
    }
}

#[test]
fn longitude_zero_is_the_map_centre_and_east_is_to_the_right() {
    // The map's right half (east longitudes) is green, its left half red.
    let map =
        SurfaceMap::from_fn(
            64,
            32,
            |lon, _| if lon > 0.0 { [0.0, 1.0, 0.0] } else { [1.0, 0.0, 0.0] },
        );
    let side = 41;
    let a = assets(map, None);
    let layer = render_body(&a, &params(0.0, 0.0, 0.8), side, 1);
    let (right, left) = (px(&layer, side, 20, 28), px(&layer, side, 20, 12));
    assert!(right[1] > 0.5 && right[0] < 0.05, "east half must be on the right: {right:?}");
    assert!(left[0] > 0.5 && left[1] < 0.05, "west half must be on the left: {left:?}");
    // A point half a radius right of centre is at longitude asin(½) = 30° E.
    let h = View::new(0.0, 0.0, 0.0).hit(0.5, 0.0).expect("inside the disk");
    assert!((h.lon.to_degrees() - 30.0).abs() < 1e-9);
    // Rolling by 90° turns north to the left, so east points up.
    let mut p = params(0.0, 0.0, 0.8);
    p.roll_deg = 90.0;
    let rolled = render_body(&a, &p, side, 1);
    assert!(px(&rolled, side, 12, 20)[1] > 0.5, "after a 90° roll east is up");
}

#[test]
fn limb_darkening_falls_monotonically_towards_the_limb() {
    let white = SurfaceMap::from_fn(32, 16, |_, _| [1.0, 1.0, 1.0]);
    let side = 61;
    for law in [Scattering::Minnaert { k: 0.9 }, Scattering::LommelSeeligerLambert { w: 0.6 }] {
        let mut p = params(10.0, 5.0, 0.9);
        p.scattering = law;
        let layer = render_body(&assets(white.clone(), None), &p, side, 1);
        let row: Vec<f32> = (30..side)
            .map(|col| px(&layer, side, 30, col))
            .take_while(|c| c[3] == 1.0)
            .map(|c| c[0])
            .collect();
        assert!(row.len() > 20, "the disk is {} pixels wide", row.len());
        assert!(row.windows(2).all(|w| w[1] <= w[0] + 1e-6), "{law:?}: {row:?}");
        assert!(row[row.len() - 1] < 0.9 * row[0], "{law:?} darkens the limb: {row:?}");
    }
    // Pure Lommel-Seeliger at zero phase is flat: μ₀ = μ gives 2μ/(2μ) = 1.
    let ls = Scattering::LommelSeeligerLambert { w: 1.0 };
    assert!(
        (ls.brightness(0.1, 0.1) - 1.0).abs() < 1e-12
            && (ls.brightness(1.0, 1.0) - 1.0).abs() < 1e-12
    );
}

#[test]
fn ring_pixels_behind_the_disk_are_not_drawn() {
    let red = SurfaceMap::from_fn(32, 16, |_, _| [1.0, 0.0, 0.0]);
    let blue_rings = RingProfile::uniform(1.2363, 2.3294, [0.0, 0.0, 1.0, 1.0]);
    let side = 101;
    // Disk radius 20 px; seen from 20° north, a ring point at radius r straight behind the
    // planet appears at y = r·sin 20° above the centre (on the disk for r = 1.46), and the
    // matching point in front at the same distance below.
    let layer =
        render_body(&assets(red, Some(blue_rings)), &params(0.0, 20.0, 40.0 / 101.0), side, 1);
    let behind = px(&layer, side, 40, 50);
    let in_front = px(&layer, side, 60, 50);
    assert!(behind[0] > 0.3 && behind[2] == 0.0, "far ring must be hidden by the disk: {behind:?}");
    assert!(in_front[2] > 0.3 && in_front[0] == 0.0, "near ring must cover the disk: {in_front:?}");
    // Beyond the disk the far ring is visible on the sky.
    let beside = px(&layer, side, 50, 50 + 35);
    assert!(beside[2] > 0.3 && beside[3] == 1.0, "ring beside the disk: {beside:?}");
}

#[test]
fn zero_phase_lights_the_whole_disk_and_a_quarter_phase_half_of_it() {
    let white = SurfaceMap::from_fn(32, 16, |_, _| [1.0, 1.0, 1.0]);
    let side = 41;
    let a = assets(white, None);
    for law in [Scattering::Minnaert { k: 0.95 }, Scattering::LommelSeeligerLambert { w: 0.7 }] {
        let mut p = params(0.0, 0.0, 0.9);
        p.scattering = law;
        let layer = render_body(&a, &p, side, 1);
        let disk: Vec<_> = layer.iter().filter(|c| c[3] == 1.0).collect();
        assert!(disk.len() > 900);
        assert!(disk.iter().all(|c| c[0] > 0.0), "{law:?}: a dark pixel at zero phase");
    }
    // Phase 90° with the light from image right: the right half is lit, the left half dark.
    let mut p = params(0.0, 0.0, 0.9);
    p.phase_deg = 90.0;
    let layer = render_body(&a, &p, side, 1);
    assert!(px(&layer, side, 20, 30)[0] > 0.1 && px(&layer, side, 20, 10)[0] == 0.0);
}

#[test]
fn render_is_deterministic_and_lit_fraction_is_sensible() {
    let a = assets(position_map(), None);
    let mut p = params(30.0, 10.0, 0.4);
    p.sky = Some(SkyParams { stars: 20, level: 0.03, noise: 0.01 });
    p.sensor_noise = 0.005;
    p.seeing_px = 0.8;
    let one = render(&a, &p, 64, &mut Rng::new(9));
    let two = render(&a, &p, 64, &mut Rng::new(9));
    assert_eq!(one.image, two.image);
    assert!(one.lit_fraction > 0.8 && one.lit_fraction <= 1.05, "{}", one.lit_fraction);
}
