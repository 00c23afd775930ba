#!/usr/bin/env bash
# Installs everything timeslice needs on Debian 12 (idempotent), then checks
# that a wgpu-capable Vulkan adapter (lavapipe on machines without a GPU) is
# discoverable. Run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  gstreamer1.0-plugins-bad gstreamer1.0-libav gstreamer1.0-tools
  mesa-vulkan-drivers libvulkan1 libegl1 libegl-mesa0 libgl1-mesa-dri vulkan-tools
  ffmpeg srt-tools
  opencv-doc python3-opencv
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all ${#PACKAGES[@]} Debian packages already installed"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: error: cargo not found; install a Rust toolchain (rustup) first" >&2
  exit 1
fi

# Vulkan adapter discovery: wgpu needs at least one device (lavapipe is fine).
if ! vulkaninfo --summary 2>/dev/null | grep -q "deviceName"; then
  echo "setup: error: no Vulkan device found; install mesa-vulkan-drivers (lavapipe) or a GPU driver" >&2
  exit 1
fi
echo "setup: Vulkan device: $(vulkaninfo --summary 2>/dev/null | grep -m1 deviceName | sed 's/.*= //')"

for element in x264enc mp4mux mpegtsmux srtsink srtsrc h264parse avdec_h264 appsrc appsink uridecodebin; do
  if ! gst-inspect-1.0 "$element" >/dev/null 2>&1; then
    echo "setup: error: GStreamer element '$element' is missing after install" >&2
    exit 1
  fi
done
echo "setup: GStreamer $(gst-launch-1.0 --version | sed -n 's/.*version //p' | head -1) with all required elements"
