//! Image quality of rendered views against real images (design.md section
//! 7, novel views): PSNR on RGB and SSIM on luma (Wang et al. 2004: 11x11
//! Gaussian window, sigma 1.5, K1 = 0.01, K2 = 0.03), over the whole image
//! or inside a mask.

/// Scores of one rendered view.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ViewScores {
    /// PSNR over RGB, dB (infinite for identical images).
    pub psnr_db: f64,
    /// Mean SSIM on luma.
    pub ssim: f64,
    /// Pixels scored.
    pub pixels: usize,
}

/// Errors of image comparison.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// The two images (or the mask) differ in size.
    #[error("{what} is {got_width}x{got_height}, expected {width}x{height}")]
    Size {
        /// Which input.
        what: String,
        /// Expected width.
        width: u32,
        /// Expected height.
        height: u32,
        /// Its width.
        got_width: u32,
        /// Its height.
        got_height: u32,
    },
    /// The mask selects no pixel.
    #[error("the mask selects no pixel")]
    EmptyMask,
}

fn luma(rgba: &[u8]) -> Vec<f64> {
    rgba.chunks_exact(4)
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect()
}

/// Separable Gaussian blur (11 taps, sigma 1.5), edges clamped.
fn blur(image: &[f64], width: usize, height: usize) -> Vec<f64> {
    const RADIUS: i64 = 5;
    const SIGMA: f64 = 1.5;
    let kernel: Vec<f64> = (-RADIUS..=RADIUS)
        .map(|i| (-((i * i) as f64) / (2.0 * SIGMA * SIGMA)).exp())
        .collect();
    let total: f64 = kernel.iter().sum();
    let kernel: Vec<f64> = kernel.iter().map(|k| k / total).collect();
    // One 1-D pass along x (`horizontal`) or y.
    let pass = |source: &[f64], horizontal: bool| -> Vec<f64> {
        let mut out = vec![0.0; source.len()];
        for y in 0..height {
            for x in 0..width {
                out[y * width + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, w)| {
                        let offset = k as i64 - RADIUS;
                        let at = if horizontal {
                            y * width + (x as i64 + offset).clamp(0, width as i64 - 1) as usize
                        } else {
                            (y as i64 + offset).clamp(0, height as i64 - 1) as usize * width + x
                        };
                        w * source[at]
                    })
                    .sum();
            }
        }
        out
    };
    pass(&pass(image, true), false)
}

/// Per-pixel SSIM map of two luma images.
fn ssim_map(a: &[f64], b: &[f64], width: usize, height: usize) -> Vec<f64> {
    const C1: f64 = (0.01 * 255.0) * (0.01 * 255.0);
    const C2: f64 = (0.03 * 255.0) * (0.03 * 255.0);
    let product = |f: &dyn Fn(f64, f64) -> f64| -> Vec<f64> {
        a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect()
    };
    let mu_a = blur(a, width, height);
    let mu_b = blur(b, width, height);
    let aa = blur(&product(&|x, _| x * x), width, height);
    let bb = blur(&product(&|_, y| y * y), width, height);
    let ab = blur(&product(&|x, y| x * y), width, height);
    (0..a.len())
        .map(|i| {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let var_a = aa[i] - ma * ma;
            let var_b = bb[i] - mb * mb;
            let cov = ab[i] - ma * mb;
            ((2.0 * ma * mb + C1) * (2.0 * cov + C2))
                / ((ma * ma + mb * mb + C1) * (var_a + var_b + C2))
        })
        .collect()
}

/// Compares `rendered` with `reference` (RGBA8, `width` x `height`), over
/// the pixels where `mask` is non-zero (all pixels without a mask).
///
/// # Errors
/// Size mismatches; a mask that selects nothing.
pub fn compare(
    rendered: &[u8],
    reference: &[u8],
    width: u32,
    height: u32,
    mask: Option<&[u8]>,
) -> Result<ViewScores, QualityError> {
    let pixels = (width * height) as usize;
    for (what, len, per_pixel) in [
        ("the rendered view", rendered.len(), 4),
        ("the reference image", reference.len(), 4),
        ("the mask", mask.map_or(pixels, <[u8]>::len), 1),
    ] {
        if len != pixels * per_pixel {
            return Err(QualityError::Size {
                what: what.into(),
                width,
                height,
                got_width: (len / per_pixel) as u32 / height.max(1),
                got_height: height,
            });
        }
    }
    let selected = |i: usize| mask.is_none_or(|m| m[i] != 0);
    let (mut squared, mut count) = (0.0f64, 0usize);
    for i in (0..pixels).filter(|&i| selected(i)) {
        for c in 0..3 {
            let d = f64::from(rendered[i * 4 + c]) - f64::from(reference[i * 4 + c]);
            squared += d * d;
        }
        count += 1;
    }
    if count == 0 {
        return Err(QualityError::EmptyMask);
    }
    let mse = squared / (3 * count) as f64;
    let psnr_db = if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0 * 255.0 / mse).log10()
    };
    let map = ssim_map(
        &luma(rendered),
        &luma(reference),
        width as usize,
        height as usize,
    );
    let ssim = (0..pixels)
        .filter(|&i| selected(i))
        .map(|i| map[i])
        .sum::<f64>()
        / count as f64;
    Ok(ViewScores {
        psnr_db,
        ssim,
        pixels: count,
    })
}

/// Per-pixel absolute RGB error, scaled by `gain`, as an RGBA8 heat image
/// (for looking at where a view goes wrong).
#[must_use]
pub fn error_image(rendered: &[u8], reference: &[u8], gain: f32) -> Vec<u8> {
    rendered
        .chunks_exact(4)
        .zip(reference.chunks_exact(4))
        .flat_map(|(a, b)| {
            let e = (0..3)
                .map(|c| f32::from(a[c].abs_diff(b[c])))
                .fold(0.0f32, f32::max);
            let v = (e * gain).min(255.0) as u8;
            [v, v, v, 255]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(width: u32, height: u32, seed: u32) -> Vec<u8> {
        (0..width * height * 4)
            .map(|i| {
                if i % 4 == 3 {
                    255
                } else {
                    (i.wrapping_add(seed.wrapping_mul(7919))
                        .wrapping_mul(2_654_435_761)
                        >> 13) as u8
                }
            })
            .collect()
    }

    #[test]
    fn identical_images_score_perfectly_and_noise_lowers_both() {
        let a = noise(40, 30, 1);
        let same = compare(&a, &a, 40, 30, None).unwrap();
        assert!(same.psnr_db.is_infinite());
        assert!((same.ssim - 1.0).abs() < 1e-9);
        // A constant offset of 10 levels: MSE 100, PSNR 28.13 dB.
        let shifted: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if i % 4 == 3 {
                    v
                } else {
                    v.saturating_add(10).min(245)
                }
            })
            .collect();
        let clamped: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &v)| if i % 4 == 3 { v } else { v.min(235) })
            .collect();
        let s = compare(&shifted, &clamped, 40, 30, None).unwrap();
        assert!((s.psnr_db - 28.13).abs() < 0.01, "{s:?}");
        let other = compare(&a, &noise(40, 30, 77), 40, 30, None).unwrap();
        assert!(other.ssim < 0.5 && other.psnr_db < 15.0, "{other:?}");
    }

    #[test]
    fn masks_select_pixels_and_bad_sizes_are_named() {
        let a = noise(8, 8, 3);
        let mut b = a.clone();
        b[0] = b[0].wrapping_add(100);
        let mut mask = vec![1u8; 64];
        mask[0] = 0;
        assert!(
            compare(&a, &b, 8, 8, Some(&mask))
                .unwrap()
                .psnr_db
                .is_infinite()
        );
        assert_eq!(compare(&a, &b, 8, 8, Some(&mask)).unwrap().pixels, 63);
        assert!(matches!(
            compare(&a, &b, 8, 8, Some(&[0u8; 64])),
            Err(QualityError::EmptyMask)
        ));
        assert!(matches!(
            compare(&a, &b[..100], 8, 8, None),
            Err(QualityError::Size { .. })
        ));
    }
}
