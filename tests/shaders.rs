//! Every WGSL file parses and validates with naga (no GPU needed), and each
//! compute entry point's workgroup size equals the Rust dispatch constant.
//! All failures are reported at once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure report

use std::collections::BTreeMap;
use std::path::Path;

use timeslice::gpu::with_common;

fn wgsl_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            wgsl_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "wgsl") {
            out.push(path);
        }
    }
}

fn validate(label: &str, source: &str) -> Result<naga::Module, String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("{label}: parse: {}", e.emit_to_string(source)))?;
    naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .map_err(|e| format!("{label}: validate: {e:?}"))?;
    Ok(module)
}

#[test]
fn every_shader_validates_and_matches_dispatch_constants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files = Vec::new();
    wgsl_files(&root, &mut files);
    files.sort();
    assert!(
        files.len() >= 4,
        "expected the shader tree, found {files:?}"
    );

    let expected: BTreeMap<(&str, &str), [u32; 3]> = [
        (
            ("synth/raycast.wgsl", "main"),
            [
                timeslice::synth::raycast::RAYCAST_WORKGROUP_EDGE,
                timeslice::synth::raycast::RAYCAST_WORKGROUP_EDGE,
                1,
            ],
        ),
        (
            ("reconstruct/plane_sweep.wgsl", "sweep"),
            [
                timeslice::reconstruct::plane_sweep::SWEEP_WORKGROUP_EDGE,
                timeslice::reconstruct::plane_sweep::SWEEP_WORKGROUP_EDGE,
                1,
            ],
        ),
        (
            ("reconstruct/foreground.wgsl", "segment"),
            [
                timeslice::reconstruct::foreground::kernels::SEGMENT_WORKGROUP_EDGE,
                timeslice::reconstruct::foreground::kernels::SEGMENT_WORKGROUP_EDGE,
                1,
            ],
        ),
        (
            ("reconstruct/foreground.wgsl", "hull"),
            [
                timeslice::reconstruct::foreground::kernels::LIST_WORKGROUP_SIZE,
                1,
                1,
            ],
        ),
        (
            ("reconstruct/foreground.wgsl", "sweep"),
            [
                timeslice::reconstruct::foreground::kernels::LIST_WORKGROUP_SIZE,
                1,
                1,
            ],
        ),
        (
            ("reconstruct/foreground.wgsl", "refine"),
            [
                timeslice::reconstruct::foreground::kernels::LIST_WORKGROUP_SIZE,
                1,
                1,
            ],
        ),
        (
            ("render/splat.wgsl", "resolve"),
            [
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                1,
            ],
        ),
        (
            ("render/splat.wgsl", "splat_depth"),
            [timeslice::render::SPLAT_POINT_WORKGROUP, 1, 1],
        ),
        (
            ("render/splat.wgsl", "splat_color"),
            [timeslice::render::SPLAT_POINT_WORKGROUP, 1, 1],
        ),
        (
            ("render/splat.wgsl", "blend"),
            [
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                1,
            ],
        ),
        (
            ("render/splat.wgsl", "close_source_depth"),
            [
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                timeslice::render::SPLAT_PIXEL_WORKGROUP_EDGE,
                1,
            ],
        ),
    ]
    .into_iter()
    .collect();

    let mut failures = Vec::new();
    let mut seen = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(file).unwrap();
        // Shared files have no entry point: they are validated standalone.
        let source = if relative.starts_with("common/") {
            text.clone()
        } else {
            with_common(&text)
        };
        match validate(&relative, &source) {
            Ok(module) => {
                for entry in &module.entry_points {
                    if entry.stage != naga::ShaderStage::Compute {
                        continue;
                    }
                    seen.push((relative.clone(), entry.name.clone()));
                    match expected.get(&(relative.as_str(), entry.name.as_str())) {
                        Some(size) if *size == entry.workgroup_size => {}
                        Some(size) => failures.push(format!(
                            "{relative}::{}: workgroup_size {:?} but Rust dispatches {size:?}",
                            entry.name, entry.workgroup_size
                        )),
                        None => failures.push(format!(
                            "{relative}::{}: no Rust dispatch constant registered in this test",
                            entry.name
                        )),
                    }
                }
            }
            Err(e) => failures.push(e),
        }
    }
    for (file, entry) in expected.keys() {
        if !seen.iter().any(|(f, e)| f == file && e == entry) {
            failures.push(format!("{file}::{entry}: expected entry point not found"));
        }
    }
    assert!(
        failures.is_empty(),
        "shader problems:\n{}",
        failures.join("\n")
    );
}

#[test]
fn a_broken_shader_is_reported() {
    assert!(
        validate(
            "broken",
            &with_common("fn f() -> f32 { return undefined_name; }")
        )
        .is_err()
    );
}
