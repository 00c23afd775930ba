#!/usr/bin/env python3
"""Calibrates OpenCV's sample chessboards (Debian's opencv-doc: left*.jpg and
right*.jpg, 9x6 inner corners, 25 mm squares) with timeslice and with OpenCV
side by side: same images, same distortion model (k1 k2 p1 p2 k3), and the
same corner refinement window (cornerSubPix half-window 5, i.e. 11x11 px,
30 iterations, 0.001 px). Prints one table per camera and the differences.

Usage: scripts/opencv_compare.py [path/to/timeslice]
(default: target/release/timeslice; build it with `cargo build --release`).
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np

DATA = "/usr/share/doc/opencv-doc/examples/data"
COLS, ROWS, SQUARE_M = 9, 6, 0.025


def opencv_calibrate(files):
    objp = np.zeros((COLS * ROWS, 3), np.float32)
    objp[:, :2] = np.mgrid[0:COLS, 0:ROWS].T.reshape(-1, 2) * SQUARE_M
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
    objects, images, found = [], [], []
    size = None
    for f in files:
        gray = cv2.imread(f, cv2.IMREAD_GRAYSCALE)
        size = gray.shape[::-1]
        ok, corners = cv2.findChessboardCorners(gray, (COLS, ROWS))
        if not ok:
            continue
        corners = cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria)
        objects.append(objp)
        images.append(corners)
        found.append(os.path.basename(f))
    rms, k, dist, _, _ = cv2.calibrateCamera(objects, images, size, None, None)
    return {
        "rms_px": rms,
        "fx": k[0, 0],
        "fy": k[1, 1],
        "cx": k[0, 2],
        "cy": k[1, 2],
        "distortion": dist.ravel()[:5].tolist(),
        "views": len(found),
        "found": found,
    }


def timeslice_calibrate(binary, side, files):
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        subprocess.run(
            [binary, "calibrate", "--board", f"checker:{COLS}x{ROWS}:{SQUARE_M}",
             "--views", f"{side}={DATA}/{side}[0-9][0-9].jpg",
             "--out", os.path.join(tmp, "rig.json"), "--report", report],
            check=True, stdout=subprocess.DEVNULL)
        with open(report) as fh:
            cam = json.load(fh)["cameras"][0]
    return {
        "rms_px": cam["rms_px"], "fx": cam["fx"], "fy": cam["fy"],
        "cx": cam["cx"], "cy": cam["cy"], "distortion": cam["distortion"],
        "views": cam["views_used"],
    }


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/timeslice"
    ok = True
    for side in ("left", "right"):
        files = sorted(glob.glob(f"{DATA}/{side}[0-9][0-9].jpg"))
        cv = opencv_calibrate(files)
        ts = timeslice_calibrate(binary, side, files)
        print(f"\n{side}: {len(files)} images")
        print(f"{'':10} {'OpenCV':>12} {'timeslice':>12} {'difference':>12}")
        for key in ("views", "rms_px", "fx", "fy", "cx", "cy"):
            diff = ts[key] - cv[key]
            print(f"{key:10} {cv[key]:12.4f} {ts[key]:12.4f} {diff:12.4f}")
        for i, name in enumerate(("k1", "k2", "p1", "p2", "k3")):
            print(f"{name:10} {cv['distortion'][i]:12.5f} {ts['distortion'][i]:12.5f}")
        rms_rel = abs(ts["rms_px"] - cv["rms_px"]) / cv["rms_px"]
        worst_px = max(abs(ts[k] - cv[k]) for k in ("fx", "fy", "cx", "cy"))
        good = rms_rel < 0.02 and worst_px < 0.5 and ts["views"] >= cv["views"]
        print(f"rms within {100 * rms_rel:.2f} % (goal 2 %), intrinsics within "
              f"{worst_px:.3f} px (goal 0.5), views {ts['views']} vs {cv['views']}: "
              f"{'PASS' if good else 'FAIL'}")
        ok = ok and good
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
