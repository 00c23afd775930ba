#![allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
//! Scratch: a cloud from the true depth maps (not committed).
#![allow(clippy::unwrap_used)]
use nalgebra::Point2;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let cap = std::path::PathBuf::from(&a[1]);
    let skip = &a[3];
    let rig = timeslice::calibration::load_rig(&cap.join("rig.json")).unwrap();
    let mut cloud = timeslice::reconstruct::PointCloud::default();
    for cam in &rig.cameras {
        if &cam.id == skip {
            continue;
        }
        let d: Vec<f32> = bytemuck::pod_collect_to_vec(
            &std::fs::read(cap.join("truth").join(format!("{}.depth", cam.id))).unwrap(),
        );
        let img = image::open(cap.join("frames").join(format!("{}.png", cam.id)))
            .unwrap()
            .into_rgba8();
        let w = cam.width as usize;
        for (i, &z) in d.iter().enumerate() {
            if z <= 0.0 || z > 25.0 {
                continue;
            }
            let p = cam.unproject(&Point2::new((i % w) as f64, (i / w) as f64), f64::from(z));
            if p.x.abs() > 12.0 || p.y.abs() > 12.0 {
                continue;
            }
            cloud
                .positions_in_world
                .push([p.x as f32, p.y as f32, p.z as f32]);
            let c = img.as_raw();
            cloud.colors.push([c[i * 4], c[i * 4 + 1], c[i * 4 + 2]]);
            cloud.radii_m.push((f64::from(z) / cam.fx * 0.8) as f32);
        }
    }
    timeslice::reconstruct::ply::write_ply(&cloud, std::path::Path::new(&a[2])).unwrap();
    println!("{} points", cloud.len());
}
