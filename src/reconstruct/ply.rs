//! PLY point clouds (binary little-endian), readable by MeshLab,
//! CloudCompare, Open3D and rerun: `x y z` float, `nx ny nz` float (when
//! normals exist), `red green blue` uchar, and `radius` float (splat size;
//! other tools ignore it).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{PointCloud, ReconstructError};

/// Serialises a cloud to PLY bytes.
#[must_use]
pub fn ply_bytes(cloud: &PointCloud) -> Vec<u8> {
    let has_normals = cloud.normals.len() == cloud.positions_in_world.len();
    let mut header = format!(
        "ply\nformat binary_little_endian 1.0\ncomment timeslice point cloud (world: metres, z up)\nelement vertex {}\nproperty float x\nproperty float y\nproperty float z\n",
        cloud.len()
    );
    if has_normals {
        header.push_str("property float nx\nproperty float ny\nproperty float nz\n");
    }
    header.push_str("property uchar red\nproperty uchar green\nproperty uchar blue\nproperty float radius\nend_header\n");
    let stride = 12 + if has_normals { 12 } else { 0 } + 3 + 4;
    let mut out = Vec::with_capacity(header.len() + stride * cloud.len());
    out.extend_from_slice(header.as_bytes());
    for i in 0..cloud.len() {
        for v in cloud.positions_in_world[i] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        if has_normals {
            for v in cloud.normals[i] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.extend_from_slice(&cloud.colors[i]);
        out.extend_from_slice(&cloud.radii_m[i].to_le_bytes());
    }
    out
}

/// Writes a cloud as PLY, atomically.
///
/// # Errors
/// I/O errors naming the file.
pub fn write_ply(cloud: &PointCloud, path: &Path) -> Result<(), ReconstructError> {
    crate::fsutil::write_atomic(path, &ply_bytes(cloud)).map_err(|source| ReconstructError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads a binary little-endian PLY with float x y z, optional float
/// nx ny nz, uchar red green blue, optional float radius (in any order).
///
/// # Errors
/// [`ReconstructError::Ply`] naming the file and the problem.
pub fn read_ply(path: &Path) -> Result<PointCloud, ReconstructError> {
    let bad = |reason: String| ReconstructError::Ply {
        path: path.to_owned(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|source| ReconstructError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let mut count = 0usize;
    let mut properties: Vec<(String, String)> = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| bad(e.to_string()))?
            == 0
        {
            return Err(bad("no end_header".into()));
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["format", f, ..] if *f != "binary_little_endian" => {
                return Err(bad(format!("format {f} not supported")));
            }
            ["element", "vertex", n] => {
                count = n.parse().map_err(|_| bad("bad vertex count".into()))?
            }
            ["property", ty, name] => properties.push(((*ty).to_owned(), (*name).to_owned())),
            ["end_header"] => break,
            _ => {}
        }
    }
    let size = |ty: &str| match ty {
        "float" | "float32" | "int" | "uint" => Ok(4usize),
        "uchar" | "uint8" | "char" => Ok(1),
        "double" => Ok(8),
        "short" | "ushort" => Ok(2),
        other => Err(bad(format!("property type {other} not supported"))),
    };
    let stride: usize = properties
        .iter()
        .map(|(t, _)| size(t))
        .sum::<Result<usize, _>>()?;
    let mut data = vec![0u8; stride * count];
    reader
        .read_exact(&mut data)
        .map_err(|e| bad(format!("truncated vertex data: {e}")))?;
    let mut cloud = PointCloud::default();
    let has = |n: &str| properties.iter().any(|(_, p)| p == n);
    if !(has("x") && has("y") && has("z")) {
        return Err(bad("vertices lack x y z".into()));
    }
    let with_normals = has("nx");
    for record in data.chunks_exact(stride.max(1)) {
        let mut offset = 0;
        let (mut p, mut n, mut c, mut r) = ([0f32; 3], [0f32; 3], [200u8; 3], 0.01f32);
        for (ty, name) in &properties {
            let width = size(ty)?;
            let bytes = &record[offset..offset + width];
            let value = match ty.as_str() {
                "float" | "float32" => {
                    f64::from(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
                }
                "double" => f64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])),
                "uchar" | "uint8" => f64::from(bytes[0]),
                _ => 0.0,
            };
            match name.as_str() {
                "x" => p[0] = value as f32,
                "y" => p[1] = value as f32,
                "z" => p[2] = value as f32,
                "nx" => n[0] = value as f32,
                "ny" => n[1] = value as f32,
                "nz" => n[2] = value as f32,
                "red" => c[0] = value as u8,
                "green" => c[1] = value as u8,
                "blue" => c[2] = value as u8,
                "radius" => r = value as f32,
                _ => {}
            }
            offset += width;
        }
        cloud.positions_in_world.push(p);
        if with_normals {
            cloud.normals.push(n);
        }
        cloud.colors.push(c);
        cloud.radii_m.push(r);
    }
    Ok(cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ply_round_trip() {
        let cloud = PointCloud {
            positions_in_world: vec![[1.0, 2.0, 3.0], [-0.5, 0.25, 0.0]],
            colors: vec![[255, 0, 10], [1, 2, 3]],
            normals: vec![[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
            radii_m: vec![0.01, 0.02],
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.ply");
        write_ply(&cloud, &path).unwrap();
        assert_eq!(read_ply(&path).unwrap(), cloud);
        std::fs::write(&path, b"ply\nformat ascii 1.0\nend_header\n").unwrap();
        assert!(read_ply(&path).unwrap_err().to_string().contains("ascii"));
    }
}
