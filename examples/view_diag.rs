#![allow(clippy::all, clippy::pedantic, clippy::unwrap_used)]
//! Scratch: where the error of a rendered view comes from (not committed).
#![allow(clippy::unwrap_used)]
use nalgebra::Point2;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (cap, view, cam_id) = (std::path::PathBuf::from(&a[1]), &a[2], &a[3]);
    let rig = timeslice::calibration::load_rig(&cap.join("rig.json")).unwrap();
    let cam = rig.cameras.iter().find(|c| &c.id == cam_id).unwrap();
    let r = image::open(view).unwrap().into_rgba8();
    let t = image::open(cap.join("frames").join(format!("{cam_id}.png")))
        .unwrap()
        .into_rgba8();
    let m = image::open(cap.join("truth").join(format!("{cam_id}.mask.png")))
        .unwrap()
        .into_luma8();
    let d: Vec<f32> = bytemuck::pod_collect_to_vec(
        &std::fs::read(cap.join("truth").join(format!("{cam_id}.depth"))).unwrap(),
    );
    let names = [
        "fg",
        "ground-roi",
        "ground-out",
        "wall",
        "sky",
        "props/other",
    ];
    let mut sse = [0f64; 6];
    let mut n = [0usize; 6];
    let w = cam.width as usize;
    for i in 0..d.len() {
        let (x, y) = (i % w, i / w);
        let class = if m.as_raw()[i] > 127 {
            0
        } else if d[i] <= 0.0 || d[i] > 1e4 {
            4
        } else {
            let p = cam.unproject(&Point2::new(x as f64, y as f64), f64::from(d[i]));
            if p.z.abs() < 0.01 {
                if p.x.abs() < 3.0 && p.y.abs() < 3.0 {
                    1
                } else {
                    2
                }
            } else if p.x.hypot(p.y) > 29.0 {
                3
            } else {
                5
            }
        };
        let mut e = 0.0;
        for c in 0..3 {
            let v = f64::from(r.as_raw()[i * 4 + c]) - f64::from(t.as_raw()[i * 4 + c]);
            e += v * v;
        }
        sse[class] += e / 3.0;
        n[class] += 1;
    }
    let total: f64 = sse.iter().sum();
    let npx = d.len() as f64;
    println!(
        "total PSNR {:.2}",
        10.0 * (255.0f64 * 255.0 / (total / npx)).log10()
    );
    for k in 0..6 {
        if n[k] > 0 {
            let without = total - sse[k];
            println!(
                "{:>12}: {:6} px ({:4.1}%) PSNR {:.2}  share of SSE {:4.1}%  PSNR if perfect {:.2}",
                names[k],
                n[k],
                100.0 * n[k] as f64 / npx,
                10.0 * (255.0f64 * 255.0 / (sse[k] / n[k] as f64)).log10(),
                100.0 * sse[k] / total,
                10.0 * (255.0f64 * 255.0 / (without / npx)).log10()
            );
        }
    }
}
