//! GPU device setup, shader loading, explicit bind group layouts, readback.
//!
//! One [`GpuContext`] owns the wgpu device and queue. Every compute module in
//! timeslice uses explicit bind group layouts built with [`storage_layout`]
//! so that one bind group serves all entry points of a shader file (an
//! automatic layout belongs to a single pipeline). On machines without a GPU
//! the adapter is Mesa's lavapipe (software Vulkan), installed by
//! `scripts/setup.sh`.

pub mod gpu_types;

use std::sync::mpsc;
use std::time::Duration;

/// Longest a blocking poll may wait for GPU work before giving up.
const POLL_TIMEOUT: Duration = Duration::from_secs(120);

/// Loads a WGSL file from `shaders/` at compile time (path relative to it).
#[macro_export]
macro_rules! shader {
    ($path:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/", $path))
    };
}

/// Errors from GPU setup and transfers.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all: no GPU driver and no lavapipe.
    #[error(
        "no GPU adapter found ({0}); on Debian install `mesa-vulkan-drivers` (software Vulkan) or a GPU driver: run scripts/setup.sh"
    )]
    NoAdapter(String),
    /// The adapter refused to create a device.
    #[error("GPU device request failed: {0}")]
    Device(String),
    /// A buffer map for readback failed.
    #[error("GPU readback failed: {0}")]
    Readback(String),
    /// Waiting for the GPU failed or timed out.
    #[error("GPU poll failed: {0}")]
    Poll(String),
    /// A validation error was raised inside a GPU scope.
    #[error("GPU validation error in {label}: {message}")]
    Validation {
        /// What was being done.
        label: String,
        /// wgpu's message.
        message: String,
    },
}

/// The device, queue and facts about the adapter.
pub struct GpuContext {
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Adapter name, driver and backend (for logs and reports).
    pub adapter_info: wgpu::AdapterInfo,
}

impl GpuContext {
    /// Opens the best adapter (a real GPU if any, else lavapipe) with its
    /// full limits. Honours `WGPU_BACKEND` (vulkan, gl).
    ///
    /// # Errors
    /// [`GpuError::NoAdapter`] naming the package to install, or device errors.
    pub fn new() -> Result<Self, GpuError> {
        // Vulkan first (a real GPU, or lavapipe); the GL backend only as a
        // fallback or when WGPU_BACKEND asks for it.
        let request = |backends: wgpu::Backends| {
            let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle();
            descriptor.backends = backends;
            let instance = wgpu::Instance::new(descriptor.with_env());
            pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            }))
        };
        let adapter = request(wgpu::Backends::PRIMARY)
            .or_else(|_| request(wgpu::Backends::GL))
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let adapter_info = adapter.get_info();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("timeslice"),
            required_features: wgpu::Features::empty(),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device(e.to_string()))?;
        tracing::info!(adapter = ?adapter_info.name, backend = ?adapter_info.backend, "GPU ready");
        Ok(Self {
            device,
            queue,
            adapter_info,
        })
    }

    /// Blocks until all submitted work is done.
    ///
    /// # Errors
    /// [`GpuError::Poll`] on device loss or timeout.
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(POLL_TIMEOUT),
            })
            .map(|_| ())
            .map_err(|e| GpuError::Poll(e.to_string()))
    }

    /// Creates a storage buffer initialised with `contents` (may be empty:
    /// a 4-byte buffer is made so bindings stay valid).
    #[must_use]
    pub fn storage_buffer(
        &self,
        label: &str,
        contents: &[u8],
        extra_usage: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        let padded;
        let bytes = if contents.is_empty() {
            padded = [0u8; 4];
            &padded[..]
        } else {
            contents
        };
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | extra_usage,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, bytes);
        buffer
    }

    /// Creates a zeroed storage buffer of `size_bytes` that can be copied from.
    #[must_use]
    pub fn storage_buffer_zeroed(&self, label: &str, size_bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size_bytes.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Creates a uniform buffer holding `contents`.
    #[must_use]
    pub fn uniform_buffer(&self, label: &str, contents: &[u8]) -> wgpu::Buffer {
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: contents.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buffer, 0, contents);
        buffer
    }

    /// Builds a compute pipeline for `entry_point` of `module` with `layout`.
    #[must_use]
    pub fn compute_pipeline(
        &self,
        label: &str,
        module: &wgpu::ShaderModule,
        layout: &wgpu::PipelineLayout,
        entry_point: &str,
    ) -> wgpu::ComputePipeline {
        self.device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                module,
                entry_point: Some(entry_point),
                compilation_options: wgpu::PipelineCompilationOptions::default(),
                cache: None,
            })
    }

    /// Records one compute pass (`pipeline` with `bind_group` as group 0,
    /// `groups` workgroups in x and y) and submits it.
    pub fn dispatch(
        &self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        bind_group: &wgpu::BindGroup,
        groups: (u32, u32),
    ) {
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, 1);
        }
        self.queue.submit([encoder.finish()]);
    }

    /// Compiles WGSL source into a module.
    #[must_use]
    pub fn shader_module(&self, label: &str, source: &str) -> wgpu::ShaderModule {
        self.device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
    }

    /// Copies `size_bytes` from the start of `buffer` (which must have
    /// `COPY_SRC`) to the CPU. Blocks until done.
    ///
    /// # Errors
    /// [`GpuError::Readback`] or [`GpuError::Poll`].
    pub fn read_buffer(&self, buffer: &wgpu::Buffer, size_bytes: u64) -> Result<Vec<u8>, GpuError> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback staging"),
            size: size_bytes.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, size_bytes);
        self.queue.submit([encoder.finish()]);
        let slice = staging.slice(..size_bytes);
        let (sender, receiver) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |result| {
            let _ = sender.send(result);
        });
        self.wait_idle()?;
        receiver
            .recv_timeout(POLL_TIMEOUT)
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let bytes = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Readback(e.to_string()))?
            .to_vec();
        staging.unmap();
        Ok(bytes)
    }

    /// Runs `work` inside a validation error scope and reports the first
    /// validation error as [`GpuError::Validation`].
    ///
    /// # Errors
    /// The validation error, or whatever `work` returns.
    pub fn with_validation<T>(
        &self,
        label: &str,
        work: impl FnOnce() -> Result<T, GpuError>,
    ) -> Result<T, GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(GpuError::Validation {
                label: label.to_owned(),
                message: error.to_string(),
            });
        }
        result
    }
}

/// How a shader binds one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `var<uniform>`.
    Uniform,
    /// `var<storage, read>`.
    ReadOnly,
    /// `var<storage, read_write>`.
    ReadWrite,
}

/// Builds a compute-stage bind group layout (binding i = `access[i]`) and a
/// pipeline layout with it as group 0.
#[must_use]
pub fn storage_layout(
    device: &wgpu::Device,
    label: &str,
    access: &[Access],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let entries: Vec<wgpu::BindGroupLayoutEntry> = access
        .iter()
        .enumerate()
        .map(|(binding, access)| wgpu::BindGroupLayoutEntry {
            binding: binding as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match access {
                    Access::Uniform => wgpu::BufferBindingType::Uniform,
                    Access::ReadOnly => wgpu::BufferBindingType::Storage { read_only: true },
                    Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let bind_group_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&bind_group_layout)],
        immediate_size: 0,
    });
    (bind_group_layout, pipeline_layout)
}

/// Binds `buffers` in order (binding i = `buffers[i]`).
#[must_use]
pub fn bind_buffers(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::BindGroupLayout,
    buffers: &[&wgpu::Buffer],
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = buffers
        .iter()
        .enumerate()
        .map(|(binding, buffer)| wgpu::BindGroupEntry {
            binding: binding as u32,
            resource: buffer.as_entire_binding(),
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout,
        entries: &entries,
    })
}

/// Number of workgroups of `workgroup_size` needed for `items`, split over x
/// and y so no dimension exceeds the 65535 limit. Shaders recover the item
/// index as `gid.x + gid.y * (num_workgroups.x * workgroup_size)`.
#[must_use]
pub fn dispatch_size(items: u32, workgroup_size: u32) -> (u32, u32) {
    const MAX_GROUPS_PER_DIM: u32 = 65_535;
    let groups = items.div_ceil(workgroup_size).max(1);
    if groups <= MAX_GROUPS_PER_DIM {
        (groups, 1)
    } else {
        let y = groups.div_ceil(MAX_GROUPS_PER_DIM);
        (groups.div_ceil(y), y)
    }
}

/// Shared WGSL (camera model) prepended to every entry-point shader file.
pub const COMMON_WGSL: &str = shader!("common/camera.wgsl");

/// Prepends [`COMMON_WGSL`] to an entry-point shader's source.
#[must_use]
pub fn with_common(body: &str) -> String {
    format!("{COMMON_WGSL}\n{body}")
}

#[cfg(test)]
mod tests {
    use super::dispatch_size;

    #[test]
    fn dispatch_covers_items_within_limits() {
        for items in [1u32, 255, 256, 257, 2_073_600, 40_000_000] {
            let (x, y) = dispatch_size(items, 256);
            assert!(x <= 65_535 && y <= 65_535);
            assert!(u64::from(x) * u64::from(y) * 256 >= u64::from(items));
        }
    }
}
