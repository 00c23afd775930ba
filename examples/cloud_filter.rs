#![allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
//! Scratch: drop points near the ground, merge clouds (not committed).
#![allow(clippy::unwrap_used)]
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let zmin: f32 = a[3].parse().unwrap();
    let mut out = timeslice::reconstruct::PointCloud::default();
    for (k, path) in a[4..].iter().enumerate() {
        let c = timeslice::reconstruct::ply::read_ply(std::path::Path::new(path)).unwrap();
        for i in 0..c.len() {
            if k == 0 && c.positions_in_world[i][2] < zmin {
                continue;
            }
            out.positions_in_world.push(c.positions_in_world[i]);
            out.colors.push(c.colors[i]);
            out.radii_m.push(c.radii_m[i]);
        }
    }
    timeslice::reconstruct::ply::write_ply(&out, std::path::Path::new(&a[1])).unwrap();
    println!("{} points ({})", out.len(), a[2]);
}
