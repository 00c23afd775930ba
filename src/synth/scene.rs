//! The procedural scene: a textured ground disk (z = 0), stands around it,
//! static props, a bouncing ball and two articulated, textured, walking
//! person-sized figures; and the 8-camera ring that films it.
//!
//! Everything is a pure function of time (seconds) and a seed, so captures
//! are reproducible bit for bit.

use nalgebra::Point3;

use crate::calibration::{Camera, Rig};
use crate::gpu::gpu_types::PrimitiveGpu;

/// Primitive kinds (the `kind.x` of [`PrimitiveGpu`]); twin of the WGSL consts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum PrimitiveKind {
    /// Ground disk at z = 0, radius in `a.w`.
    Ground = 0,
    /// Sphere: centre `a.xyz`, radius `a.w`.
    Sphere = 1,
    /// Capsule from `a.xyz` to `b.xyz`, radius `a.w`.
    Capsule = 2,
    /// Axis-aligned box from `a.xyz` to `b.xyz`.
    Box = 3,
    /// Inside of a vertical cylinder around z: radius `a.w`, height `b.w`.
    Stands = 4,
    /// Bounding sphere (`a.xyz`, `a.w`) of the next `kind.y` primitives;
    /// rays that miss it skip them.
    Group = 5,
}

/// Texture description: two colours, a frequency (1/m), and whether the
/// texture moves with the primitive (anchored at `a.xyz`).
#[derive(Debug, Clone, Copy)]
struct Material {
    color0: [f32; 3],
    color1: [f32; 3],
    frequency_per_m: f32,
    anchored: bool,
}

impl Material {
    const fn new(color0: [f32; 3], color1: [f32; 3], frequency_per_m: f32) -> Self {
        Self {
            color0,
            color1,
            frequency_per_m,
            anchored: true,
        }
    }
}

fn primitive(kind: PrimitiveKind, a: [f32; 4], b: [f32; 4], m: Material) -> PrimitiveGpu {
    PrimitiveGpu {
        kind: [kind as u32, 0, 0, 0],
        a,
        b,
        color0: [m.color0[0], m.color0[1], m.color0[2], m.frequency_per_m],
        color1: [
            m.color1[0],
            m.color1[1],
            m.color1[2],
            if m.anchored { 1.0 } else { 0.0 },
        ],
    }
}

fn capsule(p0: [f32; 3], p1: [f32; 3], radius_m: f32, m: Material) -> PrimitiveGpu {
    primitive(
        PrimitiveKind::Capsule,
        [p0[0], p0[1], p0[2], radius_m],
        [p1[0], p1[1], p1[2], 0.0],
        m,
    )
}

fn sphere(centre: [f32; 3], radius_m: f32, m: Material) -> PrimitiveGpu {
    primitive(
        PrimitiveKind::Sphere,
        [centre[0], centre[1], centre[2], radius_m],
        [0.0; 4],
        m,
    )
}

fn aabb(min: [f32; 3], max: [f32; 3], m: Material) -> PrimitiveGpu {
    primitive(
        PrimitiveKind::Box,
        [min[0], min[1], min[2], 0.0],
        [max[0], max[1], max[2], 0.0],
        m,
    )
}

/// A person-sized walking figure.
struct Figure {
    shirt: Material,
    legs: Material,
    skin: Material,
}

const GRASS: Material = Material {
    color0: [0.16, 0.42, 0.12],
    color1: [0.55, 0.75, 0.30],
    frequency_per_m: 7.0,
    anchored: false,
};
const CROWD: Material = Material {
    color0: [0.15, 0.12, 0.25],
    color1: [0.90, 0.80, 0.55],
    frequency_per_m: 2.5,
    anchored: false,
};

/// Height of a figure's hip joint above the ground, metres.
const HIP_HEIGHT_M: f32 = 0.95;
/// Radius of a figure's bounding sphere around (base, 0.95 m), metres.
const FIGURE_BOUND_M: f32 = 1.25;
/// Thigh and shin length, metres.
const LEG_SEGMENT_M: f32 = 0.46;

impl Figure {
    /// Appends the figure's primitives at `base` (ground point), facing
    /// `heading_rad`, at gait phase `phase_rad`.
    fn push(&self, out: &mut Vec<PrimitiveGpu>, base: [f32; 2], heading_rad: f32, phase_rad: f32) {
        let f = [heading_rad.cos(), heading_rad.sin(), 0.0];
        let l = [-heading_rad.sin(), heading_rad.cos(), 0.0];
        let at = |p: [f32; 3], fwd: f32, lat: f32, up: f32| {
            [
                p[0] + f[0] * fwd + l[0] * lat,
                p[1] + f[1] * fwd + l[1] * lat,
                p[2] + up,
            ]
        };
        let group_index = out.len();
        out.push(primitive(
            PrimitiveKind::Group,
            [base[0], base[1], 0.95, FIGURE_BOUND_M],
            [0.0; 4],
            self.skin,
        ));
        let bob = 0.03 * (2.0 * phase_rad).cos();
        let hip = [base[0], base[1], HIP_HEIGHT_M + bob];
        let neck = at(hip, 0.03, 0.0, 0.52);
        out.push(capsule(hip, neck, 0.16, self.shirt));
        out.push(sphere(at(neck, 0.0, 0.0, 0.23), 0.12, self.skin));
        for side in [-1.0_f32, 1.0] {
            let swing = 0.45
                * (phase_rad
                    + if side > 0.0 {
                        0.0
                    } else {
                        std::f32::consts::PI
                    })
                .sin();
            let knee_bend = 0.35 * (0.5 - 0.5 * (phase_rad + side).cos());
            let hip_joint = at(hip, 0.0, side * 0.1, -0.02);
            let knee = at(
                hip_joint,
                LEG_SEGMENT_M * swing.sin(),
                0.0,
                -LEG_SEGMENT_M * swing.cos(),
            );
            let shin = swing - knee_bend;
            let ankle = at(
                knee,
                LEG_SEGMENT_M * shin.sin(),
                0.0,
                -LEG_SEGMENT_M * shin.cos(),
            );
            out.push(capsule(hip_joint, knee, 0.08, self.legs));
            out.push(capsule(knee, ankle, 0.065, self.legs));
            let arm_swing = -0.8 * swing;
            let shoulder = at(neck, 0.0, side * 0.22, -0.06);
            let elbow = at(
                shoulder,
                0.3 * arm_swing.sin(),
                side * 0.03,
                -0.3 * arm_swing.cos(),
            );
            let forearm = arm_swing + 0.5;
            let wrist = at(elbow, 0.27 * forearm.sin(), 0.0, -0.27 * forearm.cos());
            out.push(capsule(shoulder, elbow, 0.055, self.shirt));
            out.push(capsule(elbow, wrist, 0.045, self.skin));
        }
        out[group_index].kind[1] = (out.len() - group_index - 1) as u32;
    }
}

/// The animated scene. Variants (`seed`):
/// - 0, `demo`: a walker, a jogger on a circle, a bouncing ball;
/// - 1, `crossing`: two figures passing close by each other at 0.3 s (each
///   occludes the other in several cameras), one in a plain, textureless
///   kit, beside a plain grey prop, and the ball in flight.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scene {
    /// Scene variant (0 = demo, 1 = crossing).
    pub seed: u32,
}

/// Names of the scene variants, by seed.
pub const SCENE_NAMES: [&str; 2] = ["demo", "crossing"];

impl Scene {
    /// The variant called `name` (see [`SCENE_NAMES`]).
    #[must_use]
    pub fn named(name: &str) -> Option<Self> {
        SCENE_NAMES
            .iter()
            .position(|n| *n == name)
            .map(|seed| Self { seed: seed as u32 })
    }

    /// The variant's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        SCENE_NAMES
            .get(self.seed as usize)
            .copied()
            .unwrap_or("demo")
    }

    /// The scene's primitives at `time_s` seconds: the static venue, then
    /// the moving foreground.
    #[must_use]
    pub fn primitives_at(&self, time_s: f64) -> Vec<PrimitiveGpu> {
        let mut out = self.static_primitives();
        out.extend(self.dynamic_primitives_at(time_s));
        out
    }

    /// The static venue (what a clean plate shows): ground, stands, props.
    #[must_use]
    pub fn static_primitives(&self) -> Vec<PrimitiveGpu> {
        let mut out = vec![
            primitive(
                PrimitiveKind::Ground,
                [0.0, 0.0, 0.0, 40.0],
                [0.0; 4],
                GRASS,
            ),
            primitive(
                PrimitiveKind::Stands,
                [0.0, 0.0, 0.0, 30.0],
                [0.0, 0.0, 0.0, 14.0],
                CROWD,
            ),
            aabb(
                [1.4, -1.6, 0.0],
                [1.9, -1.1, 0.5],
                Material::new([0.8, 0.75, 0.2], [0.25, 0.2, 0.1], 9.0),
            ),
            aabb(
                [-2.2, 0.8, 0.0],
                [-1.8, 1.6, 0.6],
                Material::new([0.9, 0.9, 0.9], [0.2, 0.3, 0.6], 8.0),
            ),
        ];
        if self.seed == 1 {
            // A plain grey prop: a textureless region.
            out.push(aabb(
                [-1.2, -2.2, 0.0],
                [-0.4, -1.9, 0.8],
                Material::new([0.6, 0.6, 0.62], [0.6, 0.6, 0.62], 1.0),
            ));
        }
        out
    }

    /// The moving foreground at `time_s`: figures and ball.
    #[must_use]
    pub fn dynamic_primitives_at(&self, time_s: f64) -> Vec<PrimitiveGpu> {
        let t = time_s as f32;
        let mut out = Vec::new();
        let ball = Material::new([0.95, 0.95, 0.9], [0.1, 0.1, 0.1], 14.0);
        let red = Figure {
            shirt: Material::new([0.75, 0.08, 0.08], [0.98, 0.75, 0.25], 9.0),
            legs: Material::new([0.08, 0.08, 0.12], [0.45, 0.45, 0.55], 11.0),
            skin: Material::new([0.85, 0.62, 0.48], [0.55, 0.35, 0.25], 12.0),
        };
        let mut blue = Figure {
            shirt: Material::new([0.1, 0.2, 0.8], [0.85, 0.95, 1.0], 9.0),
            legs: Material::new([0.9, 0.9, 0.85], [0.2, 0.2, 0.2], 11.0),
            skin: Material::new([0.55, 0.38, 0.28], [0.3, 0.2, 0.15], 12.0),
        };
        if self.seed == 1 {
            // Figures pass each other around t = 0.3 s, 0.55 m apart
            // sideways; the blue kit is plain.
            blue.shirt = Material::new([0.12, 0.22, 0.75], [0.12, 0.22, 0.75], 1.0);
            let dt = t - 0.3;
            red.push(&mut out, [-0.25 + 1.2 * dt, -0.25], 0.0, 6.0 * t);
            blue.push(
                &mut out,
                [0.25 - 1.1 * dt, 0.3],
                std::f32::consts::PI,
                7.0 * t + 1.0,
            );
            // The ball in flight over their heads, towards +y.
            let ball_z = 2.0 - 4.9 * dt * dt;
            out.push(sphere([0.9, -0.8 + 3.0 * dt, ball_z], 0.12, ball));
            return out;
        }
        // A ball bouncing in place.
        let ball_z = 0.12 + 0.9 * (2.2 * t + 0.5).sin().abs();
        out.push(sphere([0.8, 1.5, ball_z], 0.12, ball));
        // Figure 1 walks along +x; figure 2 jogs a circle.
        red.push(&mut out, [-1.6 + 1.1 * t, -0.35], 0.0, 6.0 * t);
        let angle = 0.9 * t + 0.6;
        blue.push(
            &mut out,
            [0.3 + 1.3 * angle.cos(), 0.4 + 1.3 * angle.sin()],
            angle + std::f32::consts::FRAC_PI_2,
            7.0 * t + 1.0,
        );
        out
    }

    /// Volume of interest of the scene: the play area above the ground.
    #[must_use]
    pub fn roi() -> (Point3<f64>, Point3<f64>) {
        (Point3::new(-3.0, -3.0, -0.05), Point3::new(3.0, 3.0, 2.2))
    }
}

/// Deterministic jitter in [-1, 1] from an index and a channel.
fn jitter(index: u32, channel: u32) -> f64 {
    let mut h = index.wrapping_mul(0x9E37_79B9) ^ channel.wrapping_mul(0x85EB_CA6B);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    f64::from(h) / f64::from(u32::MAX) * 2.0 - 1.0
}

/// The demo camera ring: `count` cameras at slightly irregular angles,
/// radii, heights and focal lengths, all looking near the centre.
#[must_use]
pub fn demo_rig(count: u32, width: u32, height: u32) -> Rig {
    const RING_RADIUS_M: f64 = 8.0;
    const RING_HEIGHT_M: f64 = 2.8;
    // 560 px focal at 640 px width (about 60 degrees horizontal), scaled.
    let base_focal_px = 560.0 * f64::from(width) / 640.0;
    let cameras = (0..count)
        .filter_map(|i| {
            let angle_rad = f64::from(i) * std::f64::consts::TAU / f64::from(count)
                + 4f64.to_radians() * jitter(i, 1);
            let radius_m = RING_RADIUS_M + 0.3 * jitter(i, 2);
            let eye = Point3::new(
                radius_m * angle_rad.cos(),
                radius_m * angle_rad.sin(),
                RING_HEIGHT_M + 0.2 * jitter(i, 3),
            );
            let target = Point3::new(
                0.15 * jitter(i, 4),
                0.15 * jitter(i, 5),
                0.8 + 0.1 * jitter(i, 6),
            );
            let focal_px = base_focal_px * (1.0 + 0.04 * jitter(i, 7));
            Camera::look_at(&format!("cam{i}"), width, height, focal_px, &eye, &target)
        })
        .collect();
    Rig {
        name: format!("synthetic-ring-{count}"),
        cameras,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_is_deterministic_and_sees_the_centre() {
        let rig = demo_rig(8, 640, 360);
        assert_eq!(rig, demo_rig(8, 640, 360));
        assert_eq!(rig.cameras.len(), 8);
        for camera in &rig.cameras {
            let p = camera.project(&Point3::new(0.0, 0.0, 1.0)).unwrap();
            assert!(p.x > 0.0 && p.x < 640.0 && p.y > 0.0 && p.y < 360.0);
        }
        rig.validate(std::path::Path::new("<demo>")).unwrap();
    }

    #[test]
    fn scene_moves_over_time() {
        let scene = Scene::default();
        assert_ne!(scene.primitives_at(0.0), scene.primitives_at(0.5));
        assert_eq!(scene.primitives_at(0.25), scene.primitives_at(0.25));
    }
}
